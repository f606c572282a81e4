/**
 * WebSocket streams at the gateway session (PROTOCOL.md §6.9): the SESSION_INFO offer, the head
 * rules and their answers in §6.4's order, dispatch to `decoded` with `websocket`, the body's
 * window granted as it is read and no body limit, a relay that errors its message stream
 * (RESET_STREAM INTERNAL at once, even with no window), and the per-channel count.
 */
import assert from "node:assert/strict";
import {
  type Frame,
  MAX_FRAME_PAYLOAD,
  STREAM_CANCEL,
  STREAM_INTERNAL,
} from "../protocol/frames.ts";
import { decodeResponseHead, encodeRequestHead, type FieldLine } from "./bhttp.ts";
import { HEADER_ERROR } from "./error-response.ts";
import { type RawClient, rawClient, settle, waitFor } from "./testing.ts";
import type { DecodedRequest, DecodedResponse, RequestHandler, SessionLimits } from "./types.ts";

const MAX = 1024 * 1024;
const WS: FieldLine = ["pqgate-protocol", "websocket"];

function head(
  fields: FieldLine[] = [WS],
  o: { method?: string; scheme?: string; path?: string } = {},
): Uint8Array {
  return encodeRequestHead({
    method: o.method ?? "CONNECT",
    scheme: o.scheme ?? "https",
    authority: "chat.example",
    path: o.path ?? "/ws?room=1",
    headers: fields,
  });
}

type Decoded = (req: DecodedRequest) => Promise<Response | DecodedResponse>;

/** A handler with `decoded` (as the gateway's own): records what it was given. */
function wsHandler(decoded: Decoded): RequestHandler & { seen: DecodedRequest[] } {
  const seen: DecodedRequest[] = [];
  const h = Object.assign(
    (_req: Request) => Promise.resolve(new Response("plain")),
    {
      decoded: (req: DecodedRequest) => {
        seen.push(req);
        return decoded(req);
      },
      seen,
    },
  );
  return h;
}

const accept: Decoded = (req) =>
  Promise.resolve({
    status: 200,
    headers: req.websocket!.protocols.length > 0
      ? [["sec-websocket-protocol", req.websocket!.protocols[0]]]
      : [],
    body: new ReadableStream<Uint8Array>(),
  });

function on(raw: RawClient, id: number): Frame[] {
  return raw.frames().filter((f) => "stream" in f && f.stream === id);
}

function responseOn(raw: RawClient, id: number): { status: number; headers: Headers } | null {
  const h = on(raw, id).find((f) => f.type === "headers") as
    | (Frame & { payload: Uint8Array })
    | undefined;
  if (!h) return null;
  const r = decodeResponseHead(h.payload, { maxBytes: MAX_FRAME_PAYLOAD });
  return { status: r.status, headers: new Headers(r.headers) };
}

async function statusOf(
  payload: Uint8Array,
  o: {
    endStream?: boolean;
    limits?: Partial<SessionLimits>;
    handler?: RequestHandler;
  } = {},
): Promise<{ status: number; error: string | null }> {
  const raw = await rawClient({
    handler: o.handler ?? wsHandler(accept),
    limits: { maxWsMessage: MAX, ...o.limits },
  });
  try {
    raw.send([{ type: "headers", stream: 1, endStream: o.endStream ?? false, payload }]);
    await waitFor(() => responseOn(raw, 1) !== null, 5000, "response HEADERS");
    const r = responseOn(raw, 1)!;
    assert.equal(raw.server.state, "established", "a refused WebSocket never closes the channel");
    return { status: r.status, error: r.headers.get(HEADER_ERROR) };
  } finally {
    raw.cs.close(1000, "");
    await settle();
  }
}

Deno.test("SESSION_INFO offers max_ws_message only when the gateway sets it (48 bytes)", async () => {
  for (const [limit, want] of [[undefined, undefined], [0, 0], [MAX, MAX]] as const) {
    const raw = await rawClient({ limits: limit === undefined ? {} : { maxWsMessage: limit } });
    await waitFor(() => raw.frames().length > 0, 5000, "SESSION_INFO");
    const info = raw.frames()[0];
    assert.equal(info.type, "session_info");
    assert.equal((info as Frame & { type: "session_info" }).info.maxWsMessage, want);
    raw.cs.close(1000, "");
    await settle();
  }
});

