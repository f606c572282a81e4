import assert from "node:assert/strict";
import { toHex } from "../protocol/bytes.ts";
import { aes256gcm, chacha20poly1305 } from "../protocol/aead.ts";
import { seededRandom } from "../protocol/testing.ts";
import { nodeAead } from "./aead-node.ts";
import { loadNodeCrypto } from "./node-crypto.ts";

const nc = await loadNodeCrypto();

for (
  const [alg, ref] of [["aes-256-gcm", aes256gcm], ["chacha20-poly1305", chacha20poly1305]] as const
) {
  Deno.test(`node:crypto ${alg} is byte-identical to noble and rejects any tampering`, () => {
    const a = nodeAead(nc, alg);
    const rnd = seededRandom(alg);
    for (const n of [0, 1, 16, 17, 1024, 16384]) {
      const key = rnd(32), nonce = rnd(12), aad = rnd(10), pt = rnd(n);
      const ct = a.seal(key, nonce, aad, pt);
      assert.equal(toHex(ct), toHex(ref.seal(key, nonce, aad, pt)));
      assert.equal(toHex(a.open(key, nonce, aad, ct)!), toHex(pt));
      for (const i of [0, ct.length - 1]) {
        const t = new Uint8Array(ct);
        t[i] ^= 0x80;
        assert.equal(a.open(key, nonce, aad, t), null);
      }
      const badAad = new Uint8Array(aad);
      badAad[9] ^= 1;
      assert.equal(a.open(key, nonce, badAad, ct), null);
      assert.equal(a.open(key, nonce, aad, ct.subarray(0, 15)), null);
    }
    assert.throws(
      () => a.seal(new Uint8Array(31), new Uint8Array(12), new Uint8Array(0), new Uint8Array(1)),
      TypeError,
    );
    assert.throws(
      () => a.open(new Uint8Array(32), new Uint8Array(11), new Uint8Array(0), new Uint8Array(16)),
      TypeError,
    );
  });
}
