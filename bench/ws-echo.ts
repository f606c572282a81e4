/**
 * Helper process of bench/request-profile.ts: a WebSocket echo on the gateway's two servers,
 * or a tiny keep-alive origin, so their CPU per message can be read from /proc alone.
 *
 *   deno run -A bench/ws-echo.ts --server node|deno    (echo every binary message back)
 *   deno run -A bench/ws-echo.ts --origin              (GET /1k → 1 KiB, content-length)
 *
 * Prints one JSON line when ready: { port, pid }. Stops on SIGTERM.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

/** The part of a `ws` socket the echo uses (its types differ between type-check roots). */
interface EchoSocket {
  on(event: "message", listener: (data: unknown, isBinary: boolean) => void): void;
  send(data: unknown, options: { binary: boolean }): void;
}

const args = Deno.args;
const ready = (port: number) => console.log(JSON.stringify({ port, pid: Deno.pid }));
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

if (args.includes("--origin")) {
  const KIB = new Uint8Array(1024).fill(0x61);
  const s = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(KIB, { headers: { "content-type": "text/plain" } }),
  );
  ready(s.addr.port);
} else if (args[args.indexOf("--server") + 1] === "deno") {
  const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
  ready(s.addr.port);
} else {
  // As the gateway's node server: no compression, TCP_NODELAY (ws-lifecycle.ts).
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on(
    "upgrade",
    (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws: EchoSocket) => {
        (socket as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
        ws.on("message", (d, isBinary) => ws.send(d, { binary: isBinary }));
      }),
  );
  server.listen(0, "127.0.0.1", () => ready((server.address() as AddressInfo).port));
}
