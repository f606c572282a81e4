/**
 * fetch fidelity: `channel.fetch` against the platform `fetch`, on the same origin, case by
 * case. Each case runs twice: once with `fetch` straight to the origin, once through a gateway
 * with `channel.fetch`; the origin reports what it received (method, path, headers, body,
 * framing) and the two reports, and the two responses, must agree. What is allowed to differ
 * is listed here and in docs/client-fetch.md, nowhere else:
 *
 * - headers the platform fetch adds by itself (user-agent, accept-language, accept-encoding)
 *   and the ones the gateway sets (host, forwarding, pqgate-*): not compared;
 * - the multipart boundary of a FormData body (random per serialization): the parsed parts
 *   are compared instead;
 * - `statusText` (Binary HTTP carries no reason phrase);
 * - an unreachable origin: fetch rejects, the channel answers 502 with `pqgate-error`;
 * - the cases marked `differs` below (each says why), and the gateway platform's `quirks`.
 *
 * Shared by the Deno gateway (fetch-fidelity.test.ts) and the Worker in workerd
 * (tests/cloudflare/workers-fidelity.test.ts).
 */
import assert from "node:assert/strict";
import type { RouteConfig } from "../../src/proxy/routes.ts";

/** Authorities the channel side uses; the origin is reached as two hosts for cross-origin cases. */
export const FIDELITY_HOSTS = { a: "a.test", b: "b.test", down: "down.test" } as const;

export interface FidelityOrigin {
  /** http://127.0.0.1:PORT */
  a: string;
  /** The same server as a different origin: http://127.0.0.2:PORT */
  b: string;
  close(): Promise<void>;
}

/** What the origin answers on /echo (and at the end of every redirect). */
interface Echo {
  method: string;
  path: string;
  headers: Record<string, string>;
  contentLength: string | null;
  transferEncoding: string | null;
  bodyBytes: number;
  bodySha256: string;
  form: [string, string][] | null;
}

/** Headers one side adds that the other does not: never compared (see the file comment). */
const UNCOMPARED =
  /^(host|user-agent|accept-language|accept-encoding|forwarded|x-forwarded-.*|pqgate-.*|content-length|transfer-encoding|connection|cf-worker)$/;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The origin: echo, redirects, status codes, cookies, a slow body. Listens on 0.0.0.0. */
export function startFidelityOrigin(): FidelityOrigin {
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const q = u.searchParams;
    switch (u.pathname) {
      case "/redirect": {
        const n = Number(q.get("n") ?? "0");
        const to = n > 1
          ? `/redirect?status=${q.get("status")}&n=${n - 1}&to=${encodeURIComponent(q.get("to")!)}`
          : q.get("to")!;
        await req.body?.cancel();
        return new Response(null, { status: Number(q.get("status")), headers: { location: to } });
      }
      case "/loop":
        await req.body?.cancel();
        return new Response(null, { status: 302, headers: { location: "/loop" } });
      case "/status":
        await req.body?.cancel();
        return new Response(Number(q.get("code")) === 204 ? null : `status ${q.get("code")}`, {
          status: Number(q.get("code")),
          headers: { "x-origin": "yes" },
        });
      case "/cookies": {
        const h = new Headers({ "content-type": "text/plain" });
        h.append("set-cookie", "a=1; Path=/");
        h.append("set-cookie", "b=2; HttpOnly");
        h.append("x-multi", "one");
        h.append("x-multi", "two");
        return new Response("cookies", { headers: h });
      }
      case "/slow-body":
        return new Response(
          new ReadableStream({
            async pull(c) {
              c.enqueue(new Uint8Array(1024));
              await new Promise((r) => setTimeout(r, 50));
            },
          }),
        );
      default: {
        const ct = req.headers.get("content-type") ?? "";
        let form: [string, string][] | null = null;
        let bytes = new Uint8Array(0);
        if (
          ct.startsWith("multipart/form-data") || ct.startsWith("application/x-www-form-urlencoded")
        ) {
          const raw = new Uint8Array(await req.arrayBuffer());
          bytes = raw;
          const fd = await new Response(raw, { headers: { "content-type": ct } }).formData();
          form = [];
          for (const [k, v] of fd) {
            form.push([k, typeof v === "string" ? v : `file:${v.name}:${v.type}:${v.size}`]);
          }
        } else if (req.body) {
          bytes = new Uint8Array(await req.arrayBuffer());
        }
        const headers: Record<string, string> = {};
        req.headers.forEach((v, k) => (headers[k] = v));
        const echo: Echo = {
          method: req.method,
          path: u.pathname + u.search,
          headers,
          contentLength: req.headers.get("content-length"),
          transferEncoding: req.headers.get("transfer-encoding"),
          bodyBytes: bytes.length,
          bodySha256: await sha256(bytes),
          form,
        };
        return Response.json(echo, { headers: { "x-echo": "1" } });
      }
    }
  });
  const port = server.addr.port;
  return {
    a: `http://127.0.0.1:${port}`,
    b: `http://127.0.0.2:${port}`,
    close: () => server.shutdown(),
  };
}

