/** Byte helpers shared by the codecs. Every read is bounds-checked by the caller's Reader. */
import { PqgateError } from "./errors.ts";

export type Bytes = Uint8Array<ArrayBuffer>;

export function concat(...parts: Uint8Array[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time equality for secrets (MACs, pins). Length is not secret. */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function u16(n: number): Bytes {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}
export function u32(n: number): Bytes {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}
/** u64 from a non-negative safe integer. */
export function u64(n: number): Bytes {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("u64: value out of range");
  const out = new Uint8Array(8);
  const hi = Math.floor(n / 2 ** 32);
  const lo = n >>> 0;
  new DataView(out.buffer).setUint32(0, hi);
  new DataView(out.buffer).setUint32(4, lo);
  return out;
}

/** Hex helpers for vectors and logs of PUBLIC data only. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
export function fromHex(s: string): Bytes {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError("fromHex: invalid hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** ASCII string to bytes (labels and protocol names are ASCII). */
export function ascii(s: string): Bytes {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new TypeError("ascii: non-ASCII character");
    out[i] = c;
  }
  return out;
}

/**
 * Sequential reader over a message. Any read past the end throws `PqgateError(code)`
 * (default `protocol_error`), so codecs never index out of bounds.
 */
export class Reader {
  private off = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly code: "protocol_error" = "protocol_error",
  ) {}
  get offset(): number {
    return this.off;
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  private need(n: number, what: string): void {
    if (n < 0 || this.off + n > this.buf.length) {
      throw new PqgateError(this.code, `truncated ${what}`);
    }
  }
  u8(what = "u8"): number {
    this.need(1, what);
    return this.buf[this.off++];
  }
  u16(what = "u16"): number {
    this.need(2, what);
    const v = (this.buf[this.off] << 8) | this.buf[this.off + 1];
    this.off += 2;
    return v;
  }
  u32(what = "u32"): number {
    this.need(4, what);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.off, 4).getUint32(0);
    this.off += 4;
    return v;
  }
  /** u64 as a number; values above 2^53-1 throw (no pqgate field may exceed it). */
  u64(what = "u64"): number {
    this.need(8, what);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.off, 8);
    const hi = dv.getUint32(0), lo = dv.getUint32(4);
    if (hi > 0x1fffff) throw new PqgateError(this.code, `${what} too large`);
    this.off += 8;
    return hi * 2 ** 32 + lo;
  }
  /** A copy of the next n bytes (copies so callers never alias the input). */
  bytes(n: number, what = "bytes"): Bytes {
    this.need(n, what);
    const out = this.buf.slice(this.off, this.off + n);
    this.off += n;
    return out;
  }
  /** Throws unless every byte was consumed. */
  end(what = "message"): void {
    if (this.off !== this.buf.length) throw new PqgateError(this.code, `trailing bytes in ${what}`);
  }
}

/**
 * Strict UTF-8 encoder (RFC 3629). A lone surrogate in `s` throws TypeError (it has no
 * UTF-8 form). Pure: no TextEncoder (the protocol core has no DOM/runtime globals).
 */
export function utf8Encode(s: string): Bytes {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) throw new TypeError("utf8Encode: lone surrogate");
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new TypeError("utf8Encode: lone surrogate");
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else {
      out.push(
        0xf0 | (c >> 18),
        0x80 | ((c >> 12) & 0x3f),
        0x80 | ((c >> 6) & 0x3f),
        0x80 | (c & 0x3f),
      );
    }
  }
  return new Uint8Array(out);
}

/**
 * Strict UTF-8 decoder: returns null for any invalid input (overlong forms, surrogates,
 * code points above U+10FFFF, truncated or stray continuation bytes). Never throws.
 */
export function utf8Decode(b: Uint8Array): string | null {
  let s = "";
  let i = 0;
  while (i < b.length) {
    const x = b[i];
    let cp: number, n: number, min: number;
    if (x < 0x80) {
      s += String.fromCharCode(x);
      i++;
      continue;
    } else if (x >= 0xc2 && x <= 0xdf) [cp, n, min] = [x & 0x1f, 1, 0x80];
    else if (x >= 0xe0 && x <= 0xef) [cp, n, min] = [x & 0x0f, 2, 0x800];
    else if (x >= 0xf0 && x <= 0xf4) [cp, n, min] = [x & 0x07, 3, 0x10000];
    else return null;
    if (i + n >= b.length) return null; // truncated sequence
    for (let k = 1; k <= n; k++) {
      const y = b[i + k];
      if ((y & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (y & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    s += String.fromCodePoint(cp);
    i += n + 1;
  }
  return s;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** base64url without padding (RFC 4648 §5), used for key ids, public keys and pins (§8). */
export function toBase64Url(b: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += B64URL[n >>> 18] + B64URL[(n >>> 12) & 63] + B64URL[(n >>> 6) & 63] + B64URL[n & 63];
  }
  if (b.length - i === 1) {
    const n = b[i] << 16;
    s += B64URL[n >>> 18] + B64URL[(n >>> 12) & 63];
  } else if (b.length - i === 2) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    s += B64URL[n >>> 18] + B64URL[(n >>> 12) & 63] + B64URL[(n >>> 6) & 63];
  }
  return s;
}

/** Character code → its base64url value, 0xff where the character is not in the alphabet. */
const B64URL_VALUE = (() => {
  const t = new Uint8Array(128).fill(0xff);
  for (let i = 0; i < B64URL.length; i++) t[B64URL.charCodeAt(i)] = i;
  return t;
})();

/**
 * Strict base64url decoding without padding: rejects `=`, characters outside the URL-safe
 * alphabet, impossible lengths (len % 4 === 1) and non-canonical trailing bits. Throws TypeError.
 */
export function fromBase64Url(s: string): Bytes {
  if (s.length % 4 === 1) throw new TypeError("fromBase64Url: invalid length");
  const vals = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64URL_VALUE[c] : 0xff;
    if (v === 0xff) throw new TypeError("fromBase64Url: invalid character");
    vals[i] = v;
  }
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0, i = 0;
  for (; i + 3 < s.length; i += 4) {
    const n = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6) | vals[i + 3];
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  const rest = s.length - i;
  if (rest === 2) {
    if (vals[i + 1] & 0x0f) throw new TypeError("fromBase64Url: non-canonical encoding");
    out[o++] = (vals[i] << 2) | (vals[i + 1] >>> 4);
  } else if (rest === 3) {
    if (vals[i + 2] & 0x03) throw new TypeError("fromBase64Url: non-canonical encoding");
    const n = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6);
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 0xff;
  }
  return out;
}
