/** Client and gateway sessions back to back: requests and responses as standard fetch types. */
import assert from "node:assert/strict";
import { readAll, settle, startPair, waitFor } from "./testing.ts";
import type { DecodedRequest, RequestHandler } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("handshake, SESSION_INFO, then GET and POST", async () => {
  const seen: { method: string; url: string; channel: unknown }[] = [];
  const p = startPair({
    handler: async (req, channel) => {
      seen.push({ method: req.method, url: req.url, channel });
      const body = req.body ? await req.text() : "";
      return new Response(`${req.method} ${new URL(req.url).pathname} ${body}`, {
        status: 201,
        headers: [["x-a", "1"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]],
      });
    },
  });
  await p.client.ready;
  assert.equal(p.client.state, "established");
  const get = await p.client.fetch(
    new Request("https://api.example/v1/x?q=1", { headers: { "x-test": "t" } }),
  );
  assert.equal(get.status, 201);
  assert.equal(get.headers.get("x-a"), "1");
  assert.deepEqual(get.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(get.url, "https://api.example/v1/x?q=1");
  assert.equal(await get.text(), "GET /v1/x ");
  assert.ok(p.client.sessionInfo);
  assert.equal(p.client.sessionInfo.maxStreams, 100);
  assert.equal(p.client.sessionId, p.server.channelInfo!.sessionId);

  const post = await p.client.fetch(
    new Request("https://api.example/echo", { method: "POST", body: "hello" }),
  );
  assert.equal(await post.text(), "POST /echo hello");
  assert.equal(seen[0].url, "https://api.example/v1/x?q=1");
  assert.deepEqual(seen[0].channel, {
    sessionId: p.client.sessionId,
    suite: p.client.suite,
    keyId: p.server.channelInfo!.keyId,
    clientAddress: "192.0.2.1",
  });
  assert.equal(p.server.channelInfo!.keyId?.length, 16);
  const hs = p.client.handshake!;
  assert.equal(hs.clientHelloBytes, 2386);
  assert.equal(hs.serverHelloBytes, 1190);
  assert.equal(hs.clientFinishedBytes, 33);
  await waitFor(() => p.server.openStreams === 0, 2000, "streams closed");
  p.client.close();
  await settle();
  assert.equal(p.server.state, "closed");
  assert.equal(p.ss.closed?.code, 1000);
});

Deno.test("requests queued before the handshake go out right after ClientFinished", async () => {
  const p = startPair();
  // fetch before the ServerHello arrived: same flight as ClientFinished (1 RTT).
  const r = p.client.fetch(new Request("https://a.example/first"));
  const res = await r;
  assert.equal(res.headers.get("x-url"), "https://a.example/first");
  // ClientHello, ClientFinished, then the record with the request: 3 client messages so far.
  assert.ok(p.cs.messagesSent >= 3);
  p.client.close();
  await settle();
});

Deno.test("20 concurrent requests are matched to their responses", async () => {
  const p = startPair({
    handler: async (req) => {
      const n = Number(new URL(req.url).searchParams.get("n"));
      // Finish in a scrambled order.
      await new Promise((r) => setTimeout(r, (n * 7) % 13));
      const body = await req.text();
      return new Response(`${n}:${body}`, { headers: { "x-n": String(n) } });
    },
  });
  const all = await Promise.all(
    Array.from(
      { length: 20 },
      (_, n) =>
        p.client.fetch(
          new Request(`https://a.example/?n=${n}`, { method: "PUT", body: "x".repeat(n * 1000) }),
        )
          .then(async (r) => ({ n, h: r.headers.get("x-n"), body: await r.text() })),
    ),
  );
  for (const { n, h, body } of all) {
    assert.equal(h, String(n));
    assert.equal(body, `${n}:${"x".repeat(n * 1000)}`);
  }
  p.client.close();
  await settle();
});

Deno.test("streaming request and response bodies; HEAD and 204 have no body", async () => {
  const p = startPair({
    handler: (req) => {
      if (req.method === "HEAD") {
        return Promise.resolve(new Response(null, { headers: { "content-length": "5" } }));
      }
      if (new URL(req.url).pathname === "/nocontent") {
        return Promise.resolve(new Response(null, { status: 204 }));
      }
      return Promise.resolve(new Response(req.body));
    },
  });
  let i = 0;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i === 10) c.close();
      else c.enqueue(enc.encode(`chunk${i++};`));
    },
  });
  const res = await p.client.fetch(
    new Request(
      "https://a.example/s",
      { method: "POST", body: src, duplex: "half" } as RequestInit,
    ),
  );
  assert.equal(
    dec.decode(await readAll(res.body)),
    Array.from({ length: 10 }, (_, k) => `chunk${k};`).join(""),
  );
  const head = await p.client.fetch(new Request("https://a.example/h", { method: "HEAD" }));
  assert.equal(head.headers.get("content-length"), "5");
  assert.equal(await head.text(), "");
  const nc = await p.client.fetch(new Request("https://a.example/nocontent"));
  assert.equal(nc.status, 204);
  assert.equal(nc.body, null);
  p.client.close();
  await settle();
});