/** Routes for the gateway under test: a.test and b.test → the origin as its two hosts. */
export function fidelityRoutes(
  origin: Pick<FidelityOrigin, "a" | "b">,
  deadUrl: string,
): RouteConfig[] {
  return [
    { match: { authority: FIDELITY_HOSTS.a }, origin: origin.a },
    { match: { authority: FIDELITY_HOSTS.b }, origin: origin.b },
    { match: { authority: FIDELITY_HOSTS.down }, origin: deadUrl },
  ];
}

/** One way to send a request: a `fetch` and the two bases it addresses the origin by. */
interface Side {
  name: "fetch" | "channel";
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  a: string;
  b: string;
}

/** What a response looks like, minus what may differ. */
async function observe(side: Side, r: Response) {
  const body = new Uint8Array(await r.arrayBuffer());
  let echo: Echo | null = null;
  if (r.headers.get("x-echo") === "1" && body.length > 0) {
    echo = JSON.parse(new TextDecoder().decode(body));
    echo!.headers = Object.fromEntries(
      Object.entries(echo!.headers)
        .filter(([k]) => !UNCOMPARED.test(k))
        // A multipart boundary is random per serialization: compared as a placeholder.
        .map(([k, v]) => [k, k === "content-type" ? v.replace(/boundary=\S+/, "boundary=X") : v]),
    );
    if (echo!.form !== null && echo!.headers["content-type"]?.startsWith("multipart/")) {
      echo!.bodySha256 = "multipart";
    }
    // The origin path is the same on both sides; any base in a redirect target is the side's.
    echo!.path = echo!.path.replaceAll(encodeURIComponent(side.a), "A").replaceAll(
      encodeURIComponent(side.b),
      "B",
    );
  }
  const headers: [string, string][] = [];
  r.headers.forEach((v, k) => {
    if (
      !/^(date|content-length|vary|x-echo|connection|keep-alive|transfer-encoding|content-type)$/
        .test(k)
    ) headers.push([k, v]);
  });
  return {
    status: r.status,
    ok: r.ok,
    redirected: r.redirected,
    // The final URL, with the side's base replaced by a placeholder.
    url: r.url.replace(side.a, "A").replace(side.b, "B"),
    headers,
    cookies: r.headers.getSetCookie(),
    location: r.headers.get("location")?.replace(side.a, "A").replace(side.b, "B") ?? null,
    contentType: echo ? null : r.headers.get("content-type"),
    body: echo ? null : new TextDecoder().decode(body),
    echo,
  };
}

type Outcome = Awaited<ReturnType<typeof observe>> | { error: string };

async function outcome(
  side: Side,
  make: (s: Side) => [RequestInfo | URL, RequestInit?],
): Promise<Outcome> {
  try {
    const [input, init] = make(side);
    return await observe(side, await side.fetch(input, init));
  } catch (e) {
    return { error: (e as Error).name };
  }
}

interface Case {
  name: string;
  make: (s: Side) => [RequestInfo | URL, RequestInit?];
  /** Extra check of the (agreed) outcome, so a case cannot pass by both sides failing alike. */
  expect?: (o: Outcome) => void;
  /**
   * A documented difference (docs/client-fetch.md): instead of equality, `check` what the
   * channel does against what fetch did.
   */
  differs?: { why: string; check: (got: Outcome, want: Outcome) => void };
}

