/**
 * The session snapshot (session-snapshot.ts): its versioned layout, and what a restored
 * ServerSession takes from it: the idle clock (SESSION_INFO idle_timeout_ms, close 4008) and
 * an open-stream list that is current, so a wake resets only streams that were really open.
 */
import assert from "node:assert/strict";
import { concat, u16, u32, u64 } from "../protocol/bytes.ts";
import { KEY_ID_LEN } from "../protocol/constants.ts";
import { encodeRequestHead } from "./bhttp.ts";
import { ServerSession } from "./server-session.ts";
import {
  decodeSessionSnapshot,
  encodeSessionSnapshot,
  MAX_SNAPSHOT_STREAMS,
  SESSION_SNAPSHOT_VERSION,
} from "./session-snapshot.ts";
import {
  type RawClient,
  rawClient,
  settle,
  TEST_LIMITS,
  testEnv,
  waitFor,
  wireServer,
} from "./testing.ts";
import type { RequestHandler } from "./types.ts";

const RECORD = new Uint8Array(198).fill(7);
const KEY_ID = new Uint8Array(KEY_ID_LEN).fill(9);

const NO_AUTH = { announced: null, expectFirst: false, pending: false, identity: null };

Deno.test("session snapshot: version 3 round trip carries the idle clock; bad input is internal_error", () => {
  const snap = {
    record: RECORD,
    keyId: KEY_ID,
    highestStreamId: 41,
    openStreams: [37, 41],
    idle: { lastRxAt: 1_700_000_000_123, pingSentAt: 1_700_000_030_123 },
    auth: NO_AUTH,
  };
  const b = encodeSessionSnapshot(snap);
  assert.equal(b[0], SESSION_SNAPSHOT_VERSION);
  assert.equal(b[0], 0x03);
  assert.equal(b.length, 1 + 2 + 198 + 1 + KEY_ID_LEN + 4 + 8 + 8 + 3 + 2 + 8);
  assert.deepEqual(decodeSessionSnapshot(b), snap);
  const none = encodeSessionSnapshot({
    ...snap,
    keyId: null,
    idle: { lastRxAt: 5.7, pingSentAt: null },
  });
  assert.deepEqual(decodeSessionSnapshot(none).idle, { lastRxAt: 5, pingSentAt: null });

  const bad = (bytes: Uint8Array, what: string) =>
    assert.throws(() => decodeSessionSnapshot(bytes), /internal_error|session snapshot/, what);
  bad(concat(new Uint8Array([0x04]), b.subarray(1)), "unknown version");
  bad(concat(new Uint8Array([0x00]), b.subarray(1)), "version 0");
  bad(concat(b, new Uint8Array([0])), "trailing byte");
  bad(b.subarray(0, b.length - 1), "truncated");
  // A PING sent before the last receive is impossible: refused.
  const head = concat(new Uint8Array([2]), u16(198), RECORD, new Uint8Array([0]), u32(1)); // v2
  bad(concat(head, u64(100), u64(99), u16(0)), "ping before last receive");
  bad(
    concat(head, new Uint8Array([0, 0x20, 0, 0, 0, 0, 0, 0]), u64(0), u16(0)),
    "u64 above 2^53-1",
  );
  const many = Array.from({ length: MAX_SNAPSHOT_STREAMS + 1 }, (_, i) => u32(2 * i + 1));
  bad(concat(head, u64(100), u64(0), u16(MAX_SNAPSHOT_STREAMS + 1), ...many), "too many streams");
  // The encoder never writes more than MAX_SNAPSHOT_STREAMS.
  const capped = encodeSessionSnapshot({ ...snap, openStreams: many.map((_, i) => 2 * i + 1) });
  assert.equal(decodeSessionSnapshot(capped).openStreams.length, MAX_SNAPSHOT_STREAMS);
});

Deno.test("session snapshot: version 1 (before the idle clock) still decodes, with no idle clock", () => {
  const v1 = concat(
    new Uint8Array([1]),
    u16(198),
    RECORD,
    new Uint8Array([0]),
    u32(3),
    u16(1),
    u32(3),
  );
  assert.deepEqual(decodeSessionSnapshot(v1), {
    record: RECORD,
    keyId: null,
    highestStreamId: 3,
    openStreams: [3],
    idle: null,
    auth: NO_AUTH,
  });
});

