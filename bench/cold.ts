/**
 * One cold sample: the FIRST gateway handshake in a fresh process, measured inside it.
 *
 *   deno run -A bench/cold.ts --backend noble|auto --hello FILE --seed LABEL
 *
 * The ClientHello comes from FILE (made by the parent with `seededRandom(LABEL)`), so no client
 * code runs (and warms shared code) before the gateway's first call; the client handshake is
 * re-created from the same seed afterwards, untimed, to produce the ClientFinished.
 * As a gateway does at start, the backends are selected first ("auto": `selectBackends`, timed
 * separately); then one pinned-key handshake, of which only the gateway's calls are timed
 * (prepareServer + receiveClientHello + receiveClientFinished; client work untimed).
 * Prints { backend, selectMs, firstUs, firstCpuUs, secondUs, startMs }.
 */
import process from "node:process";
import { type ConnectionKem, selectBackends } from "../src/crypto/select.ts";
import { ClientHandshake } from "../src/protocol/handshake-client.ts";
import { ServerHandshake } from "../src/protocol/handshake-server.ts";
import { xwingNoble } from "../src/protocol/kem.ts";
import { seededRandom } from "../src/protocol/testing.ts";
import { BENCH_KEY } from "./common.ts";

const arg = (k: string) => Deno.args[Deno.args.indexOf(k) + 1];
const helloFile = Deno.args.includes("--hello") ? arg("--hello") : null;
const seed = Deno.args.includes("--seed") ? arg("--seed") : "cold default";

const startMs = performance.now();
const backend = Deno.args.includes("noble") ? "noble" : "auto";
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

let selectMs = 0;
let forConnection: () => ConnectionKem = () => xwingNoble;
if (backend === "auto") {
  const t = performance.now();
  const b = await selectBackends({ staticKeys: [BENCH_KEY] });
  selectMs = performance.now() - t;
  forConnection = b.forConnection;
}

async function one(fromFile: boolean): Promise<{ us: number; cpuUs: number }> {
  const label = fromFile ? seed : seed + " second";
  const client = () =>
    new ClientHandshake({
      kem: xwingNoble,
      random: seededRandom(label),
      server: { keyId: BENCH_KEY.keyId, publicKey: BENCH_KEY.publicKey },
    });
  let c: ClientHandshake | null = null;
  let ch: Uint8Array;
  if (fromFile && helloFile) ch = await Deno.readFile(helloFile);
  else {
    c = client();
    ch = c.start();
  }
  const kem = forConnection();
  const s = new ServerHandshake({ kem, keys: [BENCH_KEY], random });
  let c0 = cpu(), t0 = performance.now();
  if (kem.prepareServer) await kem.prepareServer(ch);
  const sh = s.receiveClientHello(ch);
  let us = (performance.now() - t0) * 1000, cpuUs = cpu() - c0;
  if (!c) {
    c = client();
    c.start(); // same seed → the same ClientHello (and ephemeral key) as in the file
  }
  const { clientFinished } = c.receiveServerHello(sh);
  c0 = cpu();
  t0 = performance.now();
  s.receiveClientFinished(clientFinished);
  us += (performance.now() - t0) * 1000;
  cpuUs += cpu() - c0;
  return { us, cpuUs };
}

const first = await one(true);
const second = await one(false);
console.log(JSON.stringify({
  backend,
  selectMs: Math.round(selectMs * 10) / 10,
  firstUs: Math.round(first.us),
  firstCpuUs: Math.round(first.cpuUs),
  secondUs: Math.round(second.us),
  startMs: Math.round(startMs),
}));
