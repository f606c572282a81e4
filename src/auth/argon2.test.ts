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
    pool.close();
  }
});

Deno.test("argon2id worker pool: a worker module that cannot load fails each job and leaves no worker alive (no respawn loop)", async () => {
  const missing = new URL("./no-such-argon2-worker.ts", import.meta.url);
  const pool = createArgon2WorkerPool(2, missing);
  try {
    const params = { m: 1024, t: 1, p: 1, hashLength: 32 };
    const pw = new TextEncoder().encode("password1");
    const salt = new Uint8Array(16).fill(3);
    for (let i = 0; i < 3; i++) {
      // The job fails with its worker (no hang, nothing about the input in the error).
      await assert.rejects(
        pool.hash(pw, salt, params),
        (e: Error) => !e.message.includes("password1"),
      );
      assert.equal(pool.liveWorkers(), 0, "a failed worker is not restarted until the next job");
    }
  } finally {
    pool.close();
  }
});

Deno.test("argon2id worker pool: workers start on demand and exit when idle (bounded idle memory; the process can exit)", async () => {
  const pool = createArgon2WorkerPool(2, undefined, 50);
  try {
    assert.equal(pool.liveWorkers(), 0, "no worker before the first job");
    const params = { m: 1024, t: 1, p: 1, hashLength: 32 };
    const tag = await pool.hash(new TextEncoder().encode("pw"), new Uint8Array(16), params);
    assert.equal(tag.length, 32);
    assert.equal(pool.liveWorkers(), 1, "one job started one worker");
    const deadline = Date.now() + 5_000;
    while (pool.liveWorkers() > 0) {
      assert.ok(Date.now() < deadline, "the idle worker did not exit");
      await new Promise((r) => setTimeout(r, 10));
    }
    // The next job starts a worker again.
    assert.equal(
      (await pool.hash(new TextEncoder().encode("pw"), new Uint8Array(16), params)).length,
      32,
    );
  } finally {
    pool.close();
  }
});