Deno.test("session snapshot: version 2 (before client authentication) decodes with no identity", () => {
  const v2 = concat(
    new Uint8Array([2]),
    u16(198),
    RECORD,
    new Uint8Array([0]),
    u32(3),
    u64(10),
    u64(0),
    u16(1),
    u32(3),
  );
  const d = decodeSessionSnapshot(v2);
  assert.deepEqual(d.auth, NO_AUTH);
  assert.deepEqual(d.idle, { lastRxAt: 10, pingSentAt: null });
  assert.deepEqual(d.openStreams, [3]);
});

Deno.test("session snapshot: version 3 keeps the identity and auth state; the largest fits the attachment", () => {
  const auth = {
    announced: "token" as const,
    expectFirst: false,
    pending: true,
    identity: {
      method: "token" as const,
      subject: "s".repeat(255),
      issuer: "i".repeat(255),
      expiresAt: 1_700_000_999_000,
    },
  };
  const snap = {
    record: RECORD,
    keyId: KEY_ID,
    highestStreamId: 41,
    openStreams: Array.from({ length: MAX_SNAPSHOT_STREAMS }, (_, i) => 2 * i + 1),
    idle: { lastRxAt: 5, pingSentAt: null },
    auth,
  };
  const b = encodeSessionSnapshot(snap);
  assert.deepEqual(decodeSessionSnapshot(b), snap);
  assert.ok(b.length <= 1_888, `largest snapshot ${b.length} bytes`);
  assert.equal(b.length, 1_781);
  const psk = {
    announced: "psk" as const,
    expectFirst: false,
    pending: false,
    identity: { method: "psk" as const, subject: "dev-1" },
  };
  assert.deepEqual(decodeSessionSnapshot(encodeSessionSnapshot({ ...snap, auth: psk })).auth, psk);
  const first = {
    announced: "password" as const,
    expectFirst: true,
    pending: false,
    identity: null,
  };
  assert.deepEqual(
    decodeSessionSnapshot(encodeSessionSnapshot({ ...snap, auth: first })).auth,
    first,
  );
  // A corrupt auth block is refused.
  const at = 1 + 2 + 198 + 1 + KEY_ID_LEN + 4 + 16;
  for (const [off, v] of [[at, 4], [at + 1, 4], [at + 2, 2], [at + 3, 9], [at + 4, 0]]) {
    const c = b.slice();
    c[off] = v;
    assert.throws(() => decodeSessionSnapshot(c), /internal_error|session snapshot/, `byte ${off}`);
  }
});

// ---- a restored session (a fake clock; the "object" is evicted by dropping the session) ----

const IDLE = 60_000;

async function persisted(
  handler?: RequestHandler,
): Promise<{ c: RawClient; snapshots: Uint8Array[] }> {
  const snapshots: Uint8Array[] = [];
  const c = await rawClient({
    handler,
    limits: { idleTimeoutMs: IDLE },
    server: { persist: (s) => snapshots.push(s.slice()), reserveBlock: 8 },
  });
  await waitFor(() => c.server.state === "established", 2000, "established");
  assert.ok(snapshots.length >= 1);
  return { c, snapshots };
}

function resume(c: RawClient, snapshots: Uint8Array[], handler?: RequestHandler): ServerSession {
  const s = ServerSession.resume(snapshots[snapshots.length - 1], {
    socket: c.ss,
    env: testEnv(`resumed ${snapshots.length}`, c.clock),
    limits: { ...TEST_LIMITS, idleTimeoutMs: IDLE },
    handler: handler ?? (() => Promise.resolve(new Response("unused"))),
    persist: (x) => snapshots.push(x.slice()),
    reserveBlock: 8,
  });
  wireServer(s, c.ss);
  return s;
}

