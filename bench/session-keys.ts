/** Shared by the record-layer benches (portable: bench/handshake.ts also runs on Node). */
import type { SuiteId } from "../src/protocol/constants.ts";
import { seededRandom } from "../src/protocol/testing.ts";
import type { SessionKeys } from "../src/protocol/types.ts";

/** Fixed session keys for record-layer benches (seeded by `label`: the same run replays). */
export function benchSessionKeys(suite: SuiteId, label: string): SessionKeys {
  const r = seededRandom(label);
  return {
    suite,
    clientSecret: r(32),
    serverSecret: r(32),
    exporterSecret: r(32),
    sessionId: r(16),
    transcriptHash: r(32),
  };
}
