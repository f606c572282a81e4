/**
 * The gateway's half of a tunneled WebSocket (PROTOCOL.md §6.9, docs/websockets.md): one stream
 * of the channel ↔ one WebSocket to the route's origin. Knows no crypto and no platform: the
 * session hands in the checked head and the client's message bytes, a connector
 * (origin-websocket.ts) opens the origin's socket, and the answer is a 200 whose body is the
 * origin's messages (or a gateway error, before any connection where the refusal allows it).
 *
 * Order of the refusals, each before anything the next one costs: no WebSocket route → 403
 * (no connection); the route's authentication policy → 401/403; the channel's cap → 429
 * `websocket_limit`; the gateway's cap of origin sockets → 503 `websocket_busy`; the origin
 * refusing, unreachable or choosing a subprotocol not offered → 502; no upgrade in time → 504.
 *
 * Bounds (each counted here, tested in websocket-relay.test.ts):
 * - client → origin: one partial message in the decoder (≤ 5 + max_ws_message bytes), and the
 *   body is read (so window granted) only while that plus what the origin socket has not sent
 *   yet stays under `max_ws_message + 65,536` (`CLIENT_SLACK`);
 * - origin → client: the origin's messages not yet taken by the stream (window, output gate);
 *   past `2 × max_ws_message + 65,536` (a client that stops reading) the WebSocket fails:
 *   RESET_STREAM INTERNAL, origin closed 1011;
 * - a close: after the client's close message the origin gets `closeTimeoutMs` (5 s) to answer
 *   before the stream ends with 1000 and the socket is let go.
 */
import { FRAME_HEADER_LEN, MAX_PLAINTEXT } from "../protocol/constants.ts";
import {
  encodeWsMessage,
  isSendableCloseCode,
  type WsMessage,
  WsMessageDecoder,
  WsMessageError,
} from "../tunnel/ws-messages.ts";
import type { AuthMethod, ClientIdentity } from "../tunnel/types.ts";
import { decideAuth } from "./auth-policy.ts";
import { gatewayError } from "./errors.ts";
import type { ForwardedResponse } from "./forward.ts";
import { type FieldPair, originRequestFields } from "./headers.ts";
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
} from "./origin-websocket.ts";
import { matchRoute, type RouteTable } from "./routes.ts";

/** Slack above one message on each side (PROTOCOL.md §6.9): one stream window's worth. */
export const CLIENT_SLACK = 65_536;
/** The reference gateway's cap of tunneled WebSockets per channel (→ 429 `websocket_limit`). */
export const DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL = 16;
/**
 * The reference gateway's cap of origin WebSockets in the process / Durable Object (→ 503).
 * With the per-socket bound (about 4 × max_ws_message + 128 KiB at worst, docs/websockets.md)
 * it bounds what tunneled WebSockets can hold in all: about 1 GiB at the 1 MiB default.
 */
export const DEFAULT_MAX_ORIGIN_WEBSOCKETS = 256;
/** How long the origin gets to answer the client's close before the stream ends with 1000. */
export const DEFAULT_WS_CLOSE_TIMEOUT_MS = 5_000;
/**
 * How often a relay waiting for the origin socket to drain looks at its `bufferedAmount` (no
 * platform has a drain event): from 10 ms, doubling to 250 ms while it stays backed up, so a
 * stuck origin costs a few timer wakeups a second.
 */
const DRAIN_POLL_MS = 10;
const DRAIN_POLL_MAX_MS = 250;
/** Largest piece of the origin's messages handed to the stream per read: one DATA frame. */
const PIECE = MAX_PLAINTEXT - FRAME_HEADER_LEN;
/** Handshake fields the gateway makes itself (§6.9), never forwarded. */
const WS_HANDSHAKE_FIELDS = new Set([
  "pqgate-protocol",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "accept-encoding",
]);

/**
 * The gateway's count of origin sockets (one per gateway: a process, or a Durable Object).
 * `open` never exceeds `max`.
 */
