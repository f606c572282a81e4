/**
 * Tunneled WebSockets through the gateway's own handler and a real session (PROTOCOL.md §6.9):
 * what createGateway offers, the demo echo at wss://demo/ws, the route rules, the `websocket`
 * event, and the bound for a client that grants no window while the origin keeps sending.
 */
import assert from "node:assert/strict";
import { type Frame, STREAM_INTERNAL } from "../protocol/frames.ts";
import type { OriginSocket } from "../proxy/origin-websocket.ts";
import { CLIENT_SLACK } from "../proxy/websocket-relay.ts";
import { decodeResponseHead, encodeRequestHead, type FieldLine } from "../tunnel/bhttp.ts";
import { type RawClient, rawClient, settle, TEST_KEY, waitFor } from "../tunnel/testing.ts";
import { encodeWsMessage, type WsMessage, WsMessageDecoder } from "../tunnel/ws-messages.ts";
import { createGateway, type GatewayOptions } from "./create-gateway.ts";
import { configErrorOf } from "./testing.ts";

const MIB = 1024 * 1024;

async function channel(options: Partial<GatewayOptions> = {}) {
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const gw = createGateway({
    keys: [TEST_KEY],
    crypto: "noble",
    log: (event, fields) => events.push({ event, fields: fields as Record<string, unknown> }),
    ...options,
  });
  const raw = await rawClient({ handler: gw.handler, limits: gw.sessionConfig.limits });
  return { gw, raw, events };
}

function openWs(
  raw: RawClient,
  id: number,
  authority = "demo",
  path = "/ws",
  extra: FieldLine[] = [],
) {
  raw.send([{
    type: "headers",
    stream: id,
    endStream: false,
    payload: encodeRequestHead({
      method: "CONNECT",
      scheme: "https",
      authority,
      path,
      headers: [["pqgate-protocol", "websocket"], ...extra],
    }),
  }]);
}

const on = (raw: RawClient, id: number) =>
  raw.frames().filter((f) => "stream" in f && f.stream === id);

async function statusOf(raw: RawClient, id: number): Promise<{ status: number; headers: Headers }> {
  await waitFor(() => on(raw, id).some((f) => f.type === "headers"), 5000, `HEADERS on ${id}`);
  const h = on(raw, id).find((f) => f.type === "headers") as Frame & { payload: Uint8Array };
  const r = decodeResponseHead(h.payload, { maxBytes: 16384 });
  return { status: r.status, headers: new Headers(r.headers) };
}

/** The messages the gateway sent on stream `id` so far (DATA bytes decoded). */
function messagesOn(raw: RawClient, id: number): WsMessage[] {
  const d = new WsMessageDecoder(MIB);
  const out: WsMessage[] = [];
  for (const f of on(raw, id)) if (f.type === "data") out.push(...d.push(f.payload));
  return out;
}

const sendMsg = (raw: RawClient, id: number, m: WsMessage, endStream = false) =>
  raw.send([{ type: "data", stream: id, endStream, payload: encodeWsMessage(m, MIB) }]);

Deno.test("gateway: the demo routes offer max_ws_message 1 MiB; routes without a WebSocket route offer none", async () => {
  const a = await channel();
  await waitFor(() => a.raw.frames().length > 0, 5000, "SESSION_INFO");
  assert.equal((a.raw.frames()[0] as Frame & { type: "session_info" }).info.maxWsMessage, MIB);
  a.raw.cs.close(1000, "");
  const b = await channel({ routes: [{ match: { authority: "x" }, origin: "https://x.test" }] });
  await waitFor(() => b.raw.frames().length > 0, 5000, "SESSION_INFO");
  assert.equal((b.raw.frames()[0] as Frame & { type: "session_info" }).info.maxWsMessage, 0);
  openWs(b.raw, 1, "x", "/");
  assert.equal((await statusOf(b.raw, 1)).status, 405);
  b.raw.cs.close(1000, "");
  await settle();
});

