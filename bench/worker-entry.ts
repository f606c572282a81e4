/**
 * Bench-only Worker entry (bundled into dist/bench-worker/, loaded by bench/worker-hook.ts into
 * Miniflare; NEVER deployed). It is the production Worker (worker/index.ts: same module
 * start-up, same gateway, same Durable Object) plus batch routes under /__bench/ that run only
 * the gateway's handshake calls, so that the CPU of a whole request, measured from outside
 * (workerd's event-loop thread, /proc/<pid>/task/<pid>/schedstat) and minus an empty request,
 * is handshake work. Inside workerd, `performance.now()`/`Date.now()` do not advance while
 * JavaScript computes, so nothing is timed in here.
 *
 *   POST /__bench/hello?backend=noble|gateway   body: ClientHellos (u32 length-prefixed)
 *        → per hello: kem = backend's per-connection KEM; await kem.prepareServer?.(hello);
 *          receiveClientHello; the ServerHandshake is kept in isolate memory.
 *        ← the ServerHellos (u32 length-prefixed)
 *   POST /__bench/finished                       body: ClientFinished messages, same order
 *        → receiveClientFinished for each pending handshake
 *   GET  /__bench/noop                           an empty request
 *   POST /__bench/echo?size=S                    the baseline of a batch: same body, a response
 *                                                of as many S-byte parts, no handshake work
 *   GET  /__bench/step?op=O&n=N                 N repetitions of one primitive (profile; op list
 *                                                in `step`), CPU measured from outside minus n=0
 *   GET  /__bench/select                         awaits the gateway's backend selection, → report
 *
 * "gateway" = `gatewayFor(env).sessionConfig.crypto.kem()`, exactly what the Durable Object
 * passes to its ServerSession (noble until the selection finished, so the bench awaits it
 * first with /__bench/select).
 */
import worker, { PqgateSession } from "../worker/index.ts";
import { gatewayFor, type WorkerEnv } from "../src/transport/cloudflare/worker.ts";
import { ServerHandshake } from "../src/protocol/handshake-server.ts";
import type { ConnectionKem } from "../src/crypto/select.ts";
import { loadNodeCrypto, nodeX25519 } from "../src/crypto/node-crypto.ts";
import { nobleSha3, nobleX25519, PKCS8_X25519_PREFIX } from "../src/crypto/primitives.ts";
import { WebCryptoMlKem } from "../src/crypto/xwing-webcrypto.ts";
import { seededRandom } from "../src/protocol/testing.ts";
import { xwingNoble } from "../src/protocol/kem.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { ClientHandshake } from "../src/protocol/handshake-client.ts";
import { BENCH_KEY } from "./common.ts";
import { joinBatch, splitBatch } from "./batch.ts";

export { PqgateSession };

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
let pending: ServerHandshake[] = [];

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response> {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/__bench/")) return worker.fetch(request, env, ctx);
    const gateway = gatewayFor(env);
    const what = url.pathname.slice("/__bench/".length);
    if (what === "noop") return new Response("ok");
    if (what === "step") {
      return Response.json(
        await step(url.searchParams.get("op") ?? "", Number(url.searchParams.get("n") ?? 0)),
      );
    }
    if (what === "echo") {
      // The baseline of a batch: same request and response sizes, no handshake work.
      const n = splitBatch(new Uint8Array(await request.arrayBuffer())).length;
      return new Response(
        joinBatch(
          Array.from(
            { length: n },
            () => new Uint8Array(Number(url.searchParams.get("size") ?? 0)),
          ),
        ),
      );
    }
    if (what === "select") return Response.json(await gateway.cryptoReport());
    if (what === "hello") {
      const hellos = splitBatch(new Uint8Array(await request.arrayBuffer()));
      const useGateway = url.searchParams.get("backend") === "gateway";
      const keys = gateway.sessionConfig.keys;
      const out: Uint8Array[] = [];
      pending = [];
      for (const ch of hellos) {
        const kem: ConnectionKem | undefined = useGateway
          ? gateway.sessionConfig.crypto.kem()
          : undefined;
        const hs = new ServerHandshake({ keys, random, ...(kem ? { kem } : {}) });
        await kem?.prepareServer?.(ch);
        out.push(hs.receiveClientHello(ch));
        pending.push(hs);
      }
      return new Response(joinBatch(out));
    }
    if (what === "finished") {
      const fins = splitBatch(new Uint8Array(await request.arrayBuffer()));
      if (fins.length !== pending.length) return new Response("count mismatch", { status: 400 });
      fins.forEach((f, i) => pending[i].receiveClientFinished(f));
      const n = pending.length;
      pending = [];
      return Response.json({ n });
    }
    return new Response("unknown bench route", { status: 404 });
  },
};

/**
 * One primitive N times, for the step-by-step profile of a workerd handshake (driver:
 * bench/worker-step.ts). Ops: x25519-node (DH with both keys imported per call),
 * x25519-node-prepared (the gateway's pre-imported static key), x25519-node-pub (X25519(sk, 9)),
 * x25519-node-ephemeral (an encapsulation's X25519 half, one key import), x25519-noble,
 * x25519-wc-static (WebCrypto DH with a cached private CryptoKey), x25519-wc-ephemeral (WebCrypto
 * PKCS#8 import + X25519(sk, 9) + X25519(sk, pk), both derives in parallel), mlkem-encaps,
 * mlkem-decaps, prepare-mlkem (both in parallel, as prepareServer), prepare-all (the same plus
 * the three WebCrypto X25519 operations, all in parallel), sha3-noble (1.2 KB), sha3-noble-134
 * and sha3-wc-134 (an X-Wing combiner input), sha256-noble-2k / sha256-node-2k (a ClientHello),
 * hmac-noble / hmac-node / hmac-wc (134 bytes), floor (a whole handshake, client and gateway,
 * with a KEM that returns fixed outputs: codecs + noble key schedule on both sides), await.
 */
