import assert from "node:assert/strict";
import { forward, type ForwardContext, type ForwardRequest } from "./forward.ts";
import { compileRoutes, type RouteTable } from "./routes.ts";
import { serviceLookup } from "./service-fetch.ts";
import { platformOriginFetch } from "./origin-fetch.ts";
import { BUFFERED_BODY_MAX } from "./fixed-length-body.ts";
import http from "node:http";
import { demoOrigin, streamByte } from "../demo/origin.ts";

/** Set when the /stall-body request was aborted (the gateway gave up on the body). */
let stallAborted = false;

/** A real local origin on an ephemeral port. */
async function withOrigin(fn: (base: string) => Promise<void>): Promise<void> {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const u = new URL(req.url);
    switch (u.pathname) {
      case "/echo":
        return new Response(req.body, {
          headers: {
            "x-seen": JSON.stringify(Object.fromEntries(req.headers)),
            "x-method": req.method,
            "x-url": req.url,
          },
        });
      case "/count": {
        let n = 0;
        for await (const c of req.body ?? []) n += c.byteLength;
        return Response.json({ n });
      }
      case "/fail":
        return new Response("origin broke", { status: 500, headers: { "x-origin": "yes" } });
      case "/redirect":
        return new Response(null, {
          status: 302,
          headers: { location: "https://elsewhere.example/x" },
        });
      case "/slow":
        // Ends early when the gateway gives up (aborting the fetch aborts req.signal).
        await new Promise((r) => {
          const t = setTimeout(r, 1500);
          req.signal.addEventListener("abort", () => (clearTimeout(t), r(null)), { once: true });
        });
        return new Response("late");
      case "/slow-body":
        return new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue(new TextEncoder().encode("a"));
              await new Promise((r) => setTimeout(r, 300));
              c.enqueue(new TextEncoder().encode("b"));
              c.close();
            },
          }),
        );
      case "/stall-body": {
        // One byte, then nothing until the gateway aborts the request.
        stallAborted = false;
        const signal = req.signal;
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode("a"));
              signal.addEventListener("abort", () => (stallAborted = true), { once: true });
            },
          }),
        );
      }
      case "/drip":
        // 6 chunks 80 ms apart: slow but never idle for long.
        return new Response(
          new ReadableStream({
            async start(c) {
              for (let i = 0; i < 6; i++) {
                c.enqueue(new TextEncoder().encode(String(i)));
                await new Promise((r) => setTimeout(r, 80));
              }
              c.close();
            },
          }),
        );
      case "/forge":
        return new Response("x", { headers: { "pqgate-error": "forbidden", connection: "close" } });
      case "/big-headers":
        return new Response("x", { headers: { "x-big": "v".repeat(20000) } });
      default:
        return new Response("not found", { status: 404 });
    }
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

function spyFetch(inner: (r: Request) => Promise<Response> = (r) => fetch(r)) {
  const calls: string[] = [];
  const f = (r: Request) => {
    calls.push(r.url);
    return inner(r);
  };
  return { calls, fetch: f };
}

function ctx(
  routes: RouteTable,
  f: (r: Request) => Promise<Response>,
  extra: Partial<ForwardContext> = {},
): ForwardContext {
  return {
    routes,
    clientAddress: "203.0.113.9",
    suite: 2,
    sessionId: new Uint8Array(16).fill(0xcd),
    fetch: f,
    timeoutMs: 1000,
    maxBodyBytes: 1024 * 1024,
    ...extra,
  };
}

function req(path: string, extra: Partial<ForwardRequest> = {}): ForwardRequest {
  return {
    method: "GET",
    scheme: "https",
    authority: "api.example.com",
    path,
    headers: [],
    body: null,
    ...extra,
  };
}

function streamOf(chunks: number, size: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i++ >= chunks) return c.close();
      c.enqueue(new Uint8Array(size).fill(i & 0xff));
    },
  });
}

