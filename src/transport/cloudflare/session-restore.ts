/**
 * A socket's session after a wake from hibernation, rebuilt from its attachment (attachment.ts,
 * docs/cloudflare.md "Hibernation"; half-done handshakes are never persisted):
 *
 *   "e" established   → `Session.resume(snapshot)`; a snapshot the session refuses → 4014
 *   "h" handshake     → 4000 handshake_timeout (nothing was persisted; the client retries)
 *   "c" closed by us  → nothing (a late event)
 *   malformed, unknown version → 4014 internal_error
 *
 * Every refusal leaves a closed attachment, so later events for the socket are ignored.
 */
import type { GatewayLog } from "../../gateway/options.ts";
import type { GatewaySession, SessionClass, SessionOptions } from "../../tunnel/session-seam.ts";
import { type Attachment, closedAttachment, parseAttachment } from "./attachment.ts";
import type { HibernatableWebSocket } from "./platform.ts";
import { closeWith, markClosed } from "./socket-close.ts";

/** The session of `ws` resumed from its attachment, or null (the socket is closed then). */
export function restoreSession(
  ws: HibernatableWebSocket,
  Session: SessionClass,
  options: (attachment: Attachment) => SessionOptions,
  log?: GatewayLog,
): GatewaySession | null {
  let attachment: Attachment;
  try {
    attachment = parseAttachment(ws.deserializeAttachment());
  } catch (e) {
    log?.("cf.attachment_invalid", { error: String((e as Error).message) });
    markClosed(ws);
    closeWith(ws, "internal_error");
    return null;
  }
  if (attachment.st === "c") return null; // closed by us; a late event
  if (attachment.st === "h") {
    // Woke mid-handshake: nothing was persisted, the client retries.
    ws.serializeAttachment(closedAttachment(attachment));
    closeWith(ws, "handshake_timeout");
    return null;
  }
  try {
    return Session.resume(attachment.ss, options(attachment));
  } catch (e) {
    log?.("cf.resume_failed", { error: String((e as Error).message) });
    ws.serializeAttachment(closedAttachment(attachment));
    closeWith(ws, "internal_error");
    return null;
  }
}
