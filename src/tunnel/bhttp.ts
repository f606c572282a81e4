/**
 * Binary HTTP (RFC 9292) codec for the HEADERS frame payload (PROTOCOL.md §6.4).
 *
 * A HEADERS payload is the *beginning* of a known-length message (RFC 9292 §3.1): framing
 * indicator, control data and the known-length field section. The content travels in DATA
 * frames, and trailers and informational (1xx) responses are not carried in version 1, so the
 * payload ends exactly where the header field section ends. Anything after it is malformed.
 *
 * Decoding is strict: every length is checked against the bytes left before it is used, the
 * payload must be consumed exactly, field names are lowercase tokens, field values follow the
 * fetch / RFC 9113 §8.2.1 rules (no NUL, CR, LF; no leading or trailing SP/HTAB). Field
 * strings are byte strings: each byte maps to one UTF-16 code unit 0-255 (isomorphic decode),
 * exactly what `Headers` accepts. Every failure is a `BhttpError` carrying the HTTP status the
 * gateway answers with on the stream: 400 malformed, 431 too large.
 *
 * Integers are QUIC variable-length integers (RFC 9000 §16). The encoder always writes the
 * shortest form; the decoder accepts any form RFC 9000 allows (RFC 9292 does not require the
 * shortest), because the value is unambiguous either way.
 */

/** §6.4 Framing indicators of known-length messages (RFC 9292 §3.3). */
export const FRAMING_KNOWN_LENGTH_REQUEST = 0;
export const FRAMING_KNOWN_LENGTH_RESPONSE = 1;

/** Default cap on the number of field lines (resource exhaustion, RFC 9292 §8). */
export const DEFAULT_MAX_FIELDS = 256;

/** Largest value a QUIC varint can carry (2^62 - 1), as a JS number bound. */
const VARINT_MAX = 2 ** 62 - 1;

export type BhttpErrorStatus = 400 | 431;

/** A decoding or encoding failure. `status` is the HTTP status to answer with. */
export class BhttpError extends Error {
  readonly status: BhttpErrorStatus;
  readonly code: "malformed" | "too_large";
  constructor(status: BhttpErrorStatus, message: string) {
    super(`bhttp: ${message}`);
    this.name = "BhttpError";
    this.status = status;
    this.code = status === 431 ? "too_large" : "malformed";
  }
}

export type FieldLine = [name: string, value: string];

export interface RequestHead {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  headers: FieldLine[];
}

export interface ResponseHead {
  status: number;
  headers: FieldLine[];
}

export interface DecodeOptions {
  /** Largest payload accepted (SESSION_INFO `max_header_bytes`); larger → 431. */
  maxBytes: number;
  /** Most field lines accepted; more → 431. Default 256. */
  maxFields?: number;
}

// ---------------------------------------------------------------------------------------------
// Character rules

/** RFC 9110 §5.6.2 tchar. */
function isTchar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 || c === 0x23 || c === 0x24 || c === 0x25 || c === 0x26 || c === 0x27 ||
    c === 0x2a || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f ||
    c === 0x60 || c === 0x7c || c === 0x7e;
}

function checkToken(s: string, what: string): void {
  if (s.length === 0) throw new BhttpError(400, `${what} is empty`);
  for (let i = 0; i < s.length; i++) {
    if (!isTchar(s.charCodeAt(i))) throw new BhttpError(400, `${what} is not a token`);
  }
}

function checkFieldName(s: string): void {
  if (s.length === 0) throw new BhttpError(400, "field name is empty");
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isTchar(c) || (c >= 0x41 && c <= 0x5a)) {
      throw new BhttpError(400, "field name is not a lowercase token");
    }
  }
}

function checkFieldValue(s: string): void {
  const n = s.length;
  if (n > 0) {
    const first = s.charCodeAt(0);
    const last = s.charCodeAt(n - 1);
    if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
      throw new BhttpError(400, "field value has leading or trailing whitespace");
    }
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) {
      throw new BhttpError(400, "field value contains NUL, CR or LF");
    }
    if (c > 0xff) throw new BhttpError(400, "field value is not a byte string");
  }
}

/** RFC 3986 §3.1 scheme. */
function checkScheme(s: string): void {
  if (s.length === 0) throw new BhttpError(400, "scheme is empty");
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const ok = alpha ||
      (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e));
    if (!ok) throw new BhttpError(400, "scheme is invalid");
  }
}

/** Visible ASCII only (0x21-0x7e): no CTL, SP, DEL or non-ASCII byte. */
function checkVisible(s: string, what: string, allowEmpty: boolean): void {
  if (s.length === 0 && !allowEmpty) throw new BhttpError(400, `${what} is empty`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) throw new BhttpError(400, `${what} contains a forbidden character`);
  }
}

