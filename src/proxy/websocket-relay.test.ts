/**
 * The WebSocket relay (PROTOCOL.md §6.9) against a scripted origin socket: the refusals and
 * their order (no connection for a route that does not allow the target), the upgrade's fields,
 * messages both ways, every close path, and the bounds: what it holds for a client that stops
 * reading, what it reads while the origin socket is backed up, the per-channel and gateway caps.
 */
import assert from "node:assert/strict";
import { encodeWsMessage, type WsMessage, WsMessageDecoder } from "../tunnel/ws-messages.ts";
import type { ForwardedResponse } from "./forward.ts";
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
  type OriginWebSocketRequest,
} from "./origin-websocket.ts";
import { compileRoutes, type RouteConfig } from "./routes.ts";
import { SPOOFING_HEADERS } from "./testing.ts";
import {
  CLIENT_SLACK,
  type RelayContext,
  type RelayRequest,
  type RelaySummary,
  relayWebSocket,
  WebSocketSlots,
} from "./websocket-relay.ts";

const MAX = 64 * 1024;
const ROUTES: RouteConfig[] = [
  { match: { authority: "chat.example" }, origin: "https://api.internal" },
  {
    match: { authority: "chat.example", pathPrefix: "/ws" },
    origin: "wss://ws.internal/base",
    gatewayAuth: "0123456789abcdef-secret",
  },
  { match: { authority: "svc.example" }, origin: "service:echo", websocket: true },
];

/** A scripted origin socket: records what the relay does; the test drives its events. */
class FakeOrigin implements OriginSocket {
  protocol = "";
  bufferedAmount: number | null = 0;
  sent: (string | Uint8Array)[] = [];
  closes: [number, string][] = [];
  onmessage: OriginSocket["onmessage"] = null;
  onclose: OriginSocket["onclose"] = null;
  send(data: string | Uint8Array<ArrayBuffer>) {
    this.sent.push(data);
  }
  close(code: number, reason: string) {
    this.closes.push([code, reason]);
  }
}

/** The client's side of the stream: message bytes in, the response body decoded. */
class ClientEnd {
  #c!: ReadableStreamDefaultController<Uint8Array>;
  /** Bytes the relay has read from the client's body (window it granted). */
  pulled = 0;
  readonly body: ReadableStream<Uint8Array>;
  #queue: Uint8Array[] = [];
  /** A read is waiting for the next chunk (pull was called with nothing queued). */
  #waiting: (() => void) | null = null;
  readonly abort = new AbortController();
  constructor() {
    this.body = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#c = c;
      },
      pull: async (c) => {
        while (this.#queue.length === 0) await new Promise<void>((r) => (this.#waiting = r));
        const next = this.#queue.shift()!;
        if (next.byteLength === 0) return c.close();
        this.pulled += next.byteLength;
        c.enqueue(next);
      },
    }, { highWaterMark: 0 });
  }
  send(m: WsMessage) {
    this.raw(encodeWsMessage(m, MAX));
  }
  raw(bytes: Uint8Array) {
    this.#queue.push(bytes);
    this.#waiting?.();
    this.#waiting = null;
  }
  /** END_STREAM after what is queued. */
  end() {
    this.raw(new Uint8Array(0));
  }
}

interface Opened {
  res: ForwardedResponse;
  origin: FakeOrigin;
  client: ClientEnd;
  seen: OriginWebSocketRequest;
  /** The origin → client messages, decoded, as they are read. */
  read(n?: number): Promise<WsMessage[]>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
  ended: Promise<RelaySummary>;
  slots: WebSocketSlots;
}

function request(client: ClientEnd, over: Partial<RelayRequest> = {}): RelayRequest {
  return {
    scheme: "https",
    authority: "chat.example",
    path: "/ws/room?x=1",
    headers: new Headers({ "x-app": "1" }),
    body: client.body,
    signal: client.abort.signal,
    protocols: [],
    channelSockets: 1,
    maxMessage: MAX,
    ...over,
  };
}

function context(connect: OriginWebSocketConnect | null, over: Partial<RelayContext> = {}) {
  return {
    routes: compileRoutes(ROUTES),
    clientAddress: "192.0.2.7",
    suite: 1,
    sessionId: "00112233445566778899aabbccddeeff",
    connect,
    timeoutMs: 5_000,
    slots: new WebSocketSlots(4),
    closeTimeoutMs: 200,
    ...over,
  } satisfies RelayContext;
}

