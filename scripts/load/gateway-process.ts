/**
 * The Deno gateway as its own process for the load and soak scripts (so its RSS and CPU are
 * measured alone): an origin on loopback + createGateway + serveDeno on port 0. Prints one JSON
 * line `{ "wsUrl", "httpUrl", "pin", "pid" }` when ready; exits when stdin closes, on SIGTERM,
 * or after --max-seconds (default 3600: it always stops by itself).
 *
 * Origin endpoints: GET /id/<id> → {"id": "<id>"}; POST /echo → the request body.
 */
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";

const i = Deno.args.indexOf("--max-seconds");
const maxSeconds = i >= 0 ? Number(Deno.args[i + 1]) : 3600;

const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const url = new URL(req.url);
  if (url.pathname.startsWith("/id/")) {
    return Response.json({ id: decodeURIComponent(url.pathname.slice(4)) });
  }
  if (url.pathname === "/echo" && req.method === "POST") return new Response(req.body);
  return new Response("not found", { status: 404 });
});
const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
const gateway = createGateway({
  keys: key,
  routes: [{ match: { authority: "load.test" }, origin: `http://127.0.0.1:${origin.addr.port}` }],
  limits: { maxStreams: 100, idleTimeoutMs: 120_000, handshakeTimeoutMs: 30_000 },
});
// Every load channel comes from 127.0.0.1: no per-address limits here.
const server = serveDeno({
  gateway,
  port: 0,
  maxChannelsPerAddress: 0,
  maxHandshakesPerAddressPerMinute: 0,
});
console.log(
  JSON.stringify({
    wsUrl: server.url.replace(/^http/, "ws") + "/pqgate",
    httpUrl: server.url,
    pin: pinFor(key.publicKey),
    pid: Deno.pid,
  }),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.shutdown();
  await origin.shutdown();
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
