/**
 * §5 Record layer: seals and opens Record messages, enforces sequence numbers, epochs,
 * key-usage limits and session lifetime, performs KeyUpdate (§4.4, §5.3), and persists its
 * state as a small versioned snapshot with sequence reservation (§5.5, §5.6).
 *
 * Pure: time is passed in as `now` (milliseconds); no I/O, no clock, no randomness.
 *
 * Error codes (all PqgateError):
 * - `protocol_error`: record shorter than 27 / longer than 16,410 bytes, or type byte ≠ 0x04.
 * - `sequence_error`: wrong epoch, or seq not greater than the highest accepted in this epoch.
 * - `record_auth_failed`: the tag did not verify.
 * - `rehandshake_required`: a hard limit (records or bytes per epoch, epoch 255, session
 *   lifetime) would be crossed, on sending or on receiving.
 * - `internal_error`: local misuse (plaintext size, sealing past a reservation, bad snapshot).
 *
 * After `open` throws once, the receive direction stays failed (every later `open` throws the
 * same code): the caller must close the channel. `seal` keeps working so that the caller can
 * still send an authenticated CLOSE frame.
 */
import {
  AEAD_IV_LEN,
  AEAD_KEY_LEN,
  AEAD_TAG_LEN,
  HARD_BYTES_PER_EPOCH,
  HARD_RECORDS_PER_EPOCH,
  MAX_EPOCH,
  MAX_PLAINTEXT,
  MAX_RECORD_LEN,
  MSG_RECORD,
  RECORD_HEADER_LEN,
  SESSION_LIFETIME_MS,
  SOFT_BYTES_PER_EPOCH,
  SOFT_EPOCH_AGE_MS,
  SOFT_RECORDS_PER_EPOCH,
  type SuiteId,
  SUITES,
} from "./constants.ts";
import { type Bytes, concat } from "./bytes.ts";
import { type ErrorCode, PqgateError } from "./errors.ts";
import type { Aead, Role, SessionKeys } from "./types.ts";
import { aeadForSuite } from "./aead.ts";
import { nextTrafficSecret, trafficKeys } from "./traffic-keys.ts";

/** §5.4 Key-usage limits. Tests lower them to reach them cheaply. */
export interface RecordLimits {
  /** Soft: `txNeedsUpdate` turns true once this many seq values were used in the epoch. */
  softRecordsPerEpoch: number;
  /** Soft: plaintext bytes sealed in the epoch. */
  softBytesPerEpoch: number;
  /** Soft: age of the tx epoch in ms. */
  softEpochAgeMs: number;
  /** Hard: no record with `seq ≥ this` is sealed or accepted (rehandshake_required). */
  hardRecordsPerEpoch: number;
  /** Hard: plaintext bytes per epoch and direction (rehandshake_required). */
  hardBytesPerEpoch: number;
  /** Highest epoch (≤ 255). Updating beyond it → rehandshake_required. */
  maxEpoch: number;
  /** Session lifetime in ms from creation (rehandshake_required after it). */
  sessionLifetimeMs: number;
}

export const DEFAULT_RECORD_LIMITS: Readonly<RecordLimits> = Object.freeze({
  softRecordsPerEpoch: SOFT_RECORDS_PER_EPOCH,
  softBytesPerEpoch: SOFT_BYTES_PER_EPOCH,
  softEpochAgeMs: SOFT_EPOCH_AGE_MS,
  hardRecordsPerEpoch: HARD_RECORDS_PER_EPOCH,
  hardBytesPerEpoch: HARD_BYTES_PER_EPOCH,
  maxEpoch: MAX_EPOCH,
  sessionLifetimeMs: SESSION_LIFETIME_MS,
});

export interface RecordLayerOptions {
  role: Role;
  keys: SessionKeys;
  /** Creation time of the session (ms); the session lifetime counts from it. */
  now: number;
  limits?: Partial<RecordLimits>;
  /** AEAD backend per suite (default: noble, `aeadForSuite`). */
  aead?: (suite: SuiteId) => Aead;
  /** Start in reservation mode (§5.5): `seal` refuses until `reserve` was called. */
  reservation?: boolean;
}

