/**
 * One open tunneled WebSocket (PROTOCOL.md §6.9, docs/websockets.md): the stream's two
 * directions once the origin's socket is open, how each ends, and the bounds of what it holds.
 * websocket-relay.ts opens it (the refusals, the origin connection); this file never connects.
 *
 * - client → origin: one partial message in the decoder (≤ 5 + max_ws_message bytes); the body
 *   is read (window granted) only while that plus the origin socket's unsent bytes stays under
 *   `max_ws_message + CLIENT_SLACK`;
 * - origin → client: the origin's messages not yet taken by the stream; past
 *   `2 × max_ws_message + CLIENT_SLACK` (a client that stops reading) the WebSocket fails;
 * - a close: after the client's close message the origin gets `closeTimeoutMs` to answer.
 */
import { FRAME_HEADER_LEN, MAX_PLAINTEXT } from "../protocol/constants.ts";
import {
  encodeWsMessage,
  isSendableCloseCode,
  type WsMessage,
  WsMessageDecoder,
  WsMessageError,
} from "../tunnel/ws-messages.ts";
import type { EventFields } from "../tunnel/events.ts";
import type { OriginSocket } from "./origin-websocket.ts";
import type { RelayContext, RelayRequest } from "./websocket-relay.ts";

/** Slack above one message on each side (PROTOCOL.md §6.9): one stream window's worth. */
export const CLIENT_SLACK = 65_536;
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

/** How a tunneled WebSocket ended: the gateway's `websocket` event (src/tunnel/events.ts). */
export type RelaySummary = Omit<EventFields["websocket"], "sessionId">;

/** One open tunneled WebSocket: the two directions and how they end. */
export class Relay {
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
