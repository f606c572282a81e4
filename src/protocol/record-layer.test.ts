import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_RECORD_LIMITS,
  RecordLayer,
  type RecordLimits,
  SNAPSHOT_LEN,
  SNAPSHOT_VERSION,
} from "./record-layer.ts";
import { aeadForSuite } from "./aead.ts";
import { nextTrafficSecret, trafficKeys } from "./traffic-keys.ts";
import { decodeFrames, encodeFrames, type Frame } from "./frames.ts";
import {
  HARD_RECORDS_PER_EPOCH,
  MAX_PLAINTEXT,
  MAX_RECORD_LEN,
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
} from "./constants.ts";
import { toHex } from "./bytes.ts";
import { type ErrorCode, PqgateError } from "./errors.ts";
import type { Aead, SessionKeys } from "./types.ts";

// ---- helpers ---------------------------------------------------------------------------

const T0 = 1_700_000_000_000;
const SUITE_LIST = [SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305] as const;

function fill(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed * 17 + 5) & 0xff);
}
function sessionKeys(suite: SuiteId = SUITE_XWING_AES256GCM, seed = 1): SessionKeys {
  return {
    suite,
    clientSecret: fill(32, seed),
    serverSecret: fill(32, seed + 1),
    exporterSecret: fill(32, seed + 2),
    sessionId: fill(16, seed + 3),
    transcriptHash: fill(32, seed + 4),
  };
}
function pair(opts: { suite?: SuiteId; limits?: Partial<RecordLimits>; now?: number } = {}) {
  const keys = sessionKeys(opts.suite);
  const now = opts.now ?? T0;
  return {
    client: new RecordLayer({ role: "client", keys, now, limits: opts.limits }),
    server: new RecordLayer({ role: "server", keys, now, limits: opts.limits }),
  };
}
const pt = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const str = (b: Uint8Array) => String.fromCharCode(...b);

function code(f: () => unknown): ErrorCode | "ok" {
  try {
    f();
    return "ok";
  } catch (e) {
    if (e instanceof PqgateError) return e.code;
    throw e; // anything but PqgateError fails the test
  }
}
const isCode = (c: ErrorCode) => (e: unknown) => e instanceof PqgateError && e.code === c;

/** Wraps an AEAD and records every (key, nonce) it seals with. */
function recordingAead(log: string[]): (suite: SuiteId) => Aead {
  return (suite) => {
    const inner = aeadForSuite(suite);
    return {
      name: inner.name,
      seal(key, nonce, aad, p) {
        log.push(`${toHex(key)}/${toHex(nonce)}`);
        return inner.seal(key, nonce, aad, p);
      },
      open: (key, nonce, aad, c) => inner.open(key, nonce, aad, c),
    };
  };
}
function assertUnique(log: string[]): void {
  const seen = new Set<string>();
  for (const k of log) {
    assert.ok(!seen.has(k), `(key, nonce) pair reused: ${k}`);
    seen.add(k);
  }
}

// ---- basics ----------------------------------------------------------------------------

for (const suite of SUITE_LIST) {
  Deno.test(`record: round trip both directions, suite ${suite}`, () => {
    const { client, server } = pair({ suite });
    for (let i = 0; i < 5; i++) {
      const r = client.seal(pt(`c${i}`), T0);
      assert.equal(r.length, 10 + 2 + 16);
      assert.equal(str(server.open(r, T0)), `c${i}`);
      assert.equal(str(client.open(server.seal(pt(`s${i}`), T0), T0)), `s${i}`);
    }
    assert.equal(client.txSeq, 5);
    assert.equal(server.rxSeq, 5);
    assert.equal(client.txBytes, 10);
    // Max-size plaintext: 16,410-byte record.
    const big = fill(MAX_PLAINTEXT, 9);
    const r = server.seal(big, T0);
    assert.equal(r.length, MAX_RECORD_LEN);
    assert.equal(toHex(client.open(r, T0)), toHex(big));
  });
}

Deno.test("record: layout, AAD and nonce follow §5.1 (checked with the bare AEAD)", () => {
  const keys = sessionKeys(SUITE_XWING_CHACHA20POLY1305);
  const client = new RecordLayer({ role: "client", keys, now: T0 });
  for (let i = 0; i < 3; i++) client.seal(pt("x"), T0);
  const r = client.seal(pt("hello"), T0);
  assert.equal(toHex(r.subarray(0, 10)), "04" + "00" + "0000000000000003");
  const { key, iv } = trafficKeys(keys.clientSecret);
  const nonce = Uint8Array.from(iv);
  nonce[11] ^= 3;
  const open = aeadForSuite(SUITE_XWING_CHACHA20POLY1305).open(
    key,
    nonce,
    r.subarray(0, 10),
    r.subarray(10),
  );
  assert.equal(open && str(open), "hello");
  // After a KeyUpdate the header carries epoch 1 and seq restarts at 0 under S_1.
  client.updateTx();
  const r1 = client.seal(pt("e1"), T0);
  assert.equal(toHex(r1.subarray(0, 10)), "04" + "01" + "0000000000000000");
  const k1 = trafficKeys(nextTrafficSecret(keys.clientSecret));
  const o1 = aeadForSuite(SUITE_XWING_CHACHA20POLY1305).open(
    k1.key,
    k1.iv,
    r1.subarray(0, 10),
    r1.subarray(10),
  );
  assert.equal(o1 && str(o1), "e1");
  // A client cannot open its own records (directions use different secrets).
  assert.equal(
    code(() => new RecordLayer({ role: "client", keys, now: T0 }).open(r, T0)),
    "record_auth_failed",
  );
});

