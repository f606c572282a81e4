/**
 * The native WebCrypto X-Wing (xwing-webcrypto.ts) and its selection on an injected SubtleCrypto
 * (missing or broken pieces). The roles through whole handshakes: select.test.ts (gateway) and
 * src/client/webcrypto-kem.test.ts (client).
 */
import assert from "node:assert/strict";
import { fromBase64Url, fromHex, toHex } from "../protocol/bytes.ts";
import { xwingNoble } from "../protocol/kem.ts";
import { seededRandom } from "../protocol/testing.ts";
import { nobleX25519 } from "./primitives.ts";
import { XWING_KAT, type XWingVector } from "./self-test.ts";
import {
  asyncX25519,
  selectWebCryptoXWing,
  WebCryptoMlKem,
  WebCryptoXWing,
} from "./xwing-webcrypto.ts";
import { PreparedClientXWing } from "./xwing-webcrypto-client.ts";
import { WebCryptoXWingBackend } from "./xwing-webcrypto-server.ts";

const VECTORS = (JSON.parse(
  Deno.readTextFileSync(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
) as { vectors: XWingVector[] }).vectors;

type Subtle = Record<string, (...a: unknown[]) => Promise<unknown>>;
const real = crypto.subtle as unknown as Subtle;
/** crypto.subtle with some methods replaced. */
const wrap = (override: Subtle) =>
  new Proxy(real, {
    get: (t, p: string) =>
      p in override ? override[p] : typeof t[p] === "function" ? t[p].bind(t) : t[p],
  });

Deno.test("Deno: the selection picks ML-KEM and X25519 WebCrypto, no fallback", async () => {
  const r = await selectWebCryptoXWing();
  assert.deepEqual(r.fallbacks, []);
  assert.equal(r.kem?.name, "X-Wing (ML-KEM WebCrypto, X25519 WebCrypto)");
});

Deno.test("native keygen and decapsulation = the draft vectors and noble; encapsulation decapsulates with noble", async () => {
  const mlkem = WebCryptoMlKem.create()!;
  for (const xw of [new WebCryptoXWing({ mlkem }), (await selectWebCryptoXWing()).kem!]) {
    for (const v of VECTORS) {
      const seed = fromHex(v.seed);
      const { publicKey, secretKey } = await xw.keygen(seed);
      assert.equal(toHex(publicKey), v.pk);
      assert.equal(toHex(await xw.decapsulate(fromHex(v.ct), secretKey)), v.ss);
      const e = await xw.encapsulate(publicKey, fromHex(v.eseed));
      assert.equal(toHex(e.cipherText.subarray(1088)), v.ct.slice(2 * 1088)); // ct_X from eseed
      assert.equal(toHex(xwingNoble.decapsulate(e.cipherText, seed)), toHex(e.sharedSecret));
    }
    const rnd = seededRandom(xw.name);
    const seed = rnd(32);
    const ct = xwingNoble.encapsulate(xwingNoble.keygen(seed).publicKey, rnd(64)).cipherText;
    ct[7] ^= 2; // implicit rejection
    const key = await xw.importKey(seed);
    assert.equal(toHex(await xw.decapsulate(ct, key)), toHex(xwingNoble.decapsulate(ct, seed)));
  }
});

Deno.test("without getPublicKey, keygen takes pk_M from the sync KEM; the rest stays native", async () => {
  const mlkem = WebCryptoMlKem.create(wrap({ getPublicKey: undefined as never }))!;
  assert.equal(mlkem.hasPublicKey, false);
  const xw = new WebCryptoXWing({ mlkem });
  const v = VECTORS[0];
  assert.equal(toHex((await xw.keygen(fromHex(v.seed))).publicKey), v.pk);
});

Deno.test("static keys: registered by key id (in the sync KEM too), cleared", async () => {
  const calls: string[] = [];
  const seed = seededRandom("static")(32);
  const pk = xwingNoble.keygen(seed).publicKey;
  const sync = {
    ...xwingNoble,
    addStaticKeys: () => void calls.push("add"),
    clearStaticKeys: () => void calls.push("clear"),
  };
  const xw = new WebCryptoXWingBackend(
    new WebCryptoXWing({ mlkem: WebCryptoMlKem.create()!, sync }),
  );
  const keyId = new Uint8Array(8).fill(7);
  await xw.addStaticKeys([{ keyId, publicKey: pk, secretKey: seed }]);
  await xw.addStaticKeys([{ keyId, publicKey: pk, secretKey: seed }]); // once
  assert.equal(toHex(xw.staticKey(keyId)!.seed), toHex(seed));
  assert.equal(xw.staticKey(new Uint8Array(8)), null);
  xw.clearStaticKeys();
  assert.equal(xw.staticKey(keyId), null);
  assert.deepEqual(calls, ["add", "add", "clear"]);
});

Deno.test("selection: a missing API or a wrong native result → rejected with the reason (noble is used)", async () => {
  for (const subtle of [undefined, { importKey() {} }]) {
    assert.deepEqual(await selectWebCryptoXWing({ subtle }), {
      kem: null,
      fallbacks: ["ML-KEM WebCrypto: not available in this runtime"],
    });
  }
  const rejected = async (override: Subtle, reason: RegExp) => {
    const r = await selectWebCryptoXWing({ subtle: wrap(override) });
    assert.equal(r.kem, null);
    assert.equal(r.fallbacks.length, 2, "both X25519 candidates tried");
    for (const f of r.fallbacks) assert.match(f, reason);
  };
  // Wrong decapsulation.
  await rejected(
    { decapsulateBits: async () => new ArrayBuffer(32) },
    /decapsulation of noble's ciphertext differs/,
  );
  // Wrong implicit rejection: right only for noble's ciphertext.
  const ct0 = fromBase64Url(XWING_KAT.ct)[0];
  await rejected({
    decapsulateBits: async (alg: unknown, k: unknown, c: unknown) =>
      (c as Uint8Array)[0] !== ct0 ? new ArrayBuffer(32) : await real.decapsulateBits(alg, k, c),
  }, /implicit rejection differs/);
  // Wrong encapsulation (shared key not what the ciphertext carries).
  await rejected({
    encapsulateBits: async (...a: unknown[]) => ({
      ...(await real.encapsulateBits(...a) as object),
      sharedKey: new ArrayBuffer(32),
    }),
  }, /encapsulation does not decapsulate/);
  // Wrong public key.
  await rejected({ exportKey: async () => new ArrayBuffer(1184) }, /public key differs/);
});

Deno.test("selection: a broken WebCrypto X25519 only → ML-KEM stays native on noble X25519", async () => {
  const r = await selectWebCryptoXWing({
    subtle: wrap({ deriveBits: async () => new ArrayBuffer(32) }),
  });
  assert.equal(r.kem?.name, "X-Wing (ML-KEM WebCrypto, X25519 noble)");
  assert.equal(r.fallbacks.length, 1);
  assert.match(r.fallbacks[0], /^X-Wing \(ML-KEM WebCrypto, X25519 WebCrypto\): x25519/);
  // And it agrees with noble.
  const kem = new PreparedClientXWing(r.kem!);
  const seed = seededRandom("noble x")(32), eseed = seededRandom("noble x e")(64);
  const server = xwingNoble.keygen(seededRandom("noble x s")(32));
  await kem.prepareClient({ seed, serverPublicKey: server.publicKey, eseed });
  assert.equal(toHex(kem.keygen(seed).publicKey), toHex(xwingNoble.keygen(seed).publicKey));
  const e = kem.encapsulate(server.publicKey, eseed);
  assert.equal(
    toHex(xwingNoble.decapsulate(e.cipherText, server.secretKey)),
    toHex(e.sharedSecret),
  );
  assert.deepEqual(kem.used, { keygen: 1, encapsulate: 1, decapsulate: 0 });
});

Deno.test("the gateway's candidate: a sync X25519 through asyncX25519 (prepared handles used)", async () => {
  let prepared = 0;
  const ops = {
    ...nobleX25519,
    name: "counting",
    prepareSecret: (sk: Uint8Array) => {
      prepared++;
      return { sharedSecret: (pk: Uint8Array) => nobleX25519.sharedSecret(sk, pk) };
    },
  };
  const r = await selectWebCryptoXWing({ x25519: [asyncX25519(ops)] });
  assert.equal(r.kem?.name, "X-Wing (ML-KEM WebCrypto, X25519 counting)", r.fallbacks.join());
  assert.ok(prepared > 0);
});
