import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { fromBase64Url, fromHex, toBase64Url, toHex } from "./bytes.ts";
import { PqgateError } from "./errors.ts";
import { generateStaticKey, keyIdFor, parsePin, pinFor, pinMatches } from "./static-keys.ts";
import { xwingNoble } from "./kem.ts";

const vectors = JSON.parse(
  Deno.readTextFileSync(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
) as { vectors: { seed: string; pk: string }[] };

Deno.test('keyIdFor = first 8 bytes of SHA-256("pqgate/1 key id" || pk) (§8)', () => {
  for (const v of vectors.vectors) {
    const pk = fromHex(v.pk);
    const ref = createHash("sha256").update("pqgate/1 key id").update(pk).digest().subarray(0, 8);
    assert.equal(toHex(keyIdFor(pk)), ref.toString("hex"));
  }
  assert.throws(() => keyIdFor(new Uint8Array(10)), PqgateError);
});

Deno.test("pinFor = sha256: + base64url(SHA-256(pk)) without padding; pinMatches", () => {
  const pk = fromHex(vectors.vectors[0].pk);
  const other = fromHex(vectors.vectors[1].pk);
  const pin = pinFor(pk);
  const ref = "sha256:" + createHash("sha256").update(pk).digest().toString("base64url");
  assert.equal(pin, ref);
  assert.match(pin, /^sha256:[A-Za-z0-9_-]{43}$/);
  assert.ok(pinMatches(pin, pk));
  assert.ok(!pinMatches(pin, other));
  assert.ok(!pinMatches(pin + "A", pk));
  assert.ok(!pinMatches(pin.replace("sha256:", "sha384:"), pk));
  assert.ok(!pinMatches(pin + "=", pk));
  assert.ok(!pinMatches("sha256:", pk));
  assert.ok(!pinMatches(pin, pk.subarray(0, 100)));
  assert.equal(parsePin(pin)!.length, 32);
  assert.equal(parsePin("nonsense"), null);
});

Deno.test("base64url helpers agree with Buffer and reject non-canonical input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      const s = toBase64Url(b);
      assert.equal(s, Buffer.from(b).toString("base64url"));
      assert.equal(toHex(fromBase64Url(s)), toHex(b));
    }),
    { numRuns: 300 },
  );
  for (
    const bad of ["A", "AB=", "A+", "A/", "AB", "ABC", "AA\u00e9A", "AA\u0100A", "AA A", "AA\nA"]
  ) {
    // "AB" and "ABC" have non-zero trailing bits (B = 1): non-canonical; non-ASCII, whitespace
    assert.throws(() => fromBase64Url(bad), TypeError, bad);
  }
  assert.equal(toHex(fromBase64Url("AA")), "00");
  assert.equal(toHex(fromBase64Url("")), "");
});

Deno.test("generateStaticKey derives the key pair and default key id from a seed", () => {
  const v = vectors.vectors[2];
  const k = generateStaticKey(fromHex(v.seed));
  assert.equal(toHex(k.publicKey), v.pk);
  assert.equal(toHex(k.secretKey), v.seed);
  assert.equal(toHex(k.keyId), toHex(keyIdFor(k.publicKey)));
  const custom = generateStaticKey(fromHex(v.seed), {
    keyId: new Uint8Array(8).fill(7),
    kem: xwingNoble,
  });
  assert.equal(toHex(custom.keyId), "0707070707070707");
  assert.throws(() => generateStaticKey(new Uint8Array(16)), PqgateError);
  assert.throws(
    () => generateStaticKey(fromHex(v.seed), { keyId: new Uint8Array(4) }),
    PqgateError,
  );
});
