/**
 * §3.1-§3.3 Handshake message codecs: ClientHello, ServerHello, ClientFinished.
 *
 * Decoders check, in this order (§3.1): type (`protocol_error`), version where the message has
 * one (`unsupported_version`), the whole layout including exact length (`protocol_error`),
 * then extensions (§3.4: duplicates `protocol_error`, unknown critical `unsupported_extension`).
 * Semantic checks (suite selection, key id, MACs) belong to the handshake state machines.
 * Decoders return copies, never views of the input.
 */
import { type Bytes, concat, Reader, u16 } from "./bytes.ts";
import {
  AUTH_ANONYMOUS,
  AUTH_PINNED,
  EXT_CLIENT_AUTH,
  EXT_PSK,
  FINISHED_LEN,
  KEY_ID_LEN,
  MAX_EXTENSIONS_LEN,
  MAX_SUITES,
  MSG_CLIENT_FINISHED,
  MSG_CLIENT_HELLO,
  MSG_SERVER_HELLO,
  RANDOM_LEN,
  VERSION,
  XWING_CT_LEN,
  XWING_PK_LEN,
} from "./constants.ts";
import { PqgateError } from "./errors.ts";
import {
  checkCriticalExtensions,
  CLIENT_HELLO_EXTENSIONS,
  decodeExtensions,
  encodeExtensions,
  type Extension,
  KNOWN_EXTENSIONS,
} from "./extensions.ts";
import { type ClientAuthRequest, clientAuthRequestOf } from "./client-auth.ts";

export type AuthMode = typeof AUTH_ANONYMOUS | typeof AUTH_PINNED;

/** §3.1 */
export interface ClientHello {
  authMode: AuthMode;
  /** Client preference order; raw u16 values (may include suites this side does not know). */
  suites: number[];
  clientRandom: Uint8Array; // 32
  keyId: Uint8Array; // 8; all zero when anonymous
  ekC: Uint8Array; // 1216
  ctS: Uint8Array | null; // 1120 when pinned, null when anonymous
  extensions: Extension[];
  /**
   * Decoded only: what the `psk` / `client_auth` extensions ask for (§3.4.1, §3.4.2), checked
   * when the receiver understands them (null: neither). Encoders ignore it (the extensions are).
   */
  auth?: ClientAuthRequest;
}

/** §3.2 */
export interface ServerHello {
  suite: number;
  serverRandom: Uint8Array; // 32
  ctE: Uint8Array; // 1120
  extensions: Extension[];
  serverFinished: Uint8Array; // 32
}

/** Fixed part of a ClientHello after the suite list (random, key id, ek_C) — §3.1. */
const CH_FIXED = RANDOM_LEN + KEY_ID_LEN + XWING_PK_LEN;
/** ServerHello length without extensions (§3.2): 1190. */
export const SERVER_HELLO_BASE_LEN = 4 + RANDOM_LEN + XWING_CT_LEN + 2 + FINISHED_LEN;
/** ClientFinished length (§3.3): 33. */
export const CLIENT_FINISHED_LEN = 1 + FINISHED_LEN;

function fail(detail: string): never {
  throw new PqgateError("protocol_error", detail);
}

function need(b: Uint8Array, len: number, name: string): void {
  if (!(b instanceof Uint8Array) || b.length !== len) {
    throw new PqgateError("internal_error", `${name}: expected ${len} bytes`);
  }
}

/** Type then version, the two bytes fixed forever (§3.5). */
function checkTypeVersion(msg: Uint8Array, type: number): void {
  if (!(msg instanceof Uint8Array) || msg.length < 1 || msg[0] !== type) {
    fail("unexpected message type");
  }
  if (msg.length < 2) fail("truncated message");
  if (msg[1] !== VERSION) throw new PqgateError("unsupported_version");
}

function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (const x of b) d |= x;
  return d === 0;
}

// ---------------------------------------------------------------------------------- ClientHello

/** Encodes a ClientHello. Throws `internal_error` on a field that could not be decoded back. */
export function encodeClientHello(ch: ClientHello): Bytes {
  if (ch.authMode !== AUTH_ANONYMOUS && ch.authMode !== AUTH_PINNED) {
    throw new PqgateError("internal_error", "authMode: invalid");
  }
  const n = ch.suites.length;
  if (n < 1 || n > MAX_SUITES) throw new PqgateError("internal_error", "suites: 1..8 required");
  if (new Set(ch.suites).size !== n) throw new PqgateError("internal_error", "suites: duplicate");
  for (const s of ch.suites) {
    if (!Number.isInteger(s) || s < 0 || s > 0xffff) {
      throw new PqgateError("internal_error", "suites: not u16");
    }
  }
  need(ch.clientRandom, RANDOM_LEN, "clientRandom");
  need(ch.keyId, KEY_ID_LEN, "keyId");
  need(ch.ekC, XWING_PK_LEN, "ekC");
  if (ch.authMode === AUTH_PINNED) {
    if (ch.ctS === null) throw new PqgateError("internal_error", "ctS: required in pinned mode");
    need(ch.ctS, XWING_CT_LEN, "ctS");
  } else {
    if (ch.ctS !== null) {
      throw new PqgateError("internal_error", "ctS: must be null in anonymous mode");
    }
    if (!isAllZero(ch.keyId)) {
      throw new PqgateError("internal_error", "keyId: must be zero in anonymous mode");
    }
  }
  const ext = encodeExtensions(ch.extensions);
  const suites = ch.suites.map((s) => u16(s));
  return concat(
    new Uint8Array([MSG_CLIENT_HELLO, VERSION, ch.authMode, n]),
    ...suites,
    ch.clientRandom,
    ch.keyId,
    ch.ekC,
    ...(ch.ctS ? [ch.ctS] : []),
    u16(ext.length),
    ext,
  );
}