export class WebSocketSlots {
  #open = 0;
  constructor(readonly max: number = DEFAULT_MAX_ORIGIN_WEBSOCKETS) {}
  get open(): number {
    return this.#open;
  }
  /** Takes a slot, or false at the cap. */
  acquire(): boolean {
    if (this.#open >= this.max) return false;
    this.#open++;
    return true;
  }
  release(): void {
    if (this.#open > 0) this.#open--;
  }
}

/** How a tunneled WebSocket ended, for the gateway's `websocket` event and metrics. */
export interface RelaySummary {
  route: string;
  /**
   * "closed": both closing handshakes done (or the close timeout passed); "origin_failed": the
   * origin's connection was lost (1006) or it sent a message over the limit; "client_reset":
   * the client reset the stream or its channel went away; "client_invalid": the client's
   * messages broke §6.9; "stalled": the client stopped reading past the bound.
   */
  outcome: "closed" | "origin_failed" | "client_reset" | "client_invalid" | "stalled";
  /** The close code the client was sent (null when the stream was reset instead). */
  closeCode: number | null;
  /** Who closed first: the client's close message, or the origin. */
  by: "client" | "origin" | null;
  messagesIn: number;
  messagesOut: number;
  /** Message payload bytes client → origin and origin → client. */
  bytesIn: number;
  bytesOut: number;
  /** From the 200 to the end. */
  ms: number;
  /** Most origin → client bytes held at once (≤ 2 × max_ws_message + 65,536). */
  peakHeld: number;
}

export interface RelayRequest {
  /** "https" for a wss: target, "http" for ws:. */
  scheme: string;
  authority: string;
  path: string;
  headers: Headers;
  /** The client's message bytes (window granted as they are read). */
  body: ReadableStream<Uint8Array>;
  /** Aborted when the client resets the stream or the channel goes. */
  signal: AbortSignal;
  /** Offered subprotocols, validated tokens, in order. */
  protocols: readonly string[];
  /** Tunneled WebSockets open on the channel, this one included. */
  channelSockets: number;
  /** The channel's max_ws_message (> 0). */
  maxMessage: number;
}

export interface RelayContext {
  routes: RouteTable;
  clientAddress: string | null;
  suite: number | string;
  sessionId: Uint8Array | string;
  /** The connector for ws(s): URL routes; null: such routes answer 502. */
  connect: OriginWebSocketConnect | null;
  /** Connectors of `service:NAME` WebSocket routes; a route without one → 502. */
  services?: (name: string) => OriginWebSocketConnect | null;
  /** Gateway default time to an open origin socket; a route's `timeoutMs` wins. */
  timeoutMs: number;
  slots: WebSocketSlots;
  maxPerChannel?: number;
  closeTimeoutMs?: number;
  identity?: ClientIdentity | null;
  authMethods?: ReadonlySet<AuthMethod>;
  now?: () => number;
  access?: { route: string; authMethod?: string | null };
  /** Called once when the WebSocket is over (never for a refusal). */
  onEnd?: (summary: RelaySummary) => void;
}

/** Opens the origin's WebSocket for a WebSocket stream and relays it; never rejects. */
export async function relayWebSocket(
  req: RelayRequest,
  ctx: RelayContext,
): Promise<Response | ForwardedResponse> {
  const refuse = (r: Response) => {
    req.body.cancel().catch(() => {});
    return r;
  };
  const match = matchRoute(ctx.routes, {
    authority: req.authority,
    path: req.path,
    scheme: req.scheme,
    host: req.headers.has("host") ? [req.headers.get("host")!] : [],
    websocket: true,
  });
  if (ctx.access) ctx.access.route = match === null ? "none" : String(match.route.index);
  if (match === null) return refuse(gatewayError("forbidden"));
  const { route } = match;
  const auth = decideAuth(route, ctx.identity, (ctx.now ?? Date.now)(), ctx.authMethods);
  if (!auth.ok) return refuse(gatewayError(auth.code, auth.extra));
  if (ctx.access && auth.headers.length > 0) ctx.access.authMethod = ctx.identity!.method;
  if (req.channelSockets > (ctx.maxPerChannel ?? DEFAULT_MAX_WEBSOCKETS_PER_CHANNEL)) {
    return refuse(gatewayError("websocket_limit"));
  }
  const connect = match.service === null ? ctx.connect : ctx.services?.(match.service) ?? null;
  if (connect === null) return refuse(gatewayError("bad_gateway"));
  if (!ctx.slots.acquire()) return refuse(gatewayError("websocket_busy", { "retry-after": "1" }));

  // The upgrade request's fields: the HTTP header policy, then without the handshake fields
  // (the connector makes its own handshake) and without the Host the platform sets.
  const scheme = req.scheme.toLowerCase() === "http" ? "ws" : "wss";
  const url = match.service === null ? match.url : `${scheme}://${match.authority}${match.rest}`;
  const fields: FieldPair[] = originRequestFields(req.headers, {
    host: new URL(url).host,
    clientAddress: ctx.clientAddress,
    suite: ctx.suite,
    sessionId: ctx.sessionId,
    gatewayAuth: route.gatewayAuth,
    forwardedHost: route.forwardedHost ? match.authority : undefined,
  });
  const headers = new Headers();
  for (const [n, v] of fields) {
    if (n !== "host" && !WS_HANDSHAKE_FIELDS.has(n)) headers.append(n, v);
  }
  for (const [n, v] of auth.headers) headers.append(n, v);

  const timeoutMs = route.timeoutMs ?? ctx.timeoutMs;
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException("origin WebSocket timeout", "TimeoutError")),
    timeoutMs,
  );
  const onClientAbort = () => ac.abort(req.signal.reason);
  if (req.signal.aborted) onClientAbort();
  req.signal.addEventListener("abort", onClientAbort, { once: true });
  let socket: OriginSocket;
  try {
    socket = await connect({
      url,
      protocols: req.protocols,
      headers,
      signal: ac.signal,
      maxMessage: req.maxMessage,
    });
  } catch (e) {
    ctx.slots.release();
    const timedOut = (e instanceof OriginWebSocketError && e.kind === "timeout") ||
      (ac.signal.aborted && (ac.signal.reason as Error)?.name === "TimeoutError");
    return refuse(gatewayError(timedOut ? "gateway_timeout" : "bad_gateway"));
  } finally {
    clearTimeout(timer);
    req.signal.removeEventListener("abort", onClientAbort);
  }
  if (socket.protocol !== "" && !req.protocols.includes(socket.protocol)) {
    socket.close(1002, "");
    ctx.slots.release();
    return refuse(gatewayError("bad_gateway"));
  }
  if (req.signal.aborted) {
    socket.close(1001, "");
    ctx.slots.release();
    return refuse(gatewayError("bad_gateway"));
  }
  const relay = new Relay(req, ctx, socket, String(route.index));
  return {
    status: 200,
    statusText: "",
    headers: socket.protocol === "" ? [] : [["sec-websocket-protocol", socket.protocol]],
    body: relay.toClient,
  };
}

