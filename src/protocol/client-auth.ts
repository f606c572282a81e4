/**
 * Client authentication on the wire (PROTOCOL.md §3.4.1 `psk`, §3.4.2 `client_auth`, §6.7 AUTH,
 * §6.8 AUTH_RESULT): the codecs of the two ClientHello extensions and of the two frames'
 * payloads, and the AUTH binding (§4.5 exporter). Every length is checked before use; a
 * malformed value → PqgateError("protocol_error"), an unknown `client_auth` method →
 * "unsupported_extension"; encoding a value that could not be decoded back → "internal_error".
 * Decoders return copies.
 */
import {
  ascii,
  type Bytes,
  concat,
  ctEqual,
  Reader,
  u16,
  u32,
  utf8Decode,
  utf8Encode,
} from "./bytes.ts";
import {
  AUTH_BINDING_LEN,
  AUTH_EXPORTER_LABEL,
  AUTH_METHOD_PASSWORD,
  AUTH_METHOD_TOKEN,
  EXT_CLIENT_AUTH,
  EXT_PSK,
  MAX_AUTH_PASSWORD_LEN,
  MAX_AUTH_SUBJECT_LEN,
  MAX_AUTH_TOKEN_LEN,
  MAX_AUTH_USERNAME_LEN,
  MAX_PSK_IDENTITY_LEN,
  MIN_PSK_IDENTITY_LEN,
} from "./constants.ts";
import { PqgateError } from "./errors.ts";
import type { Extension } from "./extensions.ts";
import { exportKeyingMaterial } from "./key-schedule.ts";

/** The two methods that travel in AUTH frames (`psk` is in the key schedule instead). */
export type FrameAuthMethod = "password" | "token";

/** What the client announced in its ClientHello (§3.4.1, §3.4.2), or null for neither. */
export type ClientAuthRequest =
  | { method: "psk"; identity: string }
  | { method: FrameAuthMethod }
  | null;

/** §6.7 AUTH payload. `binding` = `authBinding(exp, method)`. */
export type AuthPayload =
  | { method: "password"; binding: Uint8Array; username: string; password: Uint8Array }
  | { method: "token"; binding: Uint8Array; token: string };

/** §6.8 AUTH_RESULT status values, in wire order (status byte = index). */
export const AUTH_STATUSES = [
  "ok",
  "bad_credentials",
  "token_expired",
  "token_invalid",
  "busy",
  "rate_limited",
  "method_not_enabled",
] as const;
export type AuthStatus = (typeof AUTH_STATUSES)[number];

/** §6.8 AUTH_RESULT payload. `subject` is set exactly when `status` is "ok". */
export interface AuthResultPayload {
  status: AuthStatus;
  /** u32 ms; 0 = no advice. */
  retryAfterMs: number;
  subject: string | null;
}

const MAX_U32 = 0xffffffff;

function reject(detail: string): never {
  throw new PqgateError("protocol_error", detail);
}

function misuse(detail: string): never {
  throw new PqgateError("internal_error", detail);
}

export function methodByte(method: FrameAuthMethod): number {
  return method === "password" ? AUTH_METHOD_PASSWORD : AUTH_METHOD_TOKEN;
}

function methodOf(byte: number): FrameAuthMethod | null {
  return byte === AUTH_METHOD_PASSWORD ? "password" : byte === AUTH_METHOD_TOKEN ? "token" : null;
}

/** UTF-8 of `s` with its length in `min..max`, else internal_error (encoders). */
function utf8Field(s: string, min: number, max: number, what: string): Bytes {
  let b: Bytes;
  try {
    b = utf8Encode(s);
  } catch {
    misuse(`${what}: not valid UTF-16`);
  }
  if (b.length < min || b.length > max) misuse(`${what}: ${min}..${max} UTF-8 bytes`);
  return b;
}

/** Visible ASCII (0x21-0x7E): a bearer token's alphabet (§6.7). */
function isTokenText(b: Uint8Array): boolean {
  for (const x of b) if (x < 0x21 || x > 0x7e) return false;
  return true;
}

// ---- extensions (§3.4.1, §3.4.2) -----------------------------------------------------------

