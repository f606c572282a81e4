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
  constructor(private readonly buf: Uint8Array, private readonly code: "protocol_error" = "protocol_error") {}
  get offset(): number {
    return this.off;
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  private need(n: number, what: string): void {
    if (n < 0 || this.off + n > this.buf.length) throw new PqgateError(this.code, `truncated ${what}`);
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