async function step(op: string, n: number): Promise<{ op: string; n: number }> {
  const rs = seededRandom("bench step");
  const r = (n: number) => new Uint8Array(rs(n)); // Uint8Array<ArrayBuffer> for WebCrypto
  const a = r(32), b = r(32), seed = r(32), msg = r(1200), msg134 = msg.slice(0, 134);
  const pkB = new Uint8Array(nobleX25519.publicKey(b));
  const nc = await loadNodeCrypto();
  const nx = nc ? nodeX25519(nc) : null;
  const w = WebCryptoMlKem.create();
  const kp = xwingNoble.keygen(seed);
  const pkM = kp.publicKey.subarray(0, 1184);
  const dz = new Uint8Array(64);
  const dk = w ? await w.importSeed(dz) : null;
  const ct = w ? (await w.encapsulate(pkM)).ctM : null;
  const prepared = nx?.prepareSecret?.(a);
  // WebCrypto X25519: PKCS#8 import of a raw scalar, X25519(sk, 9) as deriveBits with the base
  // point u = 9 (the public key), X25519(sk, pk) as deriveBits with an imported raw public key.
  const sub = crypto.subtle;
  const X = { name: "X25519" };
  const pkcs8 = (sk: Uint8Array) => {
    const der = new Uint8Array(48);
    der.set(PKCS8_X25519_PREFIX);
    der.set(sk, 16);
    return der;
  };
  const basePoint = new Uint8Array(32);
  basePoint[0] = 9;
  const wcDh = async (k: CryptoKey, pk: Uint8Array<ArrayBuffer>) => {
    const pub = await sub.importKey("raw", pk, X, true, []);
    return new Uint8Array(
      await sub.deriveBits(
        { name: "X25519", public: pub } as unknown as AlgorithmIdentifier,
        k,
        256,
      ),
    );
  };
  const wcEphemeral = () => {
    const k = sub.importKey("pkcs8", pkcs8(b), X, false, ["deriveBits"]);
    return [k.then((k) => wcDh(k, basePoint)), k.then((k) => wcDh(k, pkB))];
  };
  let wcStatic: CryptoKey | null = null;
  try {
    wcStatic = await sub.importKey("pkcs8", pkcs8(a), X, false, ["deriveBits"]);
  } catch { /* no WebCrypto X25519: the wc ops fail */ }
  const hm = await sub.importKey("raw", a, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const ch2k = r(2400);
  // "floor": a KEM with fixed outputs, so only codecs and the key schedule run.
  const e = xwingNoble.encapsulate(BENCH_KEY.publicKey, new Uint8Array(64).fill(7));
  const ek = xwingNoble.keygen(new Uint8Array(32).fill(3));
  const fixedKem = {
    name: "none (fixed outputs)",
    keygen: () => ({
      publicKey: new Uint8Array(ek.publicKey),
      secretKey: new Uint8Array(ek.secretKey),
    }),
    encapsulate: () => ({
      cipherText: new Uint8Array(e.cipherText),
      sharedSecret: new Uint8Array(e.sharedSecret),
    }),
    decapsulate: () => new Uint8Array(e.sharedSecret),
  };
  const server = { keyId: BENCH_KEY.keyId, publicKey: BENCH_KEY.publicKey };
  for (let i = 0; i < n; i++) {
    if (op === "x25519-node") nx!.sharedSecret(a, pkB);
    else if (op === "x25519-node-prepared") prepared!.sharedSecret(pkB);
    else if (op === "x25519-node-pub") nx!.publicKey(a);
    else if (op === "x25519-node-ephemeral") nx!.ephemeral!(b, pkB);
    else if (op === "x25519-noble") nobleX25519.sharedSecret(a, pkB);
    else if (op === "x25519-wc-static") await wcDh(wcStatic!, pkB);
    else if (op === "x25519-wc-ephemeral") await Promise.all(wcEphemeral());
    else if (op === "mlkem-encaps") await w!.encapsulate(pkM);
    else if (op === "mlkem-decaps") await w!.decapsulate(dk!, ct!);
    else if (op === "prepare-mlkem") {
      await Promise.all([w!.encapsulate(pkM), w!.decapsulate(dk!, ct!)]);
    } else if (op === "prepare-all") {
      await Promise.all([
        w!.encapsulate(pkM),
        w!.decapsulate(dk!, ct!),
        wcDh(wcStatic!, pkB),
        ...wcEphemeral(),
      ]);
    } else if (op === "sha3-noble") nobleSha3(msg);
    else if (op === "sha3-noble-134") nobleSha3(msg134);
    else if (op === "sha3-wc-134") await sub.digest("SHA3-256", msg134);
    else if (op === "sha256-noble-2k") sha256(ch2k);
    else if (op === "sha256-node-2k") nc.createHash("sha256").update(ch2k).digest();
    else if (op === "hmac-noble") hmac(sha256, a, msg134);
    else if (op === "hmac-node") nc.createHmac("sha256", a).update(msg134).digest();
    else if (op === "hmac-wc") await sub.sign("HMAC", hm, msg134);
    else if (op === "floor") {
      const c = new ClientHandshake({ server, kem: fixedKem, random });
      const s = new ServerHandshake({ keys: [BENCH_KEY], kem: fixedKem, random });
      const sh = s.receiveClientHello(c.start());
      s.receiveClientFinished(c.receiveServerHello(sh).clientFinished);
    } else if (op === "await") await Promise.resolve();
  }
  return { op, n };
}
