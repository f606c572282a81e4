/**
 * The persisted state of an established gateway session (hibernation, PROTOCOL.md §5.5): the
 * record layer snapshot (§5.6: tx reservation, rx high-water mark, epochs, secrets) plus what
 * the session needs to keep enforcing its rules after a restore: the stream ids (§6) and the
 * idle clock (SESSION_INFO `idle_timeout_ms`, §6.3), so a restored session keeps the idle
 * deadline it had instead of starting a new one at every wake.
 *
 * Versioned and validated on read. Layout of version 3 (integers big-endian; `n` = record
 * length, `p` = KEY_ID_LEN (8) when pinned else 0, `a` = the auth block's length; the offsets
 * are `sessionSnapshotLayout`'s):
 *
 *   offset          size  field
 *   0               1     version = 0x03
 *   1               2     n
 *   3               n     record: the record-layer snapshot (PROTOCOL.md §5.6, 198 bytes)
 *   3+n             1     key flag (0 anonymous, 1 pinned)
 *   4+n             p     key id (pinned only)
 *   4+n+p           4     highest stream id
 *   8+n+p           8     last receive (ms)
 *   16+n+p          8     idle PING sent at (ms; 0 = none outstanding, else ≥ last receive)
 *   24+n+p          a     auth block (client authentication, docs/client-auth.md), below
 *   24+n+p+a        2     k, open streams
 *   26+n+p+a        4×k   stream ids
 *
 * The auth block: `u8 announced` (0 none, 1 password, 2 token, 3 psk) | `u8 flags` (bit 0: the
 * first record must still start with AUTH; bit 1: a verification was running) | `u8 identity`
 * (0 none, 1 present), and with an identity: `u8 method` (1 password, 2 token, 3 psk) |
 * `u8 subject_len` (1..255) | subject (UTF-8) | `u8 issuer_len` (0 = none) | issuer |
 * `u8 has_expiry` (0/1) | `u64 expires_at` (ms, present only when has_expiry = 1). At most
 * 3 + 1 + 256 + 256 + 9 = 525 bytes.
 *
 * Version 2 (read only) has no auth block (no client authentication: those gateways did not
 * know the extensions); version 1 (read only) also lacks the two u64 clocks, so its idle clock
 * is unknown and the restored session starts it at the wake (once: the next persist writes
 * version 3). Any other version, or trailing or missing bytes → PqgateError("internal_error").
 *
 * Size: 227 bytes (235 pinned) without an identity, plus the identity (at most 522 bytes) and
 * 4 per open stream (at most MAX_SNAPSHOT_STREAMS): at most 1,781 bytes, under the 1,888 bytes
 * a Durable Object attachment leaves for it (cloudflare/attachment.ts).
 */
import { type Bytes, Reader, utf8Decode, utf8Encode } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { KEY_ID_LEN } from "../protocol/constants.ts";
import type { AuthState } from "./server-auth.ts";
import type { AuthMethod, ClientIdentity } from "./types.ts";

export const SESSION_SNAPSHOT_VERSION = 0x03;
/** The layout before client authentication (no auth block): still decoded, never written. */
export const SESSION_SNAPSHOT_VERSION_2 = 0x02;
/** The layout before the idle clock: still decoded, never written. */
export const SESSION_SNAPSHOT_VERSION_1 = 0x01;
/** Auth block: announced / identity method byte values. */
const AUTH_METHOD_CODES: Record<AuthMethod, number> = { password: 1, token: 2, psk: 3 };
const AUTH_METHOD_NAMES: (AuthMethod | null)[] = [null, "password", "token", "psk"];
const AUTH_FLAG_EXPECT_FIRST = 1;
const AUTH_FLAG_PENDING = 2;
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
  auth: number;
  streamCount: number;
  streams: number;
  length: number;
}

/**
 * The version-3 layout for a record of `recordLength` bytes, a key id of `keyIdLength` bytes
 * (KEY_ID_LEN when pinned, 0 when anonymous), `streams` open stream ids and an auth block of
 * `authLength` bytes (3 without an identity).
 */
