/**
 * An in-memory WebSocket pair for tests: what one end sends arrives at the other
 * asynchronously (on a later macrotask), in order, with `bufferedAmount` counting the bytes
 * sent but not yet delivered. A `transform` hook lets tests drop, alter or duplicate messages.
 */
import type { Bytes } from "../protocol/bytes.ts";
import type { Socket } from "./types.ts";

export interface MemorySocketOptions {
  /** Delay of each delivery tick (default 0: next macrotask). */
  latencyMs?: number;
  /** Most bytes delivered per tick per direction (default: everything queued). */
  bytesPerTick?: number;
}

export class MemorySocket implements Socket {
  peer!: MemorySocket;
  onmessage: ((data: Uint8Array | string) => void) | null = null;
  onclose: ((code: number, reason: string) => void) | null = null;
  /** Rewrites each outgoing message: return [] to drop, several to duplicate. */
  transform: ((data: Bytes) => (Bytes | string)[]) | null = null;
  /** Close code and reason once closed (by either end). */
  closed: { code: number; reason: string } | null = null;
  /** Messages and bytes sent by this end. */
  messagesSent = 0;
  bytesSent = 0;
  /** Highest bufferedAmount seen. */
  maxBuffered = 0;
  /** Every message sent by this end, when `record` is true (for replay tests). */
  record = false;
  readonly log: Bytes[] = [];
  #queue: (Bytes | string)[] = [];
  #buffered = 0;
  #scheduled = false;
  #closing: { code: number; reason: string } | null = null;

  constructor(private readonly opts: MemorySocketOptions = {}) {}

  get bufferedAmount(): number {
    return this.#buffered;
  }

  send(bytes: Uint8Array<ArrayBuffer> | string): void {
    if (this.closed || this.#closing) return;
    const copy = typeof bytes === "string" ? bytes : bytes.slice();
    if (this.record && typeof copy !== "string") this.log.push(copy);
    this.messagesSent++;
    const out = typeof copy !== "string" && this.transform ? this.transform(copy) : [copy];
    for (const m of out) {
      const n = typeof m === "string" ? m.length : m.length;
      this.bytesSent += n;
      this.#buffered += n;
      this.#queue.push(m);
    }
    if (this.#buffered > this.maxBuffered) this.maxBuffered = this.#buffered;
    this.#schedule();
  }

  /** Injects a message as if this end had sent it (bypasses `transform`). */
  inject(m: Bytes | string): void {
    if (this.closed) return;
    this.#queue.push(m);
    this.#buffered += m.length;
    this.#schedule();
  }

  close(code = 1000, reason = ""): void {
    if (this.closed || this.#closing) return;
    this.#closing = { code, reason };
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.#deliver(), this.opts.latencyMs ?? 0);
  }

  #deliver(): void {
    this.#scheduled = false;
    let budget = this.opts.bytesPerTick ?? Infinity;
    while (this.#queue.length > 0 && budget > 0) {
      const m = this.#queue.shift()!;
      this.#buffered -= m.length;
      budget -= m.length;
      if (this.peer.closed) continue;
      try {
        this.peer.onmessage?.(m);
      } catch (e) {
        // A session must never throw out of receive(); surface it loudly in tests.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    if (this.#queue.length > 0) {
      this.#schedule();
      return;
    }
    const c = this.#closing;
    if (c && !this.closed) {
      this.closed = c;
      if (!this.peer.closed) this.peer.closed = c;
      this.peer.onclose?.(c.code, c.reason);
      this.onclose?.(c.code, c.reason);
    }
  }
}

/** Two connected sockets: [client end, server end]. */
export function memorySocketPair(opts: MemorySocketOptions = {}): [MemorySocket, MemorySocket] {
  const a = new MemorySocket(opts);
  const b = new MemorySocket(opts);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