async function open(
  o: {
    req?: Partial<RelayRequest>;
    ctx?: Partial<RelayContext>;
    origin?: FakeOrigin;
  } = {},
): Promise<Opened> {
  const client = new ClientEnd();
  const origin = o.origin ?? new FakeOrigin();
  let seen!: OriginWebSocketRequest;
  let resolveEnd!: (s: RelaySummary) => void;
  const ended = new Promise<RelaySummary>((r) => (resolveEnd = r));
  const ctx = context((r) => {
    seen = r;
    return Promise.resolve(origin);
  }, { onEnd: resolveEnd, ...o.ctx });
  const res = await relayWebSocket(request(client, o.req), ctx);
  assert.ok(!(res instanceof Response), `expected the 200, got ${(res as Response).status}`);
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new WsMessageDecoder(MAX);
  const pending: WsMessage[] = [];
  const read = async (n = 1) => {
    while (pending.length < n) {
      const r = await reader.read();
      if (r.done) break;
      pending.push(...decoder.push(r.value));
    }
    return pending.splice(0, n);
  };
  return { res, origin, client, seen, read, reader, ended, slots: ctx.slots };
}

async function refusal(
  req: Partial<RelayRequest>,
  ctx: Partial<RelayContext> = {},
  connect?: OriginWebSocketConnect,
): Promise<{ status: number; error: string | null; calls: number }> {
  let calls = 0;
  const client = new ClientEnd();
  const res = await relayWebSocket(
    request(client, req),
    context((r) => {
      calls++;
      return connect ? connect(r) : Promise.resolve(new FakeOrigin());
    }, ctx),
  );
  assert.ok(res instanceof Response, "expected a gateway error");
  await res.body?.cancel();
  return { status: res.status, error: res.headers.get("pqgate-error"), calls };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
async function until(cond: () => boolean, what: string) {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

Deno.test("relay: a target no WebSocket route allows → 403, no connection (HTTP routes never match)", async () => {
  // chat.example/ has only an HTTP route; other.example none at all.
  assert.deepEqual(await refusal({ path: "/chat" }), { status: 403, error: "forbidden", calls: 0 });
  assert.deepEqual(await refusal({ authority: "other.example" }), {
    status: 403,
    error: "forbidden",
    calls: 0,
  });
  // A path the route table refuses outright.
  assert.equal((await refusal({ path: "/ws/../admin" })).calls, 0);
});

Deno.test("relay: the channel's cap → 429 websocket_limit, the gateway's → 503 websocket_busy; both before any connection", async () => {
  assert.deepEqual(await refusal({ channelSockets: 17 }), {
    status: 429,
    error: "websocket_limit",
    calls: 0,
  });
  assert.equal((await refusal({ channelSockets: 3 }, { maxPerChannel: 2 })).status, 429);
  const full = new WebSocketSlots(1);
  assert.ok(full.acquire());
  assert.deepEqual(await refusal({}, { slots: full }), {
    status: 503,
    error: "websocket_busy",
    calls: 0,
  });
});

Deno.test("relay: origin refusal → 502, no upgrade in time → 504, a subprotocol not offered → 502; the slot is given back", async () => {
  const slots = new WebSocketSlots(1);
  const refused: OriginWebSocketConnect = () =>
    Promise.reject(new OriginWebSocketError("refused", "HTTP 403", 403));
  assert.equal((await refusal({}, { slots }, refused)).status, 502);
  const hang: OriginWebSocketConnect = (r) =>
    new Promise((_, rej) => r.signal.addEventListener("abort", () => rej(r.signal.reason)));
  assert.equal((await refusal({}, { slots, timeoutMs: 30 }, hang)).status, 504);
  const chooses: OriginWebSocketConnect = () => {
    const o = new FakeOrigin();
    o.protocol = "admin";
    return Promise.resolve(o);
  };
  assert.equal((await refusal({ protocols: ["chat"] }, { slots }, chooses)).status, 502);
  assert.equal(slots.open, 0);
});

Deno.test("relay: the upgrade goes to the route's origin with the HTTP header policy, without handshake fields", async () => {
  const headers = new Headers({
    "x-app": "1",
    "pqgate-protocol": "websocket",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    "sec-websocket-extensions": "permessage-deflate",
    "sec-websocket-protocol": "chat",
    connection: "upgrade, x-hop",
    upgrade: "websocket",
    "x-hop": "1",
    host: "chat.example",
  });
  for (const h of SPOOFING_HEADERS) headers.set(h, "203.0.113.9");
  const o = await open({ req: { headers, protocols: ["chat", "v2"] } });
  assert.equal(o.seen.url, "wss://ws.internal/base/ws/room?x=1");
  assert.deepEqual(o.seen.protocols, ["chat", "v2"]);
  assert.equal(o.seen.maxMessage, MAX);
  const got = o.seen.headers;
  assert.equal(got.get("x-app"), "1");
  for (
    const n of [
      "pqgate-protocol",
      "sec-websocket-key",
      "sec-websocket-version",
      "sec-websocket-extensions",
      "sec-websocket-protocol",
      "connection",
      "upgrade",
      "x-hop",
      "host",
      "accept-encoding",
    ]
  ) assert.equal(got.get(n), null, n);
  // No client-sent value survives (the gateway sets some of these names itself).
  for (const h of SPOOFING_HEADERS) assert.ok(!got.get(h)?.includes("203.0.113.9"), h);
  assert.equal(got.get("forwarded"), "for=192.0.2.7;proto=https"); // the gateway's own
  assert.equal(got.get("x-forwarded-for"), "192.0.2.7");
  assert.equal(got.get("pqgate-gateway-auth"), "0123456789abcdef-secret");
  o.client.abort.abort();
});

Deno.test("relay: a service: WebSocket route uses its connector with the client's scheme and host", async () => {
  const client = new ClientEnd();
  let url = "";
  const res = await relayWebSocket(
    request(client, { authority: "svc.example", path: "/x", scheme: "http" }),
    context(null, {
      services: (name) =>
        name === "echo"
          ? (r) => {
            url = r.url;
            return Promise.resolve(new FakeOrigin());
          }
          : null,
    }),
  );
  assert.equal(res.status, 200);
  assert.equal(url, "ws://svc.example/x");
  client.abort.abort();
  // No connector for the service → 502, none for URL routes → 502.
  assert.equal((await refusal({ authority: "svc.example" })).status, 502);
});

Deno.test("relay: text and binary both ways; the selected subprotocol is answered", async () => {
  const origin = new FakeOrigin();
  origin.protocol = "chat";
  const o = await open({ origin, req: { protocols: ["chat"] } });
  assert.deepEqual(o.res.headers, [["sec-websocket-protocol", "chat"]]);
  o.client.send({ kind: "text", data: "héllo" });
  o.client.send({ kind: "binary", data: new Uint8Array([0, 1, 255]) });
  await until(() => origin.sent.length === 2, "two messages at the origin");
  assert.equal(origin.sent[0], "héllo");
  assert.deepEqual([...(origin.sent[1] as Uint8Array)], [0, 1, 255]);
  origin.onmessage!("back");
  origin.onmessage!(new Uint8Array(70_000).fill(7).subarray(0, MAX) as Uint8Array<ArrayBuffer>);
  const [t, b] = await o.read(2);
  assert.deepEqual(t, { kind: "text", data: "back" });
  assert.equal(b.kind, "binary");
  assert.equal((b as { data: Uint8Array }).data.byteLength, MAX);
  // Closing: the origin closes first → close message, END_STREAM.
  origin.onclose!(4321, "bye", true);
  assert.deepEqual(await o.read(), [{ kind: "close", code: 4321, reason: "bye" }]);
  assert.equal((await o.reader.read()).done, true);
  const s = await o.ended;
  assert.equal(s.outcome, "closed");
  assert.equal(s.by, "origin");
  assert.equal(s.closeCode, 4321);
  assert.equal(s.messagesIn, 2);
  assert.equal(s.messagesOut, 2);
  assert.equal(o.slots.open, 0);
});

Deno.test("relay: the client's close goes to the origin; its answer's code goes back; no answer → 1000 after the close timeout", async () => {
  const a = await open();
  a.client.send({ kind: "close", code: 4000, reason: "done" });
  a.client.end();
  await until(() => a.origin.closes.length === 1, "the origin's close");
  assert.deepEqual(a.origin.closes[0], [4000, "done"]);
  a.origin.onclose!(4000, "done", true);
  assert.deepEqual(await a.read(), [{ kind: "close", code: 4000, reason: "done" }]);
  assert.equal((await a.reader.read()).done, true);
  assert.equal((await a.ended).by, "client");

  const b = await open();
  b.client.send({ kind: "close", code: null, reason: "" }); // empty: reported as 1005
  b.client.end();
  await until(() => b.origin.closes.length === 1, "the origin's close");
  assert.deepEqual(b.origin.closes[0], [1000, ""]);
  // The origin never answers: 1000 once closeTimeoutMs (200 ms here) passed.
  assert.deepEqual(await b.read(), [{ kind: "close", code: 1000, reason: "" }]);
  assert.equal((await b.ended).outcome, "closed");
  assert.equal(b.slots.open, 0);
});

Deno.test("relay: an origin lost without a closing handshake or sending more than max_ws_message fails the stream", async () => {
  const a = await open();
  a.origin.onclose!(1006, "", false);
  await assert.rejects(a.reader.read());
  assert.equal((await a.ended).outcome, "origin_failed");
  assert.deepEqual(a.origin.closes, []); // already gone

  const b = await open();
  b.origin.onmessage!(new Uint8Array(MAX + 1) as Uint8Array<ArrayBuffer>);
  await assert.rejects(b.reader.read());
  assert.deepEqual(b.origin.closes, [[1009, ""]]);
  assert.equal(b.slots.open, 0);
});

Deno.test("relay: messages that break §6.9 or a body that ends without a close fail the stream; the origin is closed 1001", async () => {
  const a = await open();
  a.client.raw(new Uint8Array([0x07, 0, 0, 0, 0])); // unknown kind
  await assert.rejects(a.reader.read());
  assert.equal((await a.ended).outcome, "client_invalid");
  assert.deepEqual(a.origin.closes, [[1001, ""]]);

  const b = await open();
  b.client.send({ kind: "text", data: "x" });
  b.client.end();
  await assert.rejects(b.reader.read());
  assert.deepEqual(b.origin.closes, [[1001, ""]]);

  const c = await open();
  c.client.raw(new Uint8Array([0x02, 0, 1, 0, 1])); // 65,537 bytes: over max_ws_message
  await assert.rejects(c.reader.read());
  assert.equal((await c.ended).outcome, "client_invalid");
});

Deno.test("relay: the client resetting the stream closes the origin at once and gives the slot back", async () => {
  const o = await open();
  o.client.abort.abort(new DOMException("reset", "AbortError"));
  await tick();
  assert.deepEqual(o.origin.closes, [[1001, ""]]);
  assert.equal((await o.ended).outcome, "client_reset");
  assert.equal(o.slots.open, 0);
  // Events from the origin after that change nothing.
  o.origin.onmessage!("late");
  o.origin.onclose!(1000, "", true);
});

Deno.test("bound: a client that stops reading; the origin's messages held ≤ 2 × max_ws_message + 65,536, then the stream fails", async () => {
  const o = await open();
  const chunk = new Uint8Array(16 * 1024) as Uint8Array<ArrayBuffer>;
  let sent = 0;
  // Nobody reads the response body: the origin floods.
  while (o.origin.closes.length === 0 && sent < 1000) {
    o.origin.onmessage!(chunk);
    sent++;
  }
  assert.deepEqual(o.origin.closes, [[1011, ""]]);
  const s = await o.ended;
  assert.equal(s.outcome, "stalled");
  assert.ok(s.peakHeld <= 2 * MAX + CLIENT_SLACK + chunk.byteLength + 5, `held ${s.peakHeld}`);
  assert.ok(sent < 20, `failed after ${sent} messages`);
  await assert.rejects(o.reader.read());
});

Deno.test("bound: the client's bytes are read only while the origin socket's unsent bytes and the partial message stay under max_ws_message + 65,536", async () => {
  const o = await open();
  o.origin.bufferedAmount = MAX + CLIENT_SLACK; // the origin stopped reading
  for (let i = 0; i < 40; i++) o.client.send({ kind: "binary", data: new Uint8Array(8192) });
  await new Promise((r) => setTimeout(r, 100));
  // At most the chunk in flight when the origin backed up: nothing past it.
  assert.ok(o.client.pulled <= 8192 + 5, `read ${o.client.pulled} bytes while backed up`);
  o.origin.bufferedAmount = 0;
  await until(() => o.origin.sent.length === 40, "the rest once drained");
  o.client.abort.abort();
});

Deno.test("slots: acquire stops at the cap; release never goes below zero", () => {
  const s = new WebSocketSlots(2);
  assert.ok(s.acquire() && s.acquire());
  assert.equal(s.acquire(), false);
  s.release();
  s.release();
  s.release();
  assert.equal(s.open, 0);
});
