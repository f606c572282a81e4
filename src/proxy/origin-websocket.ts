/**
 * The seam between the WebSocket relay (PROTOCOL.md §6.9, docs/websockets.md) and the platform
 * that opens WebSockets to origins. The relay knows no platform: Deno and Node pass a connector
 * built on their WebSocket client, the Durable Object one built on `fetch` with an
 * `Upgrade: websocket` header. A connector opens exactly the URL it is given (the route's origin,
 * never a client-named target) and never follows redirects.
 */
import { fitCloseReason } from "../tunnel/ws-messages.ts";

/** What the relay asks a connector to open. */
export interface OriginWebSocketRequest {
  /** `ws:` or `wss:` URL: the route's origin base plus the (checked) path and query. */
  url: string;
  /** Subprotocols the client offered (already validated tokens), in order. */
  protocols: readonly string[];
  /** The upgrade request's end-to-end fields (the header policy already applied). */
  headers: Headers;
  /** Aborted when the client goes away or the route's timeout passes. */
  signal: AbortSignal;
  /**
   * The channel's `max_ws_message`: a connector whose platform can refuse a larger message at
   * its frame header (the `ws` package's `maxPayload`) does so, closing with 1009; the relay
   * fails the stream for any larger message that still arrives (PROTOCOL.md §6.9).
   */
  maxMessage: number;
}

/** An open WebSocket to an origin, as the relay drives it. */
export interface OriginSocket {
  /** The subprotocol the origin selected ("" for none). */
  readonly protocol: string;
  /**
   * Bytes handed to `send` that the platform has not written yet; null where the platform does
   * not say (Workers): the relay then bounds what it sends by its own count.
   */
  readonly bufferedAmount: number | null;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  /** Starts the closing handshake; a connector maps codes its platform refuses (docs/websockets.md). */
  close(code: number, reason: string): void;
  /** Set once by the relay before any event can fire. */
  onmessage: ((data: string | Uint8Array<ArrayBuffer>) => void) | null;
  /** The socket closed: `clean` false for a connection lost without a closing handshake (1006). */
  onclose: ((code: number, reason: string, clean: boolean) => void) | null;
}

/** Thrown (rejected) by a connector that could not open the socket. */
export class OriginWebSocketError extends Error {
  constructor(
    /** "refused": the origin answered the upgrade with `status` (not 101); "timeout"; "failed". */
    readonly kind: "refused" | "timeout" | "failed",
    detail: string,
    readonly status: number | null = null,
  ) {
    super(`origin WebSocket ${kind}: ${detail}`);
    this.name = "OriginWebSocketError";
  }
}

export type OriginWebSocketConnect = (req: OriginWebSocketRequest) => Promise<OriginSocket>;

/** What an OriginSocket forwards to on a client with the standard shape (Deno's, `ws`'s). */
export interface StandardClientSocket {
  readonly protocol: string;
  readonly bufferedAmount: number;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code: number, reason: string): void;
}

/**
 * The relay's view of such a client (events wired by the connector): `closeCode` maps a code
 * the platform's close() refuses, the reason is cut to what a close frame holds.
 */
export function standardOriginSocket(
  ws: StandardClientSocket,
  closeCode: (code: number) => number,
): OriginSocket {
  return {
    get protocol() {
      return ws.protocol;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send: (data) => ws.send(data),
    close: (code, reason) => {
      try {
        ws.close(closeCode(code), fitCloseReason(reason));
      } catch { /* already closing */ }
    },
    onmessage: null,
    onclose: null,
  };
}
