/**
 * A standard WebSocket (browser, Deno, or the `ws` package on Node) as the tunnel's `Socket`,
 * with its events forwarded to a handler. Binary messages are read as ArrayBuffer.
 */
import type { Bytes } from "../protocol/bytes.ts";
import type { Socket } from "../tunnel/types.ts";
import { ConnectError } from "./errors.ts";

/** The part of the WebSocket API the client uses (satisfied by browsers, Deno and `ws`). */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Bytes): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface SocketEvents {
  message(data: Uint8Array | string): void;
  close(code: number, reason: string): void;
}

/** Opens a WebSocket; resolves once open, rejects with ConnectError if it fails first. */
export function openWebSocket(
  url: string,
  WS: WebSocketConstructor,
  events: SocketEvents,
  timeoutMs: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = new WS(url);
    } catch (e) {
      reject(new ConnectError(`pqgate: cannot open a WebSocket to ${url}: ${(e as Error)?.message ?? e}`, { cause: e }));
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
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new ConnectError(`pqgate: could not connect to ${url}: ${why}`));
    };
    const socket: Socket = {
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
    ws.onerror = () => {
      if (!open) fail("WebSocket error");
    };
    ws.onclose = (ev) => {
      if (!open) {
        fail(`closed with code ${ev.code}${ev.reason ? ` (${ev.reason})` : ""}`);
        return;
      }
      events.close(ev.code, ev.reason);
    };
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (typeof d === "string") events.message(d);
      else if (d instanceof ArrayBuffer) events.message(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) events.message(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      else events.message("unsupported message type"); // closes the channel as a protocol error
    };
  });
}