export interface RestoreOptions {
  aead?: (suite: SuiteId) => Aead;
  limits?: Partial<RecordLimits>;
}

/** §5.6 Snapshot format version and size. */
export const SNAPSHOT_VERSION = 0x01;
export const SNAPSHOT_LEN = 198;

/** Byte offsets of the snapshot's fields (PROTOCOL.md §5.6; the table there is the source). */
export const SNAPSHOT_OFFSETS = {
  version: 0, // 1
  role: 1, // 1
  suite: 2, // 2
  createdAt: 4, // 8
  sessionId: 12, // 16
  exporterSecret: 28, // 32
  transcriptHash: 60, // 32
  txEpoch: 92, // 1
  txSecret: 93, // 32
  txNextSeq: 125, // 8
  txBytes: 133, // 8
  txEpochStart: 141, // 8
  rxEpoch: 149, // 1
  rxSecret: 150, // 32
  rxNextSeq: 182, // 8
  rxBytes: 190, // 8
} as const;
const S = SNAPSHOT_OFFSETS;
const SECRET_LEN = 32;
const SESSION_ID_LEN = 16;

const MIN_RECORD_LEN = RECORD_HEADER_LEN + 1 + AEAD_TAG_LEN; // 27
const TWO32 = 2 ** 32;

interface Direction {
  epoch: number;
  /** The epoch's traffic secret, AEAD key and iv, in this order in one buffer (epochKeys). */
  keys: Bytes;
  /** tx: next seq to use. rx: lowest seq acceptable (highest accepted + 1). */
  seq: number;
  /** Plaintext bytes in this epoch (tx: an upper bound after a restore). */
  bytes: number;
  /** tx only: time the epoch started (ms). */
  epochStart: number;
}

function fail(code: ErrorCode, detail: string): never {
  throw new PqgateError(code, detail);
}

function checkLimits(l: RecordLimits): void {
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 1) fail("internal_error", `limit ${k} out of range`);
  }
  if (l.maxEpoch > MAX_EPOCH) fail("internal_error", "limit maxEpoch above 255");
}

/** The last limits seen: every session of one gateway shares one frozen copy (issue 13). */
let lastLimits: Readonly<RecordLimits> | null = null;

/** Checks `l` and returns it frozen, or an equal frozen object checked before. */
function internLimits(l: RecordLimits): Readonly<RecordLimits> {
  const c = lastLimits;
  if (
    c && c.softRecordsPerEpoch === l.softRecordsPerEpoch &&
    c.softBytesPerEpoch === l.softBytesPerEpoch && c.softEpochAgeMs === l.softEpochAgeMs &&
    c.hardRecordsPerEpoch === l.hardRecordsPerEpoch &&
    c.hardBytesPerEpoch === l.hardBytesPerEpoch && c.maxEpoch === l.maxEpoch &&
    c.sessionLifetimeMs === l.sessionLifetimeMs && Object.keys(l).length === 7
  ) {
    return c;
  }
  checkLimits(l);
  lastLimits = Object.freeze(l);
  return lastLimits;
}

function checkLen(b: unknown, n: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== n) fail("internal_error", `${what} length`);
}

function checkTime(now: number): number {
  if (
    typeof now !== "number" || !Number.isFinite(now) || now < 0 || now > Number.MAX_SAFE_INTEGER
  ) {
    fail("internal_error", "now out of range");
  }
  return Math.floor(now);
}

const KEY_AT = SECRET_LEN;
const IV_AT = SECRET_LEN + AEAD_KEY_LEN;

/**
 * An epoch's secret, key and iv in ONE buffer, no views kept (issue 13: an idle session kept
 * ten small ArrayBuffers and eleven views, ~0.2 KB of bookkeeping each; a view per record costs
 * less than the AEAD call it feeds). Zeroizable as before: `fill(0)` wipes all three. The
 * derived temporaries are wiped here.
 */
