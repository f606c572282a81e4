/**
 * The persisted state of an established gateway session (hibernation, PROTOCOL.md §5.5): the
 * record layer snapshot (§5.6: tx reservation, rx high-water mark, epochs, secrets) plus what
 * the session needs to keep enforcing its rules after a restore: the stream ids (§6) and the
 * idle clock (SESSION_INFO `idle_timeout_ms`, §6.3), so a restored session keeps the idle
 * deadline it had instead of starting a new one at every wake.
 *
 * Versioned and validated on read. Layout of version 2 (integers big-endian; `n` = record
 * length, `p` = KEY_ID_LEN (8) when pinned else 0; the offsets are `sessionSnapshotLayout`'s):
 *
 *   offset          size  field
 *   0               1     version = 0x02
 *   1               2     n
 *   3               n     record: the record-layer snapshot (PROTOCOL.md §5.6, 198 bytes)
 *   3+n             1     key flag (0 anonymous, 1 pinned)
 *   4+n             p     key id (pinned only)
 *   4+n+p           4     highest stream id
 *   8+n+p           8     last receive (ms)
 *   16+n+p          8     idle PING sent at (ms; 0 = none outstanding, else ≥ last receive)
 *   24+n+p          2     k, open streams
 *   26+n+p          4×k   stream ids
 *
 * Version 1 (read only) is the same without the two u64 clocks; its idle clock is unknown, so
 * the restored session starts it at the wake (once: the next persist writes version 2).
 * Any other version, or trailing or missing bytes → PqgateError("internal_error").
 *
 * Size: 224 bytes (232 pinned) plus 4 per open stream (at most MAX_SNAPSHOT_STREAMS: 1,256 bytes),
 * under the 1,888 bytes a Durable Object attachment leaves for it (cloudflare/attachment.ts).
 */
import { type Bytes, Reader } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { KEY_ID_LEN } from "../protocol/constants.ts";

export const SESSION_SNAPSHOT_VERSION = 0x02;
/** The previous layout (no idle clock): still decoded, never written. */
export const SESSION_SNAPSHOT_VERSION_1 = 0x01;
/** Open stream ids recorded at most (the rest are lost silently on a restore). */
export const MAX_SNAPSHOT_STREAMS = 256;

/** Field sizes (bytes). */
export const SNAPSHOT_VERSION_LEN = 1;
export const SNAPSHOT_RECORD_LENGTH_LEN = 2;
export const SNAPSHOT_KEY_FLAG_LEN = 1;
export const SNAPSHOT_HIGHEST_STREAM_LEN = 4;
/** Each of the two idle-clock fields (version 2). */
export const SNAPSHOT_CLOCK_LEN = 8;
export const SNAPSHOT_STREAM_COUNT_LEN = 2;
export const SNAPSHOT_STREAM_ID_LEN = 4;

/** Offsets of the fields before the record (the same in every version). */
export const SNAPSHOT_VERSION_OFFSET = 0;
export const SNAPSHOT_RECORD_LENGTH_OFFSET = SNAPSHOT_VERSION_OFFSET + SNAPSHOT_VERSION_LEN;
export const SNAPSHOT_RECORD_OFFSET = SNAPSHOT_RECORD_LENGTH_OFFSET + SNAPSHOT_RECORD_LENGTH_LEN;

/** Key flag values. */
export const SNAPSHOT_KEY_ANONYMOUS = 0;
export const SNAPSHOT_KEY_PINNED = 1;
/** The "idle PING sent at" value when none is outstanding. */
export const SNAPSHOT_NO_PING = 0;

/** Where each field of a version-2 snapshot starts, and its total length. */
export interface SessionSnapshotLayout {
  record: number;
  keyFlag: number;
  keyId: number;
  highestStream: number;
  lastRx: number;
  pingSent: number;
  streamCount: number;
  streams: number;
  length: number;
}

/**
 * The version-2 layout for a record of `recordLength` bytes, a key id of `keyIdLength` bytes
 * (KEY_ID_LEN when pinned, 0 when anonymous) and `streams` open stream ids.
 */
export function sessionSnapshotLayout(
  recordLength: number,
  keyIdLength: number,
  streams: number,
): SessionSnapshotLayout {
  const keyFlag = SNAPSHOT_RECORD_OFFSET + recordLength;
  const keyId = keyFlag + SNAPSHOT_KEY_FLAG_LEN;
  const highestStream = keyId + keyIdLength;
  const lastRx = highestStream + SNAPSHOT_HIGHEST_STREAM_LEN;
  const pingSent = lastRx + SNAPSHOT_CLOCK_LEN;
  const streamCount = pingSent + SNAPSHOT_CLOCK_LEN;
  const streamIds = streamCount + SNAPSHOT_STREAM_COUNT_LEN;
  const length = streamIds + streams * SNAPSHOT_STREAM_ID_LEN;
  return {
    record: SNAPSHOT_RECORD_OFFSET,
    keyFlag,
    keyId,
    highestStream,
    lastRx,
    pingSent,
    streamCount,
    streams: streamIds,
    length,
  };
}