export function sessionSnapshotLayout(
  recordLength: number,
  keyIdLength: number,
  streams: number,
  authLength = 3,
): SessionSnapshotLayout {
  const keyFlag = SNAPSHOT_RECORD_OFFSET + recordLength;
  const keyId = keyFlag + SNAPSHOT_KEY_FLAG_LEN;
  const highestStream = keyId + keyIdLength;
  const lastRx = highestStream + SNAPSHOT_HIGHEST_STREAM_LEN;
  const pingSent = lastRx + SNAPSHOT_CLOCK_LEN;
  const auth = pingSent + SNAPSHOT_CLOCK_LEN;
  const streamCount = auth + authLength;
  const streamIds = streamCount + SNAPSHOT_STREAM_COUNT_LEN;
  const length = streamIds + streams * SNAPSHOT_STREAM_ID_LEN;
  return {
    record: SNAPSHOT_RECORD_OFFSET,
    keyFlag,
    keyId,
    highestStream,
    lastRx,
    pingSent,
    auth,
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
  /** Client authentication state (absent: none, as in a version-2 snapshot). */
  auth?: AuthState;
}

/**
 * A decoded snapshot: `idle` is null for a version-1 snapshot (written before it existed);
 * `auth` is the no-authentication state for versions 1 and 2.
 */
export type DecodedSessionSnapshot = Omit<SessionSnapshot, "idle" | "auth"> & {
  idle: IdleClock | null;
  auth: AuthState;
};

const NO_AUTH: AuthState = { announced: null, expectFirst: false, pending: false, identity: null };

/** The auth block (see the layout above). */
function encodeAuthBlock(a: AuthState | undefined): Bytes {
  const st = a ?? NO_AUTH;
  const out: number[] = [
    st.announced ? AUTH_METHOD_CODES[st.announced] : 0,
    (st.expectFirst ? AUTH_FLAG_EXPECT_FIRST : 0) | (st.pending ? AUTH_FLAG_PENDING : 0),
    st.identity ? 1 : 0,
  ];
  const id = st.identity;
  if (id) {
    const subject = utf8Encode(id.subject);
    const issuer = id.issuer === undefined ? new Uint8Array(0) : utf8Encode(id.issuer);
    if (subject.length < 1 || subject.length > 255 || issuer.length > 255) {
      throw new PqgateError("internal_error", "session snapshot identity too long");
    }
    out.push(AUTH_METHOD_CODES[id.method], subject.length, ...subject, issuer.length, ...issuer);
    if (id.expiresAt === undefined) out.push(0);
    else {
      const v = ms(id.expiresAt);
      out.push(1, ...[7, 6, 5, 4, 3, 2, 1, 0].map((i) => Math.floor(v / 2 ** (8 * i)) % 256));
    }
  }
  return new Uint8Array(out);
}

function decodeAuthBlock(r: Reader): AuthState {
  const announced = AUTH_METHOD_NAMES[r.u8("auth announced")];
  if (announced === undefined) throw new PqgateError("internal_error", "session snapshot auth");
  const flags = r.u8("auth flags");
  if (flags > (AUTH_FLAG_EXPECT_FIRST | AUTH_FLAG_PENDING)) {
    throw new PqgateError("internal_error", "session snapshot auth flags");
  }
  const has = r.u8("identity flag");
  if (has > 1) throw new PqgateError("internal_error", "session snapshot identity flag");
  let identity: ClientIdentity | null = null;
  if (has) {
    const method = AUTH_METHOD_NAMES[r.u8("identity method")];
    const n = r.u8("subject length");
    const subject = n > 0 ? utf8Decode(r.bytes(n, "subject")) : null;
    const ilen = r.u8("issuer length");
    const issuer = ilen > 0 ? utf8Decode(r.bytes(ilen, "issuer")) : undefined;
    const hasExpiry = r.u8("expiry flag");
    if (!method || subject === null || issuer === null || hasExpiry > 1) {
      throw new PqgateError("internal_error", "session snapshot identity");
    }
    identity = { method, subject };
    if (issuer !== undefined) identity.issuer = issuer;
    if (hasExpiry) identity.expiresAt = r.u64("expires at");
  }
  return {
    announced,
    expectFirst: (flags & AUTH_FLAG_EXPECT_FIRST) !== 0,
    pending: (flags & AUTH_FLAG_PENDING) !== 0,
    identity,
  };
}

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
  const auth = encodeAuthBlock(s.auth);
  const at = sessionSnapshotLayout(
    s.record.length,
    s.keyId ? s.keyId.length : 0,
    open.length,
    auth.length,
  );
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
  out.set(auth, at.auth);
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
    if (
      version !== SESSION_SNAPSHOT_VERSION && version !== SESSION_SNAPSHOT_VERSION_2 &&
      version !== SESSION_SNAPSHOT_VERSION_1
    ) {
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
    if (version !== SESSION_SNAPSHOT_VERSION_1) {
      const lastRxAt = r.u64("last receive");
      const ping = r.u64("ping sent");
      if (ping !== SNAPSHOT_NO_PING && ping < lastRxAt) {
        throw new PqgateError("internal_error", "session snapshot ping time");
      }
      idle = { lastRxAt, pingSentAt: ping === SNAPSHOT_NO_PING ? null : ping };
    }
    const auth = version === SESSION_SNAPSHOT_VERSION ? decodeAuthBlock(r) : { ...NO_AUTH };
    const n = r.u16("open streams");
    if (n > MAX_SNAPSHOT_STREAMS) {
      throw new PqgateError("internal_error", "session snapshot streams");
    }
    const openStreams: number[] = [];
    for (let i = 0; i < n; i++) openStreams.push(r.u32("stream id"));
    r.end("session snapshot");
    return { record, keyId, highestStreamId, openStreams, idle, auth };
  } catch (e) {
    if (e instanceof PqgateError && e.code === "internal_error") throw e;
    throw new PqgateError("internal_error", "malformed session snapshot");
  }
}
