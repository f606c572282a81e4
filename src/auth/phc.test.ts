import assert from "node:assert/strict";
import { formatPhc, parsePhc, PHC_BOUNDS, PhcError } from "./phc.ts";
import { REFERENCE_PHC } from "./argon2-vectors.ts";

const SALT = "c29tZXNhbHQ"; // "somesalt"
const HASH = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
const phc = (m: number, t: number, p: number, salt = SALT, hash = HASH) =>
  `$argon2id$v=19$m=${m},t=${t},p=${p}$${salt}$${hash}`;

Deno.test("phc: parses the reference vector and formats it back", () => {
  const h = parsePhc(REFERENCE_PHC);
  assert.deepEqual(h.params, { m: 65536, t: 2, p: 1, hashLength: 32 });
  assert.equal(new TextDecoder().decode(h.salt), "somesalt");
  assert.equal(formatPhc(h), REFERENCE_PHC);
});

Deno.test("phc: bounds on m, t, p are inclusive and enforced", () => {
  parsePhc(phc(PHC_BOUNDS.m.min, PHC_BOUNDS.t.min, PHC_BOUNDS.p.min));
  parsePhc(phc(PHC_BOUNDS.m.max, PHC_BOUNDS.t.max, PHC_BOUNDS.p.max));
  assert.throws(() => parsePhc(phc(PHC_BOUNDS.m.max + 1, 2, 1)), /m must be in/);
  assert.throws(() => parsePhc(phc(PHC_BOUNDS.m.min - 1, 2, 1)), /m must be in/);
  assert.throws(() => parsePhc(phc(19456, PHC_BOUNDS.t.max + 1, 1)), /t must be in/);
  assert.throws(() => parsePhc(phc(19456, 2, PHC_BOUNDS.p.max + 1)), /p must be in/);
  assert.throws(() => parsePhc(phc(99999999, 2, 1)), /m must be in/);
  assert.throws(() => parsePhc(phc(999999999, 2, 1)), PhcError); // too many digits
});

Deno.test("phc: refuses other algorithms, versions, shapes, and non-canonical base64", () => {
  for (
    const bad of [
      REFERENCE_PHC.replace("argon2id", "argon2i"),
      REFERENCE_PHC.replace("v=19", "v=16"),
      REFERENCE_PHC.replace("$v=19", ""),
      REFERENCE_PHC.replace("m=65536,t=2,p=1", "t=2,m=65536,p=1"),
      REFERENCE_PHC.replace("m=65536", "m=065536"),
      REFERENCE_PHC + "$",
      REFERENCE_PHC + "=",
      phc(19456, 2, 1, SALT, HASH.slice(0, -1) + "d"), // trailing bits set
      phc(19456, 2, 1, "c29tZXNhbH", HASH), // 4n+2 chars with non-zero trailing bits
      phc(19456, 2, 1, "c29tZXN", HASH), // 7 bytes... of salt: under the minimum
      phc(19456, 2, 1, SALT, "AAAA"), // 3-byte hash
      phc(19456, 2, 1, SALT, "A".repeat(200)),
      "",
      " " + REFERENCE_PHC,
    ]
  ) assert.throws(() => parsePhc(bad), PhcError, bad);
});

Deno.test("phc: errors never echo the string", () => {
  const secretish = "$argon2id$v=19$m=19456,t=2,p=1$hunter2hunter2$hunter2hunter2hunter2";
  try {
    parsePhc(secretish.replace("m=19456", "m=1"));
    assert.fail("should throw");
  } catch (e) {
    assert.ok(!(e as Error).message.includes("hunter2"));
  }
});
