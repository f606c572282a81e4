import assert from "node:assert/strict";
import http from "node:http";
import { gzipSync } from "node:zlib";
import { platformOriginFetch, platformOriginFetchUrl } from "./origin-fetch.ts";

/** node:http origin: /gzip answers gzip-encoded, /hang never answers, anything else echoes framing. */
async function withOrigin(
  fn: (base: string, aborted: () => number) => Promise<void>,
): Promise<void> {
  let abortedCount = 0;
  const server = http.createServer((rq, rs) => {
    if (rq.url === "/hang") {
      rq.on("close", () => abortedCount++);
      return;
    }
    const chunks: Uint8Array[] = [];
    rq.on("data", (c: Uint8Array) => chunks.push(c));
    rq.on("end", () => {
      const n = chunks.reduce((a, c) => a + c.byteLength, 0);
      const body = JSON.stringify({
        cl: rq.headers["content-length"] ?? null,
        te: rq.headers["transfer-encoding"] ?? null,
        n,
        method: rq.method,
        x: rq.headers["x-a"] ?? null,
      });
      if (rq.url === "/gzip") {
        rs.writeHead(201, { "content-encoding": "gzip", "set-cookie": ["a=1", "b=2"] });
        rs.end(gzipSync(body));
      } else if (rq.url === "/empty") {
        rs.writeHead(204);
        rs.end();
      } else {
        rs.end(body);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`, () => abortedCount);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function upload(url: string, n: number, extra: RequestInit = {}): Request {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= n) return c.close();
      const k = Math.min(65536, n - sent);
      sent += k;
      c.enqueue(new Uint8Array(k));
    },
  });
  return new Request(url, {
    method: "POST",
    body,
    headers: { "content-length": String(n), "x-a": "1" },
    duplex: "half",
    ...extra,
  } as RequestInit);
}

Deno.test("origin fetch: a streamed upload with content-length keeps it on Deno (not chunked)", async () => {
  await withOrigin(async (base) => {
    const r = await platformOriginFetch(upload(`${base}/`, 3 * 1024 * 1024 + 7));
    assert.deepEqual(await r.json(), {
      cl: String(3 * 1024 * 1024 + 7),
      te: null,
      n: 3 * 1024 * 1024 + 7,
      method: "POST",
      x: "1",
    });
    // A byte body of any size, with no content-length field, keeps fetch's own framing.
    for (const n of [0, 5]) {
      const r = await platformOriginFetch(
        new Request(`${base}/`, { method: "POST", body: new Uint8Array(n) }),
      );
      assert.deepEqual(await r.json(), { cl: String(n), te: null, n, method: "POST", x: null });
    }
    // The plain Deno fetch would have sent it chunked: the reason this path exists.
    const plain = await fetch(upload(`${base}/`, 100));
    assert.equal((await plain.json()).te, "chunked");
  });
});

Deno.test("origin fetch: node path decodes gzip like fetch, keeps status and repeated set-cookie, 204 has no body", async () => {
  await withOrigin(async (base) => {
    const r = await platformOriginFetch(upload(`${base}/gzip`, 10));
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(r.headers.get("content-encoding"), "gzip"); // headers.ts drops it, as for fetch
    assert.equal((await r.json()).n, 10);
    const e = await platformOriginFetch(upload(`${base}/empty`, 10));
    assert.equal(e.status, 204);
    assert.equal(e.body, null);
  });
});

Deno.test("origin fetch: node path aborts on the request's signal and rejects on a refused connection", async () => {
  await withOrigin(async (base, aborted) => {
    const ac = new AbortController();
    const p = platformOriginFetch(upload(`${base}/hang`, 10, { signal: ac.signal }));
    setTimeout(() => ac.abort(new DOMException("t", "TimeoutError")), 100);
    await assert.rejects(p);
    for (let i = 0; i < 50 && aborted() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(aborted(), 1, "the origin saw the connection close");
  });
  await assert.rejects(platformOriginFetch(upload("http://127.0.0.1:1/", 10)));
});

Deno.test("origin fetch by URL and init: the same framing as platformOriginFetch", async () => {
  await withOrigin(async (base) => {
    const n = 3 * 1024 * 1024 + 7;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= n) return c.close();
        const k = Math.min(65536, n - sent);
        sent += k;
        c.enqueue(new Uint8Array(k));
      },
    });
    const r = await platformOriginFetchUrl(`${base}/`, {
      method: "POST",
      body,
      headers: [["content-length", String(n)], ["x-a", "1"]],
      duplex: "half",
    });
    assert.deepEqual(await r.json(), { cl: String(n), te: null, n, method: "POST", x: "1" });
    const small = await platformOriginFetchUrl(`${base}/`, {
      method: "POST",
      body: new Uint8Array(5),
      headers: [["x-a", "2"]],
    });
    assert.deepEqual(await small.json(), { cl: "5", te: null, n: 5, method: "POST", x: "2" });
    const get = await platformOriginFetchUrl(`${base}/`, { redirect: "manual" });
    assert.equal((await get.json()).method, "GET");
  });
});
