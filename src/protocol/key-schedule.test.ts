import assert from "node:assert/strict";
import { createHash, createHmac, hkdfSync } from "node:crypto";
import { ascii, concat, toHex } from "./bytes.ts";
import {
  SUITE_XWING_AES256GCM as AES,
  SUITE_XWING_CHACHA20POLY1305 as CHACHA,
} from "./constants.ts";
import {
  clientFinishedKey,
  deriveSecret,
  deriveSessionKeys,
  EMPTY_HASH,
  expandLabel,
  exportKeyingMaterial,
  finishedMac,
  handshakeSecret,
  hkdfExpand,
  hkdfExtract,
  initialChainingKey,
  nextTrafficSecret,
  serverFinishedKey,
  trafficKeys,
  transcriptHash,
  verifyFinished,
} from "./key-schedule.ts";
import { PqgateError } from "./errors.ts";
import { seededRandom } from "./testing.ts";

// Independent reference built on node:crypto (a different HKDF/HMAC implementation).
const sha = (...p: Uint8Array[]) =>
  new Uint8Array(createHash("sha256").update(concat(...p)).digest());
const refExtract = (salt: Uint8Array, ikm: Uint8Array) =>
  new Uint8Array(createHmac("sha256", salt).update(ikm).digest());
function refExpandLabel(
  secret: Uint8Array,
  label: string,
  ctx: Uint8Array,
  len: number,
): Uint8Array {
  const full = ascii("pqgate1 " + label);
  const info = concat(
    new Uint8Array([len >> 8, len & 0xff, full.length]),
    full,
    new Uint8Array([ctx.length]),
    ctx,
  );
  // hkdfSync does Extract+Expand; Expand alone = HMAC chain (RFC 5869 §2.3).
  let t = new Uint8Array(0), out = new Uint8Array(0);
  for (let i = 1; out.length < len; i++) {
    t = new Uint8Array(
      createHmac("sha256", secret).update(concat(t, info, new Uint8Array([i]))).digest(),
    );
    out = concat(out, t);
  }
  return out.slice(0, len);
}

const rnd = seededRandom("key schedule tests");

Deno.test("HKDF primitives match node:crypto (RFC 5869)", () => {
  const salt = rnd(32), ikm = rnd(32), info = rnd(20);
  assert.equal(toHex(hkdfExtract(salt, ikm)), toHex(refExtract(salt, ikm)));
  const viaNode = new Uint8Array(hkdfSync("sha256", ikm, salt, info, 77));
  assert.equal(toHex(hkdfExpand(hkdfExtract(salt, ikm), info, 77)), toHex(viaNode));
});

