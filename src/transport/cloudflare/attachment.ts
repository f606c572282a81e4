/**
 * The per-socket WebSocket attachment (`ws.serializeAttachment`), the only state that survives
 * a Durable Object's hibernation (docs/cloudflare.md; PROTOCOL.md §5.5).
 *
 * Versioned and validated on read: anything that does not parse exactly as a known version is
 * refused, and the caller closes the socket (internal_error). The encoded value is a plain
 * object (structured clone) and is kept under ATTACHMENT_MAX_BYTES, the documented limit
 * (2,048 bytes; local workerd enforces 16 KiB, production the documented one).
 *
 * Schema version 1:
 *   { v: 1, st: "h", at, ca }             handshake in progress: nothing secret is persisted;
 *                                          a wake in this state closes with handshake_timeout
 *   { v: 1, st: "e", at, ca, ss }          established; `ss` = ServerSession snapshot bytes
 *   { v: 1, st: "c", at, ca }             closed by the gateway: the secrets are erased, and a
 *                                          late event for this socket is ignored
 * `at` = accept time (ms since epoch), `ca` = client address (string ≤ 64 chars) or null.
 */

export const ATTACHMENT_VERSION = 1;
/** The documented Cloudflare limit for one attachment (serialized). */
export const ATTACHMENT_MAX_BYTES = 2048;
/** Room kept for the structured-clone envelope, keys, `at` and `ca`. */
const ENVELOPE_BUDGET = 160;
export const MAX_CLIENT_ADDRESS = 64;
export const MAX_SNAPSHOT_BYTES = ATTACHMENT_MAX_BYTES - ENVELOPE_BUDGET;

export type Attachment =
  | { v: 1; st: "h"; at: number; ca: string | null }
  | { v: 1; st: "c"; at: number; ca: string | null }
  | { v: 1; st: "e"; at: number; ca: string | null; ss: Uint8Array };

export class AttachmentError extends Error {
  constructor(detail: string) {
    super(`attachment: ${detail}`);
    this.name = "AttachmentError";
  }
}

function checkCommon(at: unknown, ca: unknown): void {
  if (typeof at !== "number" || !Number.isSafeInteger(at) || at < 0) {
    throw new AttachmentError("at must be a non-negative integer");
  }
  if (ca !== null && (typeof ca !== "string" || ca.length > MAX_CLIENT_ADDRESS)) {
    throw new AttachmentError(`ca must be null or a string of at most ${MAX_CLIENT_ADDRESS}`);
  }
}

/** A handshake-state attachment. */
export function handshakeAttachment(at: number, clientAddress: string | null): Attachment {
  const ca = clientAddress === null ? null : clientAddress.slice(0, MAX_CLIENT_ADDRESS);
  checkCommon(at, ca);
  return { v: 1, st: "h", at, ca };
}

/** The closed-state attachment: same envelope, no secrets. */
export function closedAttachment(prev: Attachment): Attachment {
  return { v: 1, st: "c", at: prev.at, ca: prev.ca };
}

/** An established-state attachment holding `snapshot`. Throws if it would exceed the limit. */
export function establishedAttachment(
  prev: Attachment,
  snapshot: Uint8Array,
): Attachment {
  if (!(snapshot instanceof Uint8Array) || snapshot.length === 0) {
    throw new AttachmentError("snapshot must be non-empty bytes");
  }
  if (snapshot.length > MAX_SNAPSHOT_BYTES) {
    throw new AttachmentError(`snapshot of ${snapshot.length} B exceeds ${MAX_SNAPSHOT_BYTES} B`);
  }
  // Copy: the attachment must not alias a buffer the session keeps mutating.
  return { v: 1, st: "e", at: prev.at, ca: prev.ca, ss: Uint8Array.from(snapshot) };
}

/**
 * Validate a value read back with `deserializeAttachment()`. Throws AttachmentError for a
 * missing, malformed or unknown-version attachment.
 */
export function parseAttachment(value: unknown): Attachment {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new AttachmentError("missing or not an object");
  }
  const o = value as Record<string, unknown>;
  if (o.v !== ATTACHMENT_VERSION) throw new AttachmentError(`unknown version ${String(o.v)}`);
  checkCommon(o.at, o.ca);
  const at = o.at as number;
  const ca = o.ca as string | null;
  if (o.st === "h" || o.st === "c") {
    if (Object.keys(o).length !== 4) throw new AttachmentError("unexpected fields");
    return o.st === "h" ? { v: 1, st: "h", at, ca } : { v: 1, st: "c", at, ca };
  }
  if (o.st === "e") {
    if (Object.keys(o).length !== 5) throw new AttachmentError("unexpected fields");
    const ss = o.ss;
    if (!(ss instanceof Uint8Array) || ss.length === 0 || ss.length > MAX_SNAPSHOT_BYTES) {
      throw new AttachmentError("ss must be 1..MAX_SNAPSHOT_BYTES bytes");
    }
    return { v: 1, st: "e", at, ca, ss };
  }
  throw new AttachmentError("unknown state");
}

/**
 * Upper bound of the serialized size (V8 structured clone): header, five short keys with
 * their tags, a double, the address (≤ 2 bytes per UTF-16 unit) and the raw snapshot bytes.
 */
export function attachmentSizeBound(a: Attachment): number {
  const ca = a.ca === null ? 1 : 5 + 2 * a.ca.length;
  const ss = a.st === "e" ? 16 + a.ss.length : 0;
  return 64 + ca + ss;
}
