import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { expandLabel, nextTrafficSecret, trafficKeys } from "./traffic-keys.ts";
import { toHex } from "./bytes.ts";

/** Independent HKDF-Expand (RFC 5869 §2.3) on node:crypto HMAC. */
function hkdfExpand(prk: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  const out: number[] = [];
  let t = new Uint8Array(0);
  for (let i = 1; out.length < len; i++) {
    t = new Uint8Array(
      createHmac("sha256", prk).update(t).update(info).update(new Uint8Array([i])).digest(),
    );
    out.push(...t);
  }
  return new Uint8Array(out.slice(0, len));
}

function hkdfLabel(label: string, context: Uint8Array, len: number): Uint8Array {
  const full = new Uint8Array([..."pqgate1 " + label].map((c) => c.charCodeAt(0)));
  return new Uint8Array([len >> 8, len & 0xff, full.length, ...full, context.length, ...context]);
}

Deno.test("expandLabel matches an independent HKDF-Expand with the §4.2 HkdfLabel", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.stringMatching(/^[a-z ]{1,20}$/),
      fc.uint8Array({ maxLength: 64 }),
      fc.integer({ min: 1, max: 100 }),
      (secret, label, ctx, len) => {
        const got = expandLabel(secret, label, ctx, len);
        assert.equal(toHex(got), toHex(hkdfExpand(secret, hkdfLabel(label, ctx, len), len)));
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("trafficKeys / nextTrafficSecret follow §4.4", () => {
  const s = new Uint8Array(32).map((_, i) => i);
  const { key, iv } = trafficKeys(s);
  const empty = new Uint8Array(0);
  assert.equal(key.length, 32);
  assert.equal(iv.length, 12);
  assert.equal(toHex(key), toHex(hkdfExpand(s, hkdfLabel("key", empty, 32), 32)));
  assert.equal(toHex(iv), toHex(hkdfExpand(s, hkdfLabel("iv", empty, 12), 12)));
  const s1 = nextTrafficSecret(s);
  assert.equal(toHex(s1), toHex(hkdfExpand(s, hkdfLabel("traffic upd", empty, 32), 32)));
  assert.notEqual(toHex(trafficKeys(s1).key), toHex(key));
  // deterministic; the input is not modified
  assert.equal(toHex(nextTrafficSecret(s)), toHex(s1));
  assert.equal(s[5], 5);
  assert.ok(s1.buffer instanceof ArrayBuffer);
});

Deno.test("traffic-keys rejects bad arguments", () => {
  assert.throws(() => trafficKeys(new Uint8Array(31)), TypeError);
  assert.throws(() => nextTrafficSecret(new Uint8Array(33)), TypeError);
  assert.throws(() => expandLabel(new Uint8Array(32), "x", new Uint8Array(256), 32), RangeError);
  assert.throws(() => expandLabel(new Uint8Array(32), "x", new Uint8Array(0), 0), RangeError);
  assert.throws(() => expandLabel(new Uint8Array(32), "é", new Uint8Array(0), 32), TypeError);
});
