/**
 * One upgraded `ws` WebSocket as the tunnel's `Socket`, and its bounded close lifecycle
 * (SECURITY.md, resource accounting; close codes PROTOCOL.md §9):
 *
 * - Message size is refused at the frame header: the server's `maxPayload` is MAX_RECORD_LEN,
 *   and each socket starts at MAX_CLIENT_HELLO_LEN (`setMaxMessageSize`, raised by the session
 *   after its ServerHello). A longer message (also summed over fragments) closes with 1009 before
 *   its payload is buffered. The per-socket limit lives in ws's Receiver (`_maxPayload`, checked
 *   for every frame header by ws 8.23.0, pinned in package.json; ws-lifecycle.test.ts proves it
 *   per state). Without that field the server-wide MAX_RECORD_LEN still applies.
 * - Close: once a close starts (the gateway's, a ws protocol error such as 1009, or the peer's),
 *   input keeps being read and discarded so the peer's unread data does not turn our close into
 *   a TCP RST (the close code arrives, not 1006); after `closeTimeoutMs / 2` the TCP connection
 *   is ended (FIN), after `closeTimeoutMs` destroyed. At most MAX_CLOSE_DRAIN_BYTES are read
 *   while closing: past that reading stops (what the peer still sends waits in the kernel's
 *   buffers, not ours, and costs no CPU); the close frame still reaches a peer that reads. The socket counts (admission ticket) until
 *   the TCP connection's own `close` event.
 * - Backpressure: `pauseReading` / `resumeReading` are ws's `pause()` / `resume()` (TCP reads
 *   stop); `bufferedAmount` is ws's unsent bytes (socket write queue + sender queue).
 */
import type { Socket as NetSocket } from "node:net";
import { MAX_CLIENT_HELLO_LEN, MAX_RECORD_LEN } from "../../protocol/constants.ts";
import type { SessionFactory, Socket } from "../../tunnel/session-seam.ts";
import type { Ticket } from "./admission.ts";
import type { LiveSession } from "./live-sockets.ts";
import { closeQuietly, SessionDriver } from "./session-driver.ts";

/** Input read and discarded after a close starts, at most; past it reading stops until destroy. */
export const MAX_CLOSE_DRAIN_BYTES = 1024 * 1024;

/** The part of a `ws` (8.23.0) server-side WebSocket this file uses. */
export interface WsSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on(event: "message", fn: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", fn: (code: number, reason: Uint8Array) => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  _receiver?: { _maxPayload?: unknown };
}

const OPEN = 1;
const CLOSING = 2;

/** Sets ws's per-socket message limit; false if this ws version has no such field. */
export function setWsMaxPayload(ws: WsSocket, bytes: number): boolean {
  const r = ws._receiver;
  if (!r || typeof r._maxPayload !== "number") return false;
  r._maxPayload = bytes;
  return true;
}

export interface LifecycleOptions {
  closeTimeoutMs: number;
  /** The ClientHello of the upgrade URL (PROTOCOL.md §1): the session's first message. */
  initialHello?: Uint8Array<ArrayBuffer> | null;
  /** Called once when the TCP connection is gone (after the ticket was released). */
  onGone(): void;
}

/** The handle the transport keeps per live socket (for shutdown); `goAway` starts the timers. */
export interface LiveSocket extends LiveSession {
  /** Destroys the TCP connection now. */
  destroy(): void;
}

/** One decoder for the rare text message and the close reason (it keeps no state between calls). */
const UTF8 = new TextDecoder();

/**
 * The per-socket state and the tunnel's `Socket`, as one object: its methods live on the
 * prototype, so an idle channel pays for its fields, not for a dozen closures (issue 13).
 */
class WsTunnelSocket implements Socket, LiveSocket {
  readonly driver: SessionDriver;
  #ws: WsSocket;
  #net: NetSocket;
  #closing = false;
  /** The fin timer (closeTimeoutMs / 2), then the destroy timer (the rest), one at a time. */
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimeoutMs: number;
  #maxMessage = MAX_CLIENT_HELLO_LEN;
  /** Made on demand (a shutdown asks for it): true once the TCP connection is gone. */
  #gone: Promise<void> | null = null;
  #isGone = false;
  #resolveGone: (() => void) | null = null;
  #onGone: () => void;
  #ticket: Ticket;
  /** ws's own close, called after our close phase started (see attachWs). */
  #wsClose: WsSocket["close"];

  constructor(ws: WsSocket, net: NetSocket, ticket: Ticket, opts: LifecycleOptions) {
    this.#ws = ws;
    this.#net = net;
    this.#ticket = ticket;
    this.#closeTimeoutMs = opts.closeTimeoutMs;
    this.#onGone = opts.onGone;
    this.driver = new SessionDriver(ticket);
    this.#wsClose = ws.close;
  }

  // ---- Socket (the session's view) ---------------------------------------------------------

