/**
 * `channel.websocket()` (PROTOCOL.md §6.9) against a scripted gateway (src/client/testing.ts
 * `wsGatewayEnd`: real handshake and records, WebSocket streams driven frame by frame), through
 * the real Channel and ClientSession.
 */
import assert from "node:assert/strict";
import { STREAM_CANCEL, STREAM_INTERNAL } from "../protocol/frames.ts";
import { TEST_KEY, waitFor } from "../tunnel/testing.ts";
import { DEFAULT_MAX_WS_MESSAGE, type WsMessage } from "../tunnel/ws-messages.ts";
import { type Channel, connect } from "./channel.ts";
import { PqgateWebSocket } from "./pqgate-websocket.ts";
import {
  fakeWebSocket,
  recordWebSocket,
  type ScriptedWsStream,
  wsGatewayEnd,
  type WsGatewayOptions,
} from "./testing.ts";

async function setup(o: WsGatewayOptions = { maxWsMessage: DEFAULT_MAX_WS_MESSAGE }) {
  const gw = wsGatewayEnd(o);
  const { WebSocket, gw: sockets } = fakeWebSocket(gw.end);
  const ch = await connect("wss://gw.example/pqgate", {
    publicKey: TEST_KEY.publicKey,
    WebSocket,
    webSocketCloseTimeoutMs: 300,
  });
  return { ch, gw, sockets };
}

async function openSocket(ch: Channel, url = "wss://chat.example/room?x=1", protocols?: string[]) {
  const ws = ch.websocket(url, protocols);
  const r = recordWebSocket(ws);
  await r.opened();
  return { ws, r };
}

/** A channel whose gateway accepts every WebSocket stream; the first socket open, its stream. */
async function acceptedSocket() {
  const streams: ScriptedWsStream[] = [];
  const { ch } = await setup({
    maxWsMessage: 1 << 20,
    onStream: (s) => {
      streams.push(s);
      s.accept();
    },
  });
  const { ws, r } = await openSocket(ch);
  assert.equal(streams.length, 1);
  return { ch, ws, r, stream: streams[0], streams };
}

function bytes(n: number, seed = 0): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 11)) & 0xff;
  return b;
}

Deno.test("websocket: the browser shape, URL and subprotocol checks", async () => {
  const { ch } = await setup();
  assert.equal(PqgateWebSocket.CONNECTING, 0);
  assert.equal(PqgateWebSocket.OPEN, 1);
  assert.equal(PqgateWebSocket.CLOSING, 2);
  assert.equal(PqgateWebSocket.CLOSED, 3);
  const ws = ch.websocket("https://chat.example/a b?q");
  const r = recordWebSocket(ws);
  assert.ok(ws instanceof EventTarget);
  assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
  assert.equal(ws.readyState, ws.CONNECTING);
  assert.equal(ws.url, "wss://chat.example/a%20b?q");
  assert.equal(ws.extensions, "");
  assert.equal(ws.protocol, "");
  assert.equal(ws.binaryType, "blob");
  ws.binaryType = "nonsense" as "blob";
  assert.equal(ws.binaryType, "blob");
  ws.binaryType = "arraybuffer";
  assert.equal(ws.binaryType, "arraybuffer");
  assert.equal(ws.bufferedAmount, 0);
  assert.equal(ws.gatewayError, null);
  assert.throws(() => ws.send("x"), (e: DOMException) => e.name === "InvalidStateError");
  for (
    const [url, protocols] of [
      ["wss://chat.example/#frag", undefined],
      ["wss://chat.example/#", undefined],
      ["ftp://chat.example/", undefined],
      ["not a url", undefined],
      ["wss://u:p@chat.example/", undefined],
      ["wss://chat.example/", ["a b"]],
      ["wss://chat.example/", ["chat", "chat"]],
      ["wss://chat.example/", [""]],
    ] as [string, string[] | undefined][]
  ) {
    assert.throws(
      () => ch.websocket(url, protocols),
      (e: DOMException) => e.name === "SyntaxError",
      `${url} ${protocols}`,
    );
  }
  assert.equal(ch.websocket("ws://plain.example").url, "ws://plain.example/");
  await r.opened();
  assert.equal(ws.readyState, ws.OPEN);
  ch.close();
  await r.closed();
  await waitFor(() => true);
});