function epochKeys(secret: Uint8Array): Bytes {
  const { key, iv } = trafficKeys(secret);
  if (key.length !== AEAD_KEY_LEN || iv.length !== AEAD_IV_LEN) {
    fail("internal_error", "traffic key length");
  }
  const buf = new Uint8Array(IV_AT + AEAD_IV_LEN);
  buf.set(secret.subarray(0, SECRET_LEN), 0);
  buf.set(key, KEY_AT);
  buf.set(iv, IV_AT);
  key.fill(0);
  iv.fill(0);
  return buf;
}

const secretOf = (d: Direction): Bytes => d.keys.subarray(0, SECRET_LEN);
const keyOf = (d: Direction): Bytes => d.keys.subarray(KEY_AT, IV_AT);

function newDirection(secret: Uint8Array, now: number): Direction {
  return { epoch: 0, keys: epochKeys(secret), seq: 0, bytes: 0, epochStart: now };
}

/** §5.1 nonce = iv XOR (0x00000000 || u64 seq); the iv is the tail of `d.keys`. */
function nonceFor(d: Direction, seq: number): Bytes {
  const n = d.keys.slice(IV_AT, IV_AT + AEAD_IV_LEN);
  const hi = Math.floor(seq / TWO32);
  const lo = seq >>> 0;
  n[4] ^= hi >>> 24;
  n[5] ^= (hi >>> 16) & 0xff;
  n[6] ^= (hi >>> 8) & 0xff;
  n[7] ^= hi & 0xff;
  n[8] ^= lo >>> 24;
  n[9] ^= (lo >>> 16) & 0xff;
  n[10] ^= (lo >>> 8) & 0xff;
  n[11] ^= lo & 0xff;
  return n;
}

function recordHeader(epoch: number, seq: number): Bytes {
  const h = new Uint8Array(RECORD_HEADER_LEN);
  h[0] = MSG_RECORD;
  h[1] = epoch;
  const dv = new DataView(h.buffer);
  dv.setUint32(2, Math.floor(seq / TWO32));
  dv.setUint32(6, seq >>> 0);
  return h;
}

function toBytes(b: Uint8Array): Bytes {
  return b.buffer instanceof ArrayBuffer ? (b as Bytes) : Uint8Array.from(b);
}

export class RecordLayer {
  readonly role: Role;
  readonly suite: SuiteId;
  readonly limits: Readonly<RecordLimits>;
  /** Session creation time (ms). */
  readonly createdAt: number;
  readonly sessionId: Bytes;
  /** exporterSecret || transcriptHash (the getters below are views of it). */
  readonly #exp: Bytes;
  readonly aead: Aead;

  #tx: Direction;
  #rx: Direction;
  #lastNow: number;
  /** null = reservation mode off. Otherwise the first seq NOT covered by the reservation. */
  #reservedUntil: number | null;
  /** Set once `open` failed: the receive direction is dead. */
  #rxFailed: ErrorCode | null = null;
  /** Epochs as of the last snapshot() / reserve() (for `needsPersist`). */
  #persistedEpochs: [number, number] | null = null;

