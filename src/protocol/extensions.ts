/**
 * §3.4 Handshake extensions: `ext_type u16 | ext_len u16 | ext_data[ext_len]`, filling the
 * field exactly. Duplicates and structural errors → `protocol_error`; an unknown critical type
 * (high bit set) → `unsupported_extension`; unknown non-critical types are ignored (they stay
 * in the transcript, which covers the raw bytes).
 */
import { type Bytes, concat, Reader, u16 } from "./bytes.ts";
import {
  EXT_CLIENT_AUTH,
  EXT_CRITICAL,
  EXT_PADDING,
  EXT_PSK,
  MAX_EXTENSIONS_LEN,
} from "./constants.ts";
import { PqgateError } from "./errors.ts";

export interface Extension {
  type: number; // u16
  data: Uint8Array;
}

/**
 * Extension types this implementation understands in a ServerHello (version 1: padding only);
 * also what a gateway of revision 1.2 or older understood in a ClientHello.
 */
export const KNOWN_EXTENSIONS: ReadonlySet<number> = new Set([EXT_PADDING]);

/** Extension types a 1.3 gateway understands in a ClientHello: padding, psk, client_auth (§3.4). */
export const CLIENT_HELLO_EXTENSIONS: ReadonlySet<number> = new Set([
  EXT_PADDING,
  EXT_PSK,
  EXT_CLIENT_AUTH,
]);

/** A padding extension (§3.4) of `n` zero bytes (4 + n bytes on the wire). */
export function paddingExtension(n: number): Extension {
  return { type: EXT_PADDING, data: new Uint8Array(n) };
}

/** Encodes the extension block (without its own u16 length). Throws `internal_error` on misuse. */
export function encodeExtensions(exts: readonly Extension[]): Bytes {
  const seen = new Set<number>();
  const parts: Uint8Array[] = [];
  for (const e of exts) {
    if (!Number.isInteger(e.type) || e.type < 0 || e.type > 0xffff) {
      throw new PqgateError("internal_error", "extension type out of range");
    }
    if (seen.has(e.type)) throw new PqgateError("internal_error", "duplicate extension");
    seen.add(e.type);
    if (e.data.length > 0xffff) throw new PqgateError("internal_error", "extension too long");
    parts.push(u16(e.type), u16(e.data.length), e.data);
  }
  const out = concat(...parts);
  if (out.length > MAX_EXTENSIONS_LEN) {
    throw new PqgateError("internal_error", "extensions too long");
  }
  return out;
}

/**
 * Parses an extension block (structure and duplicates only; see `checkCriticalExtensions`).
 * Throws `protocol_error`.
 */
export function decodeExtensions(block: Uint8Array): Extension[] {
  if (block.length > MAX_EXTENSIONS_LEN) {
    throw new PqgateError("protocol_error", "extensions too long");
  }
  const r = new Reader(block);
  const out: Extension[] = [];
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const type = r.u16("ext_type");
    const len = r.u16("ext_len");
    const data = r.bytes(len, "ext_data");
    if (seen.has(type)) throw new PqgateError("protocol_error", "duplicate extension");
    seen.add(type);
    out.push({ type, data });
  }
  return out;
}

/** Throws `unsupported_extension` if a critical extension is not in `known`. */
export function checkCriticalExtensions(
  exts: readonly Extension[],
  known: ReadonlySet<number> = KNOWN_EXTENSIONS,
): void {
  for (const e of exts) {
    if ((e.type & EXT_CRITICAL) !== 0 && !known.has(e.type)) {
      throw new PqgateError("unsupported_extension", "unknown critical extension");
    }
  }
}