Deno.test("websocket: the CONNECT head, open, text and binary echo in order", async () => {
  const { ch, gw } = await setup();
  const ws = ch.websocket("wss://chat.example:8443/room?x=1", ["v2.chat", "v1.chat"]);
  let handlerOpen = 0;
  ws.onopen = function () {
    assert.equal(this, ws);
    handlerOpen++;
  };
  const r = recordWebSocket(ws);
  await r.opened();
  assert.equal(handlerOpen, 1);
  assert.equal(ws.protocol, "v2.chat");
  const head = gw.streams[0].head;
  assert.equal(head.method, "CONNECT");
  assert.equal(head.scheme, "https");
  assert.equal(head.authority, "chat.example:8443");
  assert.equal(head.path, "/room?x=1");
  assert.deepEqual(head.headers, [
    ["pqgate-protocol", "websocket"],
    ["sec-websocket-protocol", "v2.chat, v1.chat"],
  ]);
  const fromHandler: unknown[] = [];
  ws.onmessage = (e) => fromHandler.push(e.data);
  const big = bytes(3000);
  ws.send("héllo");
  ws.send(big.buffer);
  ws.send(big.subarray(10, 20));
  ws.send(new Blob([big.subarray(0, 5)]));
  ws.send("last");
  await waitFor(() => r.messages.length === 5, 5000, "echoes");
  assert.deepEqual(r.log.slice(0, 6), ["open", "text:5", "binary", "binary", "binary", "text:4"]);
  assert.equal(r.messages[0], "héllo");
  assert.ok(r.messages[1] instanceof Blob, "binaryType blob");
  assert.deepEqual(new Uint8Array(await (r.messages[1] as Blob).arrayBuffer()), big);
  assert.deepEqual(
    new Uint8Array(await (r.messages[2] as Blob).arrayBuffer()),
    big.subarray(10, 20),
  );
  assert.deepEqual(new Uint8Array(await (r.messages[3] as Blob).arrayBuffer()), big.subarray(0, 5));
  assert.equal(fromHandler.length, 5);
  const e = new MessageEvent("x");
  assert.ok(e); // MessageEvent is global on every runtime we run on
  ws.binaryType = "arraybuffer";
  ws.send(new Uint16Array([1, 2]));
  await waitFor(() => r.messages.length === 6, 5000, "arraybuffer echo");
  assert.ok(r.messages[5] instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(r.messages[5] as ArrayBuffer), new Uint8Array([1, 0, 2, 0]));
  const sent = gw.streams[0].messages.map((m) => m.kind);
  assert.deepEqual(sent, ["text", "binary", "binary", "binary", "text", "binary"]);
  ws.close();
  await r.closed();
  ch.close();
});

Deno.test("websocket: 1 MiB messages both ways, window granted as read, bufferedAmount", async () => {
  const { ch, gw } = await setup();
  const { ws, r } = await openSocket(ch);
  ws.binaryType = "arraybuffer";
  const mib = bytes(DEFAULT_MAX_WS_MESSAGE, 7);
  ws.send(mib);
  ws.send("t".repeat(DEFAULT_MAX_WS_MESSAGE));
  // Queued but not yet taken by the channel (its window is 64 KiB).
  assert.ok(ws.bufferedAmount >= DEFAULT_MAX_WS_MESSAGE, `${ws.bufferedAmount}`);
  await waitFor(() => r.messages.length === 2, 20_000, "1 MiB echoes");
  assert.deepEqual(new Uint8Array(r.messages[0] as ArrayBuffer), mib);
  assert.equal((r.messages[1] as string).length, DEFAULT_MAX_WS_MESSAGE);
  assert.equal(ws.bufferedAmount, 0);
  // The client granted back what it read (the gateway sent 2 MiB through a 64 KiB window).
  assert.ok(
    gw.streams[0].granted >= 2 * DEFAULT_MAX_WS_MESSAGE - 65_536,
    `${gw.streams[0].granted}`,
  );
  ws.close(1000);
  await r.closed();
  assert.equal(r.close!.wasClean, true);
  ch.close();
});

Deno.test("websocket: a message over max_ws_message fails the socket with 1009", async () => {
  const { ch, gw } = await setup({ maxWsMessage: 1000 });
  const { ws, r } = await openSocket(ch);
  ws.send(bytes(1000)); // at the limit: fine
  ws.send("x".repeat(1001));
  assert.equal(ws.readyState, ws.CLOSING);
  await r.closed();
  assert.deepEqual(r.log.filter((l) => l !== "binary"), ["open", "error", "close:1009"]);
  assert.match(r.error!.message!, /1001 bytes over max_ws_message 1000/);
  assert.equal(r.close!.wasClean, false);
  const got = gw.streams[0].messages;
  assert.deepEqual(got.map((m) => m.kind), ["binary", "close"]);
  assert.deepEqual(got[1], { kind: "close", code: 1009, reason: "message too big" });
  ch.close();
});