const table = (base: string) =>
  compileRoutes([{ match: { authority: "api.example.com" }, origin: base }]);

Deno.test("forward: GET reaches the origin with clean headers", async () => {
  await withOrigin(async (base) => {
    const spy = spyFetch();
    const res = await forward(
      req("/echo?q=1", {
        headers: [
          ["x-forwarded-for", "6.6.6.6"],
          ["pqgate-session", "forged"],
          ["connection", "x-hop"],
          ["x-hop", "1"],
          ["accept", "text/plain"],
        ],
      }),
      ctx(table(base), spy.fetch),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(spy.calls, [`${base}/echo?q=1`]);
    const seen = JSON.parse(res.headers.get("x-seen")!);
    assert.equal(seen["x-forwarded-for"], "203.0.113.9");
    assert.equal(seen["forwarded"], "for=203.0.113.9;proto=https");
    assert.equal(seen["pqgate-session"], "cd".repeat(16));
    assert.equal(seen["pqgate-suite"], "0x0002");
    assert.equal(seen["x-hop"], undefined);
    assert.equal(seen["accept"], "text/plain");
    assert.equal(seen["host"], new URL(base).host);
    assert.equal(res.headers.get("pqgate-error"), null);
    await res.body?.cancel();
  });
});

Deno.test("forward: POST body streams both ways", async () => {
  await withOrigin(async (base) => {
    const res = await forward(
      req("/echo", {
        method: "POST",
        body: streamOf(64, 16 * 1024),
        headers: [["content-type", "application/octet-stream"]],
      }),
      ctx(table(base), fetch),
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-method"), "POST");
    let n = 0;
    for await (const c of res.body!) n += c.byteLength;
    assert.equal(n, 64 * 16 * 1024);
  });
});

Deno.test("forward: origin 5xx passes through as-is", async () => {
  await withOrigin(async (base) => {
    const res = await forward(req("/fail"), ctx(table(base), fetch));
    assert.equal(res.status, 500);
    assert.equal(res.headers.get("x-origin"), "yes");
    assert.equal(res.headers.get("pqgate-error"), null);
    assert.equal(await res.text(), "origin broke");
  });
});

Deno.test("forward: redirects are returned, not followed", async () => {
  await withOrigin(async (base) => {
    const spy = spyFetch();
    const res = await forward(req("/redirect"), ctx(table(base), spy.fetch));
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), "https://elsewhere.example/x");
    assert.equal(spy.calls.length, 1);
    await res.body?.cancel();
  });
});

Deno.test("forward: connection refused → 502 gateway error", async () => {
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const res = await forward(req("/"), ctx(table(`http://127.0.0.1:${port}`), fetch));
  assert.equal(res.status, 502);
  assert.equal(res.headers.get("pqgate-error"), "bad_gateway");
  assert.deepEqual(await res.json(), { error: "bad_gateway", status: 502 });
});

Deno.test("forward: slow origin → 504; timeout covers headers only", async () => {
  await withOrigin(async (base) => {
    const t0 = Date.now();
    const res = await forward(req("/slow"), ctx(table(base), fetch, { timeoutMs: 150 }));
    assert.equal(res.status, 504);
    assert.equal(res.headers.get("pqgate-error"), "gateway_timeout");
    assert.ok(Date.now() - t0 < 1000);
    await res.body?.cancel();
    // Headers in time, body slower than the timeout: still delivered whole.
    const ok = await forward(req("/slow-body"), ctx(table(base), fetch, { timeoutMs: 150 }));
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "ab");
  });
});

Deno.test("forward: an in-process handler that ignores the signal still times out", async () => {
  const routes = compileRoutes([{
    match: { authority: "api.example.com" },
    origin: "service:stuck",
    timeoutMs: 100,
  }]);
  const services = serviceLookup({ stuck: { fetch: () => new Promise<Response>(() => {}) } });
  const res = await forward(req("/"), ctx(routes, fetch, { services }));
  assert.equal(res.status, 504);
});

