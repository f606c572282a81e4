import assert from "node:assert/strict";
import { x25519 } from "@noble/curves/ed25519.js";
import { fromHex, toHex } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { xwingNoble } from "../protocol/kem.ts";
import { seededRandom } from "../protocol/testing.ts";
import type { HybridKem } from "../protocol/types.ts";
import { loadNodeCrypto, nodeSha3, nodeX25519 } from "./node-crypto.ts";
import { CachedXWing } from "./xwing.ts";

interface Vector {
  seed: string;
  pk: string;
  eseed: string;
  ct: string;
  ss: string;
}
const VECTORS = (JSON.parse(
  Deno.readTextFileSync(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
) as { vectors: Vector[] }).vectors;

const nc = await loadNodeCrypto();
assert.ok(nc, "node:crypto must load on Deno");
const NATIVE = new CachedXWing({ x25519: nodeX25519(nc), sha3: nodeSha3(nc) });
const NOBLE_PARTS = new CachedXWing();
const KEMS: [string, CachedXWing][] = [["native parts", NATIVE], ["noble parts", NOBLE_PARTS]];

function code(fn: () => unknown): string {
  try {
    fn();
    return "none";
  } catch (e) {
    assert.ok(e instanceof PqgateError, `non-PqgateError escaped: ${e}`);
    return e.code;
  }
}

for (const [label, kem] of KEMS) {
  Deno.test(`CachedXWing (${label}): X-Wing draft vectors (keygen, encaps, decaps)`, () => {
    assert.ok(VECTORS.length >= 1);
    for (const v of VECTORS) {
      const seed = fromHex(v.seed);
      assert.equal(toHex(kem.keygen(seed).publicKey), v.pk);
      const e = kem.encapsulate(fromHex(v.pk), fromHex(v.eseed));
      assert.equal(toHex(e.cipherText), v.ct);
      assert.equal(toHex(e.sharedSecret), v.ss);
      assert.equal(toHex(kem.decapsulate(fromHex(v.ct), seed)), v.ss);
    }
  });

  Deno.test(`CachedXWing (${label}): byte-identical to xwingNoble, cached and uncached, incl. implicit rejection`, () => {
    const rnd = seededRandom(`xwing eq ${label}`);
    const k = new CachedXWing({ x25519: kem.x25519, sha3: kem.sha3 });
    for (let i = 0; i < 3; i++) {
      const seed = rnd(32);
      const pk = xwingNoble.keygen(seed).publicKey;
      assert.equal(toHex(k.keygen(seed).publicKey), toHex(pk));
      const eseed = rnd(64);
      const ref = xwingNoble.encapsulate(pk, eseed);
      const got = k.encapsulate(pk, eseed);
      assert.equal(toHex(got.cipherText), toHex(ref.cipherText));
      assert.equal(toHex(got.sharedSecret), toHex(ref.sharedSecret));
      const bad = new Uint8Array(ref.cipherText);
      bad[100] ^= 0x40; // ML-KEM part: implicit rejection
      const uncachedGood = k.decapsulate(ref.cipherText, seed);
      const uncachedBad = k.decapsulate(bad, seed);
      k.addStaticKeys([{ keyId: rnd(8), publicKey: pk, secretKey: seed }]);
      assert.ok(k.lookup(new Uint8Array(seed)), "content lookup hits");
      for (const ss of [uncachedGood, k.decapsulate(ref.cipherText, seed)]) {
        assert.equal(toHex(ss), toHex(ref.sharedSecret));
      }
      const nobleBad = xwingNoble.decapsulate(bad, seed);
      assert.notEqual(toHex(nobleBad), toHex(ref.sharedSecret));
      assert.equal(toHex(uncachedBad), toHex(nobleBad));
      assert.equal(toHex(k.decapsulate(bad, seed)), toHex(nobleBad));
    }
    k.clearStaticKeys();
  });

  Deno.test(`CachedXWing (${label}): same error codes as xwingNoble`, () => {
    const rnd = seededRandom(`xwing err ${label}`);
    const seed = rnd(32), eseed = rnd(64);
    const pk = xwingNoble.keygen(seed).publicKey;
    const ct = xwingNoble.encapsulate(pk, eseed).cipherText;
    const lowPk = new Uint8Array(pk);
    lowPk.fill(0, 1184); // pk_X = 0: low order
    const lowPk1 = new Uint8Array(lowPk);
    lowPk1[1184] = 1;
    const badMod = new Uint8Array(pk);
    badMod[0] = 0xff;
    badMod[1] |= 0x0f; // first coefficient 0xfff ≥ q
    const lowCt = new Uint8Array(ct);
    lowCt.fill(0, 1088);
    const cases: [string, (k: HybridKem) => unknown][] = [
      ["short seed", (k) => k.keygen(new Uint8Array(31))],
      ["short eseed", (k) => k.encapsulate(pk, new Uint8Array(63))],
      ["short pk", (k) => k.encapsulate(pk.subarray(1), eseed)],
      ["low-order pk_X 0", (k) => k.encapsulate(lowPk, eseed)],
      ["low-order pk_X 1", (k) => k.encapsulate(lowPk1, eseed)],
      ["modulus", (k) => k.encapsulate(badMod, eseed)],
      ["short ct", (k) => k.decapsulate(ct.subarray(1), seed)],
      ["short sk", (k) => k.decapsulate(ct, seed.subarray(1))],
      ["low-order ct_X", (k) => k.decapsulate(lowCt, seed)],
    ];
    for (const [what, f] of cases) {
      const want = code(() => f(xwingNoble));
      assert.notEqual(want, "none", what);
      assert.equal(code(() => f(kem)), want, what);
    }
  });
}

Deno.test("CachedXWing: addStaticKeys refuses a public key that does not match the seed", () => {
  const k = new CachedXWing();
  const rnd = seededRandom("mismatch");
  const seed = rnd(32);
  const other = xwingNoble.keygen(rnd(32)).publicKey;
  assert.equal(
    code(() => k.addStaticKeys([{ keyId: rnd(8), publicKey: other, secretKey: seed }])),
    "internal_error",
  );
});

Deno.test("CachedXWing: a mutated registered seed misses the cache (no stale key is used)", () => {
  const k = new CachedXWing({ x25519: NATIVE.x25519, sha3: NATIVE.sha3 });
  const rnd = seededRandom("mutate");
  const seed = rnd(32);
  const pk = xwingNoble.keygen(seed).publicKey;
  k.addStaticKeys([{ keyId: rnd(8), publicKey: pk, secretKey: seed }]);
  const other = new Uint8Array(seed);
  other[0] ^= 1;
  assert.equal(k.lookup(other), null);
  const e = xwingNoble.encapsulate(xwingNoble.keygen(other).publicKey, rnd(64));
  assert.equal(toHex(k.decapsulate(e.cipherText, other)), toHex(e.sharedSecret));
});

Deno.test("node:crypto X25519 equals noble and rejects low-order points", () => {
  const x = nodeX25519(nc);
  const rnd = seededRandom("x25519");
  for (let i = 0; i < 5; i++) {
    const a = rnd(32), b = rnd(32);
    const pb = x25519.getPublicKey(b);
    assert.equal(toHex(x.publicKey(a)), toHex(x25519.getPublicKey(a)));
    assert.equal(toHex(x.sharedSecret(a, pb)), toHex(x25519.getSharedSecret(a, pb)));
    assert.equal(toHex(x.prepareSecret!(a).sharedSecret(pb)), toHex(x25519.getSharedSecret(a, pb)));
    // One-import ephemeral (the encapsulation's X25519 half): same ss_X and ct_X as noble.
    const e = x.ephemeral!(a, pb);
    assert.equal(toHex(e.sharedSecret), toHex(x25519.getSharedSecret(a, pb)));
    assert.equal(toHex(e.publicKey), toHex(x25519.getPublicKey(a)));
  }
  for (const u of [0, 1]) {
    const lo = new Uint8Array(32);
    lo[0] = u;
    assert.throws(() => x.sharedSecret(rnd(32), lo));
    assert.throws(() => x.ephemeral!(rnd(32), lo));
  }
});
