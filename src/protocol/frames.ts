/**
 * §6 Frames carried inside record plaintexts, and the §6.3 SESSION_INFO payload.
 *
 * Every frame: `type u8 | flags u8 | stream_id u32 | length u16 | payload[length]`.
 * `decodeFrames` is strict (§6.1): any violation throws PqgateError("protocol_error") and
 * nothing else. Stream-state rules (§6.2: ids, half-close, windows) belong to the session,
 * not to this codec. Encoding an invalid frame is a local bug → PqgateError("internal_error").
 */
import {
  FLAG_END_STREAM,
  FRAME_AUTH,
  FRAME_AUTH_RESULT,
  FRAME_CLOSE,
  FRAME_DATA,
  FRAME_HEADER_LEN,
  FRAME_HEADERS,
  FRAME_KEY_UPDATE,
  FRAME_PADDING,
  FRAME_PING,
  FRAME_PONG,
  FRAME_RESET_STREAM,
  FRAME_SESSION_INFO,
  FRAME_WINDOW_UPDATE,
  INITIAL_STREAM_WINDOW,
  MAX_CLOSE_REASON,
  MAX_PLAINTEXT,
  MAX_WINDOW,
  PING_LEN,
  SESSION_INFO_LEN,
  SESSION_INFO_LEN_1_0,
  SESSION_INFO_LEN_1_4,
} from "./constants.ts";
import { type Bytes, concat, Reader, u16, u32, u64, utf8Decode, utf8Encode } from "./bytes.ts";
import { PqgateError } from "./errors.ts";
import {
  type AuthPayload,
  authPayloadLength,
  type AuthResultPayload,
  decodeAuthPayload,
  decodeAuthResultPayload,
  encodeAuthPayload,
  encodeAuthResultPayload,
} from "./client-auth.ts";

/** §6.5 Stream error codes carried in RESET_STREAM. */
export const STREAM_CANCEL = 0;
export const STREAM_REFUSED = 1;
export const STREAM_INTERNAL = 2;
export const STREAM_FLOW_CONTROL = 3;
export const STREAM_TOO_LARGE = 4;
export const STREAM_ERROR_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [STREAM_CANCEL]: "CANCEL",
  [STREAM_REFUSED]: "REFUSED",
  [STREAM_INTERNAL]: "INTERNAL",
  [STREAM_FLOW_CONTROL]: "FLOW_CONTROL",
  [STREAM_TOO_LARGE]: "TOO_LARGE",
});

/** Largest frame payload that fits one record (16384 - 8 = 16376). */
export const MAX_FRAME_PAYLOAD = MAX_PLAINTEXT - FRAME_HEADER_LEN;
/** Largest CLOSE payload: u16 code + 123 reason bytes. */
const MAX_CLOSE_PAYLOAD = 2 + MAX_CLOSE_REASON;
const MAX_U32 = 0xffffffff;

/** §6.3 SESSION_INFO payload (44 bytes on the wire; 40 from a 1.0 gateway). */
export interface SessionInfo {
  maxStreams: number; // u32
  maxHeaderBytes: number; // u32
  maxBodyBytes: number; // u64 (0 = no limit), at most 2^53-1
  idleTimeoutMs: number; // u32
  sessionLifetimeS: number; // u32
  sessionId: Uint8Array; // 16 bytes
  /**
   * u32: the largest send window the gateway allows a client to grant on one stream (§6.2);
   * a WINDOW_UPDATE past it → limit_exceeded. A 1.0 payload (40 bytes) has none: 2^31-1.
   */
  maxWindow: number;
  /**
   * u32 at offset 44 (1.4, §6.9): the largest tunneled WebSocket message; 0 = no WebSocket
   * streams. Encoded (48 bytes) only when set; absent (read as 0) from a 40- or 44-byte payload.
   */
  maxWsMessage?: number;
}

/**
 * §6.1 The codes a CLOSE frame may carry: normal (1000), going away (1001), and the pqgate range
 * 4000-4999 (4000-4014 defined in §9). Anything else could not be reported as a WebSocket close.
 */
