/**
 * Deterministic RandomSource for tests and conformance vectors ONLY (never for real sessions):
 * SHA-256 in counter mode over a label. Pure (no I/O), so it passes the purity check.
 */
import { deterministicRandom } from "./deterministic-random.ts";
import type { RandomSource } from "./types.ts";

export function seededRandom(label: string): RandomSource {
  return deterministicRandom("pqgate test rng", label);
}
