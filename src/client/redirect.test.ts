/**
 * Redirect modes of Channel.fetch (docs/client-fetch.md) against an in-memory gateway that,
 * like the real one, never follows redirects: its handler answers each hop.
 */
import assert from "node:assert/strict";
import { gatewayError } from "../proxy/errors.ts";
import { settle, TEST_KEY, waitFor } from "../tunnel/testing.ts";
import { type Channel, connect } from "./channel.ts";
import { MAX_REDIRECTS, REDIRECT_STATUSES } from "./redirect.ts";
import { fakeWebSocket, gatewayEnd } from "./testing.ts";

interface Seen {
  method: string;
  url: string;
  headers: Headers;
  body: string | null;
}

type Route = (req: Request, seen: Seen[]) => Response | Promise<Response>;

/** A channel whose gateway answers every request with `route`; `seen` lists what arrived. */
async function channelTo(
  route: Route,
): Promise<{ ch: Channel; seen: Seen[]; done: () => Promise<void> }> {
  const seen: Seen[] = [];
  const { WebSocket } = fakeWebSocket(gatewayEnd(async (req) => {
    const s: Seen = {
      method: req.method,
      url: req.url,
      headers: new Headers(req.headers),
      body: req.body ? await req.text() : null,
    };
    seen.push(s);
    return await route(req, seen);
  }));
  const ch = await connect("wss://gw.example/", { WebSocket, publicKey: TEST_KEY.publicKey });
  return {
    ch,
    seen,
    done: async () => {
      ch.close();
      await settle();
    },
  };
}

function redirect(
  status: number,
  location: string | null,
  body: BodyInit | null = "moved",
): Response {
  const headers = new Headers(location === null ? {} : { location });
  return new Response(body, { status, headers });
}

/** /r/<status>/<n> redirects with <status> to /r/<status>/<n-1> ... /r/<status>/0 answers 200. */
const chain: Route = (req) => {
  const [, , status, n] = new URL(req.url).pathname.split("/");
  if (n === "0") return new Response(`end ${req.method}`);
  return redirect(Number(status), `/r/${status}/${Number(n) - 1}`);
};

Deno.test("follow (the default): 301, 302, 303, 307 and 308 are followed; redirected and url name the final hop", async () => {
  const { ch, seen, done } = await channelTo(chain);
  for (const status of REDIRECT_STATUSES) {
    seen.length = 0;
    const r = await ch.fetch(`https://api.example/r/${status}/2`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "end GET");
    assert.equal(r.redirected, true);
    assert.equal(r.url, `https://api.example/r/${status}/0`);
    assert.deepEqual(
      seen.map((s) => s.url),
      [2, 1, 0].map((n) => `https://api.example/r/${status}/${n}`),
    );
  }
  // Explicit "follow" is the same; a response that needed no redirect has redirected false.
  const r = await ch.fetch("https://api.example/r/302/1", { redirect: "follow" });
  assert.equal(r.redirected, true);
  await r.body?.cancel();
  const plain = await ch.fetch("https://api.example/r/302/0");
  assert.equal(plain.redirected, false);
  assert.equal(plain.url, "https://api.example/r/302/0");
  await plain.text();
  await done();
});

Deno.test("follow: the Location resolves against the current URL, hop after hop (relative, absolute, query, fragment dropped)", async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const u = new URL(req.url);
    if (u.href === "https://api.example/a/b/c") return redirect(302, "../x?q=1#frag");
    if (u.href === "https://api.example/a/x?q=1") {
      return redirect(301, "https://other.example:8443/p/q");
    }
    if (u.href === "https://other.example:8443/p/q") return redirect(307, "r");
    if (u.href === "https://other.example:8443/p/r") return redirect(308, "//third.example/s");
    return new Response(`at ${u.href}`);
  });
  const r = await ch.fetch("https://api.example/a/b/c#start");
  assert.equal(await r.text(), "at https://third.example/s");
  assert.equal(r.url, "https://third.example/s");
  assert.deepEqual(seen.map((s) => s.url), [
    "https://api.example/a/b/c",
    "https://api.example/a/x?q=1",
    "https://other.example:8443/p/q",
    "https://other.example:8443/p/r",
    "https://third.example/s",
  ]);
  await done();
});