Deno.test("forward: body over the cap → 413 (declared or streamed)", async () => {
  await withOrigin(async (base) => {
    const spy = spyFetch();
    const declared = await forward(
      req("/count", {
        method: "POST",
        headers: [["content-length", "5000"]],
        body: streamOf(1, 5000),
      }),
      ctx(table(base), spy.fetch, { maxBodyBytes: 4096 }),
    );
    assert.equal(declared.status, 413);
    assert.equal(spy.calls.length, 0); // refused before any connection
    const streamed = await forward(
      req("/count", { method: "POST", body: streamOf(100, 1024) }),
      ctx(table(base), fetch, { maxBodyBytes: 10 * 1024 }),
    );
    assert.equal(streamed.status, 413);
    assert.equal(streamed.headers.get("pqgate-error"), "body_too_large");
    await streamed.body?.cancel();
    // A route's cap wins over the gateway default.
    const routes = compileRoutes([{
      match: { authority: "api.example.com" },
      origin: base,
      maxBodyBytes: 100,
    }]);
    const r = await forward(
      req("/count", { method: "POST", body: streamOf(2, 100) }),
      ctx(routes, fetch),
    );
    assert.equal(r.status, 413);
    await r.body?.cancel();
    const fine = await forward(
      req("/count", { method: "POST", body: streamOf(10, 1000) }),
      ctx(table(base), fetch),
    );
    assert.deepEqual(await fine.json(), { n: 10000 });
  });
});

Deno.test("forward: Content-Length must match the streamed body", async () => {
  await withOrigin(async (base) => {
    const res = await forward(
      req("/count", { method: "POST", headers: [["content-length", "10"]], body: streamOf(1, 5) }),
      ctx(table(base), fetch),
    );
    assert.equal(res.status, 400);
    await res.body?.cancel();
  });
});

Deno.test("forward: origins cannot forge gateway errors; oversized origin headers → 502", async () => {
  await withOrigin(async (base) => {
    const res = await forward(req("/forge"), ctx(table(base), fetch));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("pqgate-error"), null);
    assert.equal(res.headers.get("connection"), null);
    await res.body?.cancel();
    const big = await forward(req("/big-headers"), ctx(table(base), fetch));
    assert.equal(big.status, 502);
    assert.equal(big.headers.get("pqgate-error"), "origin_headers_too_large");
    await big.body?.cancel();
  });
});

Deno.test("forward: open-relay attempts get 403 and make zero fetch calls", async () => {
  const routes = compileRoutes([
    { match: { authority: "api.example.com" }, origin: "https://backend.internal" },
    { match: { authority: "app.example.com", pathPrefix: "/api" }, origin: "service:demo" },
  ]);
  const spy = spyFetch(() => Promise.reject(new Error("must not be called")));
  const attempts: ForwardRequest[] = [
    req("http://evil.example/"),
    req("https://evil.example/"),
    req("//evil.example/"),
    req("/", { authority: "evil.example" }),
    req("/", { authority: "user@api.example.com" }),
    req("/", { authority: "127.0.0.1" }),
    req("/", { authority: "[::1]:8080" }),
    req("/", { authority: "2130706433" }),
    req("/", { authority: "017700000001" }),
    req("/", { authority: "169.254.169.254" }),
    req("/api/../admin", { authority: "app.example.com" }),
    req("/api/%2e%2e/admin", { authority: "app.example.com" }),
    req("/api%2f..%2fadmin", { authority: "app.example.com" }),
    req("/other", { authority: "app.example.com" }),
    req("/x\r\nHost: evil.example"),
    req("/\\evil.example"),
    req("/", { headers: [["host", "evil.example"]] }),
    req("/", { authority: "", headers: [["host", "evil.example"]] }),
    req("/", { authority: "", headers: [["host", "api.example.com"], ["host", "evil.example"]] }),
    req("*", { method: "OPTIONS" }),
  ];
  for (const a of attempts) {
    const res = await forward(a, ctx(routes, spy.fetch));
    assert.equal(res.status, 403, JSON.stringify(a));
    assert.equal(res.headers.get("pqgate-error"), "forbidden");
  }
  // Methods a gateway must not tunnel are refused before matching.
  for (const m of ["CONNECT", "TRACE", "track"]) {
    assert.equal((await forward(req("/", { method: m }), ctx(routes, spy.fetch))).status, 405);
  }
  assert.deepEqual(spy.calls, []);
});