export function isCloseFrameCode(code: number): boolean {
  return code === 1000 || code === 1001 || (code >= 4000 && code <= 4999);
}

export type Frame =
  | { type: "padding"; length: number }
  | { type: "ping"; data: Uint8Array }
  | { type: "pong"; data: Uint8Array }
  | { type: "session_info"; info: SessionInfo }
  | { type: "headers"; stream: number; endStream: boolean; payload: Uint8Array }
  | { type: "data"; stream: number; endStream: boolean; payload: Uint8Array }
  | { type: "reset_stream"; stream: number; errorCode: number }
  | { type: "window_update"; stream: number; increment: number }
  | { type: "key_update"; updateRequested: boolean }
  | { type: "close"; code: number; reason: string }
  | { type: "auth"; auth: AuthPayload }
  | { type: "auth_result"; result: AuthResultPayload };

export type FrameType = Frame["type"];

// ---------------------------------------------------------------------------------------
// SESSION_INFO (§6.3)

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_U32;
}

export function encodeSessionInfo(info: SessionInfo): Bytes {
  if (
    !isU32(info.maxStreams) || !isU32(info.maxHeaderBytes) || !isU32(info.idleTimeoutMs) ||
    !isU32(info.sessionLifetimeS) || !Number.isSafeInteger(info.maxBodyBytes) ||
    info.maxBodyBytes < 0 || !Number.isInteger(info.maxWindow) ||
    info.maxWindow < INITIAL_STREAM_WINDOW || info.maxWindow > MAX_WINDOW ||
    info.maxStreams === 0 || info.sessionLifetimeS > 86_400 ||
    (info.maxWsMessage !== undefined && !isU32(info.maxWsMessage))
  ) {
    throw new PqgateError("internal_error", "session_info field out of range");
  }
  if (!(info.sessionId instanceof Uint8Array) || info.sessionId.length !== 16) {
    throw new PqgateError("internal_error", "session_info session_id must be 16 bytes");
  }
  return concat(
    u32(info.maxStreams),
    u32(info.maxHeaderBytes),
    u64(info.maxBodyBytes),
    u32(info.idleTimeoutMs),
    u32(info.sessionLifetimeS),
    info.sessionId,
    u32(info.maxWindow),
    info.maxWsMessage === undefined ? new Uint8Array(0) : u32(info.maxWsMessage),
  );
}

/**
 * Decodes a SESSION_INFO payload (§6.3): 44 bytes, or 40 from a 1.0 gateway (max_window is then
 * 2^31-1), or 48 with max_ws_message (1.4, §6.9; absent from shorter ones); bytes beyond are fields of a
 * later revision and ignored. Any other length, a
 * max_window outside 65,536..2^31-1, max_streams 0 or session_lifetime_s over 86,400 →
 * protocol_error.
 */
export function decodeSessionInfo(payload: Uint8Array): SessionInfo {
  if (payload.length !== SESSION_INFO_LEN_1_0 && payload.length < SESSION_INFO_LEN) {
    throw new PqgateError("protocol_error", "session_info length");
  }
  const r = new Reader(payload);
  const info: SessionInfo = {
    maxStreams: r.u32("max_streams"),
    maxHeaderBytes: r.u32("max_header_bytes"),
    maxBodyBytes: r.u64("max_body_bytes"),
    idleTimeoutMs: r.u32("idle_timeout_ms"),
    sessionLifetimeS: r.u32("session_lifetime_s"),
    sessionId: r.bytes(16, "session_id"),
    maxWindow: payload.length === SESSION_INFO_LEN_1_0 ? MAX_WINDOW : r.u32("max_window"),
  };
  if (payload.length >= SESSION_INFO_LEN_1_4) info.maxWsMessage = r.u32("max_ws_message");
  if (info.maxWindow < INITIAL_STREAM_WINDOW || info.maxWindow > MAX_WINDOW) {
    throw new PqgateError("protocol_error", "session_info max_window out of range");
  }
  // No stream could ever open (every request would wait forever), or a lifetime no client
  // accepts (§5.4): a broken gateway, refused at once rather than discovered later.
  if (info.maxStreams === 0) {
    throw new PqgateError("protocol_error", "session_info max_streams is 0");
  }
  if (info.sessionLifetimeS > 86_400) {
    throw new PqgateError("protocol_error", "session_info session_lifetime_s over 86,400");
  }
  return info;
}