/** The `psk` extension: `u8 identity_len | identity` (1..128 UTF-8 bytes). */
export function pskExtension(identity: string): Extension {
  const id = utf8Field(identity, MIN_PSK_IDENTITY_LEN, MAX_PSK_IDENTITY_LEN, "psk identity");
  return { type: EXT_PSK, data: concat(new Uint8Array([id.length]), id) };
}

/** The `client_auth` extension: `u8 method`. */
export function clientAuthExtension(method: FrameAuthMethod): Extension {
  return { type: EXT_CLIENT_AUTH, data: new Uint8Array([methodByte(method)]) };
}

/** Decodes a `psk` extension's data to its identity. */
export function decodePskExtension(data: Uint8Array): string {
  if (data.length < 1) reject("psk extension: empty");
  const n = data[0];
  if (n < MIN_PSK_IDENTITY_LEN || n > MAX_PSK_IDENTITY_LEN) reject("psk identity length");
  if (data.length !== 1 + n) reject("psk extension length");
  const id = utf8Decode(data.subarray(1));
  if (id === null) reject("psk identity is not UTF-8");
  return id;
}

/** Decodes a `client_auth` extension's data; an unknown method → unsupported_extension. */
export function decodeClientAuthExtension(data: Uint8Array): FrameAuthMethod {
  if (data.length !== 1) reject("client_auth extension length");
  const m = methodOf(data[0]);
  if (m === null) throw new PqgateError("unsupported_extension", "client_auth method");
  return m;
}

/**
 * What a ClientHello's (already structurally decoded) extensions ask for: `psk`, `client_auth`,
 * or neither. Both → protocol_error (they are mutually exclusive, §3.4).
 */
export function clientAuthRequestOf(exts: readonly Extension[]): ClientAuthRequest {
  let psk: Extension | undefined;
  let ca: Extension | undefined;
  for (const e of exts) {
    if (e.type === EXT_PSK) psk = e;
    else if (e.type === EXT_CLIENT_AUTH) ca = e;
  }
  if (psk && ca) reject("psk and client_auth are mutually exclusive");
  if (psk) return { method: "psk", identity: decodePskExtension(psk.data) };
  if (ca) return { method: decodeClientAuthExtension(ca.data) };
  return null;
}

// ---- binding (§4.5, §6.7) ------------------------------------------------------------------

/** binding = Export("pqgate client auth", method byte, 32). */
export function authBinding(exporterSecret: Uint8Array, method: FrameAuthMethod): Bytes {
  return exportKeyingMaterial(
    exporterSecret,
    AUTH_EXPORTER_LABEL,
    new Uint8Array([methodByte(method)]),
    AUTH_BINDING_LEN,
  );
}

/** Constant-time check of an AUTH frame's binding against this channel's. */
export function bindingMatches(exporterSecret: Uint8Array, auth: AuthPayload): boolean {
  const want = authBinding(exporterSecret, auth.method);
  const ok = auth.binding.length === AUTH_BINDING_LEN && ctEqual(want, auth.binding);
  want.fill(0);
  return ok;
}

// ---- AUTH (§6.7) ---------------------------------------------------------------------------

/** Encodes an AUTH payload: `u8 method | binding[32] | body`. */
export function encodeAuthPayload(a: AuthPayload): Bytes {
  if (!(a.binding instanceof Uint8Array) || a.binding.length !== AUTH_BINDING_LEN) {
    misuse("auth binding: 32 bytes");
  }
  if (a.method === "password") {
    const user = utf8Field(a.username, 1, MAX_AUTH_USERNAME_LEN, "username");
    const pw = a.password;
    if (!(pw instanceof Uint8Array) || pw.length < 1 || pw.length > MAX_AUTH_PASSWORD_LEN) {
      misuse("password: 1..1024 bytes");
    }
    return concat(
      new Uint8Array([AUTH_METHOD_PASSWORD]),
      a.binding,
      new Uint8Array([user.length]),
      user,
      u16(pw.length),
      pw,
    );
  }
  if (a.method === "token") {
    const t = typeof a.token === "string" && /^[\x21-\x7e]+$/.test(a.token)
      ? ascii(a.token)
      : misuse("token: visible ASCII");
    if (t.length > MAX_AUTH_TOKEN_LEN) misuse("token: at most 8192 bytes");
    return concat(new Uint8Array([AUTH_METHOD_TOKEN]), a.binding, u16(t.length), t);
  }
  return misuse("auth method");
}

