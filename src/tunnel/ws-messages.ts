/**
 * The messages of a tunneled WebSocket (PROTOCOL.md §6.9): after the 200, each direction's DATA
 * bytes are `kind u8 | length u32 | payload`, text (UTF-8), binary or close, independent of
 * DATA frame boundaries. Both sides use this codec: the client's `channel.websocket()` and the
 * gateway's origin WebSocket relay.
 *
 * Bounds: a decoder holds at most one partial message, whose length it checks against
 * `maxMessage` at the header (5 bytes) before buffering any payload, so it never holds more
 * than 5 + max(maxMessage, 125) bytes plus the chunk being parsed.
 */

export const WS_KIND_TEXT = 0x01;
export const WS_KIND_BINARY = 0x02;
export const WS_KIND_CLOSE = 0x08;
/** kind + u32 length. */
export const WS_MESSAGE_HEADER_LEN = 5;
/** A close payload: u16 code + at most 123 reason bytes (RFC 6455 §5.5). */
export const WS_MAX_CLOSE_PAYLOAD = 125;
/** The reference gateway's max_ws_message (SESSION_INFO, §6.9): 1 MiB. */
export const DEFAULT_MAX_WS_MESSAGE = 1024 * 1024;

export type WsMessage =
  | { kind: "text"; data: string }
  | { kind: "binary"; data: Uint8Array }
  /** `code` null: an empty close payload (reported as 1005). */
  | { kind: "close"; code: number | null; reason: string };

/** The stream's message bytes broke §6.9: the receiver resets the stream with INTERNAL. */
export class WsMessageError extends Error {
  constructor(detail: string) {
    super(`pqgate: malformed WebSocket message stream (${detail})`);
    this.name = "WsMessageError";
  }
}

/**
 * Close codes an endpoint may send in a close frame (RFC 6455 §7.4: 1000-1003, 1007-1014
 * registered, 3000-4999 for libraries and applications); 1004-1006 and 1015 never travel.
 */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

const encoder = new TextEncoder();

/**
 * The longest prefix of `reason` within 123 UTF-8 bytes (a close frame's 125 less the code),
 * never splitting a character: what a platform's close() accepts.
 */
export function fitCloseReason(reason: string): string {
  if (reason.length <= 41) return reason; // ≤ 3 bytes per UTF-16 unit: 123 bytes at most
  let out = reason;
  while (encoder.encode(out).byteLength > WS_MAX_CLOSE_PAYLOAD - 2) {
    out = [...out].slice(0, -1).join("");
  }
  return out;
}
const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function header(kind: number, length: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(WS_MESSAGE_HEADER_LEN + length);
  b[0] = kind;
  new DataView(b.buffer).setUint32(1, length);
  return b;
}

/**
 * One message's bytes (header + payload). Text is encoded as UTF-8 (a lone surrogate becomes
 * U+FFFD, as a browser's WebSocket.send does); a payload over `maxMessage`, a close code that may
 * not be sent or a close reason over 123 bytes throws RangeError (the sender's mistake, caught
 * before anything is queued).
 */
export function encodeWsMessage(m: WsMessage, maxMessage: number): Uint8Array<ArrayBuffer> {
  if (m.kind === "close") {
    if (m.code === null) {
      if (m.reason !== "") throw new RangeError("a close reason needs a code");
      return header(WS_KIND_CLOSE, 0);
    }
    if (!isSendableCloseCode(m.code)) throw new RangeError(`close code ${m.code} is not sendable`);
    const reason = encoder.encode(m.reason);
    if (reason.length > WS_MAX_CLOSE_PAYLOAD - 2) {
      throw new RangeError("close reason over 123 bytes");
    }
    const b = header(WS_KIND_CLOSE, 2 + reason.length);
    new DataView(b.buffer).setUint16(WS_MESSAGE_HEADER_LEN, m.code);
    b.set(reason, WS_MESSAGE_HEADER_LEN + 2);
    return b;
  }
  const payload = m.kind === "text" ? encoder.encode(m.data) : m.data;
  if (payload.length > maxMessage) {
    throw new RangeError(`message of ${payload.length} bytes over max_ws_message ${maxMessage}`);
  }
  const b = header(m.kind === "text" ? WS_KIND_TEXT : WS_KIND_BINARY, payload.length);
  b.set(payload, WS_MESSAGE_HEADER_LEN);
  return b;
}

