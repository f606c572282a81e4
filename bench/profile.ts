/**
 * Where a prepared (native) gateway handshake spends its time on this runtime: each step of
 * `prepareServer` + `receiveClientHello` + `receiveClientFinished`, timed alone (median µs of
 * 500 after 100 warm-up; async steps awaited one at a time).
 *
 *   node scripts/deno.mjs run -A bench/profile.ts [--json]
 */
import { selectBackends } from "../src/crypto/select.ts";
import { loadNodeCrypto, nodeSha3, nodeX25519 } from "../src/crypto/node-crypto.ts";
import { WebCryptoMlKem } from "../src/crypto/xwing-webcrypto.ts";
import { ClientHandshake } from "../src/protocol/handshake-client.ts";
import { ServerHandshake } from "../src/protocol/handshake-server.ts";
import { decodeClientHello } from "../src/protocol/hello.ts";
import { xwingPublicKeyValid } from "../src/protocol/kem.ts";
import {
  deriveSessionKeys,
  finishedMac,
  handshakeSecret,
  serverFinishedKey,
  transcriptHashes,
} from "../src/protocol/key-schedule.ts";
import { BENCH_KEY } from "./common.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const b = await selectBackends({ staticKeys: [BENCH_KEY] });
const ch = new ClientHandshake({
  kem: b.kem,
  random,
  server: { keyId: BENCH_KEY.keyId, publicKey: BENCH_KEY.publicKey },
}).start();
const dec = decodeClientHello(ch);
const nc = await loadNodeCrypto();
const rows: { step: string; us: number }[] = [];

async function t(step: string, f: () => unknown, n = 500): Promise<void> {
  for (let i = 0; i < 100; i++) await f();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    xs.push((performance.now() - t0) * 1000);
  }
  xs.sort((a, c) => a - c);
  rows.push({ step, us: Math.round(xs[n >> 1] * 10) / 10 });
}

const k32 = random(32);
await t("decode ClientHello (twice per handshake: prepare + core)", () => decodeClientHello(ch));
await t("ek_C validity check (FIPS 203 modulus)", () => xwingPublicKeyValid(dec.ekC));
const w = WebCryptoMlKem.create();
if (w) {
  const key = await w.importSeed(random(64));
  const pkM = dec.ekC.subarray(0, 1184), ctM = dec.ctS!.subarray(0, 1088);
  await t(
    "ML-KEM encaps, WebCrypto (import raw-public + encapsulateBits)",
    () => w.encapsulate(pkM),
  );
  await t("ML-KEM decaps, WebCrypto (decapsulateBits)", () => w.decapsulate(key, ctM));
  await t(
    "both in parallel (the prepare hop's core)",
    () => Promise.all([w.encapsulate(pkM), w.decapsulate(key, ctM)]),
  );
}
await t("prepareServer (all of the above)", () => b.forConnection().prepareServer!(ch));
if (nc) {
  const x = nodeX25519(nc);
  const pk = x.publicKey(random(32)), prep = x.prepareSecret!(k32);
  await t("X25519 DH, static key prepared (decaps half)", () => prep.sharedSecret(pk));
  await t("X25519 DH, ephemeral (encaps half: import + DH)", () => x.sharedSecret(k32, pk));
  await t("X25519 public key of the ephemeral (ct_X)", () => x.publicKey(k32));
  const s3 = nodeSha3(nc);
  await t("SHA3-256 combiner (×2 per handshake)", () => s3(k32, k32, k32, k32));
}
const shStar = ch.subarray(0, 1150);
await t("transcript th1 + th2 (one pass)", () => transcriptHashes(ch, shStar).next(k32));
await t("handshake secret hs2", () => handshakeSecret(1, k32, k32));
await t(
  "finished key + MAC (×2 per handshake)",
  () => finishedMac(serverFinishedKey(k32, k32), k32),
);
await t("session keys (ms, c/s ap, exp, session id)", () => deriveSessionKeys(1, k32, k32));
await t("whole gateway handshake: prepare + receiveClientHello", async () => {
  const kem = b.forConnection();
  const s = new ServerHandshake({ kem, keys: [BENCH_KEY], random });
  await kem.prepareServer!(ch);
  s.receiveClientHello(ch);
});

if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ runtime: `Deno ${Deno.version.deno}`, rows }));
} else {
  console.log(`Deno ${Deno.version.deno}: median µs per step (gateway side, pinned key)`);
  for (const r of rows) console.log(`| ${r.step} | ${r.us} |`);
}
