/**
 * How the Durable Object closes a hibernatable socket (close codes PROTOCOL.md §9): a close
 * never throws (the socket may be gone already); a socket the object gives up on has the
 * secrets erased from its attachment first, so late events for it are ignored; the peer's
 * close is answered.
 */
import { CLOSE_CODES, CLOSE_NORMAL, CLOSE_REASONS } from "../../protocol/errors.ts";
import type { GatewaySession } from "../../tunnel/session-seam.ts";
import {
  type Attachment,
  closedAttachment,
  handshakeAttachment,
  parseAttachment,
} from "./attachment.ts";
import type { HibernatableWebSocket } from "./platform.ts";

/** Codes a close frame cannot carry. */
const RESERVED_CLOSE = new Set([1005, 1006, 1015]);

export function safeClose(ws: HibernatableWebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch { /* already closed */ }
}

export function closeWith(ws: HibernatableWebSocket, code: keyof typeof CLOSE_CODES): void {
  safeClose(ws, CLOSE_CODES[code], CLOSE_REASONS[code]);
}

/** Erase the secrets from a socket's attachment; late events for it are then ignored. */
export function markClosed(ws: HibernatableWebSocket): void {
  try {
    let prev: Attachment;
    try {
      prev = parseAttachment(ws.deserializeAttachment());
    } catch {
      prev = handshakeAttachment(0, null);
    }
    ws.serializeAttachment(closedAttachment(prev));
  } catch { /* socket already gone */ }
}

/**
 * Answer the peer's close frame: the hibernation API requires it (otherwise the client sees
 * 1006 after a timeout). Reserved codes cannot be sent: normalized to 1000.
 */
export function reciprocateClose(ws: HibernatableWebSocket, code: number, reason: string): void {
  safeClose(ws, RESERVED_CLOSE.has(code) ? CLOSE_NORMAL : code, reason);
}

/** Tells a session (if any) that its socket is gone; its errors change nothing then. */
export function tellClosed(
  session: GatewaySession | undefined,
  code: number,
  reason: string,
): void {
  try {
    session?.onSocketClose(code, reason);
  } catch { /* the socket is gone either way */ }
}

/** A session that threw: shut it down (best effort), erase its state, close with 4014. */
export function abandon(ws: HibernatableWebSocket, session: GatewaySession | undefined): void {
  try {
    session?.shutdown();
  } catch { /* ignore */ }
  markClosed(ws);
  closeWith(ws, "internal_error");
}