Deno.test("follow: not followed are 300, 304, other statuses with a Location, and a redirect status without one", async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const status = Number(new URL(req.url).pathname.slice(1));
    if (status === 399) return redirect(302, null);
    return new Response(status === 304 ? null : "here", {
      status,
      headers: { location: "/elsewhere" },
    });
  });
  for (const status of [200, 201, 300, 304, 399]) {
    const r = await ch.fetch(`https://api.example/${status}`);
    assert.equal(r.status, status === 399 ? 302 : status);
    assert.equal(r.redirected, false);
    await r.body?.cancel();
  }
  assert.equal(seen.length, 5);
  assert.ok(seen.every((s) => !s.url.endsWith("/elsewhere")));
  await done();
});

Deno.test("follow: 303 (not HEAD) and 301/302 after POST become a bodiless GET without request-body headers; others keep method and body", async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const u = new URL(req.url);
    // A HEAD answer has no body, as an origin's reaches the gateway through fetch.
    const body = req.method === "HEAD" ? null : "moved";
    if (u.pathname.startsWith("/from/")) return redirect(Number(u.pathname.slice(6)), "/to", body);
    return new Response(body && `${req.method} at ${u.pathname}`);
  });
  const bodyHeaders = {
    "content-type": "application/x-test",
    "content-language": "en",
    "content-encoding": "identity",
    "content-location": "/here",
    "x-keep": "yes",
  };
  const cases: [number, string, string, boolean][] = [
    // status, method, method at the target, body and its headers kept
    [301, "POST", "GET", false],
    [302, "POST", "GET", false],
    [303, "POST", "GET", false],
    [303, "PUT", "GET", false],
    [303, "DELETE", "GET", false],
    [307, "POST", "POST", true],
    [308, "POST", "POST", true],
    [301, "PUT", "PUT", true],
    [302, "PATCH", "PATCH", true],
    [307, "PUT", "PUT", true],
    [308, "DELETE", "DELETE", true],
  ];
  for (const [status, method, expected, kept] of cases) {
    seen.length = 0;
    const r = await ch.fetch(`https://api.example/from/${status}`, {
      method,
      body: "payload",
      headers: bodyHeaders,
    });
    const what = `${status} after ${method}`;
    assert.equal(await r.text(), `${expected} at /to`, what);
    assert.equal(seen.length, 2, what);
    const [first, target] = seen;
    assert.equal(first.body, "payload", what);
    assert.equal(first.headers.get("content-length"), "7", what);
    assert.equal(target.method, expected, what);
    assert.equal(target.body, kept ? "payload" : null, what);
    assert.equal(target.headers.get("x-keep"), "yes", what);
    for (
      const name of [...Object.keys(bodyHeaders).filter((n) => n !== "x-keep"), "content-length"]
    ) {
      assert.equal(
        target.headers.get(name),
        kept ? first.headers.get(name) : null,
        `${what}: ${name}`,
      );
    }
  }
  // HEAD and GET stay what they are on every redirect status.
  for (const status of REDIRECT_STATUSES) {
    for (const method of ["GET", "HEAD"]) {
      seen.length = 0;
      const r = await ch.fetch(`https://api.example/from/${status}`, {
        method,
        headers: bodyHeaders,
      });
      await r.body?.cancel();
      assert.deepEqual(seen.map((s) => s.method), [method, method], `${status} after ${method}`);
      assert.equal(
        seen[1].headers.get("content-type"),
        "application/x-test",
        `${status} after ${method}`,
      );
    }
  }
  await done();
});