Deno.test("record: seal rejects empty and oversize plaintext (internal_error)", () => {
  const { client } = pair();
  assert.equal(code(() => client.seal(new Uint8Array(0), T0)), "internal_error");
  assert.equal(code(() => client.seal(new Uint8Array(MAX_PLAINTEXT + 1), T0)), "internal_error");
  assert.equal(client.txSeq, 0);
});

Deno.test("record: constructor validates keys, limits and time", () => {
  const k = sessionKeys();
  const bad = (o: Partial<ConstructorParameters<typeof RecordLayer>[0]>) =>
    assert.throws(
      () => new RecordLayer({ role: "client", keys: k, now: T0, ...o }),
      isCode("internal_error"),
    );
  bad({ keys: { ...k, clientSecret: new Uint8Array(31) } });
  bad({ keys: { ...k, sessionId: new Uint8Array(32) } });
  bad({ keys: { ...k, suite: 7 as SuiteId } });
  // deno-lint-ignore no-explicit-any
  bad({ role: "peer" as any });
  bad({ limits: { maxEpoch: 256 } });
  bad({ limits: { hardRecordsPerEpoch: 0 } });
  bad({ now: -1 });
  bad({ now: NaN });
  // Inputs are copied: zeroing them later changes nothing.
  const keys = sessionKeys();
  const c = new RecordLayer({ role: "client", keys, now: T0 });
  const s = new RecordLayer({ role: "server", keys: sessionKeys(), now: T0 });
  keys.clientSecret.fill(0);
  assert.equal(str(s.open(c.seal(pt("a"), T0), T0)), "a");
  assert.deepEqual(DEFAULT_RECORD_LIMITS.hardRecordsPerEpoch, HARD_RECORDS_PER_EPOCH);
});

Deno.test("record: the public sessionId shares no buffer with a secret; values are copied", () => {
  const keys = sessionKeys();
  const l = new RecordLayer({ role: "server", keys, now: T0 });
  // SESSION_INFO hands the sessionId out: its buffer must hold nothing else.
  assert.equal(l.sessionId.buffer.byteLength, keys.sessionId.length);
  assert.notEqual(l.sessionId.buffer, l.exporterSecret.buffer);
  assert.equal(toHex(l.sessionId), toHex(keys.sessionId));
  assert.equal(toHex(l.exporterSecret), toHex(keys.exporterSecret));
  assert.equal(toHex(l.transcriptHash), toHex(keys.transcriptHash));
  // The snapshot (§5.6) carries the same values at their offsets.
  const snap = new RecordLayer({ role: "server", keys, now: T0, reservation: true }).reserve(1);
  assert.equal(toHex(snap.subarray(60, 92)), toHex(keys.transcriptHash));
  assert.equal(toHex(snap.subarray(28, 60)), toHex(keys.exporterSecret));
});

// ---- REQUIRED property: any single-byte change is rejected with the documented code ------