Deno.test("forward: service: routes dispatch in-process (demo origin), never to the network", async () => {
  const routes = compileRoutes([{ match: { pathPrefix: "/" }, origin: "service:demo" }]);
  const network = spyFetch(() => Promise.reject(new Error("no network")));
  const services = serviceLookup({ demo: demoOrigin });
  const res = await forward(
    req("/api/hello", { authority: "pqgate.local", headers: [["x-real-ip", "6.6.6.6"]] }),
    ctx(routes, network.fetch, { services }),
  );
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.headers["x-real-ip"], undefined);
  assert.equal(body.headers["x-forwarded-for"], "203.0.113.9");
  const s = await forward(
    req("/api/stream?bytes=70000", { authority: "pqgate.local" }),
    ctx(routes, network.fetch, { services }),
  );
  const bytes = new Uint8Array(await s.arrayBuffer());
  assert.equal(bytes.length, 70000);
  assert.equal(bytes[69999], streamByte(69999));
  // A service with no handler is a 502, never a network call.
  const missing = compileRoutes([{ match: { pathPrefix: "/" }, origin: "service:nope" }]);
  assert.equal(
    (await forward(req("/", { authority: "x.example" }), ctx(missing, network.fetch, { services })))
      .status,
    502,
  );
  assert.equal(
    (await forward(req("/", { authority: "x.example" }), ctx(routes, network.fetch))).status,
    502,
  );
  assert.deepEqual(network.calls, []);
});

Deno.test("forward: a service sees the client's scheme, host and (stripped) path, not a placeholder", async () => {
  const seen: { url: string; host: string | null }[] = [];
  const services = serviceLookup({
    app: {
      fetch: (r) => (seen.push({ url: r.url, host: r.headers.get("host") }), new Response("ok")),
    },
  });
  const routes = compileRoutes([
    {
      match: { authority: "app.example", pathPrefix: "/api" },
      origin: "service:app",
      stripPrefix: true,
    },
    { match: { pathPrefix: "/" }, origin: "service:APP" },
  ]);
  const f = (path: string, extra: Partial<ForwardRequest>) =>
    forward(req(path, extra), ctx(routes, fetch, { services })).then((r) => r.text());
  await f("/api/v1/x?q=1", { authority: "APP.example:443" });
  await f("/y", { authority: "other.example:8443" });
  await f("/z", { scheme: "http", authority: "", headers: [["host", "plain.example:80"]] });
  assert.deepEqual(seen, [
    { url: "https://app.example/v1/x?q=1", host: "app.example" },
    { url: "https://other.example:8443/y", host: "other.example:8443" },
    { url: "http://plain.example/z", host: "plain.example" },
  ]);
});