/** Decodes an AUTH payload; every length is checked and the payload must end exactly. */
export function decodeAuthPayload(p: Uint8Array): AuthPayload {
  const r = new Reader(p);
  if (p.length < 1 + AUTH_BINDING_LEN) reject("AUTH payload too short");
  const method = methodOf(r.u8("method"));
  if (method === null) reject("AUTH method");
  const binding = r.bytes(AUTH_BINDING_LEN, "binding");
  if (method === "password") {
    if (r.remaining < 1) reject("AUTH user_len missing");
    const ulen = r.u8("user_len");
    if (ulen < 1) reject("AUTH user_len 0");
    if (r.remaining < ulen + 2) reject("AUTH user truncated");
    const username = utf8Decode(r.bytes(ulen, "user"));
    if (username === null) reject("AUTH user is not UTF-8");
    const plen = r.u16("pw_len");
    if (plen < 1 || plen > MAX_AUTH_PASSWORD_LEN) reject("AUTH pw_len");
    if (r.remaining !== plen) reject("AUTH password length");
    const password = r.bytes(plen, "pw");
    return { method, binding, username, password };
  }
  if (r.remaining < 2) reject("AUTH token_len missing");
  const tlen = r.u16("token_len");
  if (tlen < 1 || tlen > MAX_AUTH_TOKEN_LEN) reject("AUTH token_len");
  if (r.remaining !== tlen) reject("AUTH token length");
  const tb = r.bytes(tlen, "token");
  if (!isTokenText(tb)) reject("AUTH token is not visible ASCII");
  let token = "";
  for (const x of tb) token += String.fromCharCode(x);
  return { method, binding, token };
}

/** Encoded AUTH payload length without encoding (sender queue accounting). */
export function authPayloadLength(a: AuthPayload): number {
  if (a.method === "password") {
    return 1 + AUTH_BINDING_LEN + 1 + utf8Encode(a.username).length + 2 + a.password.length;
  }
  return 1 + AUTH_BINDING_LEN + 2 + a.token.length;
}

// ---- AUTH_RESULT (§6.8) --------------------------------------------------------------------

/** `u8 status | u32 retry_after_ms | u8 subject_len | subject` (subject only with ok). */
export function encodeAuthResultPayload(r: AuthResultPayload): Bytes {
  const status = AUTH_STATUSES.indexOf(r.status);
  if (status < 0) misuse("auth status");
  if (!Number.isInteger(r.retryAfterMs) || r.retryAfterMs < 0 || r.retryAfterMs > MAX_U32) {
    misuse("retry_after_ms: u32");
  }
  let subject: Bytes = new Uint8Array(0);
  if (r.status === "ok") {
    if (r.subject === null) misuse("subject required with ok");
    subject = utf8Field(r.subject, 1, MAX_AUTH_SUBJECT_LEN, "subject");
  } else if (r.subject !== null) misuse("subject only with ok");
  return concat(
    new Uint8Array([status]),
    u32(r.retryAfterMs),
    new Uint8Array([subject.length]),
    subject,
  );
}

/** Decodes an AUTH_RESULT payload: status known, subject 1..255 UTF-8 bytes exactly on ok. */
export function decodeAuthResultPayload(p: Uint8Array): AuthResultPayload {
  if (p.length < 6) reject("AUTH_RESULT payload too short");
  const r = new Reader(p);
  const s = r.u8("status");
  if (s >= AUTH_STATUSES.length) reject("AUTH_RESULT status");
  const status = AUTH_STATUSES[s];
  const retryAfterMs = r.u32("retry_after_ms");
  const n = r.u8("subject_len");
  if (r.remaining !== n) reject("AUTH_RESULT subject length");
  if (status === "ok") {
    if (n < 1) reject("AUTH_RESULT ok without subject");
    const subject = utf8Decode(r.bytes(n, "subject"));
    if (subject === null) reject("AUTH_RESULT subject is not UTF-8");
    return { status, retryAfterMs, subject };
  }
  if (n !== 0) reject("AUTH_RESULT subject without ok");
  return { status, retryAfterMs, subject: null };
}