Deno.test("record: any single-byte change is rejected with its documented code (property)", () => {
  const { client } = pair();
  const recs = [0, 1, 2].map((i) => client.seal(fill(1 + i * 40, i), T0));
  fc.assert(
    fc.property(
      fc.nat({ max: recs[2].length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      (pos, delta) => {
        // A fresh receiver that accepted records 0 and 1 (high-water mark 1).
        const { server } = pair();
        server.open(recs[0], T0);
        server.open(recs[1], T0);
        const m = Uint8Array.from(recs[2]);
        m[pos] ^= delta;
        let want: ErrorCode;
        if (pos === 0) want = "protocol_error";
        else if (pos === 1) want = "sequence_error";
        else if (pos < 10) {
          const dv = new DataView(m.buffer);
          const seq = dv.getUint32(2) * 2 ** 32 + dv.getUint32(6);
          want = seq >= HARD_RECORDS_PER_EPOCH
            ? "rehandshake_required"
            : seq < 2
            ? "sequence_error"
            : "record_auth_failed";
        } else want = "record_auth_failed";
        assert.equal(code(() => server.open(m, T0)), want);
        // Nothing moved: state is only updated after a tag verified; the channel is dead.
        assert.equal(server.rxSeq, 2);
        assert.equal(server.rxFailed, want);
        assert.equal(code(() => server.open(recs[2], T0)), want);
        // The unmodified record still opens on a receiver in the same state.
        const { server: s2 } = pair();
        s2.open(recs[0], T0);
        s2.open(recs[1], T0);
        assert.equal(toHex(s2.open(recs[2], T0)), toHex(fill(81, 2)));
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("record: arbitrary bytes given to open only ever throw PqgateError (property)", () => {
  const { client } = pair();
  const good = client.seal(pt("hello"), T0);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ minLength: 27, maxLength: 80 }).map((b) => (b[0] = 4, b[1] = 0, b)),
        fc.tuple(fc.nat({ max: 40 }), fc.uint8Array({ maxLength: 20 })).map(([cut, tail]) =>
          new Uint8Array([...good.subarray(0, cut), ...tail])
        ),
      ),
      (b) => {
        const { server } = pair();
        const c = code(() => server.open(b, T0));
        assert.ok(
          ["ok", "protocol_error", "sequence_error", "record_auth_failed", "rehandshake_required"]
            .includes(c),
          c,
        );
      },
    ),
    { numRuns: 500 },
  );
});

// ---- replay, reorder, epoch, truncation, oversize ----------------------------------------

Deno.test("record: replay and reorder → sequence_error; gaps are allowed", () => {
  const { client, server } = pair();
  const r = [0, 1, 2, 3].map((i) => client.seal(pt(`${i}`), T0));
  server.open(r[0], T0);
  assert.equal(code(() => server.open(r[0], T0)), "sequence_error"); // replay
  const s2 = pair().server;
  s2.open(r[0], T0);
  s2.open(r[2], T0); // gap: seq 1 skipped
  assert.equal(s2.rxSeq, 3);
  assert.equal(code(() => s2.open(r[1], T0)), "sequence_error"); // reordered
  const s3 = pair().server;
  s3.open(r[3], T0);
  assert.equal(code(() => s3.open(r[2], T0)), "sequence_error");
});

Deno.test("record: wrong epoch → sequence_error (both older and newer)", () => {
  const { client, server } = pair();
  server.open(client.seal(pt("a"), T0), T0);
  const old = client.seal(pt("b"), T0);
  client.updateTx();
  const newer = client.seal(pt("c"), T0);
  assert.equal(code(() => pair().server.open(newer, T0)), "sequence_error");
  server.updateRx();
  assert.equal(code(() => server.open(old, T0)), "sequence_error");
  const { server: s2 } = pair();
  s2.updateRx();
  assert.equal(str(s2.open(newer, T0)), "c");
});

Deno.test("record: truncation and oversize are caught before decryption", () => {
  const { client } = pair();
  const r = client.seal(pt("abcdef"), T0);
  const open = (b: Uint8Array) => code(() => pair().server.open(b, T0));
  assert.equal(open(r.subarray(0, 26)), "protocol_error");
  assert.equal(open(r.subarray(0, 10)), "protocol_error");
  assert.equal(open(new Uint8Array(0)), "protocol_error");
  assert.equal(open(r.subarray(0, 27)), "record_auth_failed"); // long enough, bad tag
  assert.equal(open(r.subarray(0, r.length - 1)), "record_auth_failed");
  assert.equal(open(new Uint8Array([...r, 0])), "record_auth_failed");
  const huge = new Uint8Array(MAX_RECORD_LEN + 1);
  huge[0] = 4;
  assert.equal(open(huge), "protocol_error");
  const wrongType = Uint8Array.from(r);
  wrongType[0] = 2;
  assert.equal(open(wrongType), "protocol_error");
});

// ---- limits ----------------------------------------------------------------------------

Deno.test("record: hard record limit per epoch (send and receive) → rehandshake_required", () => {
  const limits = { hardRecordsPerEpoch: 4 };
  const { client, server } = pair({ limits });
  for (let i = 0; i < 4; i++) server.open(client.seal(pt("x"), T0), T0);
  assert.equal(code(() => client.seal(pt("x"), T0)), "rehandshake_required");
  assert.equal(client.txSeq, 4);
  // A KeyUpdate starts a new epoch with a fresh sequence space.
  client.updateTx();
  server.updateRx();
  assert.equal(str(server.open(client.seal(pt("y"), T0), T0)), "y");
  // Receiver: a sender with a laxer limit produces seq 4; the receiver refuses it.
  const lax = new RecordLayer({ role: "client", keys: sessionKeys(), now: T0 });
  const strict = new RecordLayer({ role: "server", keys: sessionKeys(), now: T0, limits });
  const rs = [0, 1, 2, 3, 4].map(() => lax.seal(pt("z"), T0));
  for (let i = 0; i < 4; i++) strict.open(rs[i], T0);
  assert.equal(code(() => strict.open(rs[4], T0)), "rehandshake_required");
  // seq ≥ 2^53 in the header (not a safe integer) is also rehandshake_required.
  const r = pair().client.seal(pt("q"), T0);
  r[2] = 0xff;
  assert.equal(code(() => pair().server.open(r, T0)), "rehandshake_required");
});

Deno.test("record: hard byte limit per epoch (send and receive) → rehandshake_required", () => {
  const limits = { hardBytesPerEpoch: 100 };
  const { client, server } = pair({ limits });
  server.open(client.seal(new Uint8Array(60), T0), T0);
  assert.equal(code(() => client.seal(new Uint8Array(41), T0)), "rehandshake_required");
  server.open(client.seal(new Uint8Array(40), T0), T0);
  assert.equal(client.txBytes, 100);
  const lax = new RecordLayer({ role: "client", keys: sessionKeys(), now: T0 });
  const strict = new RecordLayer({ role: "server", keys: sessionKeys(), now: T0, limits });
  strict.open(lax.seal(new Uint8Array(100), T0), T0);
  assert.equal(
    code(() => strict.open(lax.seal(new Uint8Array(1), T0), T0)),
    "rehandshake_required",
  );
});

Deno.test("record: epoch 255 is the last; updating past it → rehandshake_required", () => {
  const { client, server } = pair();
  for (let e = 0; e < 255; e++) {
    assert.ok(client.canUpdateTx());
    server.open(
      client.seal(encodeFrames([{ type: "key_update", updateRequested: false }]), T0),
      T0,
    );
    client.updateTx();
    server.updateRx();
  }
  assert.equal(client.txEpoch, 255);
  assert.equal(server.rxEpoch, 255);
  assert.equal(str(server.open(client.seal(pt("last"), T0), T0)), "last");
  assert.equal(client.canUpdateTx(), false);
  assert.equal(code(() => client.updateTx()), "rehandshake_required");
  assert.equal(code(() => server.updateRx()), "rehandshake_required");
  assert.equal(client.txEpoch, 255);
  // A configurable lower maximum.
  const small = pair({ limits: { maxEpoch: 2 } }).client;
  small.updateTx();
  small.updateTx();
  assert.equal(code(() => small.updateTx()), "rehandshake_required");
});

Deno.test("record: session lifetime → rehandshake_required (send and receive)", () => {
  const life = 1000;
  const { client, server } = pair({ limits: { sessionLifetimeMs: life } });
  const r = client.seal(pt("a"), T0 + life - 1);
  assert.equal(str(server.open(r, T0 + life - 1)), "a");
  assert.equal(client.expiresAt, T0 + life);
  assert.equal(code(() => client.seal(pt("b"), T0 + life)), "rehandshake_required");
  const late = pair({ limits: { sessionLifetimeMs: life } });
  const r2 = late.client.seal(pt("c"), T0);
  assert.equal(code(() => late.server.open(r2, T0 + life)), "rehandshake_required");
  // Default: 24 hours.
  const d = pair();
  d.client.seal(pt("x"), T0 + 24 * 3600_000 - 1);
  assert.equal(code(() => d.client.seal(pt("x"), T0 + 24 * 3600_000)), "rehandshake_required");
});

Deno.test("record: soft limits turn txNeedsUpdate on; a KeyUpdate resets them", () => {
  const { client } = pair({
    limits: { softRecordsPerEpoch: 3, softBytesPerEpoch: 1000, softEpochAgeMs: 5000 },
  });
  assert.equal(client.txNeedsUpdate(T0), false);
  for (let i = 0; i < 3; i++) client.seal(pt("x"), T0);
  assert.equal(client.txNeedsUpdate(T0), true); // records
  client.updateTx(T0 + 10);
  assert.equal(client.txNeedsUpdate(T0 + 10), false);
  client.seal(new Uint8Array(1000), T0 + 10);
  assert.equal(client.txNeedsUpdate(T0 + 10), true); // bytes
  client.updateTx(T0 + 20);
  assert.equal(client.txNeedsUpdate(T0 + 5019), false);
  assert.equal(client.txNeedsUpdate(T0 + 5020), true); // epoch age
  // updateTx without `now` uses the latest time the layer has seen.
  client.seal(pt("y"), T0 + 9000);
  client.updateTx();
  assert.equal(client.txEpochStart, T0 + 9000);
});

// ---- KeyUpdate interop -------------------------------------------------------------------

/** Sends frames as one record from `a` to `b`, handling KEY_UPDATE per §5.3 on both sides. */
function exchange(a: RecordLayer, b: RecordLayer, frames: Frame[], now: number): Frame[] {
  const rec = a.seal(encodeFrames(frames), now);
  if (frames.at(-1)?.type === "key_update") a.updateTx(now);
  const got = decodeFrames(b.open(rec, now));
  const ku = got.at(-1);
  if (ku?.type === "key_update") {
    b.updateRx();
    if (ku.updateRequested) {
      // The receiver answers with its own KEY_UPDATE (update_requested = 0).
      exchange(b, a, [{ type: "key_update", updateRequested: false }], now);
    }
  }
  return got;
}

Deno.test("record: KeyUpdate interop between a client and a server layer", () => {
  const { client, server } = pair({ suite: SUITE_XWING_CHACHA20POLY1305 });
  exchange(client, server, [{ type: "ping", data: new Uint8Array(8) }], T0);
  // Client updates and requests an update: both directions move to epoch 1.
  exchange(client, server, [
    { type: "data", stream: 1, endStream: false, payload: pt("body") },
    { type: "key_update", updateRequested: true },
  ], T0);
  assert.deepEqual([client.txEpoch, client.rxEpoch, server.txEpoch, server.rxEpoch], [1, 1, 1, 1]);
  assert.equal(client.txSeq, 0);
  const got = exchange(server, client, [{ type: "pong", data: new Uint8Array(8) }], T0);
  assert.equal(got[0].type, "pong");
  // Server updates alone.
  exchange(server, client, [{ type: "key_update", updateRequested: false }], T0);
  assert.deepEqual([client.txEpoch, client.rxEpoch, server.txEpoch, server.rxEpoch], [1, 2, 2, 1]);
  exchange(client, server, [{ type: "padding", length: 4 }], T0);
  exchange(server, client, [{ type: "padding", length: 4 }], T0);
});

Deno.test("record: random KeyUpdate schedules keep both sides in step (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.constantFrom("data", "ku", "ku_req")), {
        maxLength: 40,
      }),
      (steps) => {
        const { client, server } = pair();
        const log: string[] = [];
        for (const [fromClient, kind] of steps) {
          const [a, b] = fromClient ? [client, server] : [server, client];
          const frames: Frame[] = kind === "data"
            ? [{ type: "ping", data: new Uint8Array(8) }]
            : [{ type: "key_update", updateRequested: kind === "ku_req" }];
          exchange(a, b, frames, T0);
          log.push(`${client.txEpoch}${server.rxEpoch}${server.txEpoch}${client.rxEpoch}`);
          assert.equal(client.txEpoch, server.rxEpoch);
          assert.equal(server.txEpoch, client.rxEpoch);
        }
      },
    ),
    { numRuns: 100 },
  );
});

