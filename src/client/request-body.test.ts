/**
 * Request bodies of Channel.fetch (docs/client-fetch.md, "Body lengths"): the content-length
 * the gateway receives for each BodyInit type, and the bytes.
 */
import assert from "node:assert/strict";
import { settle, TEST_KEY } from "../tunnel/testing.ts";
import { type Channel, connect } from "./channel.ts";
import { RequestBody, requestBodyOf } from "./request-body.ts";
import { fakeWebSocket, gatewayEnd } from "./testing.ts";

interface Seen {
  method: string;
  contentLength: string | null;
  contentType: string | null;
  bytes: Uint8Array<ArrayBuffer>;
}

/** A channel whose gateway records each request's content-length and body, then 200s (or `answer`s). */
async function recordingChannel(
  answer: (req: Request, n: number) => Response = () => new Response("ok"),
): Promise<{ ch: Channel; seen: Seen[]; done: () => Promise<void> }> {
  const seen: Seen[] = [];
  const { WebSocket } = fakeWebSocket(gatewayEnd(async (req) => {
    seen.push({
      method: req.method,
      contentLength: req.headers.get("content-length"),
      contentType: req.headers.get("content-type"),
      bytes: new Uint8Array(await req.arrayBuffer()),
    });
    return answer(req, seen.length);
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

const utf8 = (s: string) => new TextEncoder().encode(s);

/** POSTs `body` and returns what the gateway received. */
async function post(
  ch: Channel,
  seen: Seen[],
  body: BodyInit,
  init: RequestInit = {},
): Promise<Seen> {
  seen.length = 0;
  const r = await ch.fetch("https://api.example/upload", { method: "POST", body, ...init });
  await r.text();
  assert.equal(seen.length, 1);
  return seen[0];
}

Deno.test("content-length for strings (UTF-8 bytes; lone surrogates sent as U+FFFD, like fetch), empty included", async () => {
  const { ch, seen, done } = await recordingChannel();
  const cases: [string, Uint8Array][] = [
    ["abc", utf8("abc")],
    ["héllo €𝄞", utf8("héllo €𝄞")],
    ["", new Uint8Array(0)],
    // A string body is a USVString: each lone surrogate becomes EF BF BD.
    ["a\ud800b\udc00", new Uint8Array([0x61, 0xef, 0xbf, 0xbd, 0x62, 0xef, 0xbf, 0xbd])],
  ];
  for (const [body, bytes] of cases) {
    const s = await post(ch, seen, body);
    assert.deepEqual(s.bytes, bytes, JSON.stringify(body));
    assert.equal(s.contentLength, String(bytes.length), JSON.stringify(body));
    assert.equal(s.contentType, "text/plain;charset=UTF-8");
  }
  await done();
});

Deno.test("content-length for ArrayBuffer, TypedArrays and DataView: the view's bytes only", async () => {
  const { ch, seen, done } = await recordingChannel();
  const buffer = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]).buffer;
  const cases: [BodyInit, number[]][] = [
    [buffer, [...Array(16).keys()]],
    [new Uint8Array(buffer, 3, 5), [3, 4, 5, 6, 7]],
    [new Uint16Array(buffer, 4, 2), [4, 5, 6, 7]],
    [new Float64Array(buffer, 8, 1), [8, 9, 10, 11, 12, 13, 14, 15]],
    [new DataView(buffer, 10, 3), [10, 11, 12]],
    [new ArrayBuffer(0), []],
  ];
  for (const [body, bytes] of cases) {
    const s = await post(ch, seen, body);
    const what = `${body.constructor.name} of ${bytes.length}`;
    assert.deepEqual([...s.bytes], bytes, what);
    assert.equal(s.contentLength, String(bytes.length), what);
    assert.equal(s.contentType, null, what);
  }
  await done();
});

Deno.test("content-length for Blob and URLSearchParams, with their content-types", async () => {
  const { ch, seen, done } = await recordingChannel();
  const blob = new Blob(["hello ", new Uint8Array([0xff, 0x00]), " blob"], {
    type: "application/x-thing",
  });
  const b = await post(ch, seen, blob);
  assert.equal(b.contentLength, String(blob.size));
  assert.deepEqual(b.bytes, new Uint8Array(await blob.arrayBuffer()));
  assert.equal(b.contentType, "application/x-thing");
  const params = new URLSearchParams({ q: "a b&c", lang: "ü" });
  const p = await post(ch, seen, params);
  assert.equal(new TextDecoder().decode(p.bytes), "q=a+b%26c&lang=%C3%BC");
  assert.equal(p.contentLength, String(p.bytes.length));
  assert.equal(p.contentType, "application/x-www-form-urlencoded;charset=UTF-8");
  await done();
});

Deno.test("FormData: sent as multipart with a content-length; the content-type's boundary matches the bytes", async () => {
  const { ch, seen, done } = await recordingChannel();
  const form = new FormData();
  form.append("name", "lattice");
  form.append(
    "file",
    new Blob([new Uint8Array([1, 2, 3, 0, 255])], { type: "application/octet-stream" }),
    "k.bin",
  );
  const s = await post(ch, seen, form);
  assert.match(s.contentType ?? "", /^multipart\/form-data; boundary=\S+$/);
  assert.equal(s.contentLength, String(s.bytes.length));
  assert.ok(s.bytes.length > 100);
  const parsed = await new Response(s.bytes, { headers: { "content-type": s.contentType! } })
    .formData();
  assert.equal(parsed.get("name"), "lattice");
  const file = parsed.get("file") as File;
  assert.equal(file.name, "k.bin");
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), new Uint8Array([1, 2, 3, 0, 255]));
  // A content-type given by the caller wins, as with fetch.
  const own = await post(ch, seen, form, {
    headers: { "content-type": "multipart/form-data; boundary=mine" },
  });
  assert.equal(own.contentType, "multipart/form-data; boundary=mine");
  assert.equal(own.contentLength, String(own.bytes.length));
  await done();
});