Deno.test("websocket: a gateway that offers none fails locally, no stream opened", async () => {
  for (const maxWsMessage of [undefined, 0]) {
    const { ch, gw } = await setup({ maxWsMessage });
    const ws = ch.websocket("wss://chat.example/");
    const r = recordWebSocket(ws);
    await r.closed();
    assert.deepEqual(r.log, ["error", "close:1006"]);
    assert.match(r.error!.message!, /does not tunnel WebSockets/);
    assert.equal(r.close!.wasClean, false);
    assert.equal(ws.readyState, ws.CLOSED);
    assert.equal(gw.streams.length, 0);
    // The channel itself is fine.
    assert.equal(ch.connected, true);
    ch.close();
  }
});

Deno.test("websocket: a refusal (403 forbidden) is error + 1006 with gatewayError", async () => {
  const { ch, gw } = await setup({
    maxWsMessage: 1 << 20,
    onStream: (s) => s.refuse(403, "forbidden"),
  });
  const ws = ch.websocket("wss://nope.example/");
  const r = recordWebSocket(ws);
  await r.closed();
  assert.deepEqual(r.log, ["error", "close:1006"]);
  assert.deepEqual(ws.gatewayError, { status: 403, error: "forbidden" });
  assert.match(r.error!.message!, /HTTP 403 \(forbidden\)/);
  // No DATA was sent on the refused stream (the body waits for a 200, §6.9).
  assert.equal(gw.streams[0].messages.length, 0);
  assert.equal(gw.streams[0].clientEnded, false);
  ch.close();
});

Deno.test("websocket: the gateway's close message is a clean close with its code", async () => {
  const { ch, ws, r, stream, streams } = await acceptedSocket();
  let fromHandler: CloseEvent | null = null;
  ws.onclose = (e) => (fromHandler = e);
  stream.send({ kind: "text", data: "bye soon" });
  stream.send({ kind: "close", code: 4321, reason: "done here" });
  await r.closed();
  assert.deepEqual(r.log, ["open", "text:8", "close:4321"]);
  assert.equal(r.close!.reason, "done here");
  assert.equal(r.close!.wasClean, true);
  assert.equal(fromHandler, r.close);
  assert.equal(ws.readyState, ws.CLOSED);
  // The client does not answer it: nothing was sent on the stream (it was reset by the gateway).
  assert.equal(stream.messages.length, 0);
  ws.send("after"); // counted and dropped
  assert.equal(ws.bufferedAmount, 5);
  // An empty close payload is 1005.
  const second = await openSocket(ch);
  streams[1].send({ kind: "close", code: null, reason: "" });
  await second.r.closed();
  assert.equal(second.r.close!.code, 1005);
  ch.close();
});

Deno.test("websocket: close() round trip, and close()'s argument checks", async () => {
  const { ch, gw } = await setup();
  const { ws, r } = await openSocket(ch);
  assert.throws(() => ws.close(1001), (e: DOMException) => e.name === "InvalidAccessError");
  assert.throws(() => ws.close(2999), (e: DOMException) => e.name === "InvalidAccessError");
  assert.throws(() => ws.close(5000), (e: DOMException) => e.name === "InvalidAccessError");
  assert.throws(
    () => ws.close(1000, "é".repeat(62)),
    (e: DOMException) => e.name === "SyntaxError",
  );
  ws.close(4000, "é".repeat(61)); // 122 bytes
  assert.equal(ws.readyState, ws.CLOSING);
  ws.close(4001); // no effect while CLOSING
  ws.send("dropped");
  assert.equal(ws.bufferedAmount, 7);
  await r.closed();
  assert.equal(r.close!.code, 4000);
  assert.equal(r.close!.reason, "é".repeat(61));
  assert.equal(r.close!.wasClean, true);
  const s = gw.streams[0];
  assert.deepEqual(s.messages, [{ kind: "close", code: 4000, reason: "é".repeat(61) }]);
  await waitFor(() => s.clientEnded, 5000, "END_STREAM after the close message");
  assert.equal(s.clientReset, null);
  // close() with no code sends an empty close payload; a reason alone goes with 1000.
  const a = await openSocket(ch);
  a.ws.close();
  await a.r.closed();
  assert.deepEqual(gw.streams[1].messages, [{ kind: "close", code: null, reason: "" }]);
  assert.equal(a.r.close!.code, 1005);
  const b = await openSocket(ch);
  b.ws.close(undefined, "why");
  await b.r.closed();
  assert.deepEqual(gw.streams[2].messages, [{ kind: "close", code: 1000, reason: "why" }]);
  ch.close();
});

