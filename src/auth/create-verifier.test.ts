import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { loadArgon2Module, wasmArgon2 } from "./argon2.ts";
import { createAuthVerifier } from "./create-verifier.ts";
import { hashPassword } from "./hash-password.ts";
import { AuthConfigError } from "./options.ts";
import { newPskLine, parsePskFile } from "./psk-file.ts";
import { parseUsersFile } from "./users-file.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const mainThread = await wasmArgon2(await loadArgon2Module());
const PASSWORD = "Tr0ub4dor&3-unique-marker";
const usersText = `alice:${await hashPassword(enc(PASSWORD), mainThread, rnd)}\n`;
const pskLine = newPskLine("sensor-1", rnd);
const ed = await generateKeyPair("EdDSA", { crv: "Ed25519" });
const edJwk = await exportJWK(ed.publicKey);
const token = () =>
  new SignJWT({ sub: "svc" }).setProtectedHeader({ alg: "EdDSA" }).setExpirationTime("1m").sign(
    ed.privateKey,
  );

Deno.test("createAuthVerifier: methods are what is configured", async () => {
  const none = createAuthVerifier({});
  assert.deepEqual([...none.methods], []);
  assert.equal(none.password, undefined);
  const all = createAuthVerifier({
    password: { users: parseUsersFile(usersText) },
    token: { keys: [{ jwk: edJwk }] },
    psk: { keys: parsePskFile(pskLine) },
  }, { argon2: mainThread });
  assert.deepEqual([...all.methods].sort(), ["password", "psk", "token"]);
  await all.ready();
  assert.deepEqual(all.psk!("sensor-1"), parsePskFile(pskLine).get("sensor-1"));
  assert.equal(all.psk!("sensor-2"), null);
  assert.equal(all.psk!("bad id"), null);
  assert.equal((await all.token!(await token(), null)).ok, true);
  assert.equal((await all.password!("alice", enc(PASSWORD), null)).ok, true);
  all.close();
  all.close();
  assert.throws(
    () => createAuthVerifier({ psk: { keys: new Map([["a", new Uint8Array(31)]]) } }),
    AuthConfigError,
  );
  assert.throws(() => createAuthVerifier({ limits: { maxInFlight: 0 } }), AuthConfigError);
});

Deno.test("createAuthVerifier on Deno: verifications run in the worker pool", async () => {
  const v = createAuthVerifier({ password: { users: parseUsersFile(usersText) } });
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const r = await v.password!("alice", enc(PASSWORD), "192.0.2.1");
    const r2 = await v.password!("alice", enc(PASSWORD), "192.0.2.1");
    clearInterval(timer);
    assert.equal(r.ok && r2.ok, true);
    assert.ok(ticks >= 4, `the event loop ran ${ticks} timer ticks during two verifications`);
  } finally {
    v.close();
  }
});

Deno.test("flood: in flight never exceeds the bound, the rest is busy, a token client is still served", async () => {
  const v = createAuthVerifier({
    password: { users: parseUsersFile(usersText) },
    token: { keys: [{ jwk: edJwk }] },
    psk: { keys: parsePskFile(pskLine) },
    limits: { maxInFlight: 2, maxWaiting: 4, maxWaitMs: 60_000, freeFailures: 100 },
  });
  try {
    let peak = 0, peakWaiting = 0;
    const sampler = setInterval(() => {
      const s = v.stats();
      peak = Math.max(peak, s.inFlight);
      peakWaiting = Math.max(peakWaiting, s.waiting);
    }, 1);
    const flood = Array.from(
      { length: 100 },
      (_, i) =>
        v.password!(i % 2 ? "alice" : `ghost${i}`, enc(`wrong-${i}-xxxx`), `198.51.100.${i}`),
    );
    const t0 = performance.now();
    const healthy = await v.token!(await token(), "203.0.113.5");
    const tokenMs = performance.now() - t0;
    assert.equal(healthy.ok, true);
    assert.notEqual(v.psk!("sensor-1"), null);
    const results = await Promise.all(flood);
    clearInterval(sampler);
    const busy = results.filter((r) => !r.ok && r.reason === "busy").length;
    const bad = results.filter((r) => !r.ok && r.reason === "bad_credentials").length;
    assert.equal(bad, 6, "2 in flight + 4 waiting were verified");
    assert.equal(busy, 94);
    assert.ok(results.every((r) => r.ok || r.reason !== "busy" || r.retryAfterMs === 1000));
    assert.ok(peak <= 2 && peakWaiting <= 4, `peak ${peak} in flight, ${peakWaiting} waiting`);
    assert.ok(tokenMs < 250, `token verified in ${tokenMs.toFixed(1)} ms during the flood`);
    assert.equal(v.stats().inFlight, 0);
  } finally {
    v.close();
  }
});

Deno.test("no credential in anything the verifiers log or throw", async () => {
  const seen: string[] = [];
  const saved = {
    log: console.log,
    error: console.error,
    warn: console.warn,
    info: console.info,
    debug: console.debug,
  };
  for (const k of Object.keys(saved) as (keyof typeof saved)[]) {
    console[k] = (...a: unknown[]) => seen.push(a.map(String).join(" "));
  }
  const key = pskLine.split(":")[1];
  try {
    const v = createAuthVerifier({
      password: { users: parseUsersFile(usersText) },
      token: { keys: [{ jwk: edJwk }] },
      psk: { keys: parsePskFile(pskLine) },
      limits: { freeFailures: 1 },
    }, { argon2: mainThread });
    const outcomes = [
      await v.password!("alice", enc(PASSWORD + "x"), "192.0.2.1"),
      await v.password!("alice", enc(PASSWORD), "192.0.2.1"),
      await v.password!(PASSWORD, enc(PASSWORD), "192.0.2.2"),
      await v.token!(PASSWORD, null),
      await v.token!((await token()).slice(0, -3) + "AAA", null),
    ];
    seen.push(JSON.stringify(outcomes));
    for (
      const bad of [`alice:${PASSWORD}`, `${PASSWORD}`, `a:$argon2id$v=19$m=1,t=1,p=1$${PASSWORD}`]
    ) {
      try {
        parseUsersFile(bad);
      } catch (e) {
        seen.push(String(e), (e as Error).stack ?? "");
      }
    }
    for (const bad of [`a:${key}x`, `${key}`, `a b:${key}`]) {
      try {
        parsePskFile(bad);
      } catch (e) {
        seen.push(String(e), (e as Error).stack ?? "");
      }
    }
    try {
      createAuthVerifier({ token: { keys: [{ secret: PASSWORD.slice(0, 10) }] } });
    } catch (e) {
      seen.push(String(e));
    }
  } finally {
    Object.assign(console, saved);
  }
  const all = seen.join("\n");
  assert.ok(seen.length >= 8);
  assert.ok(!all.includes("Tr0ub4dor"), all);
  assert.ok(!all.includes(key.slice(0, 16)), all);
});