Deno.test("ReadableStream and a Request input's body: no content-length (the size is unknown), bytes stream through", async () => {
  const { ch, seen, done } = await recordingChannel();
  const chunks = [utf8("chunk one, "), utf8("chunk two")];
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
  const s = await post(ch, seen, stream, { duplex: "half" } as RequestInit);
  assert.equal(s.contentLength, null);
  assert.equal(new TextDecoder().decode(s.bytes), "chunk one, chunk two");
  seen.length = 0;
  const r = await ch.fetch(
    new Request("https://api.example/upload", { method: "PUT", body: "in a Request" }),
  );
  await r.text();
  assert.equal(seen[0].contentLength, null);
  assert.equal(seen[0].contentType, "text/plain;charset=UTF-8");
  assert.equal(new TextDecoder().decode(seen[0].bytes), "in a Request");
  // A Request input with init.body: the init body is the one sent, with its length.
  seen.length = 0;
  const r2 = await ch.fetch(
    new Request("https://api.example/upload", { method: "PUT", body: "old" }),
    { body: "new!" },
  );
  await r2.text();
  assert.equal(seen[0].contentLength, "4");
  assert.equal(new TextDecoder().decode(seen[0].bytes), "new!");
  await done();
});

Deno.test("no body: POST and PUT send content-length 0 (as fetch does), other methods none", async () => {
  // A HEAD answer has no body, as an origin's reaches the gateway through fetch.
  const { ch, seen, done } = await recordingChannel((req) =>
    new Response(req.method === "HEAD" ? null : "ok")
  );
  for (const method of ["POST", "PUT", "post", "GET", "HEAD", "DELETE", "PATCH", "OPTIONS"]) {
    seen.length = 0;
    await (await ch.fetch("https://api.example/nobody", { method })).text();
    const zero = method.toUpperCase() === "POST" || method.toUpperCase() === "PUT";
    assert.equal(seen[0].contentLength, zero ? "0" : null, method);
    assert.equal(seen[0].bytes.length, 0, method);
    assert.equal(seen[0].contentType, null, method);
  }
  // An explicit null body is no body too.
  seen.length = 0;
  await (await ch.fetch("https://api.example/nobody", { method: "PUT", body: null })).text();
  assert.equal(seen[0].contentLength, "0");
  await done();
});

Deno.test("a 307/308 resends every re-creatable body type with the same bytes and content-length", async () => {
  const { ch, seen, done } = await recordingChannel((req, n) =>
    new URL(req.url).pathname === "/upload"
      ? new Response(null, { status: n % 2 ? 307 : 308, headers: { location: "/target" } })
      : new Response("ok")
  );
  const form = new FormData();
  form.append("f", "v");
  const bodies: BodyInit[] = [
    "text",
    new Uint8Array([9, 8, 7]).buffer,
    new Uint8Array([1, 2, 3, 4]).subarray(1, 3),
    new DataView(new Uint8Array([5, 6, 7]).buffer, 1),
    new Blob(["blob"], { type: "text/x-blob" }),
    new URLSearchParams("a=1"),
    form,
  ];
  for (const body of bodies) {
    seen.length = 0;
    const r = await ch.fetch("https://api.example/upload", { method: "POST", body });
    await r.text();
    assert.equal(r.redirected, true);
    assert.equal(seen.length, 2);
    const [first, second] = seen;
    const what = body.constructor.name;
    assert.deepEqual(second.bytes, first.bytes, what);
    assert.equal(second.contentLength, String(first.bytes.length), what);
    assert.equal(first.contentLength, String(first.bytes.length), what);
    assert.equal(second.contentType, first.contentType, what);
    assert.equal(second.method, "POST");
  }
  await done();
});

Deno.test("the body is a snapshot taken by fetch(): changing the buffer later does not change a resent body", async () => {
  const bytes = new Uint8Array([1, 2, 3]);
  const params = new URLSearchParams("k=before");
  const { ch, seen, done } = await recordingChannel((req) => {
    if (new URL(req.url).pathname !== "/upload") return new Response("ok");
    bytes.fill(0);
    params.set("k", "after");
    return new Response(null, { status: 307, headers: { location: "/target" } });
  });
  await (await ch.fetch("https://api.example/upload", { method: "POST", body: bytes })).text();
  assert.deepEqual(seen.map((s) => [...s.bytes]), [[1, 2, 3], [1, 2, 3]]);
  seen.length = 0;
  params.set("k", "before");
  await (await ch.fetch("https://api.example/upload", { method: "POST", body: params })).text();
  assert.deepEqual(seen.map((s) => new TextDecoder().decode(s.bytes)), ["k=before", "k=before"]);
  await done();
});

Deno.test("requestBodyOf: sources are replayable, streams are taken once", async () => {
  const url = "https://api.example/";
  assert.equal(await requestBodyOf(new Request(url), undefined), null);
  const s = await requestBodyOf(new Request(url, { method: "POST", body: "x" }), "x");
  assert.ok(s instanceof RequestBody);
  assert.equal(s.replayable, true);
  assert.equal(s.length, 1);
  assert.equal(s.take(), "x");
  assert.equal(s.take(), "x");
  const stream = new Blob(["y"]).stream();
  const st = await requestBodyOf(
    new Request(url, { method: "POST", body: stream, duplex: "half" } as RequestInit),
    stream,
  );
  assert.equal(st?.replayable, false);
  assert.equal(st?.length, null);
  assert.ok(st?.take() instanceof ReadableStream);
  assert.equal(st?.take(), null);
});
