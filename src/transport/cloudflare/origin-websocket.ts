/**
 * The Workers connector of the WebSocket relay (src/proxy/origin-websocket.ts, PROTOCOL.md §6.9):
 * workerd has no WebSocket client constructor worth using here (no subprotocol check, no abort),
 * so the Durable Object opens the origin's WebSocket the Workers way, with `fetch` and an
 * `Upgrade: websocket` header (https/http scheme for wss/ws), and accepts the `webSocket` of the
 * 101 answer. A `service:NAME` origin goes through the same code with the binding's `fetch`.
 *
 * - Redirects are never followed (`redirect: "manual"`): any answer but 101 is "refused" with its
 *   status, the body cancelled.
 * - The request's signal aborts the upgrade until the socket is open: "timeout" when its reason is
 *   a TimeoutError (AbortSignal.timeout), "failed" otherwise.
 * - A subprotocol the origin selected but the client did not offer fails the upgrade (the socket
 *   is closed), as a browser's WebSocket does.
 * - Binary messages arrive as ArrayBuffer (`binaryType` set at accept; workerd's default is the
 *   standard's Blob since the 2025 compatibility dates, which an origin leg must not wait for).
 * - `bufferedAmount` is null: workerd does not expose it; the relay bounds by its own count.
 * - Close codes: workerd's close() refuses what RFC 6455 §7.4 does not let an endpoint send;
 *   `workerdCloseCode` sends such a code as 1000 (docs/websockets.md).
 *
 * Hibernation: an accepted outbound socket is the standard WebSocket API, so a Durable Object
 * holding one never hibernates (docs/cloudflare.md "Tunneled WebSockets").
 */
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
  type OriginWebSocketRequest,
} from "../../proxy/origin-websocket.ts";
import { isSendableCloseCode } from "../../tunnel/ws-messages.ts";

/** workerd's WebSocket as a 101 response carries it (`response.webSocket`), before accept(). */
export interface WorkerdWebSocket {
  accept(): void;
  /** "blob" by default on runtimes with the standard default (compatibility date 2025+). */
  binaryType?: string;
  send(message: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", listener: (e: { data: unknown }) => void): void;
  addEventListener(
    type: "close",
    listener: (e: { code: number; reason: string; wasClean: boolean }) => void,
  ): void;
  addEventListener(type: "error", listener: (e: unknown) => void): void;
}

/** What the connector fetches with: the global `fetch`, or a service binding's. */
export type UpgradeFetch = (request: Request) => Promise<Response>;

/**
 * The code to close with: workerd's close() throws for 1004-1006, 1015 and codes outside
 * 1000-4999 (measured, bench/ws-tunnel-entry.ts /close-codes) and accepts 1016-2999, which no
 * endpoint may send (RFC 6455 §7.4); anything not sendable becomes 1000.
 */
export function workerdCloseCode(code: number): number {
  return isSendableCloseCode(code) ? code : 1000;
}

/** `ws:`/`wss:` → `http:`/`https:` (workerd's fetch speaks only the HTTP schemes). */
export function upgradeUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === "ws:") u.protocol = "http:";
  else if (u.protocol === "wss:") u.protocol = "https:";
  else if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new OriginWebSocketError("failed", `unsupported scheme ${u.protocol}`);
  }
  return u.href;
}

function abortKind(signal: AbortSignal): "timeout" | "failed" {
  return (signal.reason as { name?: string } | undefined)?.name === "TimeoutError"
    ? "timeout"
    : "failed";
}

/** The connector over `fetch` (default: the global one, the network). */
export function workerdOriginWebSocket(
  fetchUpgrade: UpgradeFetch = (r) => fetch(r),
): OriginWebSocketConnect {
  return (req) => connect(fetchUpgrade, req);
}

async function connect(fetchUpgrade: UpgradeFetch, req: OriginWebSocketRequest) {
  const { signal } = req;
  if (signal.aborted) throw new OriginWebSocketError(abortKind(signal), "aborted");
  const headers = new Headers(req.headers);
  headers.set("upgrade", "websocket");
  if (req.protocols.length > 0) headers.set("sec-websocket-protocol", req.protocols.join(", "));
  else headers.delete("sec-websocket-protocol");
  let response: Response;
  try {
    response = await fetchUpgrade(
      new Request(upgradeUrl(req.url), { method: "GET", headers, redirect: "manual", signal }),
    );
  } catch (e) {
    if (e instanceof OriginWebSocketError) throw e;
    if (signal.aborted) throw new OriginWebSocketError(abortKind(signal), "aborted");
    throw new OriginWebSocketError("failed", "upgrade request failed");
  }
  const ws = (response as Response & { webSocket?: WorkerdWebSocket | null }).webSocket;
  if (response.status !== 101 || !ws) {
    response.body?.cancel().catch(() => {});
    throw new OriginWebSocketError("refused", `status ${response.status}`, response.status);
  }
  const protocol = response.headers.get("sec-websocket-protocol")?.trim() ?? "";
  ws.accept();
  // Binary messages as ArrayBuffer: the standard default (Blob) would need an async read.
  ws.binaryType = "arraybuffer";
  if (protocol !== "" && !req.protocols.includes(protocol)) {
    safeClose(ws, 1002, "");
    throw new OriginWebSocketError("failed", "the origin selected a subprotocol not offered");
  }
  if (signal.aborted) {
    safeClose(ws, 1000, "");
    throw new OriginWebSocketError(abortKind(signal), "aborted");
  }
  return originSocket(ws, protocol);
}

function safeClose(ws: WorkerdWebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch { /* already closing or closed */ }
}

/** The relay's view of an accepted workerd socket; `onclose` fires exactly once. */
function originSocket(ws: WorkerdWebSocket, protocol: string): OriginSocket {
  let closed = false;
  const socket: OriginSocket = {
    protocol,
    bufferedAmount: null,
    send(data) {
      ws.send(data);
    },
    close(code, reason) {
      safeClose(ws, workerdCloseCode(code), reason);
    },
    onmessage: null,
    onclose: null,
  };
  const ended = (code: number, reason: string, clean: boolean) => {
    if (closed) return;
    closed = true;
    socket.onclose?.(code, reason, clean);
  };
  ws.addEventListener("message", (e) => {
    if (closed) return;
    const d = e.data;
    if (typeof d === "string") socket.onmessage?.(d);
    else if (d instanceof ArrayBuffer) socket.onmessage?.(new Uint8Array(d));
    else {
      // Not a shape this connector asked for: fail the socket rather than forward it wrong.
      safeClose(ws, 1011, "");
      ended(1006, "", false);
    }
  });
  ws.addEventListener("close", (e) => {
    // Answer the origin's close (runtimes before 2026-04-07 do not do it themselves).
    safeClose(ws, workerdCloseCode(e.code), e.reason);
    ended(e.code, e.reason, e.wasClean);
  });
  ws.addEventListener("error", () => ended(1006, "", false));
  return socket;
}
