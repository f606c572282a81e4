/**
 * The persisted state of an established gateway session (hibernation, PROTOCOL.md §5.5): the
 * record layer snapshot (§5.6: tx reservation, rx high-water mark, epochs, secrets) plus what
 * the session needs to keep enforcing its rules after a restore: the stream ids (§6) and the
 * idle clock (SESSION_INFO `idle_timeout_ms`, §6.3), so a restored session keeps the idle
 * deadline it had instead of starting a new one at every wake.
 *
 * Versioned and validated on read. Layout (integers big-endian):
 *   version 2: u8 0x02 | u16 n, record[n] | u8 key flag (0/1), key id[8] if 1 |
 *              u32 highest stream id | u64 last receive (ms) | u64 idle PING sent at (ms, 0 =
 *              none outstanding; else ≥ last receive) | u16 k, u32 stream id × k
 *   version 1 (read only): the same without the two u64; its idle clock is unknown, so the
 *              restored session starts it at the wake (once: the next persist writes version 2).
 * Any other version, or trailing or missing bytes → PqgateError("internal_error").
 *
 * Size: 224 bytes (232 pinned) plus 4 per open stream (at most MAX_SNAPSHOT_STREAMS: 1,256 bytes),
 * under the 1,888 bytes a Durable Object attachment leaves for it (cloudflare/attachment.ts).
 */
import { type Bytes, concat, Reader, u16, u32, u64 } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { KEY_ID_LEN } from "../protocol/constants.ts";

export const SESSION_SNAPSHOT_VERSION = 0x02;
/** The previous layout (no idle clock): still decoded, never written. */
export const SESSION_SNAPSHOT_VERSION_1 = 0x01;
/** Open stream ids recorded at most (the rest are lost silently on a restore). */
export const MAX_SNAPSHOT_STREAMS = 256;

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
  // 0 encodes "no PING outstanding"; a PING is never sent before the last receive.
  const ping = s.idle.pingSentAt === null ? 0 : Math.max(1, lastRx, ms(s.idle.pingSentAt));
  return concat(
    new Uint8Array([SESSION_SNAPSHOT_VERSION]),
    u16(s.record.length),
    s.record,
    new Uint8Array([s.keyId ? 1 : 0]),
    s.keyId ?? new Uint8Array(0),
    u32(s.highestStreamId),
    u64(lastRx),
    u64(ping),
    u16(open.length),
    ...open.map(u32),
  );
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
    if (hasKey > 1) throw new PqgateError("internal_error", "session snapshot key flag");
    const keyId = hasKey ? r.bytes(KEY_ID_LEN, "key id") : null;
    const highestStreamId = r.u32("highest stream");
    let idle: IdleClock | null = null;
    if (version === SESSION_SNAPSHOT_VERSION) {
      const lastRxAt = r.u64("last receive");
      const ping = r.u64("ping sent");
      if (ping !== 0 && ping < lastRxAt) throw new PqgateError("internal_error", "session snapshot ping time");
      idle = { lastRxAt, pingSentAt: ping === 0 ? null : ping };
    }
    const n = r.u16("open streams");
    if (n > MAX_SNAPSHOT_STREAMS) throw new PqgateError("internal_error", "session snapshot streams");
    const openStreams: number[] = [];
    for (let i = 0; i < n; i++) openStreams.push(r.u32("stream id"));
    r.end("session snapshot");
    return { record, keyId, highestStreamId, openStreams, idle };
  } catch (e) {
    if (e instanceof PqgateError && e.code === "internal_error") throw e;
    throw new PqgateError("internal_error", "malformed session snapshot");
  }
}
