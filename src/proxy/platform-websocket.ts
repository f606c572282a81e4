/**
 * The platform's default origin WebSocket connector (src/proxy/origin-websocket.ts): on Deno and
 * Deno Deploy, Deno's built-in `WebSocket`, whose constructor takes `{ protocols, headers }`;
 * null elsewhere (Node passes `websockets.connect`, Workers its `fetch` connector). Deno's
 * `close()` accepts only 1000 and 3000-4999, so other codes go out as 1000; Deno reports no
 * refusal status (→ "refused" without one, the relay answers 502); binary arrives as
 * ArrayBuffer. Deno reads a whole origin message before delivering it (docs/websockets.md).
 */
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
  type OriginWebSocketRequest,
  standardOriginSocket,
} from "./origin-websocket.ts";

type DenoWebSocketCtor = new (
  url: string,
  init: { protocols?: string[]; headers?: Headers },
) => WebSocket;

/** A code Deno's close() takes (1000, 3000-4999); anything else is sent as 1000. */
export function denoCloseCode(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}

function connectDeno(req: OriginWebSocketRequest): Promise<OriginSocket> {
  return new Promise<OriginSocket>((resolve, reject) => {
    if (req.signal.aborted) return reject(abortError(req.signal));
    const Ctor = WebSocket as unknown as DenoWebSocketCtor;
    let ws: WebSocket;
    try {
      ws = new Ctor(req.url, { protocols: [...req.protocols], headers: req.headers });
    } catch (e) {
      return reject(new OriginWebSocketError("failed", (e as Error)?.message ?? "bad URL"));
    }
    ws.binaryType = "arraybuffer";
    let opened = false;
    const onAbort = () => {
      if (opened) return;
      try {
        ws.close();
      } catch { /* not open yet */ }
      reject(abortError(req.signal));
    };
    req.signal.addEventListener("abort", onAbort, { once: true });
    const socket = standardOriginSocket(ws, denoCloseCode);
    ws.onopen = () => {
      opened = true;
      req.signal.removeEventListener("abort", onAbort);
      resolve(socket);
    };
    ws.onmessage = (e) => {
      const d = e.data;
      socket.onmessage?.(typeof d === "string" ? d : new Uint8Array(d as ArrayBuffer));
    };
    ws.onclose = (e) => {
      req.signal.removeEventListener("abort", onAbort);
      if (!opened) {
        reject(new OriginWebSocketError("refused", `closed before open (${e.code})`));
        return;
      }
      socket.onclose?.(e.code, e.reason, e.wasClean && e.code !== 1006);
    };
    ws.onerror = () => {/* the close event follows */};
  });
}

function abortError(signal: AbortSignal): OriginWebSocketError {
  const timeout = (signal.reason as Error)?.name === "TimeoutError";
  return new OriginWebSocketError(timeout ? "timeout" : "failed", "aborted before open");
}

export function platformOriginWebSocket(): OriginWebSocketConnect | null {
  const deno = (globalThis as { Deno?: { version?: unknown } }).Deno;
  return deno !== undefined && typeof WebSocket === "function" ? connectDeno : null;
}
