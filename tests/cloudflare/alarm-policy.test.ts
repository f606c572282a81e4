/**
 * The Durable Object's alarm policy (src/transport/cloudflare/alarm-policy.ts) on its own: the
 * pure decision, the earliest deadline across sessions, and the storage reads and writes of
 * `DeadlineAlarm` over the workerd doubles (fakes.ts). The object's use of it is covered by
 * session-object.test.ts, real alarms by workers-idle.test.ts.
 */
import assert from "node:assert/strict";
import {
  alarmChange,
  type AlarmInputs,
  DeadlineAlarm,
  earliestDeadline,
  runOverdue,
} from "../../src/transport/cloudflare/alarm-policy.ts";
import type { HibernatableWebSocket } from "../../src/transport/cloudflare/platform.ts";
import type { GatewaySession } from "../../src/tunnel/session-seam.ts";
import { FakeContext, FakeWebSocket } from "./fakes.ts";

const NOW = 1_000_000;
const at = (i: Partial<AlarmInputs>): AlarmInputs => ({
  next: NOW + 60_000,
  scheduled: null,
  now: NOW,
  open: 1,
  live: 1,
  ...i,
});

Deno.test("alarm policy: no alarm yet → set for the earliest deadline", () => {
  assert.deepEqual(alarmChange(at({})), { at: NOW + 60_000 });
});

Deno.test("alarm policy: a later deadline keeps an alarm within half the remaining time", () => {
  // Early by 20 s of 60 s remaining: kept (no storage write per message).
  assert.equal(alarmChange(at({ scheduled: NOW + 40_000 })), "keep");
  // Exactly at the deadline: kept.
  assert.equal(alarmChange(at({ scheduled: NOW + 60_000 })), "keep");
  // Early by more than half (the handshake deadline once the handshake is done): moved.
  assert.deepEqual(alarmChange(at({ scheduled: NOW + 10_000 })), { at: NOW + 60_000 });
});

Deno.test("alarm policy: the slack is at least one second", () => {
  const next = NOW + 500;
  assert.equal(alarmChange(at({ next, scheduled: next - 999 })), "keep");
  assert.deepEqual(alarmChange(at({ next, scheduled: next - 1001 })), { at: next });
});

Deno.test("alarm policy: an alarm later than the deadline always moves earlier", () => {
  assert.deepEqual(alarmChange(at({ scheduled: NOW + 61_000 })), { at: NOW + 60_000 });
  // Even with sockets not rebuilt since a wake: earlier is always safe.
  assert.deepEqual(
    alarmChange(at({ scheduled: NOW + 61_000, open: 3, live: 1 })),
    { at: NOW + 60_000 },
  );
});

Deno.test("alarm policy: never later while sockets are not rebuilt since a wake", () => {
  // The pending alarm may be the deadline of a socket that is not in memory.
  assert.equal(alarmChange(at({ scheduled: NOW + 5_000, open: 2, live: 1 })), "keep");
  // Every socket rebuilt: the early alarm moves.
  assert.deepEqual(alarmChange(at({ scheduled: NOW + 5_000, open: 2, live: 2 })), {
    at: NOW + 60_000,
  });
});

Deno.test("alarm policy: no deadline → delete only when no socket is open", () => {
  assert.equal(alarmChange(at({ next: Infinity, scheduled: NOW, open: 0, live: 0 })), "delete");
  assert.equal(alarmChange(at({ next: Infinity, scheduled: NOW, open: 1, live: 0 })), "keep");
  assert.equal(alarmChange(at({ next: Infinity, scheduled: null, open: 0, live: 0 })), "keep");
});

Deno.test("alarm policy: earliestDeadline skips sessions without a finite deadline", () => {
  const s = (d: number | null) => ({ nextDeadline: () => d });
  assert.equal(earliestDeadline([]), Infinity);
  assert.equal(earliestDeadline([s(null), s(NaN), s(Infinity)]), Infinity);
  assert.equal(earliestDeadline([s(30), s(null), s(10), s(20)]), 10);
});

Deno.test("alarm policy: runOverdue runs the restored session's timer at the wake time", () => {
  const seen: number[] = [];
  runOverdue({ onTimer: (now) => seen.push(now) }, NOW);
  assert.deepEqual(seen, [NOW]);
});

/** A session double with a settable deadline. */
function session(deadline: number | null): GatewaySession & { deadline: number | null } {
  return {
    deadline,
    state: "established",
    receive() {},
    onSocketClose() {},
    nextDeadline() {
      return this.deadline;
    },
    onTimer() {},
    shutdown() {},
  };
}

Deno.test("DeadlineAlarm: reads storage once, writes only on a change, re-reads after forget", async () => {
  const ctx = new FakeContext();
  let reads = 0;
  const getAlarm = ctx.storage.getAlarm.bind(ctx.storage);
  ctx.storage.getAlarm = () => (reads++, getAlarm());
  const ws = new FakeWebSocket();
  ctx.acceptWebSocket(ws);
  const alarm = new DeadlineAlarm(ctx);
  const s = session(Date.now() + 60_000);
  const sessions = new Map<HibernatableWebSocket, GatewaySession>([[ws, s]]);

  await alarm.arm(sessions);
  assert.equal(reads, 1);
  assert.equal(ctx.storage.writes, 1);
  assert.equal(ctx.storage.alarm, s.deadline);

  // The idle deadline moves a little later: no read, no write.
  s.deadline! += 1_000;
  await alarm.arm(sessions);
  assert.equal(reads, 1);
  assert.equal(ctx.storage.writes, 1);

  // Fired: cleared without a read; the next arm sets it again.
  ctx.storage.alarm = null;
  alarm.fired();
  await alarm.arm(sessions);
  assert.equal(reads, 1);
  assert.equal(ctx.storage.writes, 2);
  assert.equal(ctx.storage.alarm, s.deadline);

  // After a wake the alarm is unknown: read again.
  alarm.forget();
  await alarm.arm(sessions);
  assert.equal(reads, 2);
  assert.equal(ctx.storage.writes, 2);

  // Closed and gone: deleted.
  s.deadline = null;
  ws.readyState = 3;
  await alarm.arm(new Map());
  assert.equal(ctx.storage.alarm, null);
  assert.equal(ctx.storage.writes, 3);
});