// ---- reservation and snapshots -----------------------------------------------------------

Deno.test("snapshot: reservation mode gates seal; snapshot is small and versioned", () => {
  const { client, server } = pair();
  assert.equal(client.needsReservation(), false);
  assert.equal(code(() => server.snapshot()), "internal_error"); // not in reservation mode
  const snap = server.reserve(3);
  assert.equal(snap.length, SNAPSHOT_LEN);
  assert.ok(snap.length < 2000);
  assert.ok(btoa(String.fromCharCode(...snap)).length < 2000); // even as base64 / JSON
  assert.equal(snap[0], SNAPSHOT_VERSION);
  assert.equal(server.txReservedUntil, 3);
  for (let i = 0; i < 3; i++) client.open(server.seal(pt("x"), T0), T0);
  assert.equal(server.needsReservation(), true);
  assert.equal(code(() => server.seal(pt("x"), T0)), "internal_error");
  server.reserve(2);
  client.open(server.seal(pt("y"), T0), T0);
  // Constructor option: reservation from the start.
  const r = new RecordLayer({ role: "server", keys: sessionKeys(), now: T0, reservation: true });
  assert.equal(r.needsReservation(), true);
  assert.equal(code(() => r.seal(pt("x"), T0)), "internal_error");
  assert.equal(code(() => r.reserve(0)), "internal_error");
  assert.equal(code(() => r.reserve(1.5)), "internal_error");
});