Deno.test("follow: Authorization is removed from the first cross-origin hop on, other headers stay", async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const u = new URL(req.url);
    const next: Record<string, string> = {
      "https://api.example/1": "/2", // same origin
      "https://api.example/2": "https://api.example:444/3", // another port: another origin
      "https://api.example:444/3": "https://api.example/4", // back to the first origin
    };
    const to = next[u.href];
    return to ? redirect(302, to) : new Response("end");
  });
  const r = await ch.fetch("https://api.example/1", {
    headers: { authorization: "Bearer secret", "x-api-key": "k" },
  });
  assert.equal(await r.text(), "end");
  assert.deepEqual(seen.map((s) => s.headers.get("authorization")), [
    "Bearer secret",
    "Bearer secret",
    null,
    null,
  ]);
  assert.deepEqual(seen.map((s) => s.headers.get("x-api-key")), ["k", "k", "k", "k"]);
  // http and https of one host are different origins too.
  const { ch: ch2, seen: seen2, done: done2 } = await channelTo((req) =>
    req.url.startsWith("https:") ? redirect(308, "http://api.example/") : new Response("plain")
  );
  assert.equal(
    await (await ch2.fetch("https://api.example/", { headers: { authorization: "Basic x" } }))
      .text(),
    "plain",
  );
  assert.deepEqual(seen2.map((s) => s.headers.get("authorization")), ["Basic x", null]);
  await done2();
  await done();
});

Deno.test(`follow: at most ${MAX_REDIRECTS} redirects, then TypeError; a loop ends the same way`, async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const u = new URL(req.url);
    if (u.pathname === "/loop/a") return redirect(302, "/loop/b");
    if (u.pathname === "/loop/b") return redirect(307, "/loop/a");
    return chain(req, []);
  });
  const ok = await ch.fetch(`https://api.example/r/302/${MAX_REDIRECTS}`);
  assert.equal(await ok.text(), "end GET");
  assert.equal(seen.length, MAX_REDIRECTS + 1);
  seen.length = 0;
  await assert.rejects(
    ch.fetch(`https://api.example/r/301/${MAX_REDIRECTS + 1}`),
    (e) => e instanceof TypeError && /more than 20 redirects/.test(e.message),
  );
  assert.equal(seen.length, MAX_REDIRECTS + 1, "the 21st redirect is not followed");
  seen.length = 0;
  await assert.rejects(
    ch.fetch("https://api.example/loop/a"),
    (e) => e instanceof TypeError && /more than 20 redirects/.test(e.message),
  );
  assert.equal(seen.length, MAX_REDIRECTS + 1);
  await done();
});

Deno.test("follow: a Location that is not a URL, or not http(s), rejects with TypeError", async () => {
  const { ch, seen, done } = await channelTo((req) =>
    redirect(302, decodeURIComponent(new URL(req.url).search.slice(1)))
  );
  for (
    const location of [
      "http://[::1",
      "https://exa mple.com/",
      "data:text/plain,hi",
      "ftp://api.example/f",
      "javascript:alert(1)",
      "ws://api.example/",
    ]
  ) {
    seen.length = 0;
    await assert.rejects(
      ch.fetch(`https://api.example/?${encodeURIComponent(location)}`),
      (e) => e instanceof TypeError && /cannot follow the 302 redirect/.test(e.message),
      location,
    );
    assert.equal(seen.length, 1, location);
  }
  await done();
});

Deno.test('redirect: "manual" returns every 3xx as it came, without following it', async () => {
  const { ch, seen, done } = await channelTo(chain);
  for (const status of REDIRECT_STATUSES) {
    seen.length = 0;
    const r = await ch.fetch(`https://api.example/r/${status}/3`, { redirect: "manual" });
    assert.equal(r.status, status);
    assert.equal(r.headers.get("location"), `/r/${status}/2`);
    assert.equal(r.redirected, false);
    assert.equal(r.url, `https://api.example/r/${status}/3`);
    assert.equal(await r.text(), "moved");
    assert.equal(seen.length, 1);
  }
  // The mode of a Request input counts, as with fetch.
  seen.length = 0;
  const r = await ch.fetch(new Request("https://api.example/r/302/1", { redirect: "manual" }));
  assert.equal(r.status, 302);
  await r.text();
  assert.equal(seen.length, 1);
  await done();
});