Deno.test("ExpandLabel / DeriveSecret follow the §4.2 HkdfLabel layout", () => {
  const s = rnd(32), ctx = rnd(32);
  assert.equal(
    toHex(expandLabel(s, "key", new Uint8Array(0), 32)),
    toHex(refExpandLabel(s, "key", new Uint8Array(0), 32)),
  );
  assert.equal(
    toHex(expandLabel(s, "iv", new Uint8Array(0), 12)),
    toHex(refExpandLabel(s, "iv", new Uint8Array(0), 12)),
  );
  assert.equal(
    toHex(deriveSecret(s, "derived", ctx)),
    toHex(refExpandLabel(s, "derived", ctx, 32)),
  );
  assert.equal(EMPTY_HASH.length, 32);
  assert.equal(
    toHex(EMPTY_HASH),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("full §4.2 schedule matches an independent node:crypto computation", () => {
  for (const suite of [AES, CHACHA] as const) {
    for (const anonymous of [false, true]) {
      const ssS = anonymous ? null : rnd(32), ssE = rnd(32);
      const ch = rnd(2386), shStar = rnd(1158), sfinWire = rnd(32);
      const name = suite === AES
        ? "pqgate/1 X-Wing HKDF-SHA256 AES-256-GCM"
        : "pqgate/1 X-Wing HKDF-SHA256 ChaCha20-Poly1305";
      const E = sha();
      const Z = new Uint8Array(32);
      const ck0 = sha(ascii(name));
      const hs1 = refExtract(ck0, ssS ?? Z);
      const hs2 = refExtract(refExpandLabel(hs1, "derived", E, 32), ssE);
      const th1 = sha(ch, shStar), th2 = sha(ch, shStar, sfinWire);
      const sFin = refExpandLabel(hs2, "s finished", th1, 32);
      const cFin = refExpandLabel(hs2, "c finished", th2, 32);
      const ms = refExtract(refExpandLabel(hs2, "derived", E, 32), Z);
      const cAp = refExpandLabel(ms, "c ap traffic", th2, 32);
      const sAp = refExpandLabel(ms, "s ap traffic", th2, 32);
      const exp = refExpandLabel(ms, "exp master", th2, 32);
      const sid = refExpandLabel(exp, "session id", new Uint8Array(0), 16);

      assert.equal(toHex(initialChainingKey(suite)), toHex(ck0));
      const myHs2 = handshakeSecret(suite, ssS, ssE);
      assert.equal(toHex(myHs2), toHex(hs2));
      assert.equal(toHex(transcriptHash(ch, shStar)), toHex(th1));
      assert.equal(toHex(transcriptHash(ch, concat(shStar, sfinWire))), toHex(th2));
      assert.equal(toHex(serverFinishedKey(myHs2, th1)), toHex(sFin));
      assert.equal(toHex(clientFinishedKey(myHs2, th2)), toHex(cFin));
      assert.equal(
        toHex(finishedMac(sFin, th1)),
        toHex(new Uint8Array(createHmac("sha256", sFin).update(th1).digest())),
      );
      const k = deriveSessionKeys(suite, myHs2, th2);
      assert.equal(k.suite, suite);
      assert.equal(toHex(k.clientSecret), toHex(cAp));
      assert.equal(toHex(k.serverSecret), toHex(sAp));
      assert.equal(toHex(k.exporterSecret), toHex(exp));
      assert.equal(toHex(k.sessionId), toHex(sid));
      assert.equal(toHex(k.transcriptHash), toHex(th2));
      // §4.4
      const tk = trafficKeys(cAp);
      assert.equal(toHex(tk.key), toHex(refExpandLabel(cAp, "key", new Uint8Array(0), 32)));
      assert.equal(toHex(tk.iv), toHex(refExpandLabel(cAp, "iv", new Uint8Array(0), 12)));
      assert.equal(
        toHex(nextTrafficSecret(cAp)),
        toHex(refExpandLabel(cAp, "traffic upd", new Uint8Array(0), 32)),
      );
      // §4.5
      const ctx = ascii("ctx");
      const ref = refExpandLabel(
        refExpandLabel(exp, "EXPORTER-test", E, 32),
        "exporter",
        sha(ctx),
        48,
      );
      assert.equal(toHex(exportKeyingMaterial(exp, "EXPORTER-test", ctx, 48)), toHex(ref));
    }
  }
});

Deno.test("downgrade: every input of the schedule changes the keys (§4.2)", () => {
  const base = {
    suite: AES as 1 | 2,
    ssS: rnd(32) as Uint8Array | null,
    ssE: rnd(32),
    th2: rnd(32),
  };
  const keysOf = (p: typeof base) => {
    const k = deriveSessionKeys(p.suite, handshakeSecret(p.suite, p.ssS, p.ssE), p.th2);
    return [k.clientSecret, k.serverSecret, k.exporterSecret, k.sessionId].map(toHex);
  };
  const ref = keysOf(base);
  const flip = (b: Uint8Array, i: number) => {
    const c = new Uint8Array(b);
    c[i] ^= 1;
    return c;
  };
  const variants = [
    { ...base, suite: CHACHA as 1 | 2 },
    { ...base, ssS: null },
    { ...base, ssS: flip(base.ssS!, 0) },
    { ...base, ssS: flip(base.ssS!, 31) },
    { ...base, ssE: flip(base.ssE, 0) },
    { ...base, ssE: flip(base.ssE, 17) },
    { ...base, th2: flip(base.th2, 5) },
  ];
  for (const v of variants) {
    const k = keysOf(v);
    for (let i = 0; i < ref.length; i++) assert.notEqual(k[i], ref[i]);
  }
  // and the four outputs are distinct from each other
  assert.equal(new Set(ref).size, 4);
  // Finished keys depend on the transcript
  const hs2 = handshakeSecret(AES, base.ssS, base.ssE);
  assert.notEqual(toHex(serverFinishedKey(hs2, rnd(32))), toHex(serverFinishedKey(hs2, rnd(32))));
  assert.notEqual(toHex(serverFinishedKey(hs2, base.th2)), toHex(clientFinishedKey(hs2, base.th2)));
});

Deno.test("KeyUpdate chain and exporter separation", () => {
  const s0 = rnd(32);
  const seen = new Set<string>([toHex(s0)]);
  let s = s0;
  for (let e = 0; e < 20; e++) {
    s = nextTrafficSecret(s);
    assert.ok(!seen.has(toHex(s)));
    seen.add(toHex(s));
  }
  const exp = rnd(32);
  const a = exportKeyingMaterial(exp, "a", new Uint8Array(0), 32);
  assert.notEqual(toHex(a), toHex(exportKeyingMaterial(exp, "b", new Uint8Array(0), 32)));
  assert.notEqual(toHex(a), toHex(exportKeyingMaterial(exp, "a", new Uint8Array([0]), 32)));
  assert.equal(exportKeyingMaterial(exp, "a", new Uint8Array(0), 100).length, 100);
  for (
    const bad of [
      () => exportKeyingMaterial(exp, "é", new Uint8Array(0), 32),
      () => exportKeyingMaterial(exp, "x".repeat(248), new Uint8Array(0), 32),
      () => exportKeyingMaterial(exp, "a", new Uint8Array(0), 0),
    ]
  ) {
    assert.throws(bad, (e: unknown) => e instanceof PqgateError && e.code === "internal_error");
  }
});

Deno.test("verifyFinished is exact", () => {
  const m = rnd(32);
  assert.ok(verifyFinished(m, new Uint8Array(m)));
  const c = new Uint8Array(m);
  c[31] ^= 0x80;
  assert.ok(!verifyFinished(m, c));
  assert.ok(!verifyFinished(m, m.subarray(0, 31)));
});

Deno.test("transcriptHashes: th1 and th2 equal two transcriptHash calls (one pass over CH)", async () => {
  const { transcriptHashes } = await import("./key-schedule.ts");
  const r = seededRandom("transcript once");
  for (const [a, b, c] of [[2300, 1150, 32], [0, 0, 32], [1, 63, 1], [64, 64, 64]]) {
    const ch = r(a), shStar = r(b), fin = r(c);
    const t = transcriptHashes(ch, shStar);
    assert.equal(toHex(t.th1), toHex(transcriptHash(ch, shStar)));
    assert.equal(toHex(t.next(fin)), toHex(transcriptHash(ch, concat(shStar, fin))));
    assert.equal(toHex(t.th1), toHex(sha(ch, shStar)), "independent reference");
    assert.throws(() => t.next(fin), /twice/);
  }
});