// ---------------------------------------------------------------------------------------
// Encoding

function bad(detail: string): never {
  throw new PqgateError("internal_error", `encodeFrame: ${detail}`);
}

function checkStream(stream: number, nonZero: boolean): void {
  if (!isU32(stream)) bad("stream id out of range");
  if (nonZero && stream === 0) bad("stream id must not be 0");
}

function header(type: number, flags: number, stream: number, payloadLen: number): Bytes {
  if (payloadLen > MAX_FRAME_PAYLOAD) bad("payload does not fit a record");
  const h = new Uint8Array(FRAME_HEADER_LEN);
  h[0] = type;
  h[1] = flags;
  h.set(u32(stream), 2);
  h.set(u16(payloadLen), 6);
  return h;
}

function withPayload(type: number, flags: number, stream: number, payload: Uint8Array): Bytes {
  return concat(header(type, flags, stream, payload.length), payload);
}

/** Encodes one frame. Invalid frames → PqgateError("internal_error"). */
export function encodeFrame(f: Frame): Bytes {
  switch (f.type) {
    case "padding":
      if (!Number.isInteger(f.length) || f.length < 0) bad("padding length");
      return concat(header(FRAME_PADDING, 0, 0, f.length), new Uint8Array(f.length));
    case "ping":
    case "pong":
      if (!(f.data instanceof Uint8Array) || f.data.length !== PING_LEN) bad("ping data length");
      return withPayload(f.type === "ping" ? FRAME_PING : FRAME_PONG, 0, 0, f.data);
    case "session_info":
      return withPayload(FRAME_SESSION_INFO, 0, 0, encodeSessionInfo(f.info));
    case "headers":
    case "data":
      checkStream(f.stream, true);
      if (!(f.payload instanceof Uint8Array)) bad("payload");
      if (f.type === "data" && f.payload.length === 0 && !f.endStream) {
        bad("empty DATA without END_STREAM");
      }
      return withPayload(
        f.type === "headers" ? FRAME_HEADERS : FRAME_DATA,
        f.endStream ? FLAG_END_STREAM : 0,
        f.stream,
        f.payload,
      );
    case "reset_stream":
      checkStream(f.stream, true);
      if (!isU32(f.errorCode)) bad("error code out of range");
      return withPayload(FRAME_RESET_STREAM, 0, f.stream, u32(f.errorCode));
    case "window_update":
      checkStream(f.stream, false);
      if (!Number.isInteger(f.increment) || f.increment < 1 || f.increment > MAX_WINDOW) {
        bad("window increment out of range");
      }
      return withPayload(FRAME_WINDOW_UPDATE, 0, f.stream, u32(f.increment));
    case "key_update":
      return withPayload(FRAME_KEY_UPDATE, 0, 0, new Uint8Array([f.updateRequested ? 1 : 0]));
    case "close": {
      if (!Number.isInteger(f.code) || !isCloseFrameCode(f.code)) bad("close code");
      let reason: Bytes;
      try {
        reason = utf8Encode(f.reason);
      } catch {
        bad("close reason is not valid UTF-16");
      }
      if (reason.length > MAX_CLOSE_REASON) bad("close reason too long");
      return withPayload(FRAME_CLOSE, 0, 0, concat(u16(f.code), reason));
    }
    case "auth":
      return withPayload(FRAME_AUTH, 0, 0, encodeAuthPayload(f.auth));
    case "auth_result":
      return withPayload(FRAME_AUTH_RESULT, 0, 0, encodeAuthResultPayload(f.result));
    default:
      return bad("unknown frame type");
  }
}

/**
 * Encodes several frames into one plaintext. Checks the record-level rules too: the result
 * is 1..MAX_PLAINTEXT bytes, KEY_UPDATE is last, SESSION_INFO is first.
 */