function checkRequestHead(h: RequestHead): void {
  checkToken(h.method, "method");
  checkScheme(h.scheme);
  // RFC 9292 §3.4 allows an empty authority (the Host field then names the target).
  checkVisible(h.authority, "authority", true);
  checkVisible(h.path, "path", false);
}

function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    // 1xx (incl. 101) is never carried in pqgate/1 (PROTOCOL.md §6.4).
    throw new BhttpError(400, "status is not a final status 200-599");
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

function varintLength(v: number): number {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

class Writer {
  private buf: Uint8Array;
  private n = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  varint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new BhttpError(400, "integer out of range");
    const len = varintLength(v);
    const b = this.buf;
    let o = this.n;
    if (len === 1) b[o++] = v;
    else if (len === 2) {
      b[o++] = 0x40 | (v >>> 8);
      b[o++] = v & 0xff;
    } else if (len === 4) {
      b[o++] = 0x80 | (v >>> 24);
      b[o++] = (v >>> 16) & 0xff;
      b[o++] = (v >>> 8) & 0xff;
      b[o++] = v & 0xff;
    } else {
      const hi = Math.floor(v / 2 ** 32);
      const lo = v >>> 0;
      b[o++] = 0xc0 | (hi >>> 24);
      b[o++] = (hi >>> 16) & 0xff;
      b[o++] = (hi >>> 8) & 0xff;
      b[o++] = hi & 0xff;
      b[o++] = lo >>> 24;
      b[o++] = (lo >>> 16) & 0xff;
      b[o++] = (lo >>> 8) & 0xff;
      b[o++] = lo & 0xff;
    }
    this.n = o;
  }
  /** Writes a byte string (char codes 0-255), already validated by the caller. */
  bytes(s: string): void {
    for (let i = 0; i < s.length; i++) this.buf[this.n++] = s.charCodeAt(i);
  }
  lengthPrefixed(s: string): void {
    this.varint(s.length);
    this.bytes(s);
  }
  done(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.n);
  }
}

function fieldSectionLength(headers: readonly (readonly [string, string])[]): number {
  let n = 0;
  for (const [name, value] of headers) {
    n += varintLength(name.length) + name.length + varintLength(value.length) + value.length;
  }
  return n;
}

function writeFieldSection(w: Writer, headers: readonly (readonly [string, string])[]): void {
  w.varint(fieldSectionLength(headers));
  for (const [name, value] of headers) {
    w.lengthPrefixed(name);
    w.lengthPrefixed(value);
  }
}

function checkHeaders(headers: readonly (readonly [string, string])[]): void {
  if (!Array.isArray(headers)) throw new BhttpError(400, "headers must be an array");
  for (const f of headers) {
    if (
      !Array.isArray(f) || f.length !== 2 || typeof f[0] !== "string" || typeof f[1] !== "string"
    ) {
      throw new BhttpError(400, "a field line must be a [name, value] pair of strings");
    }
    checkFieldName(f[0]);
    checkFieldValue(f[1]);
  }
}

/**
 * Encodes a request head: framing indicator 0, request control data (RFC 9292 §3.4) and the
 * known-length field section (§3.6). Field names must already be lowercase (they are not
 * rewritten, so a mistake is caught rather than hidden). Throws `BhttpError(400)` on invalid
 * input: the encoder refuses exactly what the decoder would reject.
 */
export function encodeRequestHead(head: {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  headers: readonly (readonly [string, string])[];
}): Uint8Array<ArrayBuffer> {
  checkRequestHead(head as RequestHead);
  checkHeaders(head.headers);
  const section = fieldSectionLength(head.headers);
  const size = 1 + 4 * 8 + head.method.length + head.scheme.length + head.authority.length +
    head.path.length + 8 + section;
  const w = new Writer(size);
  w.varint(FRAMING_KNOWN_LENGTH_REQUEST);
  w.lengthPrefixed(head.method);
  w.lengthPrefixed(head.scheme);
  w.lengthPrefixed(head.authority);
  w.lengthPrefixed(head.path);
  writeFieldSection(w, head.headers);
  return w.done();
}

/**
 * Encodes a response head: framing indicator 1, the final status (RFC 9292 §3.5; 200-599
 * only) and the known-length field section. Throws `BhttpError(400)` on invalid input.
 */