Deno.test("HEAD: a handler's body is never sent (cancelled unread) and the client resolves with no content", async () => {
  let pulled = 0;
  let cancelled = false;
  const p = startPair({
    handler: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            pull(c) {
              pulled++;
              c.enqueue(new Uint8Array(4096));
            },
            cancel() {
              cancelled = true;
            },
          }),
          { headers: { "content-length": "999999" } },
        ),
      ),
  });
  const head = await p.client.fetch(new Request("https://a.example/h", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), "999999");
  await settle();
  assert.ok(cancelled, "the handler's body was cancelled");
  assert.ok(pulled <= 2, `the gateway read ${pulled} chunks of a HEAD response body`);
  // The channel is fine afterwards.
  const again = await p.client.fetch(new Request("https://a.example/h", { method: "HEAD" }));
  assert.equal(again.status, 200);
  p.client.close();
  await settle();
});

Deno.test("limits: 431 for large headers, 413 for large bodies (declared and streamed), 400 for bad targets", async () => {
  const p = startPair({
    limits: { maxHeaderBytes: 200, maxBodyBytes: 1000 },
    handler: async (req) => new Response(`read ${(await req.arrayBuffer()).byteLength}`),
  });
  const big = await p.client.fetch(
    new Request("https://a.example/", { headers: { "x-big": "y".repeat(300) } }),
  );
  assert.equal(big.status, 431);
  assert.equal(big.headers.get("pqgate-error"), "headers_too_large");
  await big.body?.cancel();
  const declared = await p.client.fetch(
    new Request("https://a.example/", { method: "POST", body: "z".repeat(2000) }),
    { contentLength: 2000 },
  );
  assert.equal(declared.status, 413);
  assert.deepEqual(await declared.json(), { error: "body_too_large", status: 413 });
  // Streamed without content-length: the gateway notices while the body arrives.
  let sent = 0;
  const stream = () =>
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 500_000) return c.close();
        sent += 500;
        c.enqueue(new Uint8Array(500));
      },
    });
  const streamed = await p.client.fetch(
    new Request(
      "https://a.example/",
      { method: "POST", body: stream(), duplex: "half" } as RequestInit,
    ),
  );
  assert.equal(streamed.status, 413);
  assert.equal(streamed.headers.get("pqgate-error"), "body_too_large");
  assert.deepEqual(await streamed.json(), { error: "body_too_large", status: 413 });
  assert.ok(sent < 200_000, `the upload was stopped (${sent})`);
  const small = await p.client.fetch(
    new Request("https://a.example/", { method: "POST", body: "q".repeat(1000) }),
  );
  assert.equal(await small.text(), "read 1000");
  // A target the gateway cannot map → 400 on the stream (raw authority with userinfo).
  assert.equal(p.server.state, "established");
  p.client.close();
  await settle();
});

