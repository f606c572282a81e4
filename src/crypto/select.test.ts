import assert from "node:assert/strict";
import { toHex } from "../protocol/bytes.ts";
import {
  SUITE_XWING_AES256GCM as AES,
  SUITE_XWING_CHACHA20POLY1305 as CHACHA,
} from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import { generateStaticKey } from "../protocol/static-keys.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import { ServerHandshake } from "../protocol/handshake-server.ts";
import { RecordLayer } from "../protocol/record-layer.ts";
import { seededRandom } from "../protocol/testing.ts";
import type { HybridKem, SessionKeys, StaticKey } from "../protocol/types.ts";
import { loadNodeCrypto } from "./node-crypto.ts";
import { type Backends, type ConnectionKem, selectBackends, type XWingVector } from "./select.ts";
import { PreparedXWing } from "./xwing-webcrypto-server.ts";
import { nobleSha3, nobleX25519 } from "./primitives.ts";
import { CachedXWing } from "./xwing.ts";
import { xwingNoble } from "../protocol/kem.ts";

const VECTORS = (JSON.parse(
  Deno.readTextFileSync(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
) as { vectors: XWingVector[] }).vectors;

const KEY_A: StaticKey = generateStaticKey(seededRandom("crypto gateway key A")(32));
const KEY_B: StaticKey = generateStaticKey(seededRandom("crypto gateway key B")(32));

// Selected once per file (start-up cost ~0.2 s); each test only runs handshakes.
const NATIVE = await selectBackends({
  staticKeys: [KEY_A, KEY_B],
  vectors: VECTORS,
  timeAead: false,
});
const NOBLE = await selectBackends({ force: "noble", staticKeys: [KEY_A, KEY_B] });

function sameKeys(a: SessionKeys, b: SessionKeys): void {
  assert.equal(a.suite, b.suite);
  for (
    const k of [
      "clientSecret",
      "serverSecret",
      "exporterSecret",
      "sessionId",
      "transcriptHash",
    ] as const
  ) {
    assert.equal(toHex(a[k]), toHex(b[k]), k);
  }
}

/** One pinned handshake; the gateway uses `serverKem` (prepared when it can be). */
async function handshake(
  serverKem: ConnectionKem,
  clientKem: HybridKem,
  seed: string,
  key = KEY_A,
) {
  const c = new ClientHandshake({
    kem: clientKem,
    random: seededRandom(seed + " c"),
    server: { keyId: key.keyId, publicKey: key.publicKey },
  });
  const s = new ServerHandshake({
    kem: serverKem,
    keys: [KEY_A, KEY_B],
    random: seededRandom(seed + " s"),
  });
  const ch = c.start();
  await serverKem.prepareServer?.(ch);
  const sh = s.receiveClientHello(ch);
  const { clientFinished, keys } = c.receiveServerHello(sh);
  return { ch, sh, ckeys: keys, skeys: s.receiveClientFinished(clientFinished) };
}

Deno.test("selectBackends on Deno: native X25519, SHA3, AEAD and WebCrypto ML-KEM pass their self-tests", () => {
  const r = NATIVE.report;
  assert.deepEqual(r.fallbacks, [], r.fallbacks.join("; "));
  assert.equal(r.x25519, "node:crypto");
  assert.equal(r.sha3, "node:crypto");
  assert.match(r.prepared ?? "", /WebCrypto/);
  assert.match(r.aead["chacha20-poly1305"], /node:crypto/);
  assert.ok(NATIVE.forConnection() instanceof PreparedXWing);
});

Deno.test("forced fallback runs only noble code (static key expanded once), byte-identical to the core's xwingNoble", async () => {
  assert.equal(NOBLE.kem.name, "X-Wing (ML-KEM noble, X25519 noble, SHA3 noble, cached dk)");
  assert.ok(NOBLE.kem instanceof CachedXWing);
  assert.equal(NOBLE.kem.x25519, nobleX25519);
  assert.equal(NOBLE.kem.sha3, nobleSha3);
  assert.equal(NOBLE.forConnection(), NOBLE.kem);
  for (const key of [KEY_A, KEY_B]) {
    const a = await handshake(NOBLE.kem, NOBLE.kem, "forced " + toHex(key.keyId), key);
    const b = await handshake(xwingNoble, xwingNoble, "forced " + toHex(key.keyId), key);
    assert.equal(toHex(a.ch), toHex(b.ch));
    assert.equal(toHex(a.sh), toHex(b.sh));
    sameKeys(a.ckeys, b.ckeys);
    sameKeys(a.skeys, b.skeys);
  }
  assert.equal(NOBLE.report.prepared, null);
  assert.equal(NOBLE.aead(AES).name, "AES-256-GCM");
  assert.equal(NOBLE.aead(CHACHA).name, "ChaCha20-Poly1305");
});

Deno.test("sync native KEM: seeded handshakes are byte-identical to all-noble (CH, SH, keys)", async () => {
  for (const key of [KEY_A, KEY_B]) {
    const a = await handshake(NATIVE.kem, NATIVE.kem, "ident " + toHex(key.keyId), key);
    const b = await handshake(NOBLE.kem, NOBLE.kem, "ident " + toHex(key.keyId), key);
    assert.equal(toHex(a.ch), toHex(b.ch));
    assert.equal(toHex(a.sh), toHex(b.sh));
    sameKeys(a.ckeys, b.ckeys);
    sameKeys(a.skeys, b.skeys);
  }
});

Deno.test("prepared native ML-KEM gateway interoperates with a noble client (both halves prepared)", async () => {
  for (let i = 0; i < 3; i++) {
    const kem = NATIVE.forConnection() as PreparedXWing;
    const r = await handshake(kem, NOBLE.kem, `prep ${i}`, i % 2 ? KEY_B : KEY_A);
    sameKeys(r.ckeys, r.skeys);
    assert.deepEqual(kem.used, { decapsulate: 1, encapsulate: 1 });
  }
});

Deno.test("prepared: the ServerHello differs from the seeded one only in ct_M, ss and the MAC-derived bytes", async () => {
  const kem = NATIVE.forConnection();
  const a = await handshake(kem, NOBLE.kem, "prep diff");
  const b = await handshake(NOBLE.kem, NOBLE.kem, "prep diff");
  assert.equal(toHex(a.ch), toHex(b.ch));
  // type..server_random (36 B) and ct_X (eseed[32:64]) and ext_len are from the seeded source.
  assert.equal(toHex(a.sh.subarray(0, 36)), toHex(b.sh.subarray(0, 36)));
  assert.equal(
    toHex(a.sh.subarray(36 + 1088, 36 + 1120 + 2)),
    toHex(b.sh.subarray(36 + 1088, 36 + 1120 + 2)),
  );
  assert.notEqual(
    toHex(a.sh.subarray(36, 36 + 1088)),
    toHex(b.sh.subarray(36, 36 + 1088)),
    "ML-KEM randomness is native",
  );
});

Deno.test("prepared: nothing prepared for a bad ClientHello; the core's error is unchanged", async () => {
  const rnd = seededRandom("bad ch");
  const c = new ClientHandshake({
    random: rnd,
    server: { keyId: KEY_A.keyId, publicKey: KEY_A.publicKey },
  });
  const ch = c.start();
  const cases: [string, Uint8Array][] = [
    ["truncated", ch.subarray(0, 100)],
    [
      "unknown key id",
      (() => {
        const m = new Uint8Array(ch);
        m[4 + 2 * 2 + 32] ^= 1; // first byte of key_id (two suites offered)
        return m;
      })(),
    ],
    ["garbage", rnd(ch.length)],
  ];
  for (const [what, msg] of cases) {
    const codes: string[] = [];
    for (const kem of [NATIVE.forConnection(), NOBLE.kem] as ConnectionKem[]) {
      await kem.prepareServer?.(msg);
      const s = new ServerHandshake({ kem, keys: [KEY_A], random: seededRandom("srv") });
      try {
        s.receiveClientHello(msg);
        codes.push("none");
      } catch (e) {
        assert.ok(e instanceof PqgateError);
        codes.push(e.code);
      }
    }
    assert.equal(codes[0], codes[1], what);
    assert.notEqual(codes[0], "none", what);
  }
});

Deno.test("prepared: unprepared or mismatching calls fall back to the deterministic sync path", async () => {
  const kem = NATIVE.forConnection() as PreparedXWing;
  const r = await handshake(kem, NOBLE.kem, "not prepared"); // prepared for this CH...
  sameKeys(r.ckeys, r.skeys);
  // ...but a second use of the same object has nothing prepared left: deterministic again.
  const unprepared: HybridKem = {
    name: kem.name,
    keygen: (s) => kem.keygen(s),
    encapsulate: (p, e) => kem.encapsulate(p, e),
    decapsulate: (c2, s) => kem.decapsulate(c2, s),
  };
  const c = await handshake(unprepared, NOBLE.kem, "again");
  assert.deepEqual(
    kem.used,
    { decapsulate: 1, encapsulate: 1 },
    "the second handshake used nothing prepared",
  );
  const d = await handshake(NOBLE.kem, NOBLE.kem, "again");
  assert.equal(toHex(c.sh), toHex(d.sh));
});

Deno.test("a broken node:crypto is caught by the self-tests and everything falls back to noble", async () => {
  const real = await loadNodeCrypto();
  const broken = {
    ...real,
    createHash: (alg: string) => {
      const h = real.createHash(alg);
      return {
        update: (d: Uint8Array) => (h.update(d), undefined),
        digest: () => new Uint8Array(32),
      };
    },
    diffieHellman: (o: unknown) => {
      const ss = new Uint8Array(real.diffieHellman(o));
      ss[0] ^= 1;
      return ss;
    },
    createCipheriv: () => {
      throw new Error("no ciphers");
    },
  };
  const b: Backends = await selectBackends({
    nodeCrypto: broken,
    disable: { webcryptoMlKem: true },
  });
  const f = b.report.fallbacks.join("\n");
  assert.match(f, /x25519 node:crypto: x25519 shared secret differs/);
  assert.match(f, /sha3-256 node:crypto: sha3-256 differs/);
  assert.match(f, /aes-256-gcm node:crypto: no ciphers/);
  assert.equal(b.report.x25519, "noble");
  assert.equal(b.aead(AES).name, "AES-256-GCM");
  const x = await handshake(b.forConnection(), NOBLE.kem, "broken");
  sameKeys(x.ckeys, x.skeys);
});

Deno.test("record layer with the selected AEADs interoperates with the noble record layer", async () => {
  for (const suite of [AES, CHACHA] as const) {
    const c = new ClientHandshake({
      suites: [suite],
      random: seededRandom("rl c"),
      server: { keyId: KEY_A.keyId, publicKey: KEY_A.publicKey },
    });
    const kem: ConnectionKem = NATIVE.forConnection();
    const s = new ServerHandshake({
      kem,
      keys: [KEY_A],
      random: seededRandom("rl s"),
      suites: [suite],
    });
    const ch = c.start();
    await kem.prepareServer?.(ch);
    const { clientFinished, keys } = c.receiveServerHello(s.receiveClientHello(ch));
    const skeys = s.receiveClientFinished(clientFinished);
    const srv = new RecordLayer({ role: "server", keys: skeys, now: 0, aead: NATIVE.aead });
    const cli = new RecordLayer({ role: "client", keys, now: 0 }); // noble
    for (const n of [1, 1000, 16384]) {
      const pt = seededRandom(`pt ${n}`)(n);
      assert.equal(toHex(cli.open(srv.seal(pt, 1), 1)), toHex(pt));
      assert.equal(toHex(srv.open(cli.seal(pt, 1), 1)), toHex(pt));
    }
    const rec = srv.seal(new Uint8Array([1, 2, 3]), 1);
    rec[rec.length - 1] ^= 1;
    assert.throws(
      () => cli.open(rec, 1),
      (e: unknown) => e instanceof PqgateError && e.code === "record_auth_failed",
    );
  }
});
