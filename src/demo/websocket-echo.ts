/**
 * The demo origin's WebSocket (`wss://demo/ws` on the demo routes; docs/demo-origin.md): an
 * in-process echo behind the gateway's relay, so a tunneled WebSocket works with no origin to
 * set up. It is a connector of the relay's seam (src/proxy/origin-websocket.ts), not a network
 * socket: the relay opens it as it would open an origin's.
 *
 * - every text and binary message comes back unchanged;
 * - a text message `close CODE [REASON]` makes it close with that code (3000-4999 or 1000);
 * - it selects the subprotocol `echo` when offered, else none;
 * - a close from the relay is answered with the same code and reason.
 * It holds nothing: each message is handed back as it arrives.
 */
import type { OriginSocket, OriginWebSocketRequest } from "../proxy/origin-websocket.ts";

const CLOSE_COMMAND = /^close (1000|[34][0-9]{3})(?: (.{0,100}))?$/s;

export function demoWebSocket(req: OriginWebSocketRequest): Promise<OriginSocket> {
  if (req.signal.aborted) return Promise.reject(req.signal.reason);
  let closed = false;
  const later = (f: () => void) => queueMicrotask(() => !closed && f());
  const closeWith = (code: number, reason: string) => {
    if (closed) return;
    later(() => {
      closed = true;
      socket.onclose?.(code, reason, true);
    });
  };
  const socket: OriginSocket = {
    protocol: req.protocols.includes("echo") ? "echo" : "",
    bufferedAmount: 0,
    send(data) {
      if (closed) return;
      const m = typeof data === "string" ? CLOSE_COMMAND.exec(data) : null;
      if (m) return closeWith(Number(m[1]), m[2] ?? "");
      const copy = typeof data === "string" ? data : data.slice();
      later(() => socket.onmessage?.(copy));
    },
    close(code, reason) {
      closeWith(code, reason);
    },
    onmessage: null,
    onclose: null,
  };
  return Promise.resolve(socket);
}