export function encodeResponseHead(head: {
  status: number;
  headers: readonly (readonly [string, string])[];
}): Uint8Array<ArrayBuffer> {
  checkStatus(head.status);
  checkHeaders(head.headers);
  const w = new Writer(1 + 2 + 8 + fieldSectionLength(head.headers));
  w.varint(FRAMING_KNOWN_LENGTH_RESPONSE);
  w.varint(head.status);
  writeFieldSection(w, head.headers);
  return w.done();
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end: number) {}
  left(): number {
    return this.end - this.pos;
  }
  /** A QUIC varint; values beyond 2^53 come back inexact but huge, so every length check fails. */
  varint(what: string, suffix = ""): number {
    if (this.pos >= this.end) throw new BhttpError(400, `truncated ${what}${suffix}`);
    const b = this.buf;
    const first = b[this.pos];
    const len = 1 << (first >>> 6);
    if (len > this.left()) throw new BhttpError(400, `truncated ${what}${suffix}`);
    let v = first & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + b[this.pos + i];
    this.pos += len;
    return v;
  }
  /** A length-prefixed byte string, decoded isomorphically (byte → char code). */
  string(what: string): string {
    const len = this.varint(what, " length"); // the message is built only on an error
    if (len > this.left()) throw new BhttpError(400, `${what} length runs past the end`);
    const start = this.pos;
    this.pos += len;
    let s = "";
    if (len <= 64) {
      // Short strings (most names and values): a loop, no spread of a subarray (~5x faster).
      for (let i = start; i < this.pos; i++) s += String.fromCharCode(this.buf[i]);
      return s;
    }
    // Chunked to keep String.fromCharCode's argument count small.
    for (let i = start; i < this.pos; i += 4096) {
      s += String.fromCharCode(...this.buf.subarray(i, Math.min(i + 4096, this.pos)));
    }
    return s;
  }
}

function startDecode(bytes: Uint8Array, opts: DecodeOptions, framing: number): Reader {
  if (!(bytes instanceof Uint8Array)) throw new BhttpError(400, "payload is not bytes");
  if (!opts || !Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < 0) {
    throw new TypeError("bhttp: opts.maxBytes must be a non-negative integer");
  }
  if (bytes.length > opts.maxBytes) throw new BhttpError(431, "header block too large");
  const r = new Reader(bytes, bytes.length);
  const indicator = r.varint("framing indicator");
  if (indicator !== framing) throw new BhttpError(400, "unexpected framing indicator");
  return r;
}

function readFieldSection(r: Reader, maxFields: number): FieldLine[] {
  const len = r.varint("field section length");
  if (len > r.left()) throw new BhttpError(400, "field section runs past the end");
  if (len !== r.left()) throw new BhttpError(400, "bytes after the field section");
  const section = new Reader(r.buf, r.pos + len);
  section.pos = r.pos;
  const headers: FieldLine[] = [];
  while (section.left() > 0) {
    if (headers.length >= maxFields) throw new BhttpError(431, "too many header fields");
    const name = section.string("field name");
    checkFieldName(name);
    const value = section.string("field value");
    checkFieldValue(value);
    headers.push([name, value]);
  }
  r.pos = section.pos;
  return headers;
}

function maxFieldsOf(opts: DecodeOptions): number {
  const m = opts.maxFields ?? DEFAULT_MAX_FIELDS;
  if (!Number.isSafeInteger(m) || m < 0) {
    throw new TypeError("bhttp: opts.maxFields must be a non-negative integer");
  }
  return m;
}

/**
 * Decodes a request HEADERS payload. Throws `BhttpError` (400 malformed, 431 over
 * `maxBytes` or `maxFields`); a `TypeError` only for invalid `opts` (a caller bug).
 */
export function decodeRequestHead(bytes: Uint8Array, opts: DecodeOptions): RequestHead {
  const maxFields = maxFieldsOf(opts);
  const r = startDecode(bytes, opts, FRAMING_KNOWN_LENGTH_REQUEST);
  const method = r.string("method");
  const scheme = r.string("scheme");
  const authority = r.string("authority");
  const path = r.string("path");
  const head: RequestHead = { method, scheme, authority, path, headers: [] };
  checkRequestHead(head);
  head.headers = readFieldSection(r, maxFields);
  return head;
}

/** Decodes a response HEADERS payload. Same error rules as `decodeRequestHead`. */
export function decodeResponseHead(bytes: Uint8Array, opts: DecodeOptions): ResponseHead {
  const maxFields = maxFieldsOf(opts);
  const r = startDecode(bytes, opts, FRAMING_KNOWN_LENGTH_RESPONSE);
  const status = r.varint("status");
  if (status > VARINT_MAX) throw new BhttpError(400, "status out of range");
  checkStatus(status);
  return { status, headers: readFieldSection(r, maxFields) };
}