/**
 * Encoded size of a frame (header + payload) without encoding it: what a sender counts against
 * its queue bounds. CLOSE is counted at its largest (125-byte payload).
 */
export function frameLength(f: Frame): number {
  switch (f.type) {
    case "padding":
      return FRAME_HEADER_LEN + f.length;
    case "ping":
    case "pong":
      return FRAME_HEADER_LEN + PING_LEN;
    case "session_info":
      return FRAME_HEADER_LEN + SESSION_INFO_LEN + (f.info.maxWsMessage === undefined ? 0 : 4);
    case "headers":
    case "data":
      return FRAME_HEADER_LEN + f.payload.length;
    case "reset_stream":
    case "window_update":
      return FRAME_HEADER_LEN + 4;
    case "key_update":
      return FRAME_HEADER_LEN + 1;
    case "close":
      return FRAME_HEADER_LEN + MAX_CLOSE_PAYLOAD;
    case "auth":
      return FRAME_HEADER_LEN + authPayloadLength(f.auth);
    case "auth_result":
      return FRAME_HEADER_LEN + 6 + 4 * (f.result.subject?.length ?? 0); // UTF-16 → ≤ 4 bytes each
  }
}

export function encodeFrames(frames: readonly Frame[]): Bytes {
  if (frames.length === 0) bad("no frames");
  frames.forEach((f, i) => {
    if (f.type === "key_update" && i !== frames.length - 1) bad("KEY_UPDATE must be last");
    if (f.type === "session_info" && i !== 0) bad("SESSION_INFO must be first");
  });
  const out = concat(...frames.map(encodeFrame));
  if (out.length > MAX_PLAINTEXT) bad("frames exceed one record");
  return out;
}

/**
 * Packs frames, in order, into as few record plaintexts (each ≤ `max` bytes) as possible.
 * A KEY_UPDATE ends its record (§5.3); a SESSION_INFO starts a new one.
 */
export function packFrames(frames: readonly Frame[], max: number = MAX_PLAINTEXT): Bytes[] {
  if (!Number.isInteger(max) || max < FRAME_HEADER_LEN || max > MAX_PLAINTEXT) bad("max");
  const out: Bytes[] = [];
  let cur: Bytes[] = [];
  let curLen = 0;
  const flush = () => {
    if (cur.length) out.push(concat(...cur));
    cur = [];
    curLen = 0;
  };
  for (const f of frames) {
    const enc = encodeFrame(f);
    if (enc.length > max) bad("frame larger than a record");
    if (curLen + enc.length > max || f.type === "session_info") flush();
    cur.push(enc);
    curLen += enc.length;
    if (f.type === "key_update") flush();
  }
  flush();
  return out;
}

/**
 * Splits a body chunk into DATA frames whose payloads are at most `maxPayload` bytes
 * (default MAX_FRAME_PAYLOAD, so each frame fits one record). END_STREAM, if requested,
 * goes on the last frame only. An empty chunk gives one empty DATA with END_STREAM, or no
 * frame at all without it.
 */
