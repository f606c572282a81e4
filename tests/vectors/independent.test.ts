/**
 * An independent implementation of the pqgate/1 key schedule, written from PROTOCOL.md alone
 * and checked against the committed vectors. It shares NO code with src/protocol:
 *
 * - hashes, HMAC, HKDF, X25519, AES-256-GCM and ChaCha20-Poly1305 come from node:crypto;
 * - X-Wing is composed here from its parts (draft-connolly-cfrg-xwing-kem: SHAKE256 seed
 *   expansion, ML-KEM-768 + X25519, SHA3-256 combiner with the "\.//^\" label); only the bare
 *   ML-KEM-768 comes from @noble/post-quantum (`ml_kem768`), since node:crypto has none. The
 *   composition is first checked against the draft's own test vectors;
 * - messages are parsed by the byte offsets of §3.1 / §3.2.
 *
 * If this passes, the spec text plus the vector files are enough to interoperate.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
} from "node:crypto";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";

// deno-lint-ignore no-explicit-any
type Json = any;
const DIR = new URL("./", import.meta.url);
const load = (name: string): Json => JSON.parse(Deno.readTextFileSync(new URL(name, DIR)));
const HS: Json = load("handshake.json");
const REC: Json = load("records.json");
const XWING_KAT: Json = load("xwing-draft.json");
const CA: Json = load("client-auth.json");

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const unhex = (s: string): Buffer => Buffer.from(s, "hex");
const cat = (...p: Uint8Array[]): Buffer => Buffer.concat(p);
const asciiB = (s: string): Buffer => Buffer.from(s, "ascii");

// ------------------------------------------------------------------------------------------
// Primitives (§1)

const H = (...parts: Uint8Array[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const HMAC = (key: Uint8Array, msg: Uint8Array): Buffer =>
  createHmac("sha256", key).update(msg).digest();
const hkdfExtract = (salt: Uint8Array, ikm: Uint8Array): Buffer => HMAC(salt, ikm);
function hkdfExpand(prk: Uint8Array, info: Uint8Array, len: number): Buffer {
  const out: Buffer[] = [];
  let t: Buffer = Buffer.alloc(0);
  for (let i = 1; out.length * 32 < len; i++) {
    t = HMAC(prk, cat(t, info, Buffer.from([i])));
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, len);
}

// §4.2
function expandLabel(secret: Uint8Array, label: string, context: Uint8Array, len: number): Buffer {
  const full = asciiB("pqgate1 " + label);
  const info = cat(
    Buffer.from([len >> 8, len & 0xff, full.length]),
    full,
    Buffer.from([context.length]),
    context,
  );
  return hkdfExpand(secret, info, len);
}
const deriveSecret = (s: Uint8Array, label: string, th: Uint8Array) =>
  expandLabel(s, label, th, 32);
const Z = Buffer.alloc(32);
const E = H();

// ------------------------------------------------------------------------------------------
// X-Wing from parts

const PKCS8_X25519 = unhex("302e020100300506032b656e04220420");
const SPKI_X25519 = unhex("302a300506032b656e032100");
function x25519(scalar: Uint8Array, u: Uint8Array): Buffer {
  const privateKey = createPrivateKey({
    key: cat(PKCS8_X25519, scalar),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = createPublicKey({ key: cat(SPKI_X25519, u), format: "der", type: "spki" });
  return diffieHellman({ privateKey, publicKey });
}
function x25519Base(scalar: Uint8Array): Buffer {
  const priv = createPrivateKey({ key: cat(PKCS8_X25519, scalar), format: "der", type: "pkcs8" });
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" }) as Buffer;
  return spki.subarray(spki.length - 32);
}
const XWING_LABEL = unhex("5c2e2f2f5e5c"); // \.//^\
const combiner = (ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Buffer =>
  createHash("sha3-256").update(cat(ssM, ssX, ctX, pkX, XWING_LABEL)).digest();

function xwingExpand(seed: Uint8Array) {
  const expanded = createHash("shake256", { outputLength: 96 }).update(seed).digest();
  const { publicKey: pkM, secretKey: skM } = ml_kem768.keygen(expanded.subarray(0, 64));
  const skX = expanded.subarray(64, 96);
  const pkX = x25519Base(skX);
  return { pk: cat(pkM, pkX), skM, skX, pkX };
}
function xwingEncaps(pk: Uint8Array, eseed: Uint8Array) {
  const pkM = pk.subarray(0, 1184), pkX = pk.subarray(1184, 1216);
  const { cipherText: ctM, sharedSecret: ssM } = ml_kem768.encapsulate(pkM, eseed.subarray(0, 32));
  const ekX = eseed.subarray(32, 64);
  const ctX = x25519Base(ekX);
  const ssX = x25519(ekX, pkX);
  return { ct: cat(ctM, ctX), ss: combiner(ssM, ssX, ctX, pkX) };
}
function xwingDecaps(ct: Uint8Array, seed: Uint8Array): Buffer {
  const { skM, skX, pkX } = xwingExpand(seed);
  const ctM = ct.subarray(0, 1088), ctX = ct.subarray(1088, 1120);
  return combiner(ml_kem768.decapsulate(ctM, skM), x25519(skX, ctX), ctX, pkX);
}

Deno.test("independent: X-Wing composition reproduces the draft's test vectors", () => {
  for (const v of XWING_KAT.vectors as Json[]) {
    const { pk } = xwingExpand(unhex(v.seed));
    assert.equal(hex(pk), v.pk);
    const { ct, ss } = xwingEncaps(pk, unhex(v.eseed));
    assert.equal(hex(ct), v.ct);
    assert.equal(hex(ss), v.ss);
    assert.equal(hex(xwingDecaps(ct, unhex(v.seed))), v.ss);
  }
});

// ------------------------------------------------------------------------------------------
// The handshake, from the spec

const PROTOCOL_NAME: Record<string, string> = {
  "0x0001": "pqgate/1 X-Wing HKDF-SHA256 AES-256-GCM",
  "0x0002": "pqgate/1 X-Wing HKDF-SHA256 ChaCha20-Poly1305",
};

interface Derived {
  cAp: Buffer;
  sAp: Buffer;
  exp: Buffer;
}

function rederive(v: Json): Derived {
  const st = HS.static_key;
  // §8: the gateway key, its id and pin.
  const gw = xwingExpand(unhex(st.seed));
  assert.equal(hex(gw.pk), st.public_key);
  assert.equal(hex(H(asciiB("pqgate/1 key id"), gw.pk).subarray(0, 8)), st.key_id);
  assert.equal("sha256:" + H(gw.pk).toString("base64url"), st.pin);

  const draws = (list: Json[]) =>
    Object.fromEntries(list.map((d) => [d.purpose.split(" ")[0], unhex(d.hex)]));
  const c = draws(v.client_random_draws);
  const g = draws(v.gateway_random_draws);
  const pinned = v.auth_mode === "pinned";

  // §3.1 ClientHello, parsed by offset.
  const ch = unhex(v.messages.client_hello);
  assert.deepEqual([ch[0], ch[1], ch[2]], [0x01, 0x01, pinned ? 0x01 : 0x00]);
  const n = ch[3];
  const suites = Array.from({ length: n }, (_, i) => "0x" + hex(ch.subarray(4 + 2 * i, 6 + 2 * i)));
  assert.deepEqual(suites, v.client_config.suites);
  let o = 4 + 2 * n;
  const take = (len: number) => ch.subarray(o, o += len);
  const clientRandom = take(32);
  const keyId = take(8);
  const ekC = take(1216);
  const ctS = pinned ? take(1120) : null;
  const extLen = ch.readUInt16BE(o);
  const extBlock = ch.subarray(o + 2, o + 2 + extLen);
  o += 2 + extLen;
  assert.equal(o, ch.length, "ClientHello ends exactly after its extensions");
  // §3.4: the extension block; §3.4.1 psk = 0x8002 (u8 len | identity), §3.4.2 client_auth = 0x8003.
  const exts = new Map<number, Buffer>();
  for (let i = 0; i < extBlock.length;) {
    const t = extBlock.readUInt16BE(i), l = extBlock.readUInt16BE(i + 2);
    exts.set(t, extBlock.subarray(i + 4, i + 4 + l));
    i += 4 + l;
  }
  const ca = v.client_auth;
  let psk: Buffer | null = null;
  if (ca?.method === "psk") {
    const e = exts.get(0x8002)!;
    assert.equal(e[0], e.length - 1);
    assert.equal(e.subarray(1).toString("utf8"), ca.identity);
    assert.equal(exts.has(0x8003), false);
    psk = unhex(ca.psk);
  } else if (ca) {
    assert.deepEqual([...exts.get(0x8003)!], [ca.method === "password" ? 1 : 2]);
  } else {
    assert.equal(exts.has(0x8002) || exts.has(0x8003), false);
  }
  assert.equal(hex(clientRandom), hex(c.client_random));
  assert.equal(hex(keyId), pinned ? st.key_id : "0000000000000000");
  // ek_C from the recorded seed; ct_S from the recorded eseed.
  assert.equal(hex(ekC), hex(xwingExpand(c.ek_C_seed).pk));
  let ssS: Uint8Array = Z;
  if (pinned) {
    const enc = xwingEncaps(gw.pk, c.eseed_S);
    assert.equal(hex(ctS!), hex(enc.ct));
    assert.equal(hex(xwingDecaps(ctS!, unhex(st.seed))), hex(enc.ss));
    ssS = enc.ss;
  }
  assert.equal(hex(ssS), v.key_schedule.ss_S);

  // §3.2 ServerHello.
  const sh = unhex(v.messages.server_hello);
  assert.deepEqual([sh[0], sh[1]], [0x02, 0x01]);
  const suite = "0x" + hex(sh.subarray(2, 4));
  assert.equal(suite, v.suite);
  assert.ok(suites.includes(suite));
  assert.equal(hex(sh.subarray(4, 36)), hex(g.server_random));
  const ctE = sh.subarray(36, 1156);
  const shExt = sh.readUInt16BE(1156);
  assert.equal(sh.length, 1158 + shExt + 32);
  const encE = xwingEncaps(ekC, g.eseed_E);
  assert.equal(hex(ctE), hex(encE.ct));
  const ssE = xwingDecaps(ctE, c.ek_C_seed);
  assert.equal(hex(ssE), hex(encE.ss));
  assert.equal(hex(ssE), v.key_schedule.ss_E);

  // §4.1, §4.2, §4.3.
  const shStar = sh.subarray(0, sh.length - 32);
  const th1 = H(ch, shStar);
  const th2 = H(ch, sh);
  const ck0 = H(asciiB(PROTOCOL_NAME[suite]));
  // §3.4.1: k0 = HKDF-Extract(salt = ck0, IKM = psk); hs1 = HKDF-Extract(salt = k0, IKM = ss_S).
  const k0 = psk ? hkdfExtract(ck0, psk) : null;
  if (k0) assert.equal(hex(k0), v.key_schedule.k0);
  else assert.equal(v.key_schedule.k0, undefined);
  const hs1 = hkdfExtract(k0 ?? ck0, ssS);
  const hs2 = hkdfExtract(deriveSecret(hs1, "derived", E), ssE);
  const sFin = expandLabel(hs2, "s finished", th1, 32);
  const cFin = expandLabel(hs2, "c finished", th2, 32);
  assert.equal(hex(HMAC(sFin, th1)), hex(sh.subarray(sh.length - 32)), "server_finished");
  const cf = unhex(v.messages.client_finished);
  assert.equal(cf.length, 33);
  assert.equal(cf[0], 0x03);
  assert.equal(hex(HMAC(cFin, th2)), hex(cf.subarray(1)), "client_finished");
  const ms = hkdfExtract(deriveSecret(hs2, "derived", E), Z);
  const cAp = deriveSecret(ms, "c ap traffic", th2);
  const sAp = deriveSecret(ms, "s ap traffic", th2);
  const exp = deriveSecret(ms, "exp master", th2);
  const sessionId = expandLabel(exp, "session id", Buffer.alloc(0), 16);
  const ks = v.key_schedule;
  assert.deepEqual(
    [th1, th2, ck0, hs1, hs2, sFin, cFin, ms, cAp, sAp, exp, sessionId].map(hex),
    [
      ks.th1,
      ks.th2,
      ks.ck0,
      ks.hs1,
      ks.hs2,
      ks.s_fin,
      ks.c_fin,
      ks.ms,
      ks.c_ap_0,
      ks.s_ap_0,
      ks.exp,
      ks.session_id,
    ],
  );
  // §4.4 traffic keys, §4.5 exporter.
  for (const [dir, s] of [["client_to_gateway", cAp], ["gateway_to_client", sAp]] as const) {
    assert.equal(hex(expandLabel(s, "key", Buffer.alloc(0), 32)), v.traffic[dir].key);
    assert.equal(hex(expandLabel(s, "iv", Buffer.alloc(0), 12)), v.traffic[dir].iv);
  }
  const x = v.exporter;
  const exported = expandLabel(
    deriveSecret(exp, x.label, E),
    "exporter",
    H(unhex(x.context)),
    x.length,
  );
  assert.equal(hex(exported), x.output);
  return { cAp, sAp, exp };
}

for (const v of HS.vectors as Json[]) {
  Deno.test(`independent: handshake ${v.name} re-derived with node:crypto from the spec`, () => {
    rederive(v);
  });
}

// ------------------------------------------------------------------------------------------
// Client authentication (§3.4.1, §6.7, §6.8): client-auth.json

assert.equal(CA.static_key.key_id, HS.static_key.key_id);
for (const v of CA.handshakes as Json[]) {
  Deno.test(`independent: client-auth handshake ${v.name} re-derived with node:crypto`, () => {
    rederive(v);
  });
}

Deno.test("independent: AUTH bindings and frames, AUTH_RESULT frames, from the spec's layout", () => {
  const byName = new Map((CA.handshakes as Json[]).map((h) => [h.name, h]));
  for (const f of CA.frames as Json[]) {
    const frame = unhex(f.frame);
    // §6.1 frame header: type | flags | stream u32 | length u16.
    assert.equal(frame[1], 0);
    assert.equal(frame.readUInt32BE(2), 0);
    assert.equal(frame.readUInt16BE(6), frame.length - 8);
    const p = frame.subarray(8);
    if (f.method) {
      assert.equal(frame[0], 0x0a);
      const { exp } = rederive(byName.get(f.from_handshake));
      const m = f.method === "password" ? 1 : 2;
      const binding = expandLabel(
        deriveSecret(exp, "pqgate client auth", E),
        "exporter",
        H(Buffer.from([m])),
        32,
      );
      assert.equal(hex(binding), f.binding);
      const body = f.method === "password"
        ? cat(
          Buffer.from([Buffer.byteLength(f.username)]),
          Buffer.from(f.username, "utf8"),
          Buffer.from([unhex(f.password).length >> 8, unhex(f.password).length & 0xff]),
          unhex(f.password),
        )
        : cat(Buffer.from([f.token.length >> 8, f.token.length & 0xff]), asciiB(f.token));
      assert.equal(hex(p), hex(cat(Buffer.from([m]), binding, body)));
    } else {
      assert.equal(frame[0], 0x0b);
      const statuses = [
        "ok",
        "bad_credentials",
        "token_expired",
        "token_invalid",
        "busy",
        "rate_limited",
        "method_not_enabled",
      ];
      const subject = f.subject === null ? Buffer.alloc(0) : Buffer.from(f.subject, "utf8");
      const retry = Buffer.alloc(4);
      retry.writeUInt32BE(f.retry_after_ms);
      assert.equal(
        hex(p),
        hex(
          cat(
            Buffer.from([statuses.indexOf(f.status)]),
            retry,
            Buffer.from([subject.length]),
            subject,
          ),
        ),
      );
    }
  }
});

Deno.test("independent: a wrong or unknown PSK gives a server_finished the client's key schedule rejects", () => {
  for (const n of (CA.negative as Json[]).filter((x) => x.target === "client_handshake")) {
    const v = (CA.handshakes as Json[]).find((h) => h.name === n.from_handshake);
    const sh = unhex(n.server_hello);
    const ch = unhex(n.client_hello);
    assert.equal(hex(ch), v.messages.client_hello);
    // The client's view: its own PSK and ss_S, the gateway's ct_E decapsulated with ek_C.
    const c = Object.fromEntries(
      (v.client_random_draws as Json[]).map((d) => [d.purpose.split(" ")[0], unhex(d.hex)]),
    );
    const ssE = xwingDecaps(sh.subarray(36, 1156), c.ek_C_seed);
    const k0 = hkdfExtract(H(asciiB(PROTOCOL_NAME[v.suite])), unhex(v.client_auth.psk));
    const hs1 = hkdfExtract(k0, unhex(v.key_schedule.ss_S));
    const hs2 = hkdfExtract(deriveSecret(hs1, "derived", E), ssE);
    const th1 = H(ch, sh.subarray(0, sh.length - 32));
    const expected = HMAC(expandLabel(hs2, "s finished", th1, 32), th1);
    assert.notEqual(hex(expected), hex(sh.subarray(sh.length - 32)), n.name);
    assert.equal(n.error, "handshake_failed");
    assert.equal(n.close_code, 4004);
  }
});

// ------------------------------------------------------------------------------------------
// Records (§5.1), opened and re-sealed with node:crypto

Deno.test("independent: every record of records.json opens and re-seals with node:crypto", () => {
  for (const rv of REC.vectors as Json[]) {
    const hsv = HS.vectors.find((h: Json) => h.name === rv.from_handshake);
    const { cAp, sAp } = rederive(hsv);
    let secret: Uint8Array = rv.direction === "client_to_gateway" ? cAp : sAp;
    let epoch = 0;
    let lastSeq = -1;
    const alg = rv.suite === "0x0001" ? "aes-256-gcm" : "chacha20-poly1305";
    for (const r of rv.records as Json[]) {
      while (epoch < r.epoch) {
        secret = expandLabel(secret, "traffic upd", Buffer.alloc(0), 32);
        epoch++;
        lastSeq = -1;
      }
      const rec = unhex(r.record);
      assert.equal(rec[0], 0x04);
      assert.equal(rec[1], epoch);
      const seq = Number(rec.readBigUInt64BE(2));
      assert.equal(seq, r.seq);
      assert.ok(seq > lastSeq, "strictly increasing seq");
      lastSeq = seq;
      const key = expandLabel(secret, "key", Buffer.alloc(0), 32);
      const iv = expandLabel(secret, "iv", Buffer.alloc(0), 12);
      const nonce = Buffer.from(iv);
      const s = Buffer.alloc(8);
      s.writeBigUInt64BE(BigInt(seq));
      for (let i = 0; i < 8; i++) nonce[4 + i] ^= s[i];
      const header = rec.subarray(0, 10);
      const body = rec.subarray(10, rec.length - 16);
      const tag = rec.subarray(rec.length - 16);
      // deno-lint-ignore no-explicit-any
      const d = createDecipheriv(alg as any, key, nonce, { authTagLength: 16 } as any) as any;
      d.setAAD(header);
      d.setAuthTag(tag);
      const pt = Buffer.concat([d.update(body), d.final()]);
      assert.equal(hex(pt), r.plaintext);
      // deno-lint-ignore no-explicit-any
      const e = createCipheriv(alg as any, key, nonce, { authTagLength: 16 } as any) as any;
      e.setAAD(header);
      const ct = Buffer.concat([e.update(pt), e.final(), e.getAuthTag()]);
      assert.equal(hex(cat(header, ct)), r.record);
    }
  }
});
