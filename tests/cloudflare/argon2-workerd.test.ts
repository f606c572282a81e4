/**
 * Argon2id in workerd (the Worker runtime): the same known answers as on Deno
 * (src/auth/argon2-vectors.ts), and createAuthVerifier's password method with the module
 * shipped as a CompiledWasm binding (no run-time compilation).
 */
import assert from "node:assert/strict";
import { RFC9106_ARGON2ID_TAG } from "../../src/auth/argon2-vectors.ts";
import { loadArgon2Module, wasmArgon2 } from "../../src/auth/argon2.ts";
import { hashPassword } from "../../src/auth/hash-password.ts";
import { startArgon2Worker } from "./argon2-workerd.ts";

Deno.test({
  name: "cf workers: Argon2id known answers and password verification in workerd",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const backend = await wasmArgon2(await loadArgon2Module());
    const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    const users = `alice:${await hashPassword(
      new TextEncoder().encode("correct horse"),
      backend,
      rnd,
    )}\n`;
    const w = await startArgon2Worker(users);
    try {
      const kat = await (await w.mf.dispatchFetch(`${w.url}kat`)).json() as {
        rfc9106: string;
        referencePhc: boolean;
        runtime: string;
      };
      assert.equal(kat.rfc9106, RFC9106_ARGON2ID_TAG);
      assert.equal(kat.referencePhc, true);
      assert.equal(kat.runtime, "Cloudflare-Workers");
      const ok = await (await w.mf.dispatchFetch(`${w.url}verify?u=alice&p=correct%20horse`))
        .json();
      assert.deepEqual(ok, { ok: true, identity: { method: "password", subject: "alice" } });
      const bad = await (await w.mf.dispatchFetch(`${w.url}verify?u=alice&p=correct%20horsf`))
        .json();
      assert.deepEqual(bad, { ok: false, reason: "bad_credentials" });
      const ghost = await (await w.mf.dispatchFetch(`${w.url}verify?u=ghost&p=correct%20horse`))
        .json();
      assert.deepEqual(ghost, { ok: false, reason: "bad_credentials" });
    } finally {
      await w.close();
    }
  },
});