Deno.test('redirect: "error" rejects on every redirect status (with or without Location), returns other responses', async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const [, status, loc] = new URL(req.url).pathname.split("/");
    return redirect(Number(status), loc === "none" ? null : "/there");
  });
  for (const status of REDIRECT_STATUSES) {
    for (const loc of ["with", "none"]) {
      seen.length = 0;
      await assert.rejects(
        ch.fetch(`https://api.example/${status}/${loc}`, { redirect: "error" }),
        (e) =>
          e instanceof TypeError && e.message.includes(`${status} redirect`) &&
          e.message.includes('"error"'),
      );
      assert.equal(seen.length, 1);
    }
  }
  const r = await ch.fetch("https://api.example/300/with", { redirect: "error" });
  assert.equal(r.status, 300);
  await r.text();
  await assert.rejects(
    ch.fetch(new Request("https://api.example/307/with", { redirect: "error" })),
    TypeError,
  );
  await done();
});

Deno.test("follow: a stream body cannot be sent again: TypeError on every redirect but 303, which drops it", async () => {
  const { ch, seen, done } = await channelTo((req) => {
    const u = new URL(req.url);
    return u.pathname.startsWith("/from/")
      ? redirect(Number(u.pathname.slice(6)), "/to")
      : new Response(`${req.method} to`);
  });
  const stream = () => new Blob(["streamed"]).stream();
  for (
    const [status, method] of [[307, "POST"], [308, "PUT"], [301, "PUT"], [302, "POST"], [
      301,
      "POST",
    ]] as const
  ) {
    seen.length = 0;
    await assert.rejects(
      ch.fetch(
        `https://api.example/from/${status}`,
        { method, body: stream(), duplex: "half" } as RequestInit,
      ),
      (e) => e instanceof TypeError && /request body is a stream/.test(e.message),
      `${status} ${method}`,
    );
    assert.deepEqual(seen.map((s) => s.body), ["streamed"]);
  }
  seen.length = 0;
  const r = await ch.fetch(
    "https://api.example/from/303",
    { method: "POST", body: stream(), duplex: "half" } as RequestInit,
  );
  assert.equal(await r.text(), "GET to");
  // A Request input's body is a stream to the channel (its source is not visible): the same.
  await assert.rejects(
    ch.fetch(
      new Request("https://api.example/from/307", { method: "POST", body: "from a Request" }),
    ),
    (e) => e instanceof TypeError && /request body is a stream/.test(e.message),
  );
  // ... unless init gives the body again.
  seen.length = 0;
  const again = await ch.fetch(
    new Request("https://api.example/from/307", { method: "POST", body: "old" }),
    { body: "new" },
  );
  assert.equal(await again.text(), "POST to");
  assert.deepEqual(seen.map((s) => s.body), ["new", "new"]);
  await done();
});

Deno.test("follow: every intermediate 3xx body is cancelled (the gateway sees the stream reset)", async () => {
  let cancelled = 0;
  let aborted = 0;
  const { ch, done } = await channelTo((req) => {
    const [, , status, n] = new URL(req.url).pathname.split("/");
    if (n === "0") return new Response("end");
    req.signal.addEventListener("abort", () => aborted++);
    // A 3xx whose body never ends: only a cancel by the client frees the stream.
    const endless = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(new Uint8Array(1024)),
      cancel: () => void cancelled++,
    });
    return redirect(Number(status), `/r/${status}/${Number(n) - 1}`, endless);
  });
  const r = await ch.fetch("https://api.example/r/307/5");
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "end");
  await waitFor(() => cancelled === 5 && aborted === 5, 2000, "five 3xx bodies cancelled");
  await done();
});