Deno.test("forward: forwardedHost passes the client's authority as X-Forwarded-Host and Forwarded host=", async () => {
  await withOrigin(async (base) => {
    const routes = compileRoutes([
      { match: { authority: "api.example.com" }, origin: base, forwardedHost: true },
      { match: { authority: "quiet.example.com" }, origin: base },
      { match: { authority: "[2001:db8::1]:8443" }, origin: base, forwardedHost: true },
    ]);
    const seen = async (authority: string) => {
      const r = await forward(req("/echo", { authority }), ctx(routes, fetch));
      await r.body?.cancel();
      return JSON.parse(r.headers.get("x-seen")!);
    };
    const on = await seen("api.example.com");
    assert.equal(on["x-forwarded-host"], "api.example.com");
    assert.equal(on.forwarded, "for=203.0.113.9;host=api.example.com;proto=https");
    assert.equal(on.host, new URL(base).host);
    const v6 = await seen("[2001:db8::1]:8443");
    assert.equal(v6["x-forwarded-host"], "[2001:db8::1]:8443");
    assert.equal(v6.forwarded, 'for=203.0.113.9;host="[2001:db8::1]:8443";proto=https');
    const off = await seen("quiet.example.com");
    assert.equal(off["x-forwarded-host"], undefined);
    assert.equal(off.forwarded, "for=203.0.113.9;proto=https");
    // A client-sent X-Forwarded-Host never passes, on or off.
    const r = await forward(
      req("/echo", {
        authority: "quiet.example.com",
        headers: [["x-forwarded-host", "evil.example"]],
      }),
      ctx(routes, fetch),
    );
    await r.body?.cancel();
    assert.equal(JSON.parse(r.headers.get("x-seen")!)["x-forwarded-host"], undefined);
  });
  assert.throws(
    () =>
      compileRoutes([{
        match: { pathPrefix: "/" },
        origin: "https://o.example",
        forwardedHost: "yes" as unknown as boolean,
      }]),
    /forwardedHost: must be a boolean/,
  );
});

