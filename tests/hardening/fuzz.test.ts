/**
 * Property tests of every decoder a peer can reach and of both session state machines
 * (tests/hardening/fuzz-targets.ts), with bounded run counts for CI. The long runs
 * (≥ 100,000 iterations per target) are `deno task fuzz` (scripts/fuzz/run.ts).
 */
import fc from "fast-check";
import { FUZZ_TARGETS } from "./fuzz-targets.ts";

for (const target of FUZZ_TARGETS) {
  Deno.test({
    name: `fuzz: ${target.name} (${target.ciRuns} runs)`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await fc.assert(
        fc.asyncProperty(target.arb, async (input) => {
          await target.check(input);
        }),
        { numRuns: target.ciRuns, endOnFailure: true },
      );
    },
  });
}
