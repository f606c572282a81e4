/**
 * The Durable Object's clock and randomness for its sessions: Date.now and the platform CSPRNG.
 * `crypto.getRandomValues` fills at most 65,536 bytes per call, so larger requests go in chunks.
 */
import type { Env } from "../../tunnel/types.ts";

export function platformRandom(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) {
    crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  }
  return out;
}

export const platformEnv: Env = { now: () => Date.now(), random: platformRandom };