/** The idle clock of an established session (ms on the session's `env.now()` clock). */
export interface IdleClock {
  /** When the last message was received. */
  lastRxAt: number;
  /** When the idle PING was sent, or null when none is outstanding. */
  pingSentAt: number | null;
}

export interface SessionSnapshot {
  /** RecordLayer.snapshot() / reserve() output. */
  record: Uint8Array;
  /** Static key id of a pinned session, null when anonymous. */
  keyId: Bytes | null;
  /** Highest stream id the client opened. */
  highestStreamId: number;
  /** Streams open when the snapshot was taken: reset after a restore. */
  openStreams: number[];
  idle: IdleClock;
}

/** A decoded snapshot: `idle` is null for a version-1 snapshot (written before it existed). */
export type DecodedSessionSnapshot = Omit<SessionSnapshot, "idle"> & { idle: IdleClock | null };

/** A clock value as a u64 of whole ms (a fractional or negative clock is clamped, not thrown). */
function ms(t: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(t)));
}

export function encodeSessionSnapshot(s: SessionSnapshot): Bytes {
  const open = s.openStreams.slice(0, MAX_SNAPSHOT_STREAMS);
  const lastRx = ms(s.idle.lastRxAt);
  // SNAPSHOT_NO_PING encodes "no PING outstanding"; a PING is never sent before the last receive.
  const ping = s.idle.pingSentAt === null
    ? SNAPSHOT_NO_PING
    : Math.max(1, lastRx, ms(s.idle.pingSentAt));
  const at = sessionSnapshotLayout(s.record.length, s.keyId ? s.keyId.length : 0, open.length);
  const out = new Uint8Array(at.length);
  const dv = new DataView(out.buffer);
  out[SNAPSHOT_VERSION_OFFSET] = SESSION_SNAPSHOT_VERSION;
  dv.setUint16(SNAPSHOT_RECORD_LENGTH_OFFSET, s.record.length);
  out.set(s.record, at.record);
  out[at.keyFlag] = s.keyId ? SNAPSHOT_KEY_PINNED : SNAPSHOT_KEY_ANONYMOUS;
  if (s.keyId) out.set(s.keyId, at.keyId);
  dv.setUint32(at.highestStream, s.highestStreamId);
  setU64(dv, at.lastRx, lastRx);
  setU64(dv, at.pingSent, ping);
  dv.setUint16(at.streamCount, open.length);
  open.forEach((id, i) => dv.setUint32(at.streams + i * SNAPSHOT_STREAM_ID_LEN, id));
  return out;
}

/** A u64 from a non-negative safe integer (the clocks are clamped to one by `ms`). */
function setU64(dv: DataView, offset: number, v: number): void {
  dv.setUint32(offset, Math.floor(v / 2 ** 32));
  dv.setUint32(offset + 4, v >>> 0);
}

/** Decodes a snapshot; anything malformed or of an unknown version → PqgateError("internal_error"). */
export function decodeSessionSnapshot(b: Uint8Array): DecodedSessionSnapshot {
  try {
    const r = new Reader(b);
    const version = r.u8("version");
    if (version !== SESSION_SNAPSHOT_VERSION && version !== SESSION_SNAPSHOT_VERSION_1) {
      throw new PqgateError("internal_error", "session snapshot version");
    }
    const record = r.bytes(r.u16("record length"), "record");
    const hasKey = r.u8("key flag");
    if (hasKey > SNAPSHOT_KEY_PINNED) {
      throw new PqgateError("internal_error", "session snapshot key flag");
    }
    const keyId = hasKey ? r.bytes(KEY_ID_LEN, "key id") : null;
    const highestStreamId = r.u32("highest stream");
    let idle: IdleClock | null = null;
    if (version === SESSION_SNAPSHOT_VERSION) {
      const lastRxAt = r.u64("last receive");
      const ping = r.u64("ping sent");
      if (ping !== SNAPSHOT_NO_PING && ping < lastRxAt) {
        throw new PqgateError("internal_error", "session snapshot ping time");
      }
      idle = { lastRxAt, pingSentAt: ping === SNAPSHOT_NO_PING ? null : ping };
    }
    const n = r.u16("open streams");
    if (n > MAX_SNAPSHOT_STREAMS) {
      throw new PqgateError("internal_error", "session snapshot streams");
    }
    const openStreams: number[] = [];
    for (let i = 0; i < n; i++) openStreams.push(r.u32("stream id"));
    r.end("session snapshot");
    return { record, keyId, highestStreamId, openStreams, idle };
  } catch (e) {
    if (e instanceof PqgateError && e.code === "internal_error") throw e;
    throw new PqgateError("internal_error", "malformed session snapshot");
  }
}