  send(bytes: Uint8Array): void {
    const ws = this.#ws;
    if (ws.readyState !== OPEN) return;
    ws.send(bytes, BINARY);
    this.driver.sent();
  }
  close(code?: number, reason?: string): void {
    if (this.#ws.readyState >= CLOSING) return;
    closeQuietly(this.#ws, code, reason);
  }
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }
  pauseReading(): void {
    if (!this.#closing) this.#ws.pause();
  }
  resumeReading(): void {
    this.#ws.resume();
  }
  setMaxMessageSize(bytes: number): void {
    // Never above the server-wide cap, never below the ClientHello.
    const n = Math.min(MAX_RECORD_LEN, Math.max(MAX_CLIENT_HELLO_LEN, Math.floor(bytes) || 0));
    if (n === this.#maxMessage) return;
    this.#maxMessage = n;
    setWsMaxPayload(this.#ws, n);
  }

  // ---- LiveSocket (the transport's view) ---------------------------------------------------

  goAway(): void {
    const s = this.driver.session;
    if (s) s.shutdown();
    else this.close(1001, "going away");
  }
  destroy(): void {
    this.#net.destroy();
  }
  get gone(): Promise<void> {
    if (this.#gone) return this.#gone;
    this.#gone = this.#isGone
      ? Promise.resolve()
      : new Promise<void>((r) => (this.#resolveGone = r));
    return this.#gone;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Every close goes through ws.close: ours, ws's own on a protocol error, the answer to the peer's. */
  wsClose(code?: number, reason?: string): void {
    this.startClosing();
    this.#wsClose.call(this.#ws, code, reason);
  }

  /** The drain-and-discard phase and its timers (module comment), once. */
  startClosing(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ws.resume(); // drain: keep reading (and discarding) while the close frame goes out
    const net = this.#net;
    let drained = 0;
    const count = (chunk: Uint8Array) => {
      drained += chunk.length;
      if (drained <= MAX_CLOSE_DRAIN_BYTES) return;
      net.off("data", count);
      net.pause();
      (this.#ws as { resume(): void }).resume = () => {}; // ws must not restart reading
    };
    net.on("data", count);
    const half = Math.floor(this.#closeTimeoutMs / 2);
    this.#closeTimer = setTimeout(() => {
      try {
        net.end();
      } catch { /* already gone */ }
      this.#closeTimer = setTimeout(() => net.destroy(), this.#closeTimeoutMs - half);
    }, half);
  }

  message(data: Uint8Array, isBinary: boolean): void {
    if (this.#closing) return; // discarded: the session is closed or closing
    if (!isBinary) {
      this.driver.receive(UTF8.decode(data));
      return;
    }
    // Each message gets an ArrayBuffer of its own: ws's Buffers are often views into one TCP
    // read chunk shared by several messages, and the session may hand (decrypted, in place)
    // bytes to code that transfers or detaches their buffer (fetch request bodies do). A message
    // that already owns its whole buffer is passed without a copy (as a plain Uint8Array: a
    // Buffer's slice() would not copy).
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    this.driver.receive(owned ? new Uint8Array(data.buffer as ArrayBuffer) : new Uint8Array(data));
  }

  wsClosed(code: number, reason: Uint8Array): void {
    this.startClosing();
    this.driver.closed(code, reason.length === 0 ? "" : UTF8.decode(reason));
  }

  netClosed(): void {
    clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    // ws emits its close event (with the peer's code) just after the TCP close, usually
    // synchronously before this listener; if it did not by the next task, the session hears 1006.
    if (this.driver.session) setTimeout(() => this.driver.closed(1006, ""), 0);
    this.#ticket.release();
    this.#isGone = true;
    this.#resolveGone?.();
    this.#onGone();
  }
}

const BINARY = { binary: true } as const;

export function attachWs(
  ws: WsSocket,
  net: NetSocket,
  args: SessionFactory,
  clientAddress: string | null,
  ticket: Ticket,
  opts: LifecycleOptions,
): LiveSocket {
  const t = new WsTunnelSocket(ws, net, ticket, opts);
  // Every close goes through ws.close (ours, ws's own on a protocol error, the answer to the
  // peer's close frame): start the drain-and-discard phase and the timers there.
  (ws as { close: WsSocket["close"] }).close = (code?: number, reason?: string) =>
    t.wsClose(code, reason);

  // Small control frames (WINDOW_UPDATE, PONG) must not wait for Nagle + delayed ACK.
  try {
    net.setNoDelay(true);
  } catch { /* not a TCP socket */ }
  setWsMaxPayload(ws, MAX_CLIENT_HELLO_LEN);

  ws.on("message", (data, isBinary) => t.message(data, isBinary));
  ws.on("error", ignore); // ws closes the socket itself (e.g. 1009); the close event follows
  ws.on("close", (code, reason) => t.wsClosed(code, reason));
  // `on`, not `once` (the event fires once; once's wrapper objects stay with every idle socket).
  net.on("close", () => t.netClosed());

  t.driver.open(args, t, clientAddress);
  if (opts.initialHello) t.driver.receive(opts.initialHello);
  return t;
}

function ignore(): void {}