Deno.test("websocket: no answer to close() within the timeout → RESET CANCEL, 1006", async () => {
  const { ch, gw } = await setup({
    maxWsMessage: 1 << 20,
    onStream: (s) => {
      s.answerClose = false;
      s.accept();
    },
  });
  const { ws, r } = await openSocket(ch);
  ws.close(1000);
  await r.closed();
  assert.deepEqual(r.log, ["open", "error", "close:1006"]);
  assert.equal(r.close!.wasClean, false);
  await waitFor(() => gw.streams[0].clientReset !== null, 5000, "reset");
  assert.equal(gw.streams[0].clientReset, STREAM_CANCEL);
  ch.close();
});

Deno.test("websocket: a reset or a malformed message stream → error + 1006", async () => {
  const cases: [string, (s: ScriptedWsStream) => void, number | null][] = [
    ["reset INTERNAL", (s) => s.reset(STREAM_INTERNAL), null],
    ["unknown kind", (s) => s.sendRaw(new Uint8Array([0x09, 0, 0, 0, 0])), STREAM_INTERNAL],
    ["bad UTF-8", (s) => s.sendRaw(new Uint8Array([0x01, 0, 0, 0, 1, 0xff])), STREAM_INTERNAL],
    ["over max", (s) => s.sendRaw(new Uint8Array([0x02, 0, 0x10, 0, 1])), STREAM_INTERNAL],
    ["END_STREAM without close", (s) => s.sendRaw(new Uint8Array(0), true), null],
    [
      "byte after the close",
      (s) => s.sendRaw(new Uint8Array([0x08, 0, 0, 0, 0, 0x01])),
      STREAM_INTERNAL,
    ],
  ];
  for (const [what, act, clientReset] of cases) {
    const { ch, ws, r, stream } = await acceptedSocket();
    act(stream);
    await r.closed();
    assert.ok(r.error!.message, what);
    // (A byte after the close message fails the chunk that holds both: no clean close.)
    assert.deepEqual(r.log, ["open", "error", "close:1006"], what);
    if (clientReset !== null) {
      await waitFor(() => stream.clientReset !== null, 5000, `${what}: reset`);
      assert.equal(stream.clientReset, clientReset, what);
    }
    assert.equal(ws.readyState, ws.CLOSED);
    assert.equal(ch.connected, true, `${what}: the channel stays`);
    ch.close();
  }
});

Deno.test("websocket: a 200 that ends the stream fails the socket (reset INTERNAL)", async () => {
  let stream: ScriptedWsStream | null = null;
  const { ch } = await setup({
    maxWsMessage: 1 << 20,
    onStream: (s) => {
      stream = s;
      s.accept([], true);
    },
  });
  const r = recordWebSocket(ch.websocket("wss://chat.example/"));
  await r.closed();
  assert.deepEqual(r.log, ["error", "close:1006"]);
  assert.match(r.error!.message!, /ended the stream/);
  await waitFor(() => stream!.clientReset !== null, 5000, "reset");
  assert.equal(stream!.clientReset, STREAM_INTERNAL);
  ch.close();
});

Deno.test("websocket: a selected subprotocol that was not offered fails the socket", async () => {
  let stream: ScriptedWsStream | null = null;
  const { ch } = await setup({
    maxWsMessage: 1 << 20,
    onStream: (s) => {
      stream = s;
      s.accept([["sec-websocket-protocol", "other"]]);
    },
  });
  const ws = ch.websocket("wss://chat.example/", "chat");
  const r = recordWebSocket(ws);
  await r.closed();
  assert.deepEqual(r.log, ["error", "close:1006"]);
  await waitFor(() => stream!.clientReset !== null, 5000, "reset");
  assert.equal(stream!.clientReset, STREAM_INTERNAL);
  ch.close();
});

