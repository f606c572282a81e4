import assert from "node:assert/strict";
import { demoOrigin, STREAM_DEFAULT_BYTES, streamByte } from "./origin.ts";

const get = (path: string, init?: RequestInit) =>
  demoOrigin.fetch(new Request(`http://demo.local${path}`, init));

Deno.test("demo origin: hello shows the headers it saw", async () => {
  const res = await get("/api/hello", { headers: { "x-test": "1" } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(typeof body.message, "string");
  assert.ok(!Number.isNaN(Date.parse(body.time)));
  assert.equal(body.headers["x-test"], "1");
});

Deno.test("demo origin: items API", async () => {
  const list = await (await get("/api/items")).json();
  assert.ok(list.items.length >= 3);
  assert.equal((await (await get("/api/items/2")).json()).id, 2);
  const missing = await get("/api/items/999");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("demo origin: echo streams the body back", async () => {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 8) return c.close();
      sent++;
      c.enqueue(new Uint8Array(32 * 1024).fill(sent));
    },
  });
  const res = await get(
    "/api/echo",
    {
      method: "POST",
      body,
      headers: { "content-type": "application/x-test" },
      duplex: "half",
    } as RequestInit,
  );
  assert.equal(res.headers.get("x-echo-method"), "POST");
  assert.equal(res.headers.get("content-type"), "application/x-test");
  assert.equal(
    JSON.parse(res.headers.get("x-echo-headers")!)["content-type"],
    "application/x-test",
  );
  const out = new Uint8Array(await res.arrayBuffer());
  assert.equal(out.length, 8 * 32 * 1024);
  assert.equal(out[out.length - 1], 8);
});

Deno.test("demo origin: stream sizes, pattern and limits", async () => {
  const def = await get("/api/stream");
  assert.equal(def.headers.get("content-length"), String(STREAM_DEFAULT_BYTES));
  const all = new Uint8Array(await def.arrayBuffer());
  assert.equal(all.length, STREAM_DEFAULT_BYTES);
  for (const i of [0, 1, 65535, 65536, 700001, all.length - 1]) {
    assert.equal(all[i], streamByte(i), String(i));
  }
  assert.equal((await (await get("/api/stream?bytes=0")).arrayBuffer()).byteLength, 0);
  // 1 GiB is accepted (and streamed lazily: read one chunk, then cancel).
  const huge = await get("/api/stream?bytes=1073741824");
  assert.equal(huge.headers.get("content-length"), "1073741824");
  const reader = huge.body!.getReader();
  assert.ok(((await reader.read()).value?.length ?? 0) > 0);
  await reader.cancel();
  for (const bad of ["1073741825", "-1", "abc"]) {
    const r = await get(`/api/stream?bytes=${bad}`);
    assert.equal(r.status, 400, bad);
    await r.body?.cancel();
  }
});

Deno.test("demo origin: status and slow", async () => {
  for (const code of [200, 204, 404, 500, 503]) {
    const r = await get(`/api/status/${code}`);
    assert.equal(r.status, code);
    await r.body?.cancel();
  }
  const bad = await get("/api/status/101");
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  const t0 = Date.now();
  const slow = await get("/api/slow?ms=50");
  assert.deepEqual(await slow.json(), { slept: 50 });
  assert.ok(Date.now() - t0 >= 45);
});

Deno.test("demo origin: /api/me shows the gateway's identity headers, decoded", async () => {
  const none = await demoOrigin.fetch(new Request("https://demo/api/me"));
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), { authenticated: false });
  const me = await demoOrigin.fetch(
    new Request("https://demo/api/me", {
      headers: {
        "pqgate-auth-method": "token",
        "pqgate-auth-subject": "j%C3%BCrgen%0D%0A",
        "pqgate-auth-issuer": "https://id.example",
      },
    }),
  );
  assert.deepEqual(await me.json(), {
    authenticated: true,
    method: "token",
    subject: "jürgen\r\n",
    issuer: "https://id.example",
  });
});
