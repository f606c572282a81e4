/**
 * What a page and the pqgate Service Worker say to each other (docs/service-worker.md): the page
 * posts a request with a MessagePort, the worker answers on that port. Requests other than these
 * are ignored by the worker.
 */

/** Page → worker: report the channel state (`connect`: open the channel first). */
export const MSG_STATE = "pqgate:state";
/** Page → worker: take control of the pages in scope now (clients.claim()). */
export const MSG_CLAIM = "pqgate:claim";

export type WorkerRequest =
  | { type: typeof MSG_STATE; connect?: boolean }
  | { type: typeof MSG_CLAIM };

/** The channel as the worker holds it, for the page to show or check. */
export interface PqgateWorkerState {
  /** The worker's configuration (gateway URL, pin, match rules; it holds no secret). */
  gateway: string;
  pinConfigured: string;
  match: { origin: string; pathPrefix?: string }[];
  /** True while a session is established and usable. */
  connected: boolean;
  /** Suite id of the current session, null when none. */
  suite: number | null;
  /** Hex key id of the gateway key in use, null before the key configuration was read. */
  keyId: string | null;
  /** Pin of the gateway key in use (equals pinConfigured once the key was read). */
  pin: string | null;
  /** Id of the current session (hex), null when none. */
  sessionId: string | null;
  /** X-Wing backend of the latest handshake. */
  kemBackend: string | null;
  /** The latest failure (connect, handshake, channel or stream), null when none yet. */
  lastError: { name: string; message: string; at: number } | null;
  /** Sessions this worker instance opened (1 after the first handshake; more: reconnects). */
  sessions: number;
  /** Requests it routed through the channel, and those answered with a network error. */
  requests: number;
  failed: number;
  /** Random id of this worker instance: a new one after the browser restarted the worker. */
  instance: string;
  /** When this worker instance started (ms since the epoch). */
  startedAt: number;
}

export type WorkerReply =
  | { type: typeof MSG_STATE; ok: true; state: PqgateWorkerState }
  | { type: typeof MSG_CLAIM; ok: true }
  | { type: typeof MSG_STATE | typeof MSG_CLAIM; ok: false; error: string };

/** Whether a message is one of the requests above (anything else is ignored). */
export function isWorkerRequest(data: unknown): data is WorkerRequest {
  if (typeof data !== "object" || data === null) return false;
  const t = (data as { type?: unknown }).type;
  if (t === MSG_CLAIM) return true;
  if (t !== MSG_STATE) return false;
  const c = (data as { connect?: unknown }).connect;
  return c === undefined || typeof c === "boolean";
}
