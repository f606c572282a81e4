/**
 * A real Deno WebSocket origin on loopback for the tunneled-WebSocket tests (PROTOCOL.md §6.9):
 * `Deno.serve` + `Deno.upgradeWebSocket`. Paths:
 *
 *   /echo…    echoes every message as it came (text as text, binary as binary)
 *   /close…   echoes, and closes with ORIGIN_CLOSE_CODE and ORIGIN_CLOSE_REASON once it gets the
 *             text message "close please"
 *   /flood…   once open, sends FLOOD_PIECE-byte binary messages without waiting for anyone (a
 *             platform WebSocket cannot be slowed down by its peer), up to FLOOD_LIMIT bytes
 *
 * The first subprotocol offered is selected. Every request is recorded, upgrade or not (so a
 * test can tell that no connection at all was made for a refused route, and see the fields the
 * gateway forwarded), and every close the origin saw.
 */

export const ORIGIN_CLOSE_CODE = 4321;
export const ORIGIN_CLOSE_REASON = "bye";
/** One flood message. */
export const FLOOD_PIECE = 64 * 1024;
/** What /flood sends at most (far past any bound of the gateway's). */
export const FLOOD_LIMIT = 64 * 1024 * 1024;

export interface WsOriginRequest {
  url: string;
  headers: Headers;
  upgrade: boolean;
}

export interface WsOrigin {
  /** ws://127.0.0.1:PORT */
  url: string;
  /** Every request that reached the origin, upgrades or not, in order. */
  readonly requests: WsOriginRequest[];
  /** Upgrades accepted so far. */
  readonly upgrades: number;
  /** Close codes and reasons the origin saw, in order. */
  readonly closes: { path: string; code: number; reason: string }[];
  /** Bytes /flood sockets handed to `send` so far. */
  readonly flooded: number;
  /** Sockets open now. */
  readonly open: number;
  close(): Promise<void>;
}

export function startWsOrigin(): WsOrigin {
  const requests: WsOriginRequest[] = [];
  const closes: { path: string; code: number; reason: string }[] = [];
  const sockets = new Set<WebSocket>();
  let flooded = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const upgrade = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    requests.push({ url: req.url, headers: new Headers(req.headers), upgrade });
    if (!upgrade) return new Response("a WebSocket origin", { status: 426 });
    const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",")
      .map((p) => p.trim()).filter((p) => p !== "");
    const { socket, response } = Deno.upgradeWebSocket(
      req,
      offered.length ? { protocol: offered[0] } : {},
    );
    const path = new URL(req.url).pathname;
    socket.binaryType = "arraybuffer";
    sockets.add(socket);
    socket.onopen = () => {
      if (path.startsWith("/flood")) flood(socket);
    };
    socket.onmessage = (e) => {
      if (path.startsWith("/close") && e.data === "close please") {
        socket.close(ORIGIN_CLOSE_CODE, ORIGIN_CLOSE_REASON);
        return;
      }
      if (socket.readyState === WebSocket.OPEN) socket.send(e.data);
    };
    socket.onclose = (e) => {
      sockets.delete(socket);
      closes.push({ path, code: e.code, reason: e.reason });
    };
    socket.onerror = () => {};
    return response;
  });
  function flood(socket: WebSocket): void {
    const piece = new Uint8Array(FLOOD_PIECE).fill(0x5a);
    const tick = () => {
      if (socket.readyState !== WebSocket.OPEN || flooded >= FLOOD_LIMIT) return;
      for (let i = 0; i < 4; i++) {
        socket.send(piece);
        flooded += piece.length;
      }
      setTimeout(tick, 0);
    };
    tick();
  }
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    requests,
    get upgrades() {
      return requests.filter((r) => r.upgrade).length;
    },
    closes,
    get flooded() {
      return flooded;
    },
    get open() {
      return sockets.size;
    },
    async close() {
      for (const s of sockets) {
        try {
          s.close(1001, "");
        } catch { /* already closing */ }
      }
      await server.shutdown();
    },
  };
}