Deno.test("websocket: close() while CONNECTING fails it: error, close 1006, never open", async () => {
  const { ch, gw } = await setup({
    maxWsMessage: 1 << 20,
    onStream: () => {}, // never answers
  });
  const ws = ch.websocket("wss://chat.example/");
  const r = recordWebSocket(ws);
  await waitFor(() => gw.streams.length === 1, 5000, "CONNECT sent");
  ws.close();
  assert.equal(ws.readyState, ws.CLOSING);
  await r.closed();
  assert.deepEqual(r.log, ["error", "close:1006"]);
  await waitFor(() => gw.streams[0].clientReset !== null, 5000, "reset");
  assert.equal(gw.streams[0].clientReset, STREAM_CANCEL);
  // Closed before the CONNECT went out: nothing is sent.
  const early = ch.websocket("wss://chat.example/");
  const re = recordWebSocket(early);
  early.close();
  await re.closed();
  assert.deepEqual(re.log, ["error", "close:1006"]);
  ch.close();
});

Deno.test("websocket: 25 concurrent sockets on one channel, each its own messages", async () => {
  const { ch, sockets } = await setup();
  const all = await Promise.all(
    Array.from({ length: 25 }, (_, i) => openSocket(ch, `wss://chat.example/${i}`)),
  );
  for (const [i, { ws }] of all.entries()) {
    ws.binaryType = "arraybuffer";
    for (let k = 0; k < 4; k++) ws.send(k % 2 ? `${i}:${k}` : bytes(20_000 + i, i + k));
  }
  await waitFor(() => all.every(({ r }) => r.messages.length === 4), 20_000, "echoes");
  for (const [i, { r }] of all.entries()) {
    assert.deepEqual(new Uint8Array(r.messages[0] as ArrayBuffer), bytes(20_000 + i, i));
    assert.equal(r.messages[1], `${i}:1`);
    assert.deepEqual(new Uint8Array(r.messages[2] as ArrayBuffer), bytes(20_000 + i, i + 2));
    assert.equal(r.messages[3], `${i}:3`);
  }
  assert.equal(sockets.connections, 1);
  ch.close();
  await Promise.all(all.map(({ r }) => r.closed()));
  for (const { r } of all) {
    assert.deepEqual(r.log.slice(-2), ["error", "close:1006"]);
    assert.equal(r.close!.wasClean, false);
  }
});

Deno.test("websocket: a channel that closes fails its sockets; the next one reconnects", async () => {
  const { ch, gw, sockets } = await setup();
  const { ws, r } = await openSocket(ch);
  gw.closeChannel(1001);
  await r.closed();
  assert.deepEqual(r.log, ["open", "error", "close:1006"]);
  assert.equal(ws.readyState, ws.CLOSED);
  const next = await openSocket(ch);
  assert.equal(next.ws.readyState, next.ws.OPEN);
  assert.equal(sockets.connections, 2);
  next.ws.send("again");
  await waitFor(() => next.r.messages.length === 1, 5000, "echo on the new channel");
  ch.close();
  await next.r.closed();
});

Deno.test("websocket: the send queue is bounded (a gateway that grants nothing)", async () => {
  const { ch } = await setup({ maxWsMessage: 1 << 20, grant: false });
  const { ws, r } = await openSocket(ch, "wss://chat.example/", undefined);
  // The echo of the first 64 KiB needs no grant; nothing after it is read by the gateway.
  const mib = bytes(1 << 20);
  let n = 0;
  while (ws.readyState === ws.OPEN && n < 40) {
    ws.send(mib);
    n++;
  }
  assert.equal(n, 17, "16 MiB queued, the 17th is over the bound");
  await r.closed();
  assert.deepEqual(r.log.slice(-2), ["error", "close:1006"]);
  assert.match(r.error!.message!, /send buffer full/);
  ch.close();
});

Deno.test("websocket: messages the gateway sends arrive whole across DATA frames", async () => {
  const { ch, r, stream } = await acceptedSocket();
  // Several messages in one DATA frame, then one split byte by byte.
  const msgs: WsMessage[] = [
    { kind: "text", data: "a" },
    { kind: "text", data: "bb" },
    { kind: "binary", data: new Uint8Array([1, 2, 3]) },
  ];
  const { encodeWsMessage } = await import("../tunnel/ws-messages.ts");
  const joined = new Uint8Array(msgs.reduce((a, m) => a + encodeWsMessage(m, 100).length, 0));
  let off = 0;
  for (const m of msgs) {
    const b = encodeWsMessage(m, 100);
    joined.set(b, off);
    off += b.length;
  }
  stream.sendRaw(joined);
  for (const byte of encodeWsMessage({ kind: "text", data: "split" }, 100)) {
    stream.sendRaw(new Uint8Array([byte]));
  }
  await waitFor(() => r.messages.length === 4, 5000, "messages");
  assert.deepEqual(r.messages.filter((m) => typeof m === "string"), ["a", "bb", "split"]);
  ch.close();
});