Deno.test("gateway: wss://demo/ws echoes text and binary, and closes with the code asked for", async () => {
  const { raw, events } = await channel();
  openWs(raw, 1, "demo", "/ws", [["sec-websocket-protocol", "v1, echo"]]);
  const r = await statusOf(raw, 1);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("sec-websocket-protocol"), "echo");
  sendMsg(raw, 1, { kind: "text", data: "hello" });
  sendMsg(raw, 1, { kind: "binary", data: new Uint8Array([1, 2, 3]) });
  await waitFor(() => messagesOn(raw, 1).length === 2, 5000, "two echoes");
  assert.deepEqual(messagesOn(raw, 1)[0], { kind: "text", data: "hello" });
  sendMsg(raw, 1, { kind: "text", data: "close 4321 bye" });
  await waitFor(() => messagesOn(raw, 1).length === 3, 5000, "the close message");
  assert.deepEqual(messagesOn(raw, 1)[2], { kind: "close", code: 4321, reason: "bye" });
  // END_STREAM right after it, then CANCEL for the client's direction (§6.9).
  await waitFor(() => on(raw, 1).some((f) => f.type === "reset_stream"), 5000, "CANCEL");
  assert.ok(on(raw, 1).some((f) => f.type === "data" && f.endStream));
  await waitFor(() => events.some((e) => e.event === "websocket"), 5000, "the websocket event");
  const e = events.find((e) => e.event === "websocket")!.fields;
  assert.equal(e.outcome, "closed");
  assert.equal(e.closeCode, 4321);
  assert.equal(e.by, "origin");
  assert.equal(raw.server.state, "established");
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("gateway: an HTTP route never matches a WebSocket stream (403), nor the reverse", async () => {
  const { raw } = await channel();
  openWs(raw, 1, "demo", "/api/hello"); // demo's HTTP route, not /ws
  const r = await statusOf(raw, 1);
  assert.equal(r.status, 403);
  assert.equal(r.headers.get("pqgate-error"), "forbidden");
  raw.send([{
    type: "headers",
    stream: 3,
    endStream: true,
    payload: encodeRequestHead({
      method: "GET",
      scheme: "https",
      authority: "nothing",
      path: "/",
      headers: [],
    }),
  }]);
  assert.equal((await statusOf(raw, 3)).status, 403);
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("gateway: a ws: route to an origin the connector opens; a URL route needs a connector", async () => {
  let opened = 0;
  const connect = () => {
    opened++;
    const s: OriginSocket = {
      protocol: "",
      bufferedAmount: 0,
      send: (d) => queueMicrotask(() => s.onmessage?.(d)),
      close: (c, r) => queueMicrotask(() => s.onclose?.(c, r, true)),
      onmessage: null,
      onclose: null,
    };
    return Promise.resolve(s);
  };
  const routes = [{ match: { authority: "chat.test" }, origin: "wss://chat.internal" }];
  const { raw } = await channel({ routes, websockets: { connect } });
  openWs(raw, 1, "chat.test", "/room");
  assert.equal((await statusOf(raw, 1)).status, 200);
  openWs(raw, 3, "other.test", "/room");
  assert.equal((await statusOf(raw, 3)).status, 403);
  assert.equal(opened, 1);
  raw.cs.close(1000, "");
  await settle();
  const e = configErrorOf(() =>
    createGateway({ keys: [TEST_KEY], routes, websockets: { connect: false } })
  );
  assert.match(e.message, /routes\[0\]\.origin.*WebSocket origin/);
  assert.match(
    configErrorOf(() =>
      createGateway({
        keys: [TEST_KEY],
        routes: [{ match: { authority: "a" }, origin: "service:chat", websocket: true }],
      })
    ).message,
    /service:chat.*websockets\.services/,
  );
});

Deno.test("bound: a client that grants no window while the origin keeps sending: reset INTERNAL past 2 × max + 65,536 held", async () => {
  const max = 64 * 1024;
  const { raw, events } = await channel({ limits: { maxWsMessage: max } });
  openWs(raw, 1);
  assert.equal((await statusOf(raw, 1)).status, 200);
  // The echo sends back all it gets; the client never sends WINDOW_UPDATE for stream 1 (its
  // 64 KiB window), but sends within the window the gateway grants it as the relay reads.
  const piece = new Uint8Array(16_000);
  let sent = 0;
  const granted = () =>
    65_536 + on(raw, 1).reduce((n, f) => f.type === "window_update" ? n + f.increment : n, 0);
  const reset = () => on(raw, 1).some((f) => f.type === "reset_stream");
  while (!reset() && sent < 20 * max) {
    await waitFor(() => reset() || granted() - sent >= piece.byteLength + 5, 5000, "window");
    if (reset()) break;
    sendMsg(raw, 1, { kind: "binary", data: piece });
    sent += piece.byteLength + 5;
  }
  await waitFor(() => on(raw, 1).some((f) => f.type === "reset_stream"), 5000, "the reset");
  const r = on(raw, 1).find((f) => f.type === "reset_stream") as Frame & { errorCode: number };
  assert.equal(r.errorCode, STREAM_INTERNAL);
  assert.ok(sent > 2 * max + CLIENT_SLACK, `reset after ${sent} bytes`);
  await waitFor(() => events.some((e) => e.event === "websocket"), 5000, "the websocket event");
  const e = events.find((e) => e.event === "websocket")!.fields;
  assert.equal(e.outcome, "stalled");
  assert.ok(
    (e.peakHeld as number) <= 2 * max + CLIENT_SLACK + piece.byteLength + 5,
    `held ${e.peakHeld}`,
  );
  // The channel is unharmed: another WebSocket opens on it.
  openWs(raw, 3);
  assert.equal((await statusOf(raw, 3)).status, 200);
  raw.cs.close(1000, "");
  await settle();
});

Deno.test("gateway: 17 WebSockets on one channel → the 17th is 429 websocket_limit", async () => {
  const { raw } = await channel();
  for (let i = 0; i < 17; i++) openWs(raw, 1 + 2 * i);
  for (let i = 0; i < 16; i++) assert.equal((await statusOf(raw, 1 + 2 * i)).status, 200);
  const r = await statusOf(raw, 33);
  assert.equal(r.status, 429);
  assert.equal(r.headers.get("pqgate-error"), "websocket_limit");
  raw.cs.close(1000, "");
  await settle();
});