const text = (n: number) => "pqgate ✓ ".repeat(n);
const bytes = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + 1) & 0xff);
const stream = (n: number) => new Blob([bytes(n)]).stream();
const form = () => {
  const f = new FormData();
  f.append("name", "ada ✓");
  f.append("file", new Blob([bytes(5000)], { type: "application/x-test" }), "data.bin");
  f.append("name", "second value");
  return f;
};
const echoOf = (o: Outcome): Echo => {
  assert.ok(!("error" in o), `expected a response, got ${JSON.stringify(o)}`);
  assert.ok(o.echo, "expected an echo");
  return o.echo;
};

/** Differences that come from the gateway's platform, not from pqgate. */
export interface PlatformQuirks {
  /** The gateway runtime's fetch frames a bodiless PATCH, DELETE, ... with content-length: 0. */
  bodilessContentLengthZero?: boolean;
}

function cases(quirks: PlatformQuirks): Case[] {
  const out: Case[] = [];
  // Request headers (as the origin received them).
  out.push({
    name: "request headers: custom, repeated, authorization, cookie, accept",
    make: (s) => {
      const h = new Headers({
        "x-one": "1",
        authorization: "Bearer t0ken",
        cookie: "k=v; k2=v2",
        accept: "application/json",
      });
      h.append("x-rep", "a");
      h.append("x-rep", "b");
      return [`${s.a}/echo?x=1&y=%20`, { headers: h }];
    },
    expect: (o) => {
      const e = echoOf(o);
      assert.equal(e.headers["x-rep"], "a, b");
      assert.equal(e.headers.authorization, "Bearer t0ken");
      assert.equal(e.path, "/echo?x=1&y=%20");
    },
  });
  // Methods.
  for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) {
    const c: Case = {
      name: `method ${method} without a body`,
      make: (s) => [`${s.a}/echo`, { method }],
    };
    if (quirks.bodilessContentLengthZero && !["GET", "HEAD", "POST", "PUT"].includes(method)) {
      c.differs = {
        why:
          "the Workers runtime's fetch sends content-length: 0 on every bodiless request but GET and HEAD",
        check: (got, want) => {
          const g = echoOf(got), w = echoOf(want);
          assert.equal(w.contentLength, null);
          assert.equal(g.contentLength, "0");
          assert.deepEqual({ ...g, contentLength: null }, w);
        },
      };
    }
    out.push(c);
  }
  // Bodies of every BodyInit type.
  const bodies: [string, () => BodyInit, number | null][] = [
    ["string", () => text(300), null],
    ["Uint8Array", () => bytes(70_000), 70_000],
    ["ArrayBuffer", () => bytes(1000).buffer, 1000],
    [
      "DataView (window into a larger buffer)",
      () => new DataView(bytes(3000).buffer, 100, 2000),
      2000,
    ],
    ["Int16Array", () => new Int16Array(500).fill(-2), 1000],
    ["Blob with a type", () => new Blob([bytes(2048)], { type: "application/x-blob" }), 2048],
    ["URLSearchParams", () => new URLSearchParams({ q: "a b&c", n: "✓" }), null],
    ["FormData with a file", form, null],
    ["empty string", () => "", 0],
    ["ReadableStream (length unknown)", () => stream(200_000), null],
  ];
  for (const [label, make, length] of bodies) {
    for (const method of ["POST", "PUT"]) {
      out.push({
        name: `${method} body: ${label}`,
        make: (s) => {
          const body = make();
          const init: RequestInit & { duplex?: string } = { method, body };
          if (body instanceof ReadableStream) init.duplex = "half";
          return [`${s.a}/echo`, init];
        },
        expect: (o) => {
          const e = echoOf(o);
          if (length !== null) assert.equal(e.bodyBytes, length);
          if (label.startsWith("ReadableStream")) {
            assert.equal(e.contentLength, null);
            assert.equal(e.transferEncoding, "chunked");
          } else {
            assert.notEqual(
              e.contentLength,
              null,
              "a body of known length is sent with content-length",
            );
            assert.equal(e.transferEncoding, null);
          }
        },
      });
    }
  }
  out.push({
    name: "a Request object with a body as the input",
    make: (
      s,
    ) => [
      new Request(`${s.a}/echo`, { method: "POST", body: text(50), headers: { "x-req": "1" } }),
    ],
    expect: (o) => assert.equal(echoOf(o).headers["x-req"], "1"),
    differs: {
      why: "a Request's body length cannot be read without consuming it: sent chunked",
      check: (got, want) => {
        const g = echoOf(got), w = echoOf(want);
        assert.deepEqual({
          ...g,
          contentLength: w.contentLength,
          transferEncoding: w.transferEncoding,
        }, w);
        assert.equal(g.contentLength, null);
        assert.equal(g.transferEncoding, "chunked");
      },
    },
  });
  out.push({
    name: "a Request object with a body and its own content-length",
    make: (
      s,
    ) => [
      new Request(`${s.a}/echo`, {
        method: "POST",
        body: text(50),
        headers: { "content-length": "550" },
      }),
    ],
    expect: (o) => assert.equal(echoOf(o).contentLength, "550"),
  });
  out.push({
    name: "an explicit content-type is kept over the body's own",
    make: (
      s,
    ) => [`${s.a}/echo`, {
      method: "POST",
      body: new Blob(["x"], { type: "a/b" }),
      headers: { "content-type": "text/x-mine" },
    }],
    expect: (o) => assert.equal(echoOf(o).headers["content-type"], "text/x-mine"),
  });
  // Responses.
  for (const code of [200, 201, 204, 400, 404, 418, 500, 503]) {
    out.push({ name: `response status ${code}`, make: (s) => [`${s.a}/status?code=${code}`] });
  }
  out.push({
    name: "response: repeated set-cookie and a repeated header",
    make: (s) => [`${s.a}/cookies`],
    expect: (o) =>
      assert.deepEqual((o as { cookies: string[] }).cookies, ["a=1; Path=/", "b=2; HttpOnly"]),
  });
  // Redirects in each mode.
  for (const status of [301, 302, 303, 307, 308]) {
    for (const method of ["GET", "POST"]) {
      for (const redirect of ["follow", "manual", "error"] as const) {
        out.push({
          name: `redirect ${status} ${method} mode ${redirect}`,
          make: (s) => [
            `${s.a}/redirect?status=${status}&to=${encodeURIComponent("/echo?after=1")}`,
            {
              method,
              redirect,
              body: method === "POST" ? text(20) : undefined,
              headers: { "content-type": "text/plain", "x-keep": "1" },
            },
          ],
          expect: (o) => {
            if (redirect === "error") return assert.deepEqual(o, { error: "TypeError" });
            if (redirect === "manual") {
              return assert.equal((o as { status: number }).status, status);
            }
            const e = echoOf(o);
            const keepsMethod = status === 307 || status === 308 || (method === "GET");
            assert.equal(e.method, keepsMethod ? method : "GET");
            assert.equal(
              e.bodyBytes,
              keepsMethod && method === "POST" ? new TextEncoder().encode(text(20)).length : 0,
            );
            assert.equal((o as { redirected: boolean }).redirected, true);
          },
        });
      }
    }
  }
  out.push({
    name: "redirect chain of 20 is followed",
    make: (s) => [`${s.a}/redirect?status=302&n=20&to=${encodeURIComponent("/echo")}`],
    expect: (o) => assert.equal(echoOf(o).method, "GET"),
  });
  out.push({
    name: "redirect chain of 21 fails",
    make: (s) => [`${s.a}/redirect?status=302&n=21&to=${encodeURIComponent("/echo")}`],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  out.push({
    name: "redirect loop fails",
    make: (s) => [`${s.a}/loop`],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  out.push({
    name: "cross-origin redirect drops authorization, keeps other headers",
    make: (s) => [
      `${s.a}/redirect?status=302&to=${encodeURIComponent(`${s.b}/echo`)}`,
      { headers: { authorization: "Bearer secret", "x-keep": "1" } },
    ],
    expect: (o) => {
      const e = echoOf(o);
      assert.equal(e.headers.authorization, undefined);
      assert.equal(e.headers["x-keep"], "1");
      assert.equal((o as { url: string }).url, "B/echo");
    },
  });
  out.push({
    name: "same-origin redirect keeps authorization",
    make: (
      s,
    ) => [`${s.a}/redirect?status=307&to=${encodeURIComponent("/echo")}`, {
      headers: { authorization: "Bearer t" },
    }],
    expect: (o) => assert.equal(echoOf(o).headers.authorization, "Bearer t"),
  });
  out.push({
    name: "redirect to a non-http(s) scheme fails",
    make: (s) => [`${s.a}/redirect?status=302&to=${encodeURIComponent("ftp://x.example/")}`],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  out.push({
    name: "307 with a ReadableStream body cannot be replayed",
    make: (s) => [
      `${s.a}/redirect?status=307&to=${encodeURIComponent("/echo")}`,
      { method: "POST", body: stream(100), duplex: "half" } as RequestInit,
    ],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  // Errors before anything is sent.
  out.push({
    name: "a non-http(s) URL is a TypeError",
    make: () => ["ftp://a.test/x"],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  out.push({
    name: "a URL with credentials is a TypeError",
    make: (s) => [s.a.replace("//", "//u:p@") + "/echo"],
    differs: {
      why: "refused as browsers refuse it; Deno's fetch turns the credentials into Basic auth",
      check: (got, want) => {
        assert.deepEqual(got, { error: "TypeError" });
        assert.equal(echoOf(want).headers.authorization, "Basic dTpw");
      },
    },
  });
  out.push({
    name: "a forbidden method is a TypeError",
    make: (s) => [`${s.a}/echo`, { method: "CONNECT" }],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  out.push({
    name: "GET with a body is a TypeError",
    make: (s) => [`${s.a}/echo`, { method: "GET", body: "x" }],
    expect: (o) => assert.deepEqual(o, { error: "TypeError" }),
  });
  // Abort.
  out.push({
    name: "an already-aborted signal rejects with its reason",
    make: (s) => [`${s.a}/echo`, { signal: AbortSignal.abort() }],
    expect: (o) => assert.deepEqual(o, { error: "AbortError" }),
  });
  out.push({
    name: "AbortSignal.timeout during a slow body",
    make: (s) => [`${s.a}/slow-body`, { signal: AbortSignal.timeout(300) }],
    expect: (o) => assert.deepEqual(o, { error: "TimeoutError" }),
  });
  return out;
}

type StepFn = (name: string, fn: () => Promise<void>) => Promise<unknown>;

/**
 * Runs every case on both sides and compares. `channelFetch` is a connected channel's fetch
 * (https://a.test, https://b.test name the origin); `t` is a Deno.TestContext.
 */
export async function runFetchFidelity(
  label: string,
  origin: FidelityOrigin,
  channelFetch: Side["fetch"],
  t: { step: StepFn },
  quirks: PlatformQuirks = {},
): Promise<void> {
  const platform: Side = {
    name: "fetch",
    fetch: (i, init) => fetch(i, init),
    a: origin.a,
    b: origin.b,
  };
  const channel: Side = {
    name: "channel",
    fetch: channelFetch,
    a: `https://${FIDELITY_HOSTS.a}`,
    b: `https://${FIDELITY_HOSTS.b}`,
  };
  for (const c of cases(quirks)) {
    await t.step(`${label}: ${c.name}`, async () => {
      const want = await outcome(platform, c.make);
      const got = await outcome(channel, c.make);
      if (c.differs) return c.differs.check(got, want);
      c.expect?.(want); // the platform behaves as the case says (the case itself is right)
      assert.deepEqual(got, want);
    });
  }

  await t.step(
    `${label}: abort while reading the body stops the stream on both sides`,
    async () => {
      for (const side of [platform, channel]) {
        const ac = new AbortController();
        const r = await side.fetch(`${side.a}/slow-body`, { signal: ac.signal });
        const reader = r.body!.getReader();
        await reader.read();
        ac.abort();
        await assert.rejects(
          async () => {
            for (;;) if ((await reader.read()).done) break;
          },
          (e: Error) => e.name === "AbortError",
          side.name,
        );
      }
    },
  );

  await t.step(`${label}: the one error difference: an unreachable origin`, async () => {
    const r = await channel.fetch(`https://${FIDELITY_HOSTS.down}/x`);
    assert.equal(r.status, 502);
    assert.equal(r.headers.get("pqgate-error"), "bad_gateway");
    await r.body?.cancel();
  });
}