Deno.test("a response already started when the body goes over the limit → RESET TOO_LARGE", async () => {
  const p = startPair({ limits: { maxBodyBytes: 1000 } }); // echo handler: responds at once
  let step = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (step++ === 0) return c.enqueue(new Uint8Array(500));
      await new Promise((r) => setTimeout(r, 20)); // the response has started by now
      c.enqueue(new Uint8Array(5000));
      c.close();
    },
  });
  const r = await p.client.fetch(
    new Request("https://a.example/", { method: "POST", body, duplex: "half" } as RequestInit),
  );
  assert.equal(r.status, 200);
  await assert.rejects(
    r.text(),
    (e: Error) => e.name === "StreamResetError" && /TOO_LARGE/.test(e.message),
  );
  assert.equal(p.server.state, "established");
  p.client.close();
  await settle();
});

Deno.test("handler failure → 500 on the stream, channel stays up", async () => {
  const p = startPair({ handler: () => Promise.reject(new Error("boom")) });
  const r = await p.client.fetch(new Request("https://a.example/"));
  assert.equal(r.status, 500);
  assert.equal(r.headers.get("pqgate-error"), "internal_error");
  await r.text();
  assert.equal(p.server.state, "established");
  p.client.close();
  await settle();
});

Deno.test("client abort resets the stream and the gateway aborts the handler's request signal", async () => {
  let aborted = false;
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const p = startPair({
    handler: (req) =>
      new Promise((_, reject) => {
        started();
        req.signal.addEventListener("abort", () => {
          aborted = true;
          reject(req.signal.reason);
        });
      }),
  });
  const ac = new AbortController();
  const pending = p.client.fetch(new Request("https://a.example/slow"), { signal: ac.signal });
  await startedP;
  ac.abort();
  await assert.rejects(pending, (e: Error) => e.name === "AbortError");
  await waitFor(() => aborted, 2000, "handler abort");
  assert.equal(p.server.openStreams, 0);
  p.client.close();
  await settle();
});

Deno.test("abort while the response body streams errors the body and cancels the origin body", async () => {
  let cancelled = false;
  const p = startPair({
    handler: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(new Uint8Array(1000));
              return new Promise((r) => setTimeout(r, 1));
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
      ),
  });
  const ac = new AbortController();
  const res = await p.client.fetch(new Request("https://a.example/inf"), { signal: ac.signal });
  const reader = res.body!.getReader();
  await reader.read();
  ac.abort();
  await assert.rejects(async () => {
    for (;;) if ((await reader.read()).done) break;
  });
  await waitFor(() => cancelled, 2000, "origin body cancel");
  p.client.close();
  await settle();
});

Deno.test("cancelling the response body resets the stream", async () => {
  let cancelled = false;
  const p = startPair({
    handler: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            pull(c) {
              c.enqueue(new Uint8Array(16384));
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
      ),
  });
  const res = await p.client.fetch(new Request("https://a.example/inf"));
  await res.body!.cancel();
  await waitFor(() => cancelled, 2000, "origin cancel");
  assert.equal(p.server.state, "established");
  p.client.close();
  await settle();
});

Deno.test("more streams than max_streams: REFUSED, bodyless requests are retried", async () => {
  let inflight = 0, peak = 0;
  const p = startPair({
    limits: { maxStreams: 2 },
    client: { initialMaxStreams: 10 },
    handler: async () => {
      inflight++;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, 5));
      inflight--;
      return new Response("ok");
    },
  });
  const rs = await Promise.all(
    Array.from({ length: 6 }, () => p.client.fetch(new Request("https://a.example/"))),
  );
  for (const r of rs) assert.equal(await r.text(), "ok");
  assert.ok(peak <= 2);
  assert.ok(p.serverLog.some((l) => l.event === "refused" && l.fields.reason === "max_streams"));
  p.client.close();
  await settle();
});