Deno.test("a WebSocket head is dispatched to decoded with its subprotocols and target", async () => {
  const h = wsHandler(accept);
  const raw = await rawClient({ handler: h, limits: { maxWsMessage: MAX, maxBodyBytes: 10 } });
  raw.send([{
    type: "headers",
    stream: 1,
    endStream: false,
    payload: head([WS, ["sec-websocket-protocol", "chat, v2"], [
      "sec-websocket-protocol",
      "v3",
    ], ["x-app", "1"]]),
  }]);
  await waitFor(() => responseOn(raw, 1) !== null, 5000, "200");
  const r = responseOn(raw, 1)!;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("sec-websocket-protocol"), "chat");
  const req = h.seen[0];
  assert.equal(req.method, "CONNECT");
  assert.equal(req.url, "https://chat.example/ws?room=1");
  assert.equal(req.path, "/ws?room=1");
  assert.deepEqual(req.websocket, {
    protocols: ["chat", "v2", "v3"],
    channelSockets: 1,
    maxMessage: MAX,
  });
  assert.equal(req.headers.get("x-app"), "1");
  assert.ok(req.body instanceof ReadableStream);
  // The 200 has no END_STREAM: the stream stays open for messages.
  assert.ok(!on(raw, 1).some((f) => (f.type === "headers" || f.type === "data") && f.endStream));
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("WebSocket head rules: 400 at step 4, 405 at step 5, in §6.4's order", async () => {
  const cases: [
    string,
    Uint8Array,
    number,
    { endStream?: boolean; limits?: Partial<SessionLimits>; handler?: RequestHandler }?,
  ][] = [
    ["content-length", head([WS, ["content-length", "0"]]), 400],
    // Not 413 (step 3): a WebSocket stream has no body limit, its content-length is a 400.
    ["content-length over max_body_bytes", head([WS, ["content-length", "99999"]]), 400, {
      limits: { maxBodyBytes: 10 },
    }],
    ["END_STREAM on the HEADERS", head(), 400, { endStream: true }],
    ["two pqgate-protocol fields", head([WS, WS]), 400],
    ["pqgate-protocol other than websocket", head([["pqgate-protocol", "WebSocket"]]), 400],
    ["pqgate-protocol on GET", head([WS], { method: "GET" }), 400],
    ["pqgate-protocol on lowercase connect", head([WS], { method: "connect" }), 400],
    ["empty subprotocol", head([WS, ["sec-websocket-protocol", "a,,b"]]), 400],
    ["subprotocol not a token", head([WS, ["sec-websocket-protocol", "a b"]]), 400],
    ["subprotocol repeated", head([WS, ["sec-websocket-protocol", "a, a"]]), 400],
    ["empty sec-websocket-protocol", head([WS, ["sec-websocket-protocol", ""]]), 400],
    ["scheme ws (not https/http)", head([WS], { scheme: "wss" }), 400],
    ["control character (step 4 before 405)", head([["x", "a\x01"]]), 400],
    ["dot segment", head([WS], { path: "/a/../ws" }), 400],
    ["CONNECT without pqgate-protocol", head([]), 405],
    ["max_ws_message 0", head(), 405, { limits: { maxWsMessage: 0 } }],
    ["no max_ws_message", head(), 405, { limits: { maxWsMessage: undefined } }],
    ["a handler without decoded", head(), 405, {
      handler: () => Promise.resolve(new Response("x")),
    }],
    ["http scheme (ws: target) accepted", head([WS], { scheme: "http" }), 200],
  ];
  for (const [what, payload, status, o] of cases) {
    const got = await statusOf(payload, o);
    assert.equal(got.status, status, what);
    if (status !== 200) {
      assert.equal(got.error, status === 400 ? "bad_request" : "method_not_allowed", what);
    }
  }
});

Deno.test("a refusing answer is an ordinary response, then RESET_STREAM CANCEL", async () => {
  const h = wsHandler(() =>
    Promise.resolve(new Response("no", { status: 403, headers: { "pqgate-error": "forbidden" } }))
  );
  const raw = await rawClient({ handler: h, limits: { maxWsMessage: MAX } });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  await waitFor(() => on(raw, 1).some((f) => f.type === "reset_stream"), 5000, "CANCEL");
  const fs = on(raw, 1);
  assert.equal(responseOn(raw, 1)!.status, 403);
  assert.ok(fs.some((f) => f.type === "data" && f.endStream));
  assert.deepEqual(fs.at(-1), { type: "reset_stream", stream: 1, errorCode: STREAM_CANCEL });
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("a WebSocket body: no max_body_bytes, window granted only as the handler reads", async () => {
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  const h = wsHandler((req) => {
    reader = req.body!.getReader();
    return accept(req);
  });
  const raw = await rawClient({ handler: h, limits: { maxWsMessage: MAX, maxBodyBytes: 100 } });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  await waitFor(() => responseOn(raw, 1) !== null, 5000, "200");
  // The whole initial window, unread: no WINDOW_UPDATE yet, no 413.
  for (let i = 0; i < 8; i++) {
    raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(8192) }]);
  }
  await settle(10);
  const updates = () =>
    on(raw, 1).filter((f) => f.type === "window_update").reduce(
      (n, f) => n + (f as Frame & { increment: number }).increment,
      0,
    );
  assert.equal(updates(), 0);
  assert.ok(!on(raw, 1).some((f) => f.type === "reset_stream"));
  let read = 0;
  while (read < 65536) read += (await reader!.read()).value!.length;
  await waitFor(() => updates() >= 49152, 5000, "window granted on read");
  // More than max_body_bytes went through: 65,536 + another window's worth.
  raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(8192) }]);
  read += (await reader!.read()).value!.length;
  assert.equal(read, 65536 + 8192);
  assert.equal(raw.server.state, "established");
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("a relay that errors its message stream gets RESET_STREAM INTERNAL at once, with no window", async () => {
  let fail: (e: unknown) => void = () => {};
  let aborted = false;
  const h = wsHandler((req) => {
    req.signal.addEventListener("abort", () => (aborted = true));
    return Promise.resolve({
      status: 200,
      headers: [],
      body: new ReadableStream<Uint8Array>({
        start(c) {
          // More than the 65,536-byte window: the pump waits for a WINDOW_UPDATE that never comes.
          c.enqueue(new Uint8Array(100_000));
          fail = (e) => c.error(e);
        },
      }),
    });
  });
  const raw = await rawClient({ handler: h, limits: { maxWsMessage: MAX } });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  const dataBytes = () =>
    on(raw, 1).filter((f) => f.type === "data").reduce(
      (n, f) => n + (f as Frame & { payload: Uint8Array }).payload.length,
      0,
    );
  await waitFor(() => dataBytes() === 65536, 5000, "the window's worth");
  await settle(5);
  assert.ok(!on(raw, 1).some((f) => f.type === "reset_stream"));
  fail(new Error("over the bound"));
  await waitFor(() => on(raw, 1).some((f) => f.type === "reset_stream"), 5000, "reset");
  assert.deepEqual(on(raw, 1).at(-1), {
    type: "reset_stream",
    stream: 1,
    errorCode: STREAM_INTERNAL,
  });
  assert.ok(aborted, "the request's signal aborts (the relay closes its origin socket)");
  assert.equal(raw.server.openStreams, 0);
  assert.equal(raw.server.state, "established");
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("channelSockets counts the open WebSocket streams of the channel", async () => {
  const h = wsHandler(accept);
  const raw = await rawClient({ handler: h, limits: { maxWsMessage: MAX } });
  raw.send([
    { type: "headers", stream: 1, endStream: false, payload: head() },
    { type: "headers", stream: 3, endStream: true, payload: head([], { method: "GET" }) },
    { type: "headers", stream: 5, endStream: false, payload: head() },
  ]);
  await waitFor(() => h.seen.length === 3, 5000, "three dispatched");
  assert.deepEqual(h.seen.map((r) => r.websocket?.channelSockets), [1, undefined, 2]);
  raw.send([{ type: "reset_stream", stream: 1, errorCode: STREAM_CANCEL }]);
  await settle(5);
  assert.ok(h.seen[0].signal.aborted, "a client reset aborts the WebSocket's signal");
  raw.send([{ type: "headers", stream: 7, endStream: false, payload: head() }]);
  await waitFor(() => h.seen.length === 4, 5000, "fourth dispatched");
  assert.equal(h.seen[3].websocket?.channelSockets, 2);
  raw.cs.close(1000, "");
  await settle();
  assert.ok(h.seen[3].signal.aborted, "a closed channel aborts every WebSocket's signal");
});

Deno.test("origin side done first: close message, END_STREAM, then RESET_STREAM CANCEL", async () => {
  const h = wsHandler(() =>
    Promise.resolve({
      status: 200,
      headers: [],
      body: new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array([0x08, 0, 0, 0, 0]));
          c.close();
        },
      }),
    })
  );
  const raw = await rawClient({ handler: h, limits: { maxWsMessage: MAX } });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  await waitFor(() => on(raw, 1).some((f) => f.type === "reset_stream"), 5000, "CANCEL");
  const fs = on(raw, 1);
  assert.deepEqual(fs.map((f) => f.type), ["headers", "data", "data", "reset_stream"]);
  assert.deepEqual(fs.at(-1), { type: "reset_stream", stream: 1, errorCode: STREAM_CANCEL });
  raw.cs.close(1000, "");
  await settle();
});
