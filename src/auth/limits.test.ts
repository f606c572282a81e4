import assert from "node:assert/strict";
import { FailureTable, resolveLimits, VerificationGate } from "./limits.ts";
import { AuthConfigError } from "./options.ts";

Deno.test("limits: defaults and bounds", () => {
  const l = resolveLimits();
  assert.equal(l.maxInFlight, 2);
  assert.equal(l.maxWaiting, 8);
  assert.equal(l.maxTrackedKeys, 10_000);
  assert.throws(() => resolveLimits({ maxInFlight: 0 }), AuthConfigError);
  assert.throws(() => resolveLimits({ maxInFlight: 65 }), AuthConfigError);
  assert.throws(() => resolveLimits({ maxWaiting: 1.5 }), AuthConfigError);
  assert.throws(() => resolveLimits({ backoffBaseMs: 1000, backoffMaxMs: 999 }), AuthConfigError);
});

Deno.test("gate: at most maxInFlight run, at most maxWaiting wait, the rest busy at once", async () => {
  const gate = new VerificationGate(2, 3, 10_000);
  let running = 0, peak = 0;
  const releases: (() => void)[] = [];
  const job = () =>
    new Promise<number>((resolve) => {
      running++;
      peak = Math.max(peak, running);
      releases.push(() => {
        running--;
        resolve(1);
      });
    });
  const results = Array.from({ length: 10 }, () => gate.run(job));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(gate.inFlight, 2);
  assert.equal(gate.waiting, 3);
  const settled = await Promise.race([
    Promise.all(results.slice(5)),
    new Promise((r) => setTimeout(() => r("pending"), 50)),
  ]);
  assert.deepEqual(settled, Array(5).fill({ busy: true }));
  while (releases.length) {
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  const done = await Promise.all(results.slice(0, 5));
  assert.deepEqual(done, Array(5).fill({ busy: false, value: 1 }));
  assert.equal(peak, 2);
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.waiting, 0);
});

Deno.test("gate: a wait longer than maxWaitMs is busy and leaves the wait list", async () => {
  const gate = new VerificationGate(1, 4, 30);
  let release!: () => void;
  const first = gate.run(() => new Promise<void>((r) => (release = r)));
  const second = await gate.run(() => Promise.resolve(2));
  assert.deepEqual(second, { busy: true });
  assert.equal(gate.waiting, 0);
  release();
  await first;
  assert.deepEqual(await gate.run(() => Promise.resolve(3)), { busy: false, value: 3 });
  // A failing job frees its slot too.
  await assert.rejects(gate.run(() => Promise.reject(new Error("x"))));
  assert.equal(gate.inFlight, 0);
});

Deno.test("failures: free failures, then exponential backoff, capped; TTL forgets", () => {
  let now = 1_000_000;
  const limits = resolveLimits({
    freeFailures: 2,
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    failureTtlMs: 60_000,
  });
  const t = new FailureTable(limits, () => now);
  t.fail("k");
  t.fail("k");
  assert.equal(t.retryAfter("k"), 100); // the 2nd failure reached the free allowance: base
  t.fail("k");
  assert.equal(t.retryAfter("k"), 200);
  t.fail("k");
  assert.equal(t.retryAfter("k"), 400);
  for (let i = 0; i < 50; i++) t.fail("k");
  assert.equal(t.retryAfter("k"), 1000);
  now += 600;
  assert.equal(t.retryAfter("k"), 400);
  now += 60_000;
  assert.equal(t.retryAfter("k"), 0);
  assert.equal(t.size, 0);
  t.fail("k");
  t.reset("k");
  assert.equal(t.retryAfter("k"), 0);
});

Deno.test("failures: the table never holds more than maxTrackedKeys; least recently failed go first", () => {
  const limits = resolveLimits({ maxTrackedKeys: 16, freeFailures: 1 });
  const t = new FailureTable(limits, () => 5000);
  t.fail("keep");
  for (let i = 0; i < 1000; i++) {
    t.fail(`addr${i}`);
    if (i % 10 === 0) t.fail("keep");
    assert.ok(t.size <= 16);
  }
  assert.equal(t.size, 16);
  assert.ok(t.retryAfter("keep") > 0);
  assert.equal(t.retryAfter("addr0"), 0);
  assert.ok(t.retryAfter("addr999") > 0);
});
