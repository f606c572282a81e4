/**
 * Consumer 7: pqgate/node on Node 20, as a consumer gets it: the packed tarball (helpers.ts
 * buildAndPack, shared) and `ws` installed into a fresh project; an ESM app (`node app.mjs`)
 * starts its own origin (node:http), serves it through `serveNode` with its own key (a seed in
 * PQGATE_KEYS → gatewayOptionsFromEnv from pqgate/hono), and calls it with pqgate/client + ws:
 * a GET, a POST and a streamed response; a tunneled WebSocket (`channel.websocket()`) to the
 * app's own `ws` origin, opened by pqgate/node's `wsOriginWebSocket()` connector (echo text and
 * binary, the origin's close code back); then one bound over the wire (an oversized first
 * message → close 1009 at the frame header). Writes only dist/pkg/ in the repository.
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { buildAndPack, installConsumer, ok, VERSIONS } from "./helpers.ts";

const APP_MJS = `
import http from "node:http";
import WebSocket, { WebSocketServer } from "ws";
import { connect } from "pqgate/client";
import { createGateway, gatewayOptionsFromEnv, pinFor } from "pqgate/hono";
import { serveNode, wsOriginWebSocket } from "pqgate/node";

// The app's own origin.
const origin = http.createServer(async (req, res) => {
  if (req.url === "/stream") {
    for (let i = 0; i < 8; i++) {
      res.write("x".repeat(64 * 1024));
      await new Promise((r) => setTimeout(r, 5));
    }
    return res.end();
  }
  let body = "";
  for await (const chunk of req) body += chunk;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ method: req.method, path: req.url, body }));
});
// Its WebSocket endpoint: echoes, and closes with 4321 on "close please".
new WebSocketServer({ server: origin }).on("connection", (s) => {
  s.on("message", (d, isBinary) => {
    if (!isBinary && String(d) === "close please") s.close(4321, "bye");
    else s.send(d, { binary: isBinary });
  });
});
await new Promise((r) => origin.listen(0, "127.0.0.1", r));

const { logOff: _, ...options } = gatewayOptionsFromEnv(process.env);
const port = origin.address().port;
const routes = [
  { match: { authority: "api" }, origin: \`http://127.0.0.1:\${port}\` },
  { match: { authority: "live" }, origin: \`ws://127.0.0.1:\${port}\` },
];
const gateway = createGateway({ ...options, routes, websockets: { connect: wsOriginWebSocket() } });
const server = serveNode({ gateway, port: 0 });
await server.listening;

const out = { node: process.version, pin: pinFor(options.keys[0].publicKey) };
const url = server.url.replace(/^http/, "ws") + "/pqgate";
const ch = await connect(url, { pin: out.pin, WebSocket });
try {
  out.get = await (await ch.fetch("https://api/hello")).json();
  out.post = await (await ch.fetch("https://api/echo", { method: "POST", body: "from node" })).json();
  let bytes = 0, chunks = 0;
  for await (const c of (await ch.fetch("https://api/stream")).body) (bytes += c.byteLength), chunks++;
  out.stream = { bytes, chunks };
  out.websocket = await new Promise((resolve) => {
    const log = [];
    const ws = ch.websocket("wss://live/echo");
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      ws.send("héllo");
      ws.send(new Uint8Array([1, 2, 3]));
    };
    ws.onmessage = (e) => {
      log.push(typeof e.data === "string" ? e.data : [...new Uint8Array(e.data)].join(","));
      if (log.length === 2) ws.send("close please");
    };
    ws.onclose = (e) => resolve({ log, code: e.code, reason: e.reason, clean: e.wasClean });
  });
} finally {
  ch.close();
}
// A bound over the wire: a 1 MiB first message is refused at the frame header.
out.oversized = await new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.on("open", () => ws.send(Buffer.alloc(1 << 20)));
  ws.on("error", () => {});
  ws.on("close", (code) => resolve(code));
});
await server.shutdown();
origin.close();
console.log(JSON.stringify(out));
`;

Deno.test({
  name: "package: consumer 7, a Node 20 app serving pqgate/node in front of its own origin",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-node-consumer-" });
    try {
      const { tarball } = await buildAndPack();
      await installConsumer(tmp, [tarball, `ws@${VERSIONS.ws}`, `hono@${VERSIONS.hono}`]);
      await Deno.writeTextFile(tmp + "/app.mjs", APP_MJS);
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const pin = pinFor(generateStaticKey(seed.slice()).publicKey);
      const r = await ok("node", ["app.mjs"], {
        cwd: tmp,
        env: { PQGATE_KEYS: toBase64Url(seed) },
        timeoutMs: 30_000,
      });
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
      assert.equal(out.pin, pin, "gatewayOptionsFromEnv built the key from the seed");
      assert.deepEqual(out.get, { method: "GET", path: "/hello", body: "" });
      assert.deepEqual(out.post, { method: "POST", path: "/echo", body: "from node" });
      assert.equal(out.stream.bytes, 8 * 64 * 1024);
      assert.ok(out.stream.chunks > 1, `streamed in ${out.stream.chunks} chunk(s)`);
      assert.deepEqual(out.websocket, {
        log: ["héllo", "1,2,3"],
        code: 4321,
        reason: "bye",
        clean: true,
      });
      assert.equal(out.oversized, 1009);
      console.log(`node ${out.node}: ${r.ms.toFixed(0)} ms`);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