Deno.test("snapshot: restore resumes both directions; the peer accepts the seq gap", () => {
  const { client, server } = pair();
  server.reserve(100);
  for (let i = 0; i < 5; i++) client.open(server.seal(pt(`s${i}`), T0), T0);
  for (let i = 0; i < 4; i++) server.open(client.seal(pt(`c${i}`), T0), T0);
  const snap = server.snapshot();
  const r = RecordLayer.restore(snap);
  assert.equal(r.role, "server");
  assert.equal(r.suite, SUITE_XWING_AES256GCM);
  assert.equal(r.createdAt, T0);
  assert.equal(toHex(r.sessionId), toHex(server.sessionId));
  assert.equal(toHex(r.exporterSecret), toHex(server.exporterSecret));
  assert.equal(toHex(r.transcriptHash), toHex(server.transcriptHash));
  assert.equal(r.rxSeq, 4);
  assert.equal(r.txSeq, 100);
  assert.equal(r.txBytes, 5 * 2 + 95 * MAX_PLAINTEXT); // upper bound for reserved seqs
  assert.equal(r.needsReservation(), true);
  assert.equal(code(() => r.seal(pt("x"), T0)), "internal_error");
  r.reserve(10);
  assert.equal(str(client.open(r.seal(pt("after"), T0), T0)), "after"); // seq 100 after 4
  assert.equal(str(r.open(client.seal(pt("c4"), T0), T0)), "c4");
  // A replay of a record received before the snapshot is still refused.
  const { client: c2 } = pair();
  const old = c2.seal(pt("c0"), T0);
  assert.equal(code(() => RecordLayer.restore(snap).open(old, T0)), "sequence_error");
  // Session lifetime survives a restore.
  assert.equal(
    code(() => RecordLayer.restore(snap).open(old, T0 + 24 * 3600_000)),
    "rehandshake_required",
  );
});

