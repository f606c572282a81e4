import assert from "node:assert/strict";
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { argon2idFunction, loadArgon2Module, wasmArgon2 } from "./argon2.ts";
import { createArgon2WorkerPool } from "./argon2-pool.ts";
import { REFERENCE_PHC, RFC9106_ARGON2ID_TAG, rfc9106Tag } from "./argon2-vectors.ts";
import { parsePhc } from "./phc.ts";
import { equalBytes } from "@noble/ciphers/utils.js";

const module = await loadArgon2Module();

Deno.test("argon2id: RFC 9106 §5.3 vector", async () => {
  assert.deepEqual(rfc9106Tag(await argon2idFunction(module)), RFC9106_ARGON2ID_TAG);
});

Deno.test("argon2id: the reference implementation's PHC vector, through the backend", async () => {
  const phc = parsePhc(REFERENCE_PHC);
  const b = await wasmArgon2(module);
  const tag = await b.hash(new TextEncoder().encode("password"), phc.salt, phc.params);
  assert.deepEqual(equalBytes(tag, phc.hash), true);
});

Deno.test("argon2id: agrees with @noble/hashes at the default parameters", async () => {
  const b = await wasmArgon2(module);
  const pw = new TextEncoder().encode("correct horse battery");
  const salt = new Uint8Array(16).fill(9);
  const tag = await b.hash(pw, salt, { m: 19456, t: 2, p: 1, hashLength: 32 });
  assert.deepEqual(tag, nobleArgon2id(pw, salt, { m: 19456, t: 2, p: 1, dkLen: 32 }));
});

Deno.test("argon2id worker pool: same tags as the main thread, one job per worker", async () => {
  const pool = createArgon2WorkerPool(2);
  try {
    const b = await wasmArgon2(module);
    const params = { m: 1024, t: 1, p: 1, hashLength: 32 };
    const pw = new TextEncoder().encode("password1");
    const salt = new Uint8Array(16).fill(3);
    const [x, y] = await Promise.all([pool.hash(pw, salt, params), pool.hash(pw, salt, params)]);
    const want = await b.hash(pw, salt, params);
    assert.deepEqual(x, want);
    assert.deepEqual(y, want);
    // A third job while two run finds no idle worker: the pool is no queue.
    const a = pool.hash(pw, salt, params);
    const c = pool.hash(pw, salt, params);
    await assert.rejects(pool.hash(pw, salt, params), /no idle worker/);
    await Promise.all([a, c]);
    // Short passwords are computed correctly (the package's length checks are inert).
    const short = new Uint8Array([1, 2, 3]);
    assert.deepEqual(
      await pool.hash(short, salt, params),
      nobleArgon2id(short, salt, { m: 1024, t: 1, p: 1, dkLen: 32 }),
    );
    assert.deepEqual(pw, new TextEncoder().encode("password1")); // the caller's bytes are untouched
  } finally {
    pool.close?.();
  }
});