/** A node:http origin that reports how each request body was framed. */
async function withFramingOrigin(fn: (base: string) => Promise<void>): Promise<void> {
  const server = http.createServer((rq, rs) => {
    let n = 0;
    rq.on("data", (c: Uint8Array) => (n += c.byteLength));
    rq.on("end", () => {
      rs.setHeader("content-type", "application/json");
      rs.end(JSON.stringify({
        cl: rq.headers["content-length"] ?? null,
        te: rq.headers["transfer-encoding"] ?? null,
        n,
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

Deno.test("forward: a declared body length reaches the origin as content-length, small and large; undeclared stays chunked", async () => {
  await withFramingOrigin(async (base) => {
    const routes = table(base);
    const post = async (n: number, chunk: number, declare: boolean, f = platformOriginFetch) => {
      const res = await forward(
        req("/", {
          method: "POST",
          headers: declare ? [["content-length", String(n)]] : [],
          body: streamOf(Math.ceil(n / chunk), chunk),
        }),
        ctx(routes, f, { maxBodyBytes: 0 }),
      );
      assert.equal(res.status, 200);
      return await res.json();
    };
    // Buffered path (≤ BUFFERED_BODY_MAX), even with a plain fetch.
    assert.deepEqual(await post(1000, 1000, true, fetch), { cl: "1000", te: null, n: 1000 });
    assert.deepEqual(await post(BUFFERED_BODY_MAX, 4096, true, fetch), {
      cl: String(BUFFERED_BODY_MAX),
      te: null,
      n: BUFFERED_BODY_MAX,
    });
    // Streamed path (over the buffer), via the gateway's default origin fetch.
    const big = 4 * 1024 * 1024;
    assert.deepEqual(await post(big, 16384, true), { cl: String(big), te: null, n: big });
    // Empty POST with content-length: 0.
    assert.deepEqual(await post(0, 1, true, fetch), { cl: "0", te: null, n: 0 });
    // No declared length: framed by the runtime (chunked), as platform fetch does.
    const chunked = await post(200000, 10000, false);
    assert.equal(chunked.cl, null);
    assert.equal(chunked.te, "chunked");
    assert.equal(chunked.n, 200000);
  });
});

Deno.test("forward: a body longer or shorter than its content-length is refused (400) on both paths", async () => {
  await withFramingOrigin(async (base) => {
    const routes = table(base);
    for (
      const [declared, chunks, size] of [[1000, 2, 1000], [1000, 1, 500], [200000, 30, 10000], [
        200000,
        10,
        10000,
      ]]
    ) {
      const res = await forward(
        req("/", {
          method: "POST",
          headers: [["content-length", String(declared)]],
          body: streamOf(chunks, size),
        }),
        ctx(routes, platformOriginFetch, { maxBodyBytes: 0 }),
      );
      assert.equal(res.status, 400, `declared ${declared}, sent ${chunks * size}`);
      assert.equal(res.headers.get("pqgate-error"), "bad_request");
    }
  });
});

Deno.test("forward: two content-length fields are a 400, even when they agree (PROTOCOL.md §6.4)", async () => {
  const spy = spyFetch();
  const res = await forward(
    req("/", {
      method: "POST",
      headers: [["content-length", "3"], ["content-length", "3"]],
      body: streamOf(1, 3),
    }),
    ctx(table("http://127.0.0.1:9"), spy.fetch),
  );
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("pqgate-error"), "bad_request");
  assert.deepEqual(spy.calls, []);
});

Deno.test("forward: a declared body that never arrives times out (504) while buffered", async () => {
  await withFramingOrigin(async (base) => {
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10));
      },
    });
    const res = await forward(
      req("/", { method: "POST", headers: [["content-length", "100"]], body: stalled }),
      ctx(table(base), fetch, { timeoutMs: 150 }),
    );
    assert.equal(res.status, 504);
  });
});

Deno.test("forward: a HEAD response has no content even when an in-process origin returns some", async () => {
  let cancelled = false;
  const services = serviceLookup({
    app: {
      fetch: () =>
        new Response(
          new ReadableStream({
            pull: (c) => c.enqueue(new Uint8Array(10)),
            cancel: () => void (cancelled = true),
          }),
          {
            headers: { "content-length": "10" },
          },
        ),
    },
  });
  const routes = compileRoutes([{ match: { pathPrefix: "/" }, origin: "service:app" }]);
  const res = await forward(req("/", { method: "HEAD" }), ctx(routes, fetch, { services }));
  assert.equal(res.status, 200);
  assert.equal(res.body, null);
  assert.equal(res.headers.get("content-length"), "10");
  assert.ok(cancelled);
});

Deno.test("forward: GET with a non-empty body is refused; with an empty one it proceeds", async () => {
  await withOrigin(async (base) => {
    const bad = await forward(req("/echo", { body: streamOf(1, 3) }), ctx(table(base), fetch));
    assert.equal(bad.status, 400);
    const ok = await forward(req("/echo", { body: streamOf(0, 0) }), ctx(table(base), fetch));
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("forward: an origin body idle past bodyIdleTimeoutMs errors the body and aborts the origin request", async () => {
  await withOrigin(async (base) => {
    const res = await forward(
      req("/stall-body"),
      ctx(table(base), fetch, { bodyIdleTimeoutMs: 150 }),
    );
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "a");
    const t0 = Date.now();
    await assert.rejects(
      reader.read(),
      (e: Error) => e.name === "TimeoutError" && /150 ms/.test(e.message),
    );
    const waited = Date.now() - t0;
    assert.ok(waited >= 120 && waited < 1000, `idle timeout after ${waited} ms`);
    for (let i = 0; i < 100 && !stallAborted; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(stallAborted, "the origin request was aborted");
  });
});

Deno.test("forward: body idle timeout counts origin silence only (slow origin chunks, slow reader)", async () => {
  await withOrigin(async (base) => {
    // Chunks every 80 ms with a 250 ms idle timeout: delivered whole.
    const drip = await forward(req("/drip"), ctx(table(base), fetch, { bodyIdleTimeoutMs: 250 }));
    assert.equal(await drip.text(), "012345");
    // A reader pausing 300 ms between reads (longer than the timeout) is not the origin's fault.
    const slow = await forward(req("/drip"), ctx(table(base), fetch, { bodyIdleTimeoutMs: 250 }));
    const reader = slow.body!.getReader();
    let text = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(text, "012345");
  });
});

Deno.test("forward: a route's bodyIdleTimeoutMs overrides the gateway's (0 = none)", async () => {
  await withOrigin(async (base) => {
    const routes = compileRoutes([
      { match: { authority: "api.example.com" }, origin: base, bodyIdleTimeoutMs: 0 },
      { match: { authority: "strict.example.com" }, origin: base, bodyIdleTimeoutMs: 100 },
    ]);
    // Gateway default 100 ms, route "none": the drip (80 ms gaps, but 500 ms in all) is fine
    // and a stalled body stays open.
    const none = await forward(req("/stall-body"), ctx(routes, fetch, { bodyIdleTimeoutMs: 100 }));
    const reader = none.body!.getReader();
    await reader.read();
    const raced = await Promise.race([
      reader.read().then(() => "read", () => "error"),
      new Promise((r) => setTimeout(() => r("open"), 400)),
    ]);
    assert.equal(raced, "open");
    await reader.cancel();
    // Gateway default none (undefined), route 100 ms: times out.
    const strict = await forward(
      req("/stall-body", { authority: "strict.example.com" }),
      ctx(routes, fetch),
    );
    await assert.rejects(strict.text(), (e: Error) => e.name === "TimeoutError");
  });
});

Deno.test("forward: a small declared body is read whole under the header timeout, and checked against its length", async () => {
  const routes = compileRoutes([{ match: { authority: "api.example.com" }, origin: "service:s" }]);
  const enc = new TextEncoder();
  let mode: "ok" | "short" | "stall" = "ok";
  const services = serviceLookup({
    s: {
      fetch: () => {
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(enc.encode("abc"));
            if (mode === "ok") c.enqueue(enc.encode("de"));
            if (mode !== "stall") c.close();
          },
        });
        return new Response(body, { headers: { "content-length": "5" } });
      },
    },
  });
  const ok = await forward(req("/"), ctx(routes, fetch, { services, timeoutMs: 150 }));
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-length"), "5");
  assert.equal(await ok.text(), "abcde");

  mode = "short"; // declared 5, sent 3: a broken origin, not a truncated success
  const short = await forward(req("/"), ctx(routes, fetch, { services, timeoutMs: 150 }));
  assert.equal(short.status, 502);
  assert.equal(short.headers.get("pqgate-error"), "bad_gateway");

  mode = "stall"; // headers in time, the rest of a small body never: 504, not a hung stream
  const t0 = Date.now();
  const stalled = await forward(req("/"), ctx(routes, fetch, { services, timeoutMs: 150 }));
  assert.equal(stalled.status, 504);
  assert.ok(Date.now() - t0 < 1000);
  // ... and by the body idle timeout when that is the shorter one.
  const t1 = Date.now();
  const idle = await forward(
    req("/"),
    ctx(routes, fetch, { services, timeoutMs: 5000, bodyIdleTimeoutMs: 150 }),
  );
  assert.equal(idle.status, 504);
  assert.ok(Date.now() - t1 < 1000);
});

Deno.test("forward: with fetchUrl, URL routes go through it (same target and headers), never through fetch", async () => {
  await withOrigin(async (base) => {
    const viaFetch = spyFetch();
    const calls: string[] = [];
    const res = await forward(
      req("/echo?q=1", { headers: [["pqgate-session", "forged"], ["accept", "text/plain"]] }),
      ctx(table(base), viaFetch.fetch, {
        fetchUrl: (url, init) => {
          calls.push(url);
          assert.equal(init.redirect, "manual");
          assert.ok(init.signal instanceof AbortSignal);
          return fetch(url, init);
        },
      }),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(calls, [`${base}/echo?q=1`]);
    assert.deepEqual(viaFetch.calls, []);
    const seen = JSON.parse(res.headers.get("x-seen")!);
    assert.equal(seen["pqgate-session"], "cd".repeat(16));
    assert.equal(seen["accept"], "text/plain");
    assert.equal(seen["host"], new URL(base).host);
    await res.body?.cancel();
  });
});