Deno.test("snapshot: needsPersist turns on after an epoch change until the next snapshot", () => {
  const { client, server } = pair();
  assert.equal(server.needsPersist(), false); // not in reservation mode
  server.reserve(5);
  assert.equal(server.needsPersist(), false);
  exchange(client, server, [{ type: "key_update", updateRequested: false }], T0);
  assert.equal(server.rxEpoch, 1);
  assert.equal(server.needsPersist(), true); // rx epoch moved
  server.snapshot();
  assert.equal(server.needsPersist(), false);
  server.updateTx(T0);
  assert.equal(server.needsPersist(), true); // tx epoch moved
  const snap = server.reserve(1);
  assert.equal(server.needsPersist(), false);
  assert.equal(RecordLayer.restore(snap).needsPersist(), false);
});

Deno.test("snapshot: restore after KeyUpdates keeps epochs and secrets", () => {
  const { client, server } = pair({ suite: SUITE_XWING_CHACHA20POLY1305 });
  server.reserve(10);
  exchange(client, server, [{ type: "key_update", updateRequested: true }], T0);
  exchange(client, server, [{ type: "key_update", updateRequested: false }], T0);
  // server tx moved to epoch 1 (reservation cleared), rx to epoch 2
  assert.equal(code(() => server.seal(pt("x"), T0)), "internal_error");
  assert.equal(server.needsReservation(), true);
  const snap = server.reserve(5);
  const r = RecordLayer.restore(snap);
  assert.deepEqual([r.txEpoch, r.rxEpoch, r.txSeq], [1, 2, 5]);
  r.reserve(5);
  assert.equal(str(client.open(r.seal(pt("e1"), T0), T0)), "e1");
  assert.equal(str(r.open(client.seal(pt("e2"), T0), T0)), "e2");
});

/**
 * REQUIRED: snapshot A, seal, snapshot B, seal more, restore A (stale) and seal again:
 * no (key, nonce) pair is ever repeated across everything sealed. The live layer and each
 * restored branch share one log.
 */
Deno.test("snapshot: restoring a stale snapshot never reuses a (key, nonce) pair", () => {
  for (const suite of SUITE_LIST) {
    for (const bKind of ["snapshot", "reserve"] as const) {
      for (const restoreWhich of ["A", "B"] as const) {
        const log: string[] = [];
        const aead = recordingAead(log);
        const keys = sessionKeys(suite);
        const live = new RecordLayer({ role: "server", keys, now: T0, aead });
        const peer = new RecordLayer({ role: "client", keys, now: T0 });
        const A = live.reserve(16); // persisted
        for (let i = 0; i < 3; i++) peer.open(live.seal(pt(`a${i}`), T0), T0);
        live.open(peer.seal(pt("req"), T0), T0);
        const B = bKind === "snapshot" ? live.snapshot() : live.reserve(8); // persisted
        for (let i = 0; i < 4; i++) peer.open(live.seal(pt(`b${i}`), T0), T0);
        // The process dies here; memory (live) is lost.
        const r = RecordLayer.restore(restoreWhich === "A" ? A : B, { aead });
        assert.equal(r.needsReservation(), true);
        assert.throws(() => r.seal(pt("x"), T0), isCode("internal_error"));
        r.reserve(16); // persisted (supersedes A/B)
        for (let i = 0; i < 5; i++) {
          assert.equal(str(peer.open(r.seal(pt(`r${i}`), T0), T0)), `r${i}`);
        }
        assert.equal(log.length, 3 + 4 + 5);
        assertUnique(log);
      }
    }
  }
});