  constructor(opts: RecordLayerOptions) {
    const { role, keys } = opts;
    if (role !== "client" && role !== "server") fail("internal_error", "role");
    if (!keys || !(SUITES as readonly number[]).includes(keys.suite)) {
      fail("internal_error", "unknown suite");
    }
    checkLen(keys.clientSecret, 32, "clientSecret");
    checkLen(keys.serverSecret, 32, "serverSecret");
    checkLen(keys.exporterSecret, 32, "exporterSecret");
    checkLen(keys.sessionId, 16, "sessionId");
    checkLen(keys.transcriptHash, 32, "transcriptHash");
    const limits = internLimits({ ...DEFAULT_RECORD_LIMITS, ...(opts.limits ?? {}) });
    const now = checkTime(opts.now);

    this.role = role;
    this.suite = keys.suite;
    this.limits = limits;
    this.createdAt = now;
    this.#lastNow = now;
    // The sessionId is public (SESSION_INFO) and keeps a buffer of its own: no secret shares a
    // buffer with a value handed out. exporterSecret and transcriptHash share one (epochKeys).
    this.sessionId = Uint8Array.from(keys.sessionId);
    this.#exp = new Uint8Array(2 * SECRET_LEN);
    this.#exp.set(keys.exporterSecret, 0);
    this.#exp.set(keys.transcriptHash, SECRET_LEN);
    this.aead = (opts.aead ?? aeadForSuite)(keys.suite);
    const c = newDirection(keys.clientSecret, now);
    const s = newDirection(keys.serverSecret, now);
    this.#tx = role === "client" ? c : s;
    this.#rx = role === "client" ? s : c;
    this.#reservedUntil = opts.reservation ? 0 : null;
  }

  // ---- state getters -------------------------------------------------------------------

  /** The exporter secret (a view: writes, e.g. a wipe, reach the layer's copy). */
  get exporterSecret(): Bytes {
    return this.#exp.subarray(0, SECRET_LEN);
  }
  /** th2 (a view, as exporterSecret). */
  get transcriptHash(): Bytes {
    return this.#exp.subarray(SECRET_LEN);
  }

  get txEpoch(): number {
    return this.#tx.epoch;
  }
  get rxEpoch(): number {
    return this.#rx.epoch;
  }
  /** The seq the next sealed record will carry. */
  get txSeq(): number {
    return this.#tx.seq;
  }
  /** The lowest seq the next received record may carry (highest accepted + 1). */
  get rxSeq(): number {
    return this.#rx.seq;
  }
  /** Plaintext bytes sealed in the current tx epoch (an upper bound after a restore). */
  get txBytes(): number {
    return this.#tx.bytes;
  }
  get rxBytes(): number {
    return this.#rx.bytes;
  }
  /** Time (ms) the current tx epoch started. */
  get txEpochStart(): number {
    return this.#tx.epochStart;
  }
  /** Time (ms) after which the session must rehandshake. */
  get expiresAt(): number {
    return this.createdAt + this.limits.sessionLifetimeMs;
  }
  get reservationMode(): boolean {
    return this.#reservedUntil !== null;
  }
  /** First seq not covered by the current reservation, or null outside reservation mode. */
  get txReservedUntil(): number | null {
    return this.#reservedUntil;
  }
  /** The error that failed the receive direction, if any. */
  get rxFailed(): ErrorCode | null {
    return this.#rxFailed;
  }

  // ---- sealing -------------------------------------------------------------------------

  /** Seals one record (1..16384 bytes of plaintext); returns the whole Record message. */
  seal(plaintext: Uint8Array, now: number): Bytes {
    const t = this.#tick(now);
    if (
      !(plaintext instanceof Uint8Array) || plaintext.length < 1 || plaintext.length > MAX_PLAINTEXT
    ) {
      fail("internal_error", "plaintext must be 1..16384 bytes");
    }
    this.#checkLifetime(t);
    const tx = this.#tx;
    if (tx.seq >= this.limits.hardRecordsPerEpoch) {
      fail("rehandshake_required", "record limit of the epoch reached");
    }
    if (tx.bytes + plaintext.length > this.limits.hardBytesPerEpoch) {
      fail("rehandshake_required", "byte limit of the epoch reached");
    }
    if (this.#reservedUntil !== null && tx.seq >= this.#reservedUntil) {
      fail("internal_error", "sequence reservation exhausted: reserve() and persist first");
    }
    const header = recordHeader(tx.epoch, tx.seq);
    // The nonce is spent once the AEAD ran, even if its output is then refused.
    tx.seq += 1;
    tx.bytes += plaintext.length;
    const ct = this.aead.seal(keyOf(tx), nonceFor(tx, tx.seq - 1), header, plaintext);
    if (ct.length !== plaintext.length + AEAD_TAG_LEN) fail("internal_error", "AEAD output size");
    return concat(header, ct);
  }

