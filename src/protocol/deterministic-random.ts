/**
 * Deterministic bytes: SHA-256 in counter mode over a domain and a label. For throwaway
 * handshakes (the Worker's start-up warm-up) and, through testing.ts, for tests and the
 * conformance vectors. Never for real sessions: anyone who knows the label knows the bytes.
 */
import { ascii, concat, u32 } from "./bytes.ts";
import { hash } from "./key-schedule.ts";
import type { RandomSource } from "./types.ts";

export function deterministicRandom(domain: string, label: string): RandomSource {
  const seed = hash(ascii(domain), ascii(label));
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