Deno.test("an abort stops the redirect chain at any hop, with the signal's reason", async () => {
  let reachedHang: () => void = () => {};
  let hangAborted = false;
  let ac = new AbortController();
  const { ch, seen, done } = await channelTo(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/a") return redirect(302, "/b");
    if (path === "/b") return redirect(307, "/hang");
    if (path === "/abort-then-redirect") {
      ac.abort(new Error("aborted while the 3xx comes"));
      return redirect(301, "/b");
    }
    // /hang: waits until the client aborts.
    await new Promise<void>((resolve) => {
      req.signal.addEventListener("abort", () => (hangAborted = true, resolve()), { once: true });
      reachedHang();
    });
    return new Response("too late");
  });
  // Aborted while the third hop waits for its response.
  const reason = new Error("stop");
  const reached = new Promise<void>((resolve) => (reachedHang = resolve));
  const pending = ch.fetch("https://api.example/a", { signal: ac.signal });
  await Promise.race([
    reached,
    pending.then(() => assert.fail("resolved before the third hop was answered")),
  ]);
  ac.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
  assert.deepEqual(seen.map((s) => new URL(s.url).pathname), ["/a", "/b", "/hang"]);
  await waitFor(() => hangAborted, 2000, "the gateway side of the hop sees the abort");
  // Aborted during the first hop: the redirect is not followed.
  seen.length = 0;
  ac = new AbortController();
  await assert.rejects(
    ch.fetch("https://api.example/abort-then-redirect", { signal: ac.signal }),
    (e) => e instanceof Error && e.message === "aborted while the 3xx comes",
  );
  await settle();
  assert.deepEqual(seen.map((s) => new URL(s.url).pathname), ["/abort-then-redirect"]);
  // An AbortSignal.timeout() works across hops the same way.
  seen.length = 0;
  await assert.rejects(
    ch.fetch("https://api.example/a", { signal: AbortSignal.timeout(100) }),
    (e) => e instanceof DOMException && e.name === "TimeoutError",
  );
  assert.deepEqual(seen.map((s) => new URL(s.url).pathname), ["/a", "/b", "/hang"]);
  await done();
});

Deno.test("follow: a redirect to a target the gateway does not route rejects with TypeError; the gateway's 403 is its cause", async () => {
  // The gateway answers a target without a route with 403 and pqgate-error: forbidden
  // (docs/configuration.md); here only api.example is routed.
  const { ch, seen, done } = await channelTo((req) => {
    const u = new URL(req.url);
    if (u.host !== "api.example") return gatewayError("forbidden");
    if (u.pathname === "/out") return redirect(302, "https://unrouted.example/x");
    if (u.pathname === "/origin-403") return redirect(302, "/denied");
    if (u.pathname === "/denied") return new Response("origin says no", { status: 403 });
    return new Response("ok");
  });
  const e = await ch.fetch("https://api.example/out").then(
    () => assert.fail("resolved"),
    (e: unknown) => e,
  );
  assert.ok(e instanceof TypeError);
  assert.match(e.message, /redirect to https:\/\/unrouted\.example\/x refused by the gateway/);
  const cause = e.cause;
  assert.ok(cause instanceof Response);
  assert.equal(cause.status, 403);
  assert.equal(cause.headers.get("pqgate-error"), "forbidden");
  assert.equal(cause.url, "https://unrouted.example/x");
  assert.deepEqual(await cause.json(), { error: "forbidden", status: 403 });
  assert.equal(seen.length, 2);
  // Without a redirect the gateway's 403 is the answer to the request itself: returned.
  const direct = await ch.fetch("https://unrouted.example/y");
  assert.equal(direct.status, 403);
  assert.equal(direct.headers.get("pqgate-error"), "forbidden");
  await direct.body?.cancel();
  // In "manual" mode nothing is followed, so nothing is refused.
  const manual = await ch.fetch("https://api.example/out", { redirect: "manual" });
  assert.equal(manual.status, 302);
  await manual.body?.cancel();
  // An origin's own 403 after a redirect is an ordinary response.
  const origin = await ch.fetch("https://api.example/origin-403");
  assert.equal(origin.status, 403);
  assert.equal(origin.redirected, true);
  assert.equal(await origin.text(), "origin says no");
  await done();
});
