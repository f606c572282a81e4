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
import worker, { gatewayFor, PqgateSession } from "../worker/index.ts";
import type { WorkerEnv } from "../worker/config.ts";
import { ServerHandshake } from "../src/protocol/handshake-server.ts";
import type { ConnectionKem } from "../src/crypto/select.ts";
import { loadNodeCrypto, nobleSha3, nobleX25519, nodeX25519 } from "../src/crypto/primitives.ts";
import { WebCryptoMlKem } from "../src/crypto/xwing-webcrypto.ts";
import { seededRandom } from "../src/protocol/testing.ts";
import { xwingNoble } from "../src/protocol/kem.ts";
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
    if (what === "step") return Response.json(await step(url.searchParams.get("op") ?? "", Number(url.searchParams.get("n") ?? 0)));
    if (what === "echo") {
      // The baseline of a batch: same request and response sizes, no handshake work.
      const n = splitBatch(new Uint8Array(await request.arrayBuffer())).length;
      return new Response(joinBatch(Array.from({ length: n }, () => new Uint8Array(Number(url.searchParams.get("size") ?? 0)))));
    }
    if (what === "select") return Response.json(await gateway.cryptoReport());
    if (what === "hello") {
      const hellos = splitBatch(new Uint8Array(await request.arrayBuffer()));
      const useGateway = url.searchParams.get("backend") === "gateway";
      const keys = gateway.sessionConfig.keys;
      const out: Uint8Array[] = [];
      pending = [];
      for (const ch of hellos) {
        const kem: ConnectionKem | undefined = useGateway ? gateway.sessionConfig.crypto.kem() : undefined;
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

/** One primitive N times, for the step-by-step profile of a workerd handshake. */
async function step(op: string, n: number): Promise<{ op: string; n: number }> {
  const r = seededRandom("bench step");
  const a = r(32), b = r(32), seed = r(32), msg = r(1200);
  const pkB = nobleX25519.publicKey(b);
  const nc = await loadNodeCrypto();
  const nx = nc ? nodeX25519(nc) : null;
  const w = WebCryptoMlKem.create();
  const kp = xwingNoble.keygen(seed);
  const pkM = kp.publicKey.subarray(0, 1184);
  const dz = new Uint8Array(64);
  const dk = w ? await w.importSeed(dz) : null;
  const ct = w ? (await w.encapsulate(pkM)).ctM : null;
  const prepared = nx?.prepareSecret?.(a);
  for (let i = 0; i < n; i++) {
    if (op === "x25519-node") nx!.sharedSecret(a, pkB);
    else if (op === "x25519-node-prepared") prepared!.sharedSecret(pkB);
    else if (op === "x25519-node-pub") nx!.publicKey(a);
    else if (op === "x25519-noble") nobleX25519.sharedSecret(a, pkB);
    else if (op === "mlkem-encaps") await w!.encapsulate(pkM);
    else if (op === "mlkem-decaps") await w!.decapsulate(dk!, ct!);
    else if (op === "sha3-noble") nobleSha3(msg);
    else if (op === "await") await Promise.resolve();
  }
  return { op, n };
}
