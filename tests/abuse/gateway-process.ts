/**
 * The Deno gateway under abuse, as its own process (so its RSS and descriptors are measured
 * alone, from /proc/<pid>): createGateway + serveDeno on port 0 in front of origin-process.ts
 * (a child process), with the small limits of ABUSE_LIMITS / ABUSE_SERVE so every bound shows
 * within a few seconds.
 *
 * Prints one JSON line `{ wsUrl, httpUrl, pin, publicKey, keyId, pid, originPort }` when ready; exits when
 * stdin closes, on SIGTERM, or after --max-seconds (default 300: it always stops by itself).
 * `--server deno` selects serveDeno's Deno.upgradeWebSocket server (default: node:http + ws).
 *
 * Route: authority "abuse.test" → the origin (its endpoints: origin-process.ts).
 */
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { toBase64Url, toHex } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { ABUSE_LIMITS, ABUSE_SERVE } from "./limits.ts";

const i = Deno.args.indexOf("--max-seconds");
const maxSeconds = i >= 0 ? Number(Deno.args[i + 1]) : 300;
// `--server deno` serves on Deno.upgradeWebSocket instead (serveDeno's `server` option), to show
// what the matrix catches there (no frame-header message limit, no close timeout).
const j = Deno.args.indexOf("--server");
const serverKind = j >= 0 && Deno.args[j + 1] === "deno" ? "deno" : "node";

// The origin runs in its own process (origin-process.ts), so this process's RSS and descriptors
// are the gateway's alone (its client sockets and its connections to the origin).
const originProc = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "--no-check", new URL("./origin-process.ts", import.meta.url).pathname],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const originOut = originProc.stdout.pipeThrough(new TextDecoderStream()).getReader();
let line = "";
while (!line.includes("\n")) {
  const { value, done } = await originOut.read();
  if (done) throw new Error("origin process exited before its ready line");
  line += value;
}
const originPort = JSON.parse(line.slice(0, line.indexOf("\n"))).port as number;
const origin = {
  addr: { port: originPort },
  async shutdown() {
    await originProc.stdin.close().catch(() => {});
    await originProc.status;
  },
};

const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
const gateway = createGateway({
  keys: key,
  routes: [{ match: { authority: "abuse.test" }, origin: `http://127.0.0.1:${origin.addr.port}` }],
  limits: ABUSE_LIMITS,
});
const server = serveDeno({
  ...ABUSE_SERVE,
  server: serverKind,
  gateway,
  port: 0,
  hostname: "127.0.0.1",
});
console.log(JSON.stringify({
  wsUrl: server.url.replace(/^http/, "ws") + "/pqgate",
  httpUrl: server.url,
  pin: pinFor(key.publicKey),
  publicKey: toBase64Url(key.publicKey),
  keyId: toHex(key.keyId),
  pid: Deno.pid,
  originPort,
}));

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const t = setTimeout(() => Deno.exit(0), 5000);
  await server.shutdown();
  await origin.shutdown();
  clearTimeout(t);
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
setTimeout(stop, maxSeconds * 1000);
(async () => {
  const buf = new Uint8Array(64);
  while ((await Deno.stdin.read(buf)) !== null) { /* wait for EOF */ }
  await stop();
})();