Deno.test("resume keeps the idle deadline: PING due at once after a wake at +40 s, 4008 at +60 s", async () => {
  const { c, snapshots } = await persisted();
  const t = c.clock.now(); // last receive: the ClientFinished

  // Evicted while silent; the next event (the alarm) comes 40 s later.
  c.clock.advance(40_000);
  const r1 = resume(c, snapshots);
  assert.equal(r1.nextDeadline(), t + IDLE / 2, "the PING was due 10 s ago");
  r1.onTimer(c.clock.now());
  await settle();
  assert.equal(c.frames().filter((f) => f.type === "ping").length, 1, "idle PING sent at once");
  assert.equal(r1.nextDeadline(), t + IDLE, "idle close still at t + 60 s");
  // The PING is persisted as outstanding: another wake does not send a second one.
  const idle = decodeSessionSnapshot(snapshots[snapshots.length - 1]).idle;
  assert.deepEqual(idle, { lastRxAt: t, pingSentAt: t + 40_000 });

  c.clock.advance(10_000);
  const r2 = resume(c, snapshots);
  assert.equal(r2.nextDeadline(), t + IDLE);
  r2.onTimer(c.clock.now());
  c.clock.advance(9_999);
  r2.onTimer(c.clock.now());
  await settle();
  assert.equal(r2.state, "established");
  assert.equal(
    c.frames().filter((f) => f.type === "ping").length,
    1,
    "no second PING after the wake",
  );
  c.clock.advance(1); // t + 60 s
  r2.onTimer(c.clock.now());
  await settle();
  assert.equal(r2.state, "closed");
  assert.equal(r2.closeCode, 4008);
  assert.deepEqual(c.closed(), { code: 4008, reason: "idle timeout" });
  assert.ok(
    c.frames().some((f) => f.type === "close" && f.code === 4008),
    "authenticated CLOSE 4008",
  );
});

Deno.test("resume: a received record moves the saved idle clock; a clock ahead of now is clamped", async () => {
  const { c, snapshots } = await persisted();
  c.clock.advance(25_000);
  c.send([{ type: "padding", length: 0 }]);
  await waitFor(() =>
    decodeSessionSnapshot(snapshots[snapshots.length - 1]).idle!.lastRxAt === c.clock.now()
  );
  const rx = c.clock.now();
  c.clock.advance(1_000);
  const r = resume(c, snapshots);
  assert.equal(r.nextDeadline(), rx + IDLE / 2);
  // A snapshot from a clock ahead of this one cannot push the deadline past now + idle.
  const ahead = snapshots.length;
  c.clock.t -= 120_000;
  const r2 = resume(c, snapshots.slice(0, ahead));
  assert.equal(r2.nextDeadline(), c.clock.now() + IDLE / 2);
});

Deno.test("resume: a stream that finished before the eviction is not reset; one still open is", async () => {
  let stall = false;
  const handler: RequestHandler = (req) =>
    stall
      ? new Promise(() => {})
      : Promise.resolve(new Response(`ok ${new URL(req.url).pathname}`));
  const { c, snapshots } = await persisted(handler);
  const get = (path: string) =>
    encodeRequestHead({
      method: "GET",
      scheme: "https",
      authority: "a.example",
      path,
      headers: [],
    });
  const resetsAfter = (seen: number) =>
    c.frames().slice(seen).filter((f) => f.type === "reset_stream").map((f) =>
      (f as { stream: number }).stream
    );
  const before = snapshots.length;
  c.send([{ type: "headers", stream: 1, endStream: true, payload: get("/done") }]);
  await waitFor(
    () => c.frames().some((f) => f.type === "data" && f.stream === 1 && f.endStream),
    2000,
    "response",
  );
  await waitFor(() => c.server.openStreams === 0, 2000, "stream 1 forgotten");
  await settle();
  // One persist for the received record, one for the finished stream: no more.
  assert.equal(snapshots.length - before, 2, "persists for one finished request");
  assert.deepEqual(decodeSessionSnapshot(snapshots[snapshots.length - 1]).openStreams, []);
  // Evicted now: the wake must not reset stream 1, whose response the client already has.
  let seen = c.frames().length;
  const r1 = resume(c, snapshots, handler);
  await settle();
  assert.deepEqual(resetsAfter(seen), [], "a finished stream was reset after the wake");

  // A stream the client resets inside a record rides on that record's persist.
  stall = true;
  c.send([{ type: "headers", stream: 3, endStream: true, payload: get("/stall") }]);
  await waitFor(() => r1.openStreams === 1, 2000, "stream 3 open");
  const mid = snapshots.length;
  c.send([{ type: "reset_stream", stream: 3, errorCode: 8 }]);
  await waitFor(() => r1.openStreams === 0, 2000, "stream 3 reset");
  await settle();
  assert.equal(snapshots.length - mid, 1, "RESET_STREAM by the client: no extra persist");

  c.send([{ type: "headers", stream: 5, endStream: true, payload: get("/stall") }]);
  await waitFor(() => r1.openStreams === 1, 2000, "stream 5 open");
  await settle();
  seen = c.frames().length;
  resume(c, snapshots, handler);
  await settle();
  assert.deepEqual(resetsAfter(seen), [5], "only the stream that was open is reset");
});
