import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import fc from "fast-check";
import { aeadForSuite, aes256gcm, chacha20poly1305 } from "./aead.ts";
import { SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305 } from "./constants.ts";
import { fromHex, toHex } from "./bytes.ts";
import { PqgateError } from "./errors.ts";

/** Independent reference: node:crypto (OpenSSL / Deno's Rust crypto). */
function nodeSeal(
  alg: "aes-256-gcm" | "chacha20-poly1305",
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  pt: Uint8Array,
): string {
  // deno-lint-ignore no-explicit-any
  const c = createCipheriv(alg as any, key, nonce, { authTagLength: 16 } as any) as any;
  c.setAAD(aad);
  const out = [...c.update(pt), ...c.final(), ...c.getAuthTag()];
  return toHex(new Uint8Array(out));
}

const arb = fc.record({
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  aad: fc.uint8Array({ maxLength: 40 }),
  pt: fc.uint8Array({ maxLength: 300 }),
});

for (
  const [aead, alg] of [[aes256gcm, "aes-256-gcm"], [
    chacha20poly1305,
    "chacha20-poly1305",
  ]] as const
) {
  Deno.test(`${aead.name}: matches node:crypto and round-trips`, () => {
    fc.assert(
      fc.property(arb, ({ key, nonce, aad, pt }) => {
        const ct = aead.seal(key, nonce, aad, pt);
        assert.equal(ct.length, pt.length + 16);
        assert.equal(toHex(ct), nodeSeal(alg, key, nonce, aad, pt));
        const back = aead.open(key, nonce, aad, ct);
        assert.ok(back);
        assert.equal(toHex(back), toHex(pt));
      }),
      { numRuns: 60 },
    );
  });

  Deno.test(`${aead.name}: open returns null (never throws) on any tampering`, () => {
    fc.assert(
      fc.property(
        arb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom("ct", "aad", "nonce", "key", "truncate"),
        ({ key, nonce, aad, pt }, pos, delta, what) => {
          const ct = aead.seal(key, nonce, aad, pt);
          const k = Uint8Array.from(key), n = Uint8Array.from(nonce);
          let a = Uint8Array.from(aad), c = Uint8Array.from(ct);
          if (what === "ct") c[pos % c.length] ^= delta;
          if (what === "key") k[pos % 32] ^= delta;
          if (what === "nonce") n[pos % 12] ^= delta;
          if (what === "aad") a = a.length ? (a[pos % a.length] ^= delta, a) : new Uint8Array([1]);
          if (what === "truncate") c = c.subarray(0, pos % c.length);
          assert.equal(aead.open(k, n, a, c), null);
        },
      ),
      { numRuns: 200 },
    );
  });
}

Deno.test("AES-256-GCM known answer (NIST GCM test case 16 / McGrew-Viega)", () => {
  const key = fromHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  const iv = fromHex("cafebabefacedbaddecaf888");
  const pt = fromHex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
  );
  const aad = fromHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const ct = aes256gcm.seal(key, iv, aad, pt);
  assert.equal(
    toHex(ct),
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
      "76fc6ece0f4e1768cddf8853bb2d551b",
  );
});

Deno.test("ChaCha20-Poly1305 known answer (RFC 8439 §2.8.2)", () => {
  const key = fromHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = fromHex("070000004041424344454647");
  const aad = fromHex("50515253c0c1c2c3c4c5c6c7");
  const pt = new Uint8Array(
    [..."Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."]
      .map((c) => c.charCodeAt(0)),
  );
  const ct = chacha20poly1305.seal(key, nonce, aad, pt);
  assert.equal(toHex(ct.subarray(ct.length - 16)), "1ae10b594f09e26a7e902ecbd0600691");
  assert.equal(toHex(ct.subarray(0, 16)), "d31a8d34648e60db7b86afbc53ef7ec2");
});

Deno.test("aeadForSuite maps suites; unknown suite and bad key/nonce sizes throw", () => {
  assert.equal(aeadForSuite(SUITE_XWING_AES256GCM), aes256gcm);
  assert.equal(aeadForSuite(SUITE_XWING_CHACHA20POLY1305), chacha20poly1305);
  assert.throws(
    () => aeadForSuite(3),
    (e) => e instanceof PqgateError && e.code === "internal_error",
  );
  const z = new Uint8Array(32), n = new Uint8Array(12), e = new Uint8Array(0);
  assert.throws(() => aes256gcm.seal(z.subarray(1), n, e, e), TypeError);
  assert.throws(() => chacha20poly1305.open(z, n.subarray(1), e, new Uint8Array(16)), TypeError);
  assert.equal(aes256gcm.open(z, n, e, new Uint8Array(15)), null);
});
