/**
 * An origin WebSocket connector (src/proxy/origin-websocket.ts) on Deno's WebSocket client, for
 * the end-to-end tests while the platform default (`platformOriginWebSocket()`) has none on
 * Deno: the tests use the platform's as soon as it returns one, this one only until then.
 * What the seam asks of a connector: exactly the URL given, the fields given, the offered
 * subprotocols, abort via the signal, and close codes Deno's WebSocket refuses (1001, 1009,
 * 1011…) sent as 1000 (docs/websockets.md).
 */
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
} from "../../src/proxy/origin-websocket.ts";

const sendable = (code: number) => code === 1000 || (code >= 3000 && code <= 4999);

export function testOriginWebSocket(): OriginWebSocketConnect {
  return (req) =>
    new Promise<OriginSocket>((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(req.url, { protocols: [...req.protocols], headers: req.headers });
      } catch (e) {
        reject(new OriginWebSocketError("failed", (e as Error).message));
        return;
      }
      ws.binaryType = "arraybuffer";
      let opened = false;
      const onAbort = () => {
        const timeout = (req.signal.reason as Error | undefined)?.name === "TimeoutError";
        try {
          ws.close();
        } catch { /* closing */ }
        reject(new OriginWebSocketError(timeout ? "timeout" : "failed", "aborted"));
      };
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener("abort", onAbort, { once: true });
      const socket: OriginSocket = {
        get protocol() {
          return ws.protocol;
        },
        get bufferedAmount() {
          return ws.bufferedAmount;
        },
        send: (d) => ws.send(d),
        close: (code, reason) => {
          try {
            ws.close(sendable(code) ? code : 1000, sendable(code) ? reason : "");
          } catch {
            ws.close(1000);
          }
        },
        onmessage: null,
        onclose: null,
      };
      ws.onopen = () => {
        opened = true;
        req.signal.removeEventListener("abort", onAbort);
        resolve(socket);
      };
      ws.onerror = () => {};
      ws.onmessage = (e) =>
        socket.onmessage?.(
          typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer),
        );
      ws.onclose = (e) => {
        req.signal.removeEventListener("abort", onAbort);
        if (!opened) reject(new OriginWebSocketError("failed", `closed ${e.code} before open`));
        else socket.onclose?.(e.code, e.reason, e.wasClean && e.code !== 1006);
      };
    });
}