Deno.test("snapshot: stale restore around a KeyUpdate never reuses a (key, nonce) pair", () => {
  for (const suite of SUITE_LIST) {
    const log: string[] = [];
    const aead = recordingAead(log);
    const keys = sessionKeys(suite);
    const live = new RecordLayer({ role: "server", keys, now: T0, aead });
    const sent: (Uint8Array | "update")[] = [];
    const A = live.reserve(10); // epoch 0, persisted
    for (let i = 0; i < 2; i++) sent.push(live.seal(pt(`a${i}`), T0));
    // KeyUpdate: seal the KEY_UPDATE record, switch, persist the new epoch, then transmit.
    const ku = live.seal(encodeFrames([{ type: "key_update", updateRequested: false }]), T0);
    live.updateTx(T0);
    assert.equal(live.needsReservation(), true);
    assert.throws(() => live.seal(pt("too early"), T0), isCode("internal_error"));
    const B = live.reserve(10); // epoch 1, persisted before any epoch-1 record
    sent.push(ku, "update");
    for (let i = 0; i < 3; i++) sent.push(live.seal(pt(`b${i}`), T0));
    const C = live.snapshot(); // same reservation as B, newer state
    for (let i = 0; i < 3; i++) sent.push(live.seal(pt(`c${i}`), T0));
    const liveCount = log.length;
    assert.equal(liveCount, 9);
    assertUnique(log);

    /** A peer that received everything the live layer transmitted. */
    const freshPeer = () => {
      const p = new RecordLayer({ role: "client", keys, now: T0 });
      for (const r of sent) r === "update" ? p.updateRx() : p.open(r, T0);
      return p;
    };

    // Branch A: A is older than the persisted KeyUpdate. The restored layer continues epoch 0
    // after A's reservation (seq 10…), never at a seq the live layer used in epoch 0. (The
    // peer has moved on to epoch 1 and would refuse these with sequence_error.)
    const rA = RecordLayer.restore(A, { aead });
    assert.deepEqual([rA.txEpoch, rA.txSeq], [0, 10]);
    rA.reserve(5);
    for (let i = 0; i < 4; i++) rA.seal(pt(`ra${i}`), T0);
    assertUnique(log);
    assert.equal(code(() => freshPeer().open(rA.seal(pt("x"), T0), T0)), "sequence_error");
    log.length = liveCount;

    // Branches B and C: continue epoch 1 after the reservation, then KeyUpdate again.
    for (const snap of [B, C]) {
      const peer = freshPeer();
      const r = RecordLayer.restore(snap, { aead });
      assert.deepEqual([r.txEpoch, r.txSeq], [1, 10]);
      r.reserve(5);
      for (let i = 0; i < 4; i++) {
        assert.equal(str(peer.open(r.seal(pt(`r${i}`), T0), T0)), `r${i}`);
      }
      const k2 = r.seal(encodeFrames([{ type: "key_update", updateRequested: false }]), T0);
      r.updateTx(T0);
      r.reserve(4);
      peer.open(k2, T0);
      peer.updateRx();
      assert.equal(str(peer.open(r.seal(pt("e2"), T0), T0)), "e2");
      assertUnique(log);
      log.length = liveCount;
    }
  }
});

/**
 * Simulation: random interleavings of seal / receive / reserve / persist / KeyUpdate / crash,
 * where a crash restores the LAST PERSISTED snapshot (the storage never rolls back).
 * Invariants: no (key, nonce) pair repeats, and the peer accepts every record sent.
 */
Deno.test("snapshot: random crash/restore schedules never reuse a nonce (property)", () => {
  type Op = "seal" | "recv" | "reserve" | "persist" | "keyupdate" | "crash";
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom<Op>(
            "seal",
            "seal",
            "seal",
            "recv",
            "reserve",
            "persist",
            "keyupdate",
            "crash",
          ),
          fc.integer({ min: 1, max: 6 }),
        ),
        { maxLength: 60 },
      ),
      fc.constantFrom(...SUITE_LIST),
      (ops, suite) => {
        const log: string[] = [];
        const aead = recordingAead(log);
        const keys = sessionKeys(suite);
        let gw = new RecordLayer({ role: "server", keys, now: T0, aead, reservation: true });
        const peer = new RecordLayer({ role: "client", keys, now: T0 });
        let persisted = gw.reserve(4);
        const ensure = () => {
          if (gw.needsReservation()) persisted = gw.reserve(4);
        };
        for (const [op, n] of ops) {
          switch (op) {
            case "seal":
              for (let i = 0; i < n; i++) {
                ensure();
                peer.open(gw.seal(pt("d"), T0), T0);
              }
              break;
            case "recv":
              gw.open(peer.seal(pt("q"), T0), T0);
              break;
            case "reserve":
              persisted = gw.reserve(n);
              break;
            case "persist":
              persisted = gw.snapshot();
              break;
            case "keyupdate": {
              ensure();
              const rec = gw.seal(
                encodeFrames([{ type: "key_update", updateRequested: false }]),
                T0,
              );
              gw.updateTx(T0);
              persisted = gw.reserve(n); // persist the new epoch before transmitting
              peer.open(rec, T0);
              peer.updateRx();
              break;
            }
            case "crash":
              gw = RecordLayer.restore(persisted, { aead });
              // Records the peer sent after the last persist are replayable into the restored
              // layer: the peer just continues with higher seqs, which is fine.
              break;
          }
        }
        assertUnique(log);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("snapshot: malformed snapshots → internal_error; field checks", () => {
  const { server } = pair({ suite: SUITE_XWING_CHACHA20POLY1305 });
  const snap = server.reserve(5);
  const bad = (b: Uint8Array, why: string) =>
    assert.throws(() => RecordLayer.restore(b), isCode("internal_error"), why);
  const mut = (off: number, v: number) => {
    const b = Uint8Array.from(snap);
    b[off] = v;
    return b;
  };
  bad(new Uint8Array(0), "empty");
  bad(snap.subarray(0, SNAPSHOT_LEN - 1), "short");
  bad(new Uint8Array([...snap, 0]), "long");
  bad(mut(0, 2), "version");
  bad(mut(0, 0), "version 0");
  bad(mut(1, 2), "role");
  bad(mut(3, 3), "suite");
  bad(mut(2, 1), "suite high byte");
  for (const off of [4, 125, 133, 141, 182, 190]) bad(mut(off, 0x01), `u64 at ${off} ≥ 2^53`);
  const early = Uint8Array.from(snap);
  new DataView(early.buffer).setUint32(145, new DataView(early.buffer).getUint32(145) - 1);
  bad(early, "tx epoch start before creation");
  // deno-lint-ignore no-explicit-any
  assert.throws(() => RecordLayer.restore("x" as any), isCode("internal_error"));
  // Random corruption: only success or internal_error, never anything else.
  fc.assert(
    fc.property(fc.nat({ max: SNAPSHOT_LEN - 1 }), fc.integer({ min: 1, max: 255 }), (p, d) => {
      const b = Uint8Array.from(snap);
      b[p] ^= d;
      const c = code(() => RecordLayer.restore(b));
      assert.ok(c === "ok" || c === "internal_error", c);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: SNAPSHOT_LEN, maxLength: SNAPSHOT_LEN }), (b) => {
      b[0] = SNAPSHOT_VERSION;
      const c = code(() => RecordLayer.restore(b));
      assert.ok(c === "ok" || c === "internal_error", c);
    }),
    { numRuns: 300 },
  );
  // Restore options: a custom AEAD and limits are honoured.
  const r = RecordLayer.restore(snap, { limits: { hardRecordsPerEpoch: 5 } });
  r.reserve(10);
  assert.equal(code(() => r.seal(pt("x"), T0)), "rehandshake_required"); // seq 5 ≥ 5
  assert.throws(
    () => RecordLayer.restore(snap, { limits: { maxEpoch: 300 } }),
    isCode("internal_error"),
  );
});