/**
 * Incremental decoder for one direction of a WebSocket stream. `push` each DATA payload in order
 * and `end()` at END_STREAM; both throw WsMessageError on anything §6.9 forbids. After the close
 * message no further byte is accepted.
 */
export class WsMessageDecoder {
  readonly #max: number;
  readonly #head = new Uint8Array(WS_MESSAGE_HEADER_LEN);
  #headLen = 0;
  #kind = 0;
  #payload: Uint8Array<ArrayBuffer> | null = null;
  #filled = 0;
  #closed = false;

  constructor(maxMessage: number) {
    if (!Number.isSafeInteger(maxMessage) || maxMessage < 0 || maxMessage > 0xffffffff) {
      throw new RangeError("maxMessage must be a u32");
    }
    this.#max = maxMessage;
  }

  /** True once the close message was decoded. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes held for the partial message (header and payload so far). */
  get buffered(): number {
    return this.#headLen + this.#filled;
  }

  push(chunk: Uint8Array): WsMessage[] {
    const out: WsMessage[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#closed) throw new WsMessageError("bytes after the close message");
      if (this.#payload === null) {
        const take = Math.min(WS_MESSAGE_HEADER_LEN - this.#headLen, chunk.length - i);
        this.#head.set(chunk.subarray(i, i + take), this.#headLen);
        this.#headLen += take;
        i += take;
        if (this.#headLen < WS_MESSAGE_HEADER_LEN) break;
        this.#kind = this.#head[0];
        const length = new DataView(this.#head.buffer).getUint32(1);
        this.#checkHeader(this.#kind, length);
        this.#payload = new Uint8Array(length);
        this.#filled = 0;
      }
      const take = Math.min(this.#payload.length - this.#filled, chunk.length - i);
      this.#payload.set(chunk.subarray(i, i + take), this.#filled);
      this.#filled += take;
      i += take;
      if (this.#filled === this.#payload.length) out.push(this.#finish());
    }
    return out;
  }

  /** END_STREAM: legal only right after the close message. */
  end(): void {
    if (!this.#closed) {
      throw new WsMessageError(
        this.buffered > 0 ? "END_STREAM inside a message" : "END_STREAM without a close message",
      );
    }
  }

  #checkHeader(kind: number, length: number): void {
    if (kind === WS_KIND_CLOSE) {
      if (length === 1 || length > WS_MAX_CLOSE_PAYLOAD) {
        throw new WsMessageError("close payload length");
      }
    } else if (kind === WS_KIND_TEXT || kind === WS_KIND_BINARY) {
      if (length > this.#max) throw new WsMessageError("message over max_ws_message");
    } else {
      throw new WsMessageError(`unknown kind 0x${kind.toString(16).padStart(2, "0")}`);
    }
  }

  #finish(): WsMessage {
    const payload = this.#payload!;
    const kind = this.#kind;
    this.#payload = null;
    this.#headLen = 0;
    this.#filled = 0;
    if (kind === WS_KIND_BINARY) return { kind: "binary", data: payload };
    if (kind === WS_KIND_TEXT) return { kind: "text", data: decodeUtf8(payload, "text") };
    this.#closed = true;
    if (payload.length === 0) return { kind: "close", code: null, reason: "" };
    const code = (payload[0] << 8) | payload[1];
    if (!isSendableCloseCode(code)) throw new WsMessageError(`close code ${code}`);
    return { kind: "close", code, reason: decodeUtf8(payload.subarray(2), "close reason") };
  }
}

function decodeUtf8(b: Uint8Array, what: string): string {
  try {
    return fatalDecoder.decode(b);
  } catch {
    throw new WsMessageError(`${what} is not UTF-8`);
  }
}
