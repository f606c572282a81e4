/**
 * The batch format between the Workers bench (bench/worker-hook.ts) and its bench-only Worker
 * (bench/worker-entry.ts): messages as u32 length || bytes, concatenated. Bench code only.
 */

export function joinBatch(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((s, p) => s + 4 + p.length, 0));
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const p of parts) {
    dv.setUint32(o, p.length);
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}

export function splitBatch(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let o = 0; o < buf.length;) {
    const n = dv.getUint32(o);
    out.push(buf.slice(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}