Deno.test("snapshot: layout of the §5.6 fields", () => {
  const keys = sessionKeys(SUITE_XWING_CHACHA20POLY1305);
  const c = new RecordLayer({ role: "client", keys, now: T0 });
  const s = c.reserve(7);
  const dv = new DataView(s.buffer);
  assert.equal(s[1], 0); // client
  assert.equal(dv.getUint16(2), 2);
  assert.equal(dv.getUint32(4) * 2 ** 32 + dv.getUint32(8), T0);
  assert.equal(toHex(s.subarray(12, 28)), toHex(keys.sessionId));
  assert.equal(toHex(s.subarray(28, 60)), toHex(keys.exporterSecret));
  assert.equal(toHex(s.subarray(60, 92)), toHex(keys.transcriptHash));
  assert.equal(s[92], 0);
  assert.equal(toHex(s.subarray(93, 125)), toHex(keys.clientSecret)); // tx = client secret
  assert.equal(dv.getUint32(129), 7);
  assert.equal(s[149], 0);
  assert.equal(toHex(s.subarray(150, 182)), toHex(keys.serverSecret));
});

Deno.test("snapshot: the codec's named offsets are PROTOCOL.md §5.6's table", async () => {
  const { SNAPSHOT_OFFSETS, SNAPSHOT_LEN } = await import("./record-layer.ts");
  const md = await Deno.readTextFile(new URL("../../PROTOCOL.md", import.meta.url));
  const section = md.slice(md.indexOf("### 5.6 Snapshot format"), md.indexOf("## 6. Frames"));
  const rows = [...section.matchAll(/^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*`([a-z_0-9]+)`/gm)].map((m) =>
    [m[3], Number(m[1]), Number(m[2])] as const
  );
  const names: Record<string, keyof typeof SNAPSHOT_OFFSETS> = {
    version: "version",
    role: "role",
    suite: "suite",
    created_at: "createdAt",
    session_id: "sessionId",
    exp: "exporterSecret",
    th2: "transcriptHash",
    tx_epoch: "txEpoch",
    tx_secret: "txSecret",
    tx_next_seq: "txNextSeq",
    tx_bytes: "txBytes",
    tx_epoch_start: "txEpochStart",
    rx_epoch: "rxEpoch",
    rx_secret: "rxSecret",
    rx_next_seq: "rxNextSeq",
    rx_bytes: "rxBytes",
  };
  assert.equal(rows.length, Object.keys(SNAPSHOT_OFFSETS).length);
  for (const [field, offset] of rows) assert.equal(SNAPSHOT_OFFSETS[names[field]], offset, field);
  const [, lastOffset, lastSize] = rows[rows.length - 1];
  assert.equal(lastOffset + lastSize, SNAPSHOT_LEN);
});