/**
 * Decodes a ClientHello (§3.1). `known` = extension types this receiver understands (default:
 * a 1.3 gateway's, with psk and client_auth, whose contents are then checked too, §3.4).
 */
export function decodeClientHello(
  msg: Uint8Array,
  known: ReadonlySet<number> = CLIENT_HELLO_EXTENSIONS,
): ClientHello {
  checkTypeVersion(msg, MSG_CLIENT_HELLO);
  const r = new Reader(msg);
  r.u8("type");
  r.u8("version");
  const authMode = r.u8("auth_mode");
  if (authMode !== AUTH_ANONYMOUS && authMode !== AUTH_PINNED) fail("invalid auth_mode");
  const n = r.u8("n_suites");
  if (n < 1 || n > MAX_SUITES) fail("invalid n_suites");
  // Cheap length check before reading anything large: fixed part + ct_S + ext_len.
  const minLen = 4 + 2 * n + CH_FIXED + (authMode === AUTH_PINNED ? XWING_CT_LEN : 0) + 2;
  if (msg.length < minLen || msg.length > minLen + MAX_EXTENSIONS_LEN) {
    fail("invalid ClientHello length");
  }
  const suites: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = r.u16("suite");
    if (suites.includes(s)) fail("duplicate suite");
    suites.push(s);
  }
  const clientRandom = r.bytes(RANDOM_LEN, "client_random");
  const keyId = r.bytes(KEY_ID_LEN, "key_id");
  if (authMode === AUTH_ANONYMOUS && !isAllZero(keyId)) {
    fail("key_id must be zero in anonymous mode");
  }
  const ekC = r.bytes(XWING_PK_LEN, "ek_C");
  const ctS = authMode === AUTH_PINNED ? r.bytes(XWING_CT_LEN, "ct_S") : null;
  const extLen = r.u16("ext_len");
  if (extLen > MAX_EXTENSIONS_LEN) fail("extensions too long");
  const extBlock = r.bytes(extLen, "extensions");
  r.end("ClientHello");
  const extensions = decodeExtensions(extBlock);
  checkCriticalExtensions(extensions, known);
  const auth = known.has(EXT_PSK) || known.has(EXT_CLIENT_AUTH)
    ? clientAuthRequestOf(extensions)
    : null;
  return {
    authMode: authMode as AuthMode,
    suites,
    clientRandom,
    keyId,
    ekC,
    ctS,
    extensions,
    auth,
  };
}

// ---------------------------------------------------------------------------------- ServerHello

/** SH* (§4.1): the ServerHello without `server_finished`. */
export function encodeServerHelloUnfinished(sh: Omit<ServerHello, "serverFinished">): Bytes {
  if (!Number.isInteger(sh.suite) || sh.suite < 0 || sh.suite > 0xffff) {
    throw new PqgateError("internal_error", "suite: not u16");
  }
  need(sh.serverRandom, RANDOM_LEN, "serverRandom");
  need(sh.ctE, XWING_CT_LEN, "ctE");
  const ext = encodeExtensions(sh.extensions);
  return concat(
    new Uint8Array([MSG_SERVER_HELLO, VERSION]),
    u16(sh.suite),
    sh.serverRandom,
    sh.ctE,
    u16(ext.length),
    ext,
  );
}

/** Encodes a complete ServerHello (§3.2). */
export function encodeServerHello(sh: ServerHello): Bytes {
  need(sh.serverFinished, FINISHED_LEN, "serverFinished");
  return concat(encodeServerHelloUnfinished(sh), sh.serverFinished);
}

/** Decodes a ServerHello (§3.2). */
export function decodeServerHello(
  msg: Uint8Array,
  known: ReadonlySet<number> = KNOWN_EXTENSIONS,
): ServerHello {
  checkTypeVersion(msg, MSG_SERVER_HELLO);
  if (
    msg.length < SERVER_HELLO_BASE_LEN || msg.length > SERVER_HELLO_BASE_LEN + MAX_EXTENSIONS_LEN
  ) {
    fail("invalid ServerHello length");
  }
  const r = new Reader(msg);
  r.u8("type");
  r.u8("version");
  const suite = r.u16("suite");
  const serverRandom = r.bytes(RANDOM_LEN, "server_random");
  const ctE = r.bytes(XWING_CT_LEN, "ct_E");
  const extLen = r.u16("ext_len");
  if (extLen > MAX_EXTENSIONS_LEN) fail("extensions too long");
  const extBlock = r.bytes(extLen, "extensions");
  const serverFinished = r.bytes(FINISHED_LEN, "server_finished");
  r.end("ServerHello");
  const extensions = decodeExtensions(extBlock);
  checkCriticalExtensions(extensions, known);
  return { suite, serverRandom, ctE, extensions, serverFinished };
}

// ------------------------------------------------------------------------------- ClientFinished

/** Encodes a ClientFinished (§3.3). */
export function encodeClientFinished(clientFinished: Uint8Array): Bytes {
  need(clientFinished, FINISHED_LEN, "clientFinished");
  return concat(new Uint8Array([MSG_CLIENT_FINISHED]), clientFinished);
}

/** Decodes a ClientFinished (§3.3); returns the 32-byte MAC. It has no version byte. */
export function decodeClientFinished(msg: Uint8Array): Bytes {
  if (!(msg instanceof Uint8Array) || msg.length < 1 || msg[0] !== MSG_CLIENT_FINISHED) {
    fail("unexpected message type");
  }
  if (msg.length !== CLIENT_FINISHED_LEN) fail("invalid ClientFinished length");
  return msg.slice(1);
}
