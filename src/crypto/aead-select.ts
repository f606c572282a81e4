/**
 * The AEAD of each suite (PROTOCOL.md §2, §5.1): node:crypto where it passes a known-answer
 * self-test against noble and, timed on a 16 KiB record, is not slower; noble otherwise. Shared
 * by the gateway's start-up selection (select.ts) and the client (src/client/native-aead.ts),
 * so both ends pick the same way.
 *
 * The self-test: seal byte-identical to noble on several lengths, open round-trips, a flipped
 * tag bit → null, a ciphertext shorter than a tag → null.
 */
import { aes256gcm, chacha20poly1305 } from "../protocol/aead.ts";
import { ctEqual as eq } from "../protocol/bytes.ts";
import {
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
} from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import type { Aead } from "../protocol/types.ts";
import { nodeAead } from "./aead-node.ts";
import type { NodeCrypto } from "./node-crypto.ts";
import { selfTestInput as det } from "./self-test.ts";

const AEAD_NOBLE: Record<SuiteId, Aead> = {
  [SUITE_XWING_AES256GCM]: aes256gcm,
  [SUITE_XWING_CHACHA20POLY1305]: chacha20poly1305,
};

function must(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function checkAead(cand: Aead, ref: Aead): void {
  const key = det("aead key", 32), nonce = det("aead nonce", 12);
  for (const n of [0, 1, 15, 16, 17, 1000, 16384]) {
    const pt = det(`aead pt ${n}`, Math.max(n, 1)).subarray(0, n);
    const aad = det(`aead aad ${n}`, 10).subarray(0, n % 11);
    const c1 = ref.seal(key, nonce, aad, pt), c2 = cand.seal(key, nonce, aad, pt);
    must(eq(c1, c2), "AEAD seal differs");
    const o = cand.open(key, nonce, aad, c1);
    must(o !== null && eq(o, pt), "AEAD open failed");
    const t = new Uint8Array(c1);
    t[t.length - 1] ^= 1;
    must(cand.open(key, nonce, aad, t) === null, "AEAD accepted a bad tag");
  }
  must(
    cand.open(key, nonce, new Uint8Array(0), new Uint8Array(15)) === null,
    "AEAD short ciphertext",
  );
}

function timeSeal(a: Aead, reps: number): number {
  const key = det("aead key", 32), nonce = det("aead nonce", 12), aad = new Uint8Array(10);
  const pt = new Uint8Array(16384);
  a.seal(key, nonce, aad, pt);
  const t = performance.now();
  for (let i = 0; i < reps; i++) a.seal(key, nonce, aad, pt);
  return performance.now() - t;
}

export interface AeadSelection {
  /** The AEAD of a suite (RecordLayer's `aead` option); throws internal_error for an unknown one. */
  aead: (suite: SuiteId) => Aead;
  /** Per algorithm: "noble", or "node:crypto", with the timing when it was timed. */
  report: Record<string, string>;
}

/**
 * Picks each suite's AEAD. `nc` null (no node:crypto, or a noble-only selection): noble. A
 * candidate that fails its self-test is reported in `fallbacks` and not used.
 */
export function selectAeads(
  nc: NodeCrypto | null,
  opts: { time?: boolean; reps?: number },
  fallbacks: string[],
): AeadSelection {
  const aeads: Record<SuiteId, Aead> = { ...AEAD_NOBLE };
  const report: Record<string, string> = {};
  for (
    const [suite, alg] of [
      [SUITE_XWING_AES256GCM, "aes-256-gcm"],
      [SUITE_XWING_CHACHA20POLY1305, "chacha20-poly1305"],
    ] as const
  ) {
    const ref = AEAD_NOBLE[suite];
    let cand: Aead | null = null;
    if (nc) {
      try {
        const a = nodeAead(nc, alg);
        checkAead(a, ref);
        cand = a;
      } catch (e) {
        fallbacks.push(`${alg} node:crypto: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    let pick = ref, why = "noble";
    if (cand) {
      if (opts.time === false) {
        pick = cand;
        why = "node:crypto";
      } else {
        const reps = opts.reps ?? 8;
        const tn = timeSeal(cand, reps), tr = timeSeal(ref, reps);
        pick = tn <= tr ? cand : ref;
        why = `${pick === cand ? "node:crypto" : "noble"} (16 KiB seal: native ${
          (tn * 1000 / reps).toFixed(0)
        } µs, noble ${(tr * 1000 / reps).toFixed(0)} µs)`;
      }
    }
    aeads[suite] = pick;
    report[alg] = why;
  }
  return {
    aead: (suite: SuiteId): Aead => {
      const a = aeads[suite];
      if (!a) throw new PqgateError("internal_error", "unknown suite");
      return a;
    },
    report,
  };
}