Deno.test("gateway shutdown: CLOSE 1001 then socket close 1001; pending fetches fail", async () => {
  let release!: () => void;
  const p = startPair({
    handler: () => new Promise((r) => (release = () => r(new Response("late")))),
  });
  await p.client.ready;
  const pending = p.client.fetch(new Request("https://a.example/"));
  await waitFor(() => p.server.openStreams === 1, 2000, "stream open");
  p.server.shutdown();
  await assert.rejects(pending, /1001/);
  await settle();
  assert.equal(p.client.closeInfo?.code, 1001);
  assert.equal(p.client.closeInfo?.byPeer, true);
  assert.equal(p.cs.closed?.code, 1001);
  release();
});

Deno.test("a small response with a content-length is one record: HEADERS, DATA and END_STREAM", async () => {
  const body = new Uint8Array(1024).fill(0x61);
  /** Records the gateway sends for one GET answered by `handler`. */
  const recordsFor = async (handler: () => Promise<Response>) => {
    const p = startPair({ handler });
    await p.client.ready;
    await settle();
    let records = 0;
    const deliver = p.cs.onmessage!;
    p.cs.onmessage = (m) => {
      records++;
      deliver(m);
    };
    const res = await p.client.fetch(new Request("https://api.example/1k"));
    assert.deepEqual(await readAll(res.body), body);
    await settle();
    return records;
  };
  assert.equal(
    await recordsFor(() =>
      Promise.resolve(new Response(body, { headers: { "content-length": "1024" } }))
    ),
    1,
  );
  // Without a declared length the end of the body is only known after it: HEADERS first.
  const streamed = await recordsFor(async () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(body);
          c.close();
        },
      }),
    )
  );
  assert.ok(streamed >= 2, `${streamed} records`);
});

Deno.test("a handler with `decoded` gets the checked request without a Request object and may answer with parts", async () => {
  const body = new Uint8Array(1024).fill(0x62);
  const seen: DecodedRequest[] = [];
  const handler: RequestHandler = () => Promise.reject(new Error("the Request form is not used"));
  handler.decoded = (req) => {
    seen.push(req);
    if (req.path === "/plain") return Promise.resolve({ not: "a response" } as never);
    if (req.path === "/response") return Promise.resolve(new Response("r", { status: 202 }));
    return Promise.resolve({
      status: 201,
      headers: [["content-length", "1024"], ["x-a", "1"], ["set-cookie", "a=1"], [
        "set-cookie",
        "b=2",
      ]],
      body: req.path === "/stream"
        ? new ReadableStream({
          start(c) {
            c.enqueue(body);
            c.close();
          },
        })
        : body,
    });
  };
  const p = startPair({ handler });
  for (const path of ["/bytes", "/stream"]) {
    const r = await p.client.fetch(
      new Request(`https://API.example:443${path}?q=1`, { method: "get", headers: { "x-t": "t" } }),
    );
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("x-a"), "1");
    assert.deepEqual(r.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.deepEqual(await readAll(r.body), body);
  }
  const head = await p.client.fetch(new Request("https://api.example/bytes", { method: "HEAD" }));
  assert.equal(head.status, 201);
  assert.equal((await readAll(head.body)).length, 0);
  assert.equal((await p.client.fetch(new Request("https://api.example/response"))).status, 202);
  // A DecodedResponse is only taken from `decoded`; anything else that is not one → 502.
  const bad = await p.client.fetch(new Request("https://api.example/plain"));
  assert.equal(bad.status, 502);
  assert.equal(bad.headers.get("pqgate-error"), "bad_response");
  const s = seen[0];
  assert.deepEqual(
    [s.method, s.url, s.scheme, s.host, s.path, s.body],
    ["GET", "https://api.example/bytes?q=1", "https", "api.example", "/bytes?q=1", null],
  );
  assert.equal(s.headers.get("x-t"), "t");
  assert.equal(s.signal.aborted, false);
  p.client.close();
  await settle();
});
