/**
 * The X-Wing self-test harness (self-test.ts): its stored answers are noble's, it passes every
 * correct backend (sync and async, deterministic or not) and names the first thing a broken one
 * gets wrong, without throwing.
 */
import assert from "node:assert/strict";
import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64Url, toHex } from "../protocol/bytes.ts";
import { xwingNoble } from "../protocol/kem.ts";
import type { HybridKem } from "../protocol/types.ts";
import { selfTestXWing, XWING_KAT, type XWingCandidate, type XWingVector } from "./self-test.ts";
import { CachedXWing } from "./xwing.ts";
import { WebCryptoMlKem, WebCryptoXWing } from "./xwing-webcrypto.ts";

const VECTORS = (JSON.parse(
  Deno.readTextFileSync(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
) as { vectors: XWingVector[] }).vectors;

Deno.test("the stored known answers are noble's X-Wing on the fixed inputs (recomputed here)", () => {
  const seed = XWING_KAT.seed(), eseed = XWING_KAT.eseed();
  const { publicKey } = xwingNoble.keygen(seed);
  assert.equal(toHex(sha256(publicKey)), XWING_KAT.pkSha256);
  const e = xwingNoble.encapsulate(publicKey, eseed);
  assert.equal(toHex(e.cipherText), toHex(fromBase64Url(XWING_KAT.ct)));
  assert.equal(toHex(e.sharedSecret), XWING_KAT.ss);
  const bad = new Uint8Array(e.cipherText);
  bad[0] ^= 1;
  assert.equal(toHex(xwingNoble.decapsulate(bad, seed)), XWING_KAT.ssRejected);
  assert.notEqual(XWING_KAT.ssRejected, XWING_KAT.ss);
});

Deno.test("correct backends pass: xwingNoble and CachedXWing (deterministic, + draft vectors), WebCrypto X-Wing (not deterministic)", async () => {
  for (const kem of [xwingNoble, new CachedXWing()]) {
    const r = await selfTestXWing(kem, { deterministic: true, vectors: VECTORS });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.kem, kem);
  }
  const mlkem = WebCryptoMlKem.create();
  assert.ok(mlkem, "Deno 2.9 has WebCrypto ML-KEM");
  const r = await selfTestXWing(new WebCryptoXWing({ mlkem }), { vectors: VECTORS });
  assert.ok(r.ok, r.ok ? "" : r.reason);
  // WebCrypto draws the ML-KEM message itself: it is not noble's encapsulation.
  const d = await selfTestXWing(new WebCryptoXWing({ mlkem }), { deterministic: true });
  assert.deepEqual(d, { ok: false, reason: "encapsulation differs from noble" });
});

/** xwingNoble with one operation replaced. */
function broken(over: Partial<HybridKem>): XWingCandidate<Uint8Array> {
  return { ...xwingNoble, name: "broken", ...over };
}

Deno.test("a wrong backend is rejected with the reason (and the harness never throws)", async () => {
  const flip = (b: Uint8Array) => {
    const c = new Uint8Array(b);
    c[c.length - 1] ^= 1;
    return c;
  };
  const kat = fromBase64Url(XWING_KAT.ct);
  const cases: [XWingCandidate<Uint8Array>, string][] = [
    [
      broken({
        keygen: (s) => ({
          ...xwingNoble.keygen(s),
          publicKey: flip(xwingNoble.keygen(s).publicKey),
        }),
      }),
      "keygen: public key differs from noble",
    ],
    [
      broken({ decapsulate: (c, s) => flip(xwingNoble.decapsulate(c, s)) }),
      "decapsulation of noble's ciphertext differs",
    ],
    [
      // Right for noble's ciphertext, wrong for any other (implicit rejection included).
      broken({
        decapsulate: (c, s) =>
          toHex(c) === toHex(kat) ? xwingNoble.decapsulate(c, s) : new Uint8Array(32),
      }),
      "implicit rejection differs from noble",
    ],
    [
      // Accepts a low-order ct_X (returns some secret instead of refusing).
      broken({
        decapsulate: (c, s) => {
          try {
            return xwingNoble.decapsulate(c, s);
          } catch {
            return new Uint8Array(32);
          }
        },
      }),
      "a low-order ct_X was accepted",
    ],
    [
      broken({
        encapsulate: (p, e) => {
          try {
            return xwingNoble.encapsulate(p, e);
          } catch {
            return xwingNoble.encapsulate(xwingNoble.keygen(new Uint8Array(32)).publicKey, e);
          }
        },
      }),
      "a low-order pk_X was accepted",
    ],
    [
      broken({
        encapsulate: (p, e) => ({
          ...xwingNoble.encapsulate(p, e),
          sharedSecret: new Uint8Array(32),
        }),
      }),
      "encapsulation differs from noble",
    ],
    [
      broken({
        keygen: () => {
          throw new Error("no keygen today");
        },
      }),
      "no keygen today",
    ],
  ];
  for (const [kem, reason] of cases) {
    assert.deepEqual(await selfTestXWing(kem, { deterministic: true }), { ok: false, reason });
  }
  // Not deterministic: the secret must still be what the ciphertext decapsulates to.
  assert.deepEqual(
    await selfTestXWing(
      broken({
        encapsulate: (p, e) => ({
          ...xwingNoble.encapsulate(p, e),
          sharedSecret: new Uint8Array(32),
        }),
      }),
    ),
    { ok: false, reason: "encapsulation does not decapsulate to its secret" },
  );
  // A wrong vector is named as such.
  const wrong = { ...VECTORS[0], ss: "00".repeat(32) };
  assert.deepEqual(await selfTestXWing(xwingNoble, { deterministic: true, vectors: [wrong] }), {
    ok: false,
    reason: "vector: decapsulation of noble's ciphertext differs",
  });
});