  /** True once a soft limit (§5.4) of the tx epoch is reached: send KEY_UPDATE. */
  txNeedsUpdate(now: number): boolean {
    const t = checkTime(now);
    const tx = this.#tx, l = this.limits;
    return tx.seq >= l.softRecordsPerEpoch || tx.bytes >= l.softBytesPerEpoch ||
      t - tx.epochStart >= l.softEpochAgeMs;
  }

  /** False at the last epoch: the sender must close with rehandshake_required instead. */
  canUpdateTx(): boolean {
    return this.#tx.epoch < this.limits.maxEpoch;
  }

  /**
   * §5.3 Switch the send direction to epoch e+1. Call AFTER sealing the record that carries
   * the KEY_UPDATE frame. In reservation mode the new epoch has no reservation yet: the
   * caller must `reserve()` (and persist the snapshot) before sealing under it.
   */
  updateTx(now?: number): void {
    const t = now === undefined ? this.#lastNow : this.#tick(now);
    this.#tx = this.#advance(this.#tx, t);
    if (this.#reservedUntil !== null) this.#reservedUntil = 0;
  }

  /** §5.3 Switch the receive direction to epoch e+1 after a record with KEY_UPDATE. */
  updateRx(): void {
    if (this.#rxFailed) fail(this.#rxFailed, "receive direction failed");
    this.#rx = this.#advance(this.#rx, this.#lastNow);
  }

  #advance(d: Direction, now: number): Direction {
    if (d.epoch >= this.limits.maxEpoch) fail("rehandshake_required", "epoch limit reached");
    const secret = nextTrafficSecret(secretOf(d));
    const keys = epochKeys(secret);
    secret.fill(0);
    d.keys.fill(0);
    return { epoch: d.epoch + 1, keys, seq: 0, bytes: 0, epochStart: now };
  }

  // ---- opening -------------------------------------------------------------------------

  /** Opens one Record message; returns its plaintext. See the module comment for errors. */
  open(record: Uint8Array, now: number): Bytes {
    if (this.#rxFailed) fail(this.#rxFailed, "receive direction failed");
    try {
      return this.#open(record, now);
    } catch (e) {
      if (e instanceof PqgateError && e.code !== "internal_error") this.#rxFailed = e.code;
      throw e;
    }
  }

  #open(record: Uint8Array, now: number): Bytes {
    const t = this.#tick(now);
    if (!(record instanceof Uint8Array)) fail("protocol_error", "record is not bytes");
    if (record.length < MIN_RECORD_LEN || record.length > MAX_RECORD_LEN) {
      fail("protocol_error", "record length");
    }
    if (record[0] !== MSG_RECORD) fail("protocol_error", "not a record");
    this.#checkLifetime(t);
    const rx = this.#rx;
    if (record[1] !== rx.epoch) fail("sequence_error", "wrong epoch");
    const dv = new DataView(record.buffer, record.byteOffset, RECORD_HEADER_LEN);
    const hi = dv.getUint32(2), lo = dv.getUint32(6);
    // hi ≥ 2^21 means seq ≥ 2^53: above any hard limit, and not a safe integer.
    if (hi >= 0x200000 || hi * TWO32 + lo >= this.limits.hardRecordsPerEpoch) {
      fail("rehandshake_required", "record limit of the epoch reached");
    }
    const seq = hi * TWO32 + lo;
    if (seq < rx.seq) fail("sequence_error", "replayed or reordered record");
    const ptLen = record.length - RECORD_HEADER_LEN - AEAD_TAG_LEN;
    if (rx.bytes + ptLen > this.limits.hardBytesPerEpoch) {
      fail("rehandshake_required", "byte limit of the epoch reached");
    }
    const header = record.subarray(0, RECORD_HEADER_LEN);
    const pt = this.aead.open(
      keyOf(rx),
      nonceFor(rx, seq),
      header,
      record.subarray(RECORD_HEADER_LEN),
    );
    if (pt === null) fail("record_auth_failed", "record authentication failed");
    if (pt.length !== ptLen) fail("internal_error", "AEAD output size");
    rx.seq = seq + 1; // high-water mark moves only after the tag verified
    rx.bytes += ptLen;
    return toBytes(pt);
  }

  // ---- time ----------------------------------------------------------------------------

  #tick(now: number): number {
    const t = checkTime(now);
    if (t > this.#lastNow) this.#lastNow = t;
    return t;
  }

  #checkLifetime(now: number): void {
    if (now - this.createdAt >= this.limits.sessionLifetimeMs) {
      fail("rehandshake_required", "session lifetime reached");
    }
  }