export function dataFrames(
  stream: number,
  body: Uint8Array,
  endStream: boolean,
  maxPayload: number = MAX_FRAME_PAYLOAD,
): Frame[] {
  checkStream(stream, true);
  if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > MAX_FRAME_PAYLOAD) {
    bad("maxPayload out of range");
  }
  const out: Frame[] = [];
  for (let off = 0; off < body.length; off += maxPayload) {
    const end = Math.min(off + maxPayload, body.length);
    out.push({
      type: "data",
      stream,
      endStream: endStream && end === body.length,
      payload: body.subarray(off, end),
    });
  }
  if (body.length === 0 && endStream) {
    out.push({ type: "data", stream, endStream: true, payload: new Uint8Array(0) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Decoding (§6.1)

function reject(detail: string): never {
  throw new PqgateError("protocol_error", detail);
}

/**
 * Decodes a record plaintext into its frames (one or more, filling it exactly). Strict per
 * §6.1; any violation → PqgateError("protocol_error"). Returned payloads are copies.
 */
export function decodeFrames(plaintext: Uint8Array): Frame[] {
  if (plaintext.length === 0) reject("empty plaintext");
  const r = new Reader(plaintext);
  const frames: Frame[] = [];
  while (r.remaining > 0) {
    if (frames.length > 0 && frames[frames.length - 1].type === "key_update") {
      reject("KEY_UPDATE is not the last frame");
    }
    const type = r.u8("frame type");
    const flags = r.u8("frame flags");
    const stream = r.u32("frame stream");
    const length = r.u16("frame length");
    const payload = r.bytes(length, "frame payload");
    const noFlags = () => {
      if (flags !== 0) reject("undefined frame flag");
    };
    const stream0 = () => {
      if (stream !== 0) reject("frame must be on stream 0");
    };
    const streamN = () => {
      if (stream === 0) reject("frame must not be on stream 0");
    };
    const size = (n: number) => {
      if (length !== n) reject("bad frame payload size");
    };
    switch (type) {
      case FRAME_PADDING:
        noFlags();
        stream0();
        for (const b of payload) if (b !== 0) reject("non-zero padding");
        frames.push({ type: "padding", length });
        break;
      case FRAME_PING:
      case FRAME_PONG:
        noFlags();
        stream0();
        size(PING_LEN);
        frames.push({ type: type === FRAME_PING ? "ping" : "pong", data: payload });
        break;
      case FRAME_SESSION_INFO:
        noFlags();
        stream0();
        if (length !== SESSION_INFO_LEN_1_0 && length < SESSION_INFO_LEN) {
          reject("bad frame payload size");
        }
        if (frames.length !== 0) reject("SESSION_INFO is not the first frame");
        frames.push({ type: "session_info", info: decodeSessionInfo(payload) });
        break;
      case FRAME_HEADERS:
      case FRAME_DATA:
        if ((flags & ~FLAG_END_STREAM) !== 0) reject("undefined frame flag");
        streamN();
        if (type === FRAME_DATA && length === 0 && (flags & FLAG_END_STREAM) === 0) {
          reject("empty DATA without END_STREAM");
        }
        frames.push({
          type: type === FRAME_HEADERS ? "headers" : "data",
          stream,
          endStream: (flags & FLAG_END_STREAM) !== 0,
          payload,
        });
        break;
      case FRAME_RESET_STREAM:
        noFlags();
        streamN();
        size(4);
        frames.push({ type: "reset_stream", stream, errorCode: new Reader(payload).u32() });
        break;
      case FRAME_WINDOW_UPDATE: {
        noFlags();
        size(4);
        const increment = new Reader(payload).u32();
        if (increment < 1 || increment > MAX_WINDOW) reject("window increment out of range");
        frames.push({ type: "window_update", stream, increment });
        break;
      }
      case FRAME_KEY_UPDATE:
        noFlags();
        stream0();
        size(1);
        if (payload[0] > 1) reject("bad update_requested");
        frames.push({ type: "key_update", updateRequested: payload[0] === 1 });
        break;
      case FRAME_CLOSE: {
        noFlags();
        stream0();
        if (length < 2 || length > MAX_CLOSE_PAYLOAD) reject("bad CLOSE payload size");
        const code = (payload[0] << 8) | payload[1];
        if (!isCloseFrameCode(code)) reject("CLOSE code outside 1000, 1001, 4000-4999");
        const reason = utf8Decode(payload.subarray(2));
        if (reason === null) reject("CLOSE reason is not valid UTF-8");
        frames.push({ type: "close", code, reason });
        break;
      }
      case FRAME_AUTH: // §6.7: client → gateway, stream 0
        noFlags();
        stream0();
        frames.push({ type: "auth", auth: decodeAuthPayload(payload) });
        break;
      case FRAME_AUTH_RESULT: // §6.8: gateway → client, stream 0
        noFlags();
        stream0();
        frames.push({ type: "auth_result", result: decodeAuthResultPayload(payload) });
        break;
      default:
        reject("unknown frame type");
    }
  }
  return frames;
}
