/**
 * The persisted state of an established gateway session (hibernation, design §3): the record
 * layer snapshot (§5.5: tx reservation, rx high-water mark, epochs, secrets) plus what the
 * session needs to keep enforcing the stream rules after a restore. Versioned and validated on
 * read; about 230 bytes plus 4 per open stream (at most MAX_SNAPSHOT_STREAMS), well under the
 * 2 KiB a Durable Object attachment should stay within.
 */
import { type Bytes, concat, Reader, u16, u32 } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { KEY_ID_LEN } from "../protocol/constants.ts";

export const SESSION_SNAPSHOT_VERSION = 0x01;
/** Open stream ids recorded at most (the rest are lost silently on a restore). */
export const MAX_SNAPSHOT_STREAMS = 256;

export interface SessionSnapshot {
  /** RecordLayer.snapshot() / reserve() output. */
  record: Uint8Array;
  /** Static key id of a pinned session, null when anonymous. */
  keyId: Bytes | null;
  /** Highest stream id the client opened. */
  highestStreamId: number;
  /** Streams open when the snapshot was taken: reset after a restore. */
  openStreams: number[];
}

export function encodeSessionSnapshot(s: SessionSnapshot): Bytes {
  const open = s.openStreams.slice(0, MAX_SNAPSHOT_STREAMS);
  return concat(
    new Uint8Array([SESSION_SNAPSHOT_VERSION]),
    u16(s.record.length),
    s.record,
    new Uint8Array([s.keyId ? 1 : 0]),
    s.keyId ?? new Uint8Array(0),
    u32(s.highestStreamId),
    u16(open.length),
    ...open.map(u32),
  );
}

/** Decodes a snapshot; anything malformed → PqgateError("internal_error"). */
export function decodeSessionSnapshot(b: Uint8Array): SessionSnapshot {
  try {
    const r = new Reader(b);
    if (r.u8("version") !== SESSION_SNAPSHOT_VERSION) {
      throw new PqgateError("internal_error", "session snapshot version");
    }
    const record = r.bytes(r.u16("record length"), "record");
    const hasKey = r.u8("key flag");
    if (hasKey > 1) throw new PqgateError("internal_error", "session snapshot key flag");
    const keyId = hasKey ? r.bytes(KEY_ID_LEN, "key id") : null;
    const highestStreamId = r.u32("highest stream");
    const n = r.u16("open streams");
    const openStreams: number[] = [];
    for (let i = 0; i < n; i++) openStreams.push(r.u32("stream id"));
    r.end("session snapshot");
    return { record, keyId, highestStreamId, openStreams };
  } catch (e) {
    if (e instanceof PqgateError && e.code === "internal_error") throw e;
    throw new PqgateError("internal_error", "malformed session snapshot");
  }
}
