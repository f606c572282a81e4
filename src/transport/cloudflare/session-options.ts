/**
 * What the Durable Object builds sessions from (`SessionObjectConfig`, derived once per isolate
 * from the Worker's env) and the SessionOptions of the session on one hibernatable socket: a
 * Socket over the WebSocket, and `persist` into the socket's attachment (attachment.ts).
 */
import type { SessionConfig } from "../../gateway/create-gateway.ts";
import type { SessionClass, SessionOptions, Socket } from "../../tunnel/session-seam.ts";
import { type Attachment, closedAttachment, establishedAttachment } from "./attachment.ts";
import type { HibernatableWebSocket } from "./platform.ts";
import { platformEnv } from "./platform-env.ts";
import { safeClose } from "./socket-close.ts";

/** The gateway's `sessionConfig` (crypto, suites, anonymous mode optional here) plus the class. */
export interface SessionObjectConfig
  extends
    Pick<SessionConfig, "keys" | "limits" | "handler">,
    Partial<Pick<SessionConfig, "suites" | "allowAnonymous" | "log" | "crypto" | "auth">> {
  Session: SessionClass;
  /** Tests: observe every message the object sends (wire-level, after sealing). */
  onSend?: (bytes: Uint8Array) => void;
}

/**
 * The options of the session on `ws`, whose attachment is `initial`. A close by the session
 * calls `onClose` (the object forgets the session), then stores a closed attachment.
 */
export function socketSessionOptions(
  cfg: SessionObjectConfig,
  ws: HibernatableWebSocket,
  initial: Attachment,
  onClose: () => void,
): SessionOptions {
  let current = initial;
  const socket: Socket = {
    send(bytes) {
      cfg.onSend?.(bytes);
      ws.send(bytes);
    },
    close(code, reason) {
      onClose();
      current = closedAttachment(current);
      try {
        ws.serializeAttachment(current);
      } catch { /* socket already gone */ }
      safeClose(ws, code, reason);
    },
    get bufferedAmount() {
      const b = ws.bufferedAmount;
      return typeof b === "number" ? b : 0;
    },
  };
  return {
    socket,
    keys: cfg.keys,
    suites: cfg.suites,
    allowAnonymous: cfg.allowAnonymous,
    auth: cfg.auth,
    env: platformEnv,
    limits: cfg.limits,
    handler: cfg.handler,
    clientAddress: initial.ca,
    log: cfg.log,
    kem: cfg.crypto?.kem(),
    aead: cfg.crypto?.aead(),
    // Synchronous and before any send that depends on it (PROTOCOL.md §5.5): throws if the
    // snapshot cannot be stored, so the session never sends past an unsaved reservation.
    persist(snapshot) {
      const next = establishedAttachment(current, snapshot);
      ws.serializeAttachment(next);
      current = next;
    },
  };
}