/** One open tunneled WebSocket: the two directions and how they end. */
class Relay {
  readonly toClient: ReadableStream<Uint8Array>;
  readonly #req: RelayRequest;
  readonly #ctx: RelayContext;
  readonly #socket: OriginSocket;
  readonly #max: number;
  readonly #started = Date.now();
  readonly #summary: RelaySummary;
  /** Origin → client bytes not yet taken by the stream, and how many. */
  #queue: Uint8Array[] = [];
  #held = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #wake: (() => void) | null = null;
  /** The close message to the client is queued: END_STREAM once the queue is empty. */
  #ending = false;
  #done = false;
  /** The origin socket is gone (its close event, or let go at the close timeout). */
  #originClosed = false;
  /** The client's close message arrived. */
  #clientClosed = false;
  #closeTimer: ReturnType<typeof setTimeout> | null = null;
  /** The gateway's origin-socket slot is given back (once). */
  #released = false;

  constructor(req: RelayRequest, ctx: RelayContext, socket: OriginSocket, route: string) {
    this.#req = req;
    this.#ctx = ctx;
    this.#socket = socket;
    this.#max = req.maxMessage;
    this.#summary = {
      route,
      outcome: "closed",
      closeCode: null,
      by: null,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      ms: 0,
      peakHeld: 0,
    };
    this.toClient = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: (c) => this.#pull(c),
      cancel: () => this.#fail("client_reset", 1001),
    }, { highWaterMark: 0 });
    socket.onmessage = (data) => this.#fromOrigin(data);
    socket.onclose = (code, reason, clean) => this.#originClose(code, reason, clean);
    req.signal.addEventListener("abort", () => this.#fail("client_reset", 1001), { once: true });
    this.#readClient().catch(() => this.#fail("client_invalid", 1001));
  }

  // --- origin → client ------------------------------------------------------------------

  #fromOrigin(data: string | Uint8Array<ArrayBuffer>): void {
    if (this.#done || this.#ending) return;
    const m: WsMessage = typeof data === "string"
      ? { kind: "text", data }
      : { kind: "binary", data };
    let bytes: Uint8Array;
    try {
      bytes = encodeWsMessage(m, this.#max);
    } catch {
      // Over max_ws_message: not forwardable (§6.9).
      return this.#fail("origin_failed", 1009);
    }
    this.#summary.messagesOut++;
    this.#summary.bytesOut += bytes.byteLength - 5;
    this.#push(bytes);
    if (this.#held > 2 * this.#max + CLIENT_SLACK) this.#fail("stalled", 1011);
  }

  #push(bytes: Uint8Array): void {
    this.#queue.push(bytes);
    this.#held += bytes.byteLength;
    if (this.#held > this.#summary.peakHeld) this.#summary.peakHeld = this.#held;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  async #pull(c: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.#queue.length === 0 && !this.#done) {
      if (this.#ending) return this.#finish(c);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#done) return;
    const first = this.#queue[0];
    if (first.byteLength <= PIECE) {
      this.#queue.shift();
      this.#held -= first.byteLength;
      c.enqueue(first);
    } else {
      this.#queue[0] = first.subarray(PIECE);
      this.#held -= PIECE;
      c.enqueue(first.subarray(0, PIECE));
    }
    if (this.#queue.length === 0 && this.#ending) this.#finish(c);
  }

  /** The close message went out whole: END_STREAM, and the WebSocket is over. */
  #finish(c: ReadableStreamDefaultController<Uint8Array>): void {
    if (this.#done) return;
    try {
      c.close();
    } catch { /* cancelled meanwhile */ }
    this.#end();
  }

  /** Queues the close message to the client (the last of its direction). */
  #sendClose(code: number | null, reason: string, by: "client" | "origin"): void {
    if (this.#ending || this.#done) return;
    this.#ending = true;
    this.#summary.by ??= by;
    const sendable = code !== null && isSendableCloseCode(code);
    this.#summary.closeCode = sendable ? code : 1005;
    let payload: Uint8Array;
    try {
      payload = encodeWsMessage(
        sendable ? { kind: "close", code, reason } : { kind: "close", code: null, reason: "" },
        this.#max,
      );
    } catch {
      // A reason over 123 bytes: the code alone.
      payload = encodeWsMessage(
        { kind: "close", code: sendable ? code : null, reason: "" },
        this.#max,
      );
    }
    this.#push(payload);
  }

  #originClose(code: number, reason: string, clean: boolean): void {
    this.#originClosed = true;
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    if (this.#done) return;
    if (!clean || code === 1006) return this.#fail("origin_failed", null);
    this.#sendClose(code, reason, "origin");
    this.#ctx.slots.release();
    this.#released = true;
  }

  // --- client → origin ------------------------------------------------------------------

  async #readClient(): Promise<void> {
    const reader = this.#req.body.getReader();
    const decoder = new WsMessageDecoder(this.#max);
    try {
      for (;;) {
        await this.#originDrained(decoder);
        if (this.#done) return;
        const r = await reader.read();
        if (this.#done) return;
        if (r.done) {
          decoder.end(); // throws unless the close message came last (§6.9)
          return;
        }
        for (const m of decoder.push(r.value)) this.#toOrigin(m);
      }
    } catch (e) {
      if (this.#done) return;
      if (e instanceof WsMessageError) return this.#fail("client_invalid", 1001);
      this.#fail("client_reset", 1001);
    } finally {
      reader.releaseLock();
    }
  }

  /** Waits while the partial message and the origin's unsent bytes are over the bound. */
  async #originDrained(decoder: WsMessageDecoder): Promise<void> {
    const bound = this.#max + CLIENT_SLACK;
    let wait = DRAIN_POLL_MS;
    while (!this.#done && decoder.buffered + (this.#socket.bufferedAmount ?? 0) >= bound) {
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, DRAIN_POLL_MAX_MS);
    }
  }

  #toOrigin(m: WsMessage): void {
    if (this.#done) return;
    if (m.kind !== "close") {
      if (this.#clientClosed || this.#originClosed) return;
      this.#summary.messagesIn++;
      this.#summary.bytesIn += typeof m.data === "string"
        ? new TextEncoder().encode(m.data).byteLength
        : m.data.byteLength;
      this.#socket.send(m.data as string | Uint8Array<ArrayBuffer>);
      return;
    }
    this.#clientClosed = true;
    this.#summary.by ??= "client";
    if (this.#originClosed) return; // the origin closed first: its close is on its way
    this.#socket.close(m.code ?? 1000, m.code === null ? "" : m.reason);
    const timeout = this.#ctx.closeTimeoutMs ?? DEFAULT_WS_CLOSE_TIMEOUT_MS;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = null;
      if (this.#done || this.#originClosed) return;
      this.#originClosed = true; // let go: the platform finishes (or drops) the handshake
      this.#socket.onmessage = null;
      this.#socket.onclose = null;
      this.#sendClose(1000, "", "client");
      this.#ctx.slots.release();
      this.#released = true;
    }, timeout);
  }

  // --- endings --------------------------------------------------------------------------

  /** The WebSocket failed: RESET_STREAM INTERNAL (by erroring the stream), origin closed. */
  #fail(outcome: RelaySummary["outcome"], originCode: number | null): void {
    if (this.#done) return;
    this.#summary.outcome = outcome;
    this.#summary.closeCode = null;
    const reason = new WsMessageError(`tunneled WebSocket failed: ${outcome}`);
    try {
      this.#controller.error(reason);
    } catch { /* already closed */ }
    if (!this.#originClosed && originCode !== null) {
      this.#originClosed = true;
      try {
        this.#socket.close(originCode, "");
      } catch { /* the platform refused: it is closing anyway */ }
    }
    this.#req.body.cancel(reason).catch(() => {});
    this.#end();
  }

  #end(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    this.#queue = [];
    this.#held = 0;
    this.#wake?.();
    this.#wake = null;
    if (!this.#released) {
      this.#released = true;
      this.#ctx.slots.release();
    }
    this.#summary.ms = Date.now() - this.#started;
    try {
      this.#ctx.onEnd?.(this.#summary);
    } catch { /* observation never breaks the relay */ }
  }
}