  // ---- reservation and snapshots (§5.5, §5.6) ------------------------------------------

  /**
   * True in reservation mode when an epoch changed since the last snapshot: persist
   * `snapshot()` (or `reserve()`) now. A restore from a snapshot older than an rx KeyUpdate
   * would refuse every later peer record (sequence_error), and one older than a tx KeyUpdate
   * would send under the old epoch. (Persisting after received records also narrows the
   * replay window of a restore, §5.5.)
   */
  needsPersist(): boolean {
    const p = this.#persistedEpochs;
    if (this.#reservedUntil === null) return false;
    return p === null || p[0] !== this.#tx.epoch || p[1] !== this.#rx.epoch;
  }

  /** True in reservation mode when no reserved seq is left: `reserve()` and persist first. */
  needsReservation(): boolean {
    return this.#reservedUntil !== null && this.#tx.seq >= this.#reservedUntil;
  }

  /**
   * Enters reservation mode (if not yet) and reserves the next `n` tx seq values:
   * `txReservedUntil = txSeq + n` (capped at the hard record limit). Returns the snapshot to
   * persist BEFORE sealing any of them; its tx seq is `txReservedUntil`, so a restore
   * continues after anything that may have been sent.
   */
  reserve(n: number): Bytes {
    if (!Number.isSafeInteger(n) || n < 1) fail("internal_error", "reserve: n must be ≥ 1");
    this.#reservedUntil = Math.min(this.#tx.seq + n, this.limits.hardRecordsPerEpoch);
    if (this.#reservedUntil < this.#tx.seq) this.#reservedUntil = this.#tx.seq;
    return this.snapshot();
  }

  /**
   * The current state (tx reservation, rx high-water mark) as bytes (§5.6), without changing
   * the reservation. Only in reservation mode: a snapshot that does not reserve its tx seq
   * could make a restore reuse nonces.
   */
  snapshot(): Bytes {
    const until = this.#reservedUntil;
    if (until === null) fail("internal_error", "snapshot requires reservation mode (reserve())");
    const tx = this.#tx, rx = this.#rx;
    // Bytes that the reserved but unused seq values may still carry: an upper bound.
    const txBytes = tx.bytes + Math.max(0, until - tx.seq) * MAX_PLAINTEXT;
    this.#persistedEpochs = [tx.epoch, rx.epoch];
    const out = new Uint8Array(SNAPSHOT_LEN);
    const dv = new DataView(out.buffer);
    const u64 = (off: number, v: number) => {
      dv.setUint32(off, Math.floor(v / TWO32));
      dv.setUint32(off + 4, v >>> 0);
    };
    out[S.version] = SNAPSHOT_VERSION;
    out[S.role] = this.role === "client" ? 0 : 1;
    dv.setUint16(S.suite, this.suite);
    u64(S.createdAt, this.createdAt);
    out.set(this.sessionId, S.sessionId);
    out.set(this.exporterSecret, S.exporterSecret);
    out.set(this.transcriptHash, S.transcriptHash);
    out[S.txEpoch] = tx.epoch;
    out.set(secretOf(tx), S.txSecret);
    u64(S.txNextSeq, Math.max(until, tx.seq));
    u64(S.txBytes, txBytes);
    u64(S.txEpochStart, tx.epochStart);
    out[S.rxEpoch] = rx.epoch;
    out.set(secretOf(rx), S.rxSecret);
    u64(S.rxNextSeq, rx.seq);
    u64(S.rxBytes, rx.bytes);
    return out;
  }

  /**
   * Resumes from a snapshot (§5.6). The restored layer is in reservation mode with nothing
   * reserved: call `reserve()` and persist before sealing. A malformed snapshot →
   * PqgateError("internal_error").
   */
  static restore(snapshot: Uint8Array, opts: RestoreOptions = {}): RecordLayer {
    if (!(snapshot instanceof Uint8Array)) fail("internal_error", "snapshot is not bytes");
    if (snapshot.length < 1 || snapshot[S.version] !== SNAPSHOT_VERSION) {
      fail("internal_error", "snapshot version");
    }
    if (snapshot.length !== SNAPSHOT_LEN) fail("internal_error", "snapshot length");
    const dv = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.length);
    const u64 = (off: number, what: string): number => {
      const hi = dv.getUint32(off), lo = dv.getUint32(off + 4);
      if (hi >= 0x200000) fail("internal_error", `snapshot ${what} out of range`);
      return hi * TWO32 + lo;
    };
    const roleByte = snapshot[S.role];
    if (roleByte > 1) fail("internal_error", "snapshot role");
    const role: Role = roleByte === 0 ? "client" : "server";
    const suite = dv.getUint16(S.suite);
    if (!(SUITES as readonly number[]).includes(suite)) fail("internal_error", "snapshot suite");
    const createdAt = u64(S.createdAt, "created_at");
    const txEpoch = snapshot[S.txEpoch];
    const txSecret = snapshot.slice(S.txSecret, S.txSecret + SECRET_LEN);
    const txSeq = u64(S.txNextSeq, "tx seq");
    const txBytes = u64(S.txBytes, "tx bytes");
    const txEpochStart = u64(S.txEpochStart, "tx epoch start");
    const rxEpoch = snapshot[S.rxEpoch];
    const rxSecret = snapshot.slice(S.rxSecret, S.rxSecret + SECRET_LEN);
    const rxSeq = u64(S.rxNextSeq, "rx seq");
    const rxBytes = u64(S.rxBytes, "rx bytes");
    if (txEpochStart < createdAt) fail("internal_error", "snapshot tx epoch start");
    if (txEpoch > MAX_EPOCH || rxEpoch > MAX_EPOCH) fail("internal_error", "snapshot epoch");
    const keys: SessionKeys = {
      suite: suite as SuiteId,
      clientSecret: role === "client" ? txSecret : rxSecret,
      serverSecret: role === "client" ? rxSecret : txSecret,
      exporterSecret: snapshot.slice(S.exporterSecret, S.exporterSecret + SECRET_LEN),
      sessionId: snapshot.slice(S.sessionId, S.sessionId + SESSION_ID_LEN),
      transcriptHash: snapshot.slice(S.transcriptHash, S.transcriptHash + SECRET_LEN),
    };
    let layer: RecordLayer;
    try {
      layer = new RecordLayer({
        role,
        keys,
        now: createdAt,
        limits: opts.limits,
        aead: opts.aead,
        reservation: true,
      });
    } catch (e) {
      if (e instanceof PqgateError) throw e;
      fail("internal_error", "snapshot keys");
    }
    layer.#tx.epoch = txEpoch;
    layer.#tx.seq = txSeq;
    layer.#tx.bytes = txBytes;
    layer.#tx.epochStart = txEpochStart;
    layer.#rx.epoch = rxEpoch;
    layer.#rx.seq = rxSeq;
    layer.#rx.bytes = rxBytes;
    layer.#reservedUntil = txSeq; // nothing reserved yet: needsReservation() is true
    layer.#lastNow = Math.max(createdAt, txEpochStart);
    layer.#persistedEpochs = [txEpoch, rxEpoch];
    return layer;
  }
}
