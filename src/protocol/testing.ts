/**
 * Deterministic RandomSource for tests and conformance vectors ONLY (never for real sessions):
 * SHA-256 in counter mode over a label. Pure (no I/O), so it passes the purity check.
 */
import { ascii, concat, u32 } from "./bytes.ts";
import { hash } from "./key-schedule.ts";
import type { RandomSource } from "./types.ts";

export function seededRandom(label: string): RandomSource {
  const seed = hash(ascii("pqgate test rng"), ascii(label));
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) {
      const block = hash(concat(seed, u32(counter++)));
      out.set(block.subarray(0, Math.min(32, n - o)), o);
    }
    return out;
  };
}
