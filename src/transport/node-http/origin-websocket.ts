/**
 * The origin WebSocket connector over the `ws` package (src/proxy/origin-websocket.ts,
 * PROTOCOL.md §6.9, docs/websockets.md "Platforms"): Node's, and on Deno the one that bounds
 * what an origin's message may cost before it is delivered.
 *
 * - `maxPayload` = the channel's `max_ws_message`: `ws` counts a message's length across its
 *   fragments and fails the socket with 1009 as soon as the total passes it, so an origin cannot
 *   make the gateway reassemble more than one message's worth (Deno's own WebSocket reassembles
 *   without a limit). The relay's own check (§6.9) stays behind it.
 * - Redirects are never followed (`followRedirects: false`): any answer but 101 is "refused"
 *   with its status (`unexpected-response`; the response is discarded and the socket torn down).
 * - No extension is offered (`perMessageDeflate: false`): a compressed message's size would not
 *   be its wire size, and the channel carries messages uncompressed (§6.9).
 * - A subprotocol the origin selected that the client did not offer fails the upgrade (`ws`
 *   checks it; it also fails an upgrade where subprotocols were offered and none was selected,
 *   which a browser accepts: docs/websockets.md).
 * - Offered subprotocols are sent as browsers spell the list (", " between them).
 * - The request's signal aborts the upgrade until the socket is open (`terminate()`): "timeout"
 *   for a TimeoutError reason, "failed" otherwise.
 * - Close codes: `ws` sends 1000-1003, 1007-1014 and 3000-4999 (what RFC 6455 §7.4 lets an
 *   endpoint send); anything else goes out as 1000, the reason cut to 123 bytes.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import WebSocket from "ws";
import {
  type OriginSocket,
  type OriginWebSocketConnect,
  OriginWebSocketError,
  type OriginWebSocketRequest,
  standardOriginSocket,
} from "../../proxy/origin-websocket.ts";
import { isSendableCloseCode } from "../../tunnel/ws-messages.ts";

const decoder = new TextDecoder();

/** The part of a `ws` client socket this connector uses (`ws` ships no types here). */
interface WsClient {
  readonly protocol: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
  terminate(): void;
  on(event: "open", listener: () => void): void;
  on(event: "error", listener: (e: Error) => void): void;
  on(event: "message", listener: (data: ArrayBuffer, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number, reason: Uint8Array) => void): void;
  on(
    event: "unexpected-response",
    listener: (request: ClientRequest, response: IncomingMessage) => void,
  ): void;
}

type WsClientCtor = new (url: string, protocols: string[], options: object) => WsClient;

function abortError(signal: AbortSignal): OriginWebSocketError {
  const timeout = (signal.reason as Error | undefined)?.name === "TimeoutError";
  return new OriginWebSocketError(timeout ? "timeout" : "failed", "aborted before open");
}

/** The connector: `createGateway({ websockets: { connect: wsOriginWebSocket() } })`. */
export function wsOriginWebSocket(): OriginWebSocketConnect {
  return connectWs;
}

function connectWs(req: OriginWebSocketRequest): Promise<OriginSocket> {
  return new Promise<OriginSocket>((resolve, reject) => {
    if (req.signal.aborted) return reject(abortError(req.signal));
    let ws: WsClient;
    try {
      ws = new (WebSocket as WsClientCtor)(req.url, [...req.protocols], {
        headers: Object.fromEntries(req.headers),
        // 0 would mean "no limit" to `ws`; a connector is only asked with a positive size.
        maxPayload: Math.max(1, req.maxMessage),
        followRedirects: false,
        perMessageDeflate: false,
        // `ws` joins the offered subprotocols with "," alone; browsers send ", ", and some
        // servers split on exactly that (Deno's upgradeWebSocket rejects "a,b" as one unknown
        // token). Same list, the browsers' spelling.
        finishRequest: (r: ClientRequest) => {
          if (req.protocols.length > 1) {
            r.setHeader("sec-websocket-protocol", req.protocols.join(", "));
          }
          r.end();
        },
      });
    } catch (e) {
      return reject(new OriginWebSocketError("failed", (e as Error)?.message ?? "bad URL"));
    }
    ws.binaryType = "arraybuffer";
    let settled = false;
    const fail = (e: OriginWebSocketError) => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
      ws.terminate();
      reject(e);
    };
    const onAbort = () => fail(abortError(req.signal));
    req.signal.addEventListener("abort", onAbort, { once: true });
    ws.on("unexpected-response", (_request, response) => {
      const status = response.statusCode ?? 0;
      response.resume(); // discard the body
      response.destroy();
      fail(new OriginWebSocketError("refused", `status ${status}`, status || null));
    });
    ws.on("error", (e) => fail(new OriginWebSocketError("failed", e.message)));
    const socket = standardOriginSocket(ws, (c) => isSendableCloseCode(c) ? c : 1000);
    ws.on("open", () => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
      resolve(socket);
    });
    ws.on("message", (data, isBinary) => {
      const bytes = new Uint8Array(data);
      socket.onmessage?.(isBinary ? bytes : decoder.decode(bytes));
    });
    ws.on("close", (code, reason) => {
      if (!settled) {
        return fail(new OriginWebSocketError("refused", `closed before open (${code})`));
      }
      // 1006: the connection ended without a close frame (never sent in one).
      socket.onclose?.(code, decoder.decode(reason), code !== 1006);
    });
  });
}
