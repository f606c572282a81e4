import assert from "node:assert/strict";
import { loadArgon2Module, wasmArgon2 } from "./argon2.ts";
import { hashPassword } from "./hash-password.ts";
import { resolveLimits } from "./limits.ts";
import { type Argon2Backend, DEFAULT_ARGON2 } from "./options.ts";
import { PasswordVerifier } from "./password.ts";
import { parseUsersFile } from "./users-file.ts";

const backend = await wasmArgon2(await loadArgon2Module());
const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const enc = (s: string) => new TextEncoder().encode(s);
const CHEAP = { m: 1024, t: 1, p: 1, hashLength: 32 };

async function users(params = CHEAP) {
  return parseUsersFile(
    `alice:${await hashPassword(enc("correct horse"), backend, rnd, params)}\n` +
      `bob:${await hashPassword(enc("battery staple"), backend, rnd, params)}\n`,
  );
}

/** A backend that counts calls (and can be slowed), around the real one. */
function counting(inner: Argon2Backend = backend) {
  const c = { calls: 0, hash: inner.hash.bind(inner) };
  return Object.assign(c, {
    hash: (...a: Parameters<Argon2Backend["hash"]>) => {
      c.calls++;
      return inner.hash(...a);
    },
  });
}

Deno.test("password: right password, wrong password, unknown user", async () => {
  let now = 0;
  const b = counting();
  const v = new PasswordVerifier(await users(), resolveLimits(), {
    backend: b,
    now: () => now,
    random: rnd,
  });
  assert.deepEqual(await v.verify("alice", enc("correct horse"), "192.0.2.1"), {
    ok: true,
    identity: { method: "password", subject: "alice" },
  });
  assert.deepEqual(await v.verify("alice", enc("correct horsf"), "192.0.2.1"), {
    ok: false,
    reason: "bad_credentials",
  });
  assert.deepEqual(await v.verify("bob", enc("correct horse"), "192.0.2.1"), {
    ok: false,
    reason: "bad_credentials",
  });
  assert.deepEqual(await v.verify("mallory", enc("correct horse"), "192.0.2.1"), {
    ok: false,
    reason: "bad_credentials",
  });
  assert.deepEqual(await v.verify("not a user name!", enc("correct horse"), null), {
    ok: false,
    reason: "bad_credentials",
  });
  assert.equal(b.calls, 5); // unknown and malformed names cost a (dummy) verification too
  assert.deepEqual(await v.verify("alice", new Uint8Array(0), null), {
    ok: false,
    reason: "bad_credentials",
  });
  assert.deepEqual(await v.verify("alice", new Uint8Array(1025), null), {
    ok: false,
    reason: "bad_credentials",
  });
  assert.equal(b.calls, 5);
  now++;
});

Deno.test("password: failures back off per user and per address; success resets the user", async () => {
  let now = 1_000_000;
  const limits = resolveLimits({ freeFailures: 3, backoffBaseMs: 1000 });
  const b = counting();
  const v = new PasswordVerifier(await users(), limits, {
    backend: b,
    now: () => now,
    random: rnd,
  });
  for (let i = 0; i < 3; i++) {
    assert.equal((await v.verify("alice", enc("guess" + i + "xxxx"), `198.51.100.${i}`)).ok, false);
  }
  // The user is now backing off, whatever address asks, and nothing is verified.
  const calls = b.calls;
  assert.deepEqual(await v.verify("alice", enc("correct horse"), "203.0.113.9"), {
    ok: false,
    reason: "rate_limited",
    retryAfterMs: 1000,
  });
  assert.equal(b.calls, calls);
  now += 1000;
  assert.equal((await v.verify("alice", enc("correct horse"), "203.0.113.9")).ok, true);
  assert.equal(v.byUser.retryAfter("alice"), 0);
  // One address guessing many users backs off as an address.
  for (let i = 0; i < 3; i++) await v.verify(`u${i}`, enc("password"), "192.0.2.66");
  const r = await v.verify("bob", enc("battery staple"), "192.0.2.66");
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, "rate_limited");
  now += 1000;
  await v.verify("u9", enc("password"), "192.0.2.66");
  const r2 = await v.verify("bob", enc("battery staple"), "192.0.2.66");
  assert.deepEqual(r2, { ok: false, reason: "rate_limited", retryAfterMs: 2000 }); // doubled
});

Deno.test("password: failure-table keys are bounded (no entry per malformed name; addresses clipped)", async () => {
  const v = new PasswordVerifier(await users(), resolveLimits(), {
    backend,
    now: () => 0,
    random: rnd,
  });
  await v.verify("x".repeat(5000), enc("password"), "a".repeat(5000));
  assert.equal(v.byUser.size, 0);
  assert.equal(v.byAddress.size, 1);
  await v.verify("y".repeat(5000), enc("password"), "a".repeat(6000)); // same first 64 characters
  assert.equal(v.byAddress.size, 1);
  assert.equal(v.byUser.size, 0);
});

Deno.test("password: a failing backend answers busy and counts nothing against the client", async () => {
  const v = new PasswordVerifier(await users(), resolveLimits(), {
    backend: { hash: () => Promise.reject(new Error("worker died")) },
    now: () => 0,
    random: rnd,
  });
  assert.deepEqual(await v.verify("alice", enc("correct horse"), "192.0.2.1"), {
    ok: false,
    reason: "busy",
    retryAfterMs: 1000,
  });
  assert.equal(v.byUser.size + v.byAddress.size, 0);
});

Deno.test("password timing: unknown and known users cost the same (medians within 30%)", async () => {
  // Both at the default parameters: the dummy hash of unknown users uses them.
  const table = await users(DEFAULT_ARGON2);
  const v = new PasswordVerifier(table, resolveLimits({ freeFailures: 100 }), {
    backend,
    now: () => 0,
    random: rnd,
  });
  const N = 9;
  const known: number[] = [], unknown: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await v.verify("alice", enc("wrong password " + i), null);
    known.push(performance.now() - t);
    t = performance.now();
    await v.verify("nobody" + i, enc("wrong password " + i), null);
    unknown.push(performance.now() - t);
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[N >> 1];
  const [k, u] = [med(known), med(unknown)];
  assert.ok(
    Math.abs(k - u) / Math.max(k, u) < 0.3,
    `known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`,
  );
  // And a verification of the default parameters is real work, not a shortcut.
  assert.ok(u > 5, `unknown ${u} ms`);
});
