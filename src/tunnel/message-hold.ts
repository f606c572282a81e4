/**
 * Holding messages during a KEM's async step, for either side of a session (handshake, §3, §7).
 *
 * A KEM backend may do its work asynchronously (native WebCrypto ML-KEM) before the synchronous
 * handshake core asks for it: the gateway prepares on the ClientHello (`prepareServer`), the
 * client on the ServerHello (`prepareServerHello`). While that step runs, later messages are held
 * and then replayed in order, so the core sees every message in arrival order, and preparing
 * never changes what the core decides (it only makes the result ready sooner).
 */
import { PqgateError } from "../protocol/errors.ts";

/** One WebSocket message as a transport hands it over. */
export type WireMessage = Uint8Array | ArrayBuffer | string;

/** A binary message as bytes (no copy for a Uint8Array). */
export function asBytes(message: Uint8Array | ArrayBuffer): Uint8Array {
  return message instanceof Uint8Array ? message : new Uint8Array(message);
}

/** The bytes of a message the core processes; a text message is a protocol_error (§1). */
export function binaryMessage(message: WireMessage): Uint8Array {
  if (typeof message === "string") throw new PqgateError("protocol_error", "text message");
  return asBytes(message);
}

/** The async step a session may run on its first message of `type`. */
export interface PrepareStep {
  type: number;
  prepare: (msg: Uint8Array) => Promise<void>;
}

/** Wipes whatever a KEM prepared and did not use; best effort, never throws. */
export function discardPrepared(kem: { discard?: () => void } | null | undefined): void {
  try {
    kem?.discard?.();
  } catch { /* best effort */ }
}

export interface MessageHoldOptions {
  /** Processes one message synchronously (the session's core; never throws). */
  receiveNow: (message: WireMessage) => void;
  /** The async step starts with this message (the session updates its receive clock). */
  onStart: () => void;
  /** The async step's message went through the core: wipe what it prepared and did not use. */
  discard: () => void;
  /** Messages held at most; the next one calls `onOverflow` instead. Default: no bound. */
  maxHeld?: number;
  onOverflow?: () => void;
}

/** Runs one async prepare step on the first message of a type, holding later messages. */
export class MessageHold {
  readonly #o: MessageHoldOptions;
  #held: WireMessage[] | null = null;
  #tried = false;

  constructor(opts: MessageHoldOptions) {
    this.#o = opts;
  }

  /**
   * Hands one message on: held while the async step runs, else through `step` when it is the
   * step's message (the Promise, that never rejects, covers it and what is held meanwhile),
   * else straight to the core.
   */
  receive(message: WireMessage, step: PrepareStep | null): void | Promise<void> {
    if (this.#hold(message)) return;
    const prepared = step ? this.#tryPrepare(message, step) : null;
    if (prepared) return prepared;
    this.#o.receiveNow(message);
  }

  /** True when `message` was taken (held, or refused past `maxHeld`): the caller stops there. */
  #hold(message: WireMessage): boolean {
    const held = this.#held;
    if (!held) return false;
    if (this.#o.maxHeld !== undefined && held.length >= this.#o.maxHeld) {
      this.#o.onOverflow?.();
      return true;
    }
    held.push(message);
    return true;
  }

  /**
   * Once per session: when the first binary message handed here with a step starts with the
   * step's type, runs its `prepare` on it and returns a Promise for the message and everything
   * held meanwhile; otherwise null, and the message goes straight to the core.
   */
  #tryPrepare(message: WireMessage, step: PrepareStep): Promise<void> | null {
    if (this.#tried || typeof message === "string") return null;
    this.#tried = true;
    const msg = asBytes(message);
    return msg[0] === step.type ? this.#prepareThenReceive(step.prepare, msg) : null;
  }

  /** Drops whatever is held (the session closed). */
  clear(): void {
    this.#held = null;
  }

  async #prepareThenReceive(
    prepare: (msg: Uint8Array) => Promise<void>,
    msg: Uint8Array,
  ): Promise<void> {
    const held: WireMessage[] = [];
    this.#held = held;
    this.#o.onStart();
    try {
      await prepare(msg);
    } catch { /* nothing prepared: the sync core computes everything */ }
    this.#held = null;
    this.#o.receiveNow(msg);
    // Wipe whatever was prepared and not consumed (a failed or timed-out handshake).
    this.#o.discard();
    for (const m of held) this.#o.receiveNow(m);
  }
}
