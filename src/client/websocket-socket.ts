/**
 * A standard WebSocket (browser, Deno, or the `ws` package on Node) as the tunnel's `Socket`,
 * with its events forwarded to a handler. Binary messages are read as ArrayBuffer.
 */
import type { Bytes } from "../protocol/bytes.ts";
import type { Socket } from "../tunnel/types.ts";
import { ConnectError, upgradeRefusedText } from "./errors.ts";

/** The part of the WebSocket API the client uses (satisfied by browsers, Deno and `ws`). */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  /** The subprotocol the gateway selected ("" for none; PROTOCOL.md §1). */
  readonly protocol?: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Bytes): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => WebSocketLike;

export interface SocketEvents {
  message(data: Uint8Array | string): void;
  close(code: number, reason: string): void;
}

/** An open WebSocket as the tunnel's Socket, with the subprotocol the gateway selected. */
export interface OpenSocket extends Socket {
  /** "" when none was selected (or the implementation does not report it). */
  readonly protocol: string;
}

/**
 * Opens a WebSocket offering `protocols` (none when empty); resolves once open, rejects with
 * ConnectError if it fails first.
 */
export function openWebSocket(
  url: string,
  WS: WebSocketConstructor,
  events: SocketEvents,
  timeoutMs: number,
  protocols: string[] = [],
): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = protocols.length ? new WS(url, protocols) : new WS(url);
    } catch (e) {
      reject(
        new ConnectError(
          `pqgate: cannot open a WebSocket to ${url}: ${(e as Error)?.message ?? e}`,
          { cause: e },
        ),
      );
      return;
    }
    ws.binaryType = "arraybuffer";
    let open = false;
    const timer = setTimeout(() => {
      if (open) return;
      fail(`no connection within ${timeoutMs} ms`);
      try {
        ws.close();
      } catch { /* ignore */ }
    }, timeoutMs);
    /** `cause`: what the WebSocket implementation reported (its error or close event). */
    const fail = (why: string, status?: number, cause?: unknown) => {
      clearTimeout(timer);
      reject(new ConnectError(`pqgate: could not connect to ${url}: ${why}`, { status, cause }));
    };
    const socket: OpenSocket = {
      get protocol() {
        return typeof ws.protocol === "string" ? ws.protocol : "";
      },
      send: (b) => ws.send(b),
      close: (code, reason) => {
        try {
          ws.close(code, reason);
        } catch {
          try {
            ws.close();
          } catch { /* already closed */ }
        }
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    ws.onopen = () => {
      open = true;
      clearTimeout(timer);
      resolve(socket);
    };
    ws.onerror = (ev) => {
      if (open) return;
      const status = refusedStatus(ev);
      const e = ev as { error?: unknown } | null;
      fail(
        status === null ? "WebSocket error" : upgradeRefusedText(status),
        status ?? undefined,
        e?.error ?? ev,
      );
    };
    ws.onclose = (ev) => {
      if (!open) {
        fail(`closed with code ${ev.code}${ev.reason ? ` (${ev.reason})` : ""}`, undefined, ev);
        return;
      }
      events.close(ev.code, ev.reason);
    };
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (typeof d === "string") events.message(d);
      else if (d instanceof ArrayBuffer) events.message(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) {
        events.message(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      } else events.message("unsupported message type"); // closes the channel as a protocol error
    };
  });
}

/**
 * True when an open failed because of the subprotocol answer: the `ws` package fails a socket
 * whose 101 selects no subprotocol although some were offered ("Server sent no subprotocol"),
 * which a gateway that predates PROTOCOL.md 1.2 may do (§1). Browsers and Deno accept it.
 */
export function failedOnSubprotocol(e: unknown): boolean {
  const cause = (e as { cause?: { message?: unknown } } | null)?.cause;
  return typeof cause?.message === "string" && /subprotocol/i.test(cause.message);
}

/**
 * The HTTP status of a refused upgrade, from the error event's text where the implementation
 * puts it there: the `ws` package ("Unexpected server response: 429"), Deno ("Invalid status
 * code: 429"). Browsers give no status (a refused upgrade is an anonymous failure): null.
 */
function refusedStatus(ev: unknown): number | null {
  const e = ev as { message?: unknown; error?: { message?: unknown } } | null;
  const text = [e?.message, e?.error?.message].filter((x) => typeof x === "string").join(" ");
  const m = /(?:Unexpected server response|Invalid status code):? (\d{3})\b/.exec(text);
  return m ? Number(m[1]) : null;
}
