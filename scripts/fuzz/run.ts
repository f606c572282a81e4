/**
 * Long fuzz run (not in CI): every target of tests/hardening/fuzz-targets.ts for N iterations
 * (default 100,000), counting failures instead of stopping at the first, then a table:
 * target, iterations, failures, seconds. Exit code 1 if any target failed.
 *
 *   node scripts/deno.mjs task fuzz [--iterations N] [--only SUBSTRING] [--seed S]
 */
import fc from "fast-check";
import { FUZZ_TARGETS } from "../../tests/hardening/fuzz-targets.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const iterations = Number(arg("iterations") ?? 100_000);
const only = arg("only");
const seed = Number(arg("seed") ?? Date.now() % 2 ** 31);
if (!Number.isSafeInteger(iterations) || iterations < 1) {
  console.error("--iterations must be a positive integer");
  Deno.exit(2);
}

interface Row {
  target: string;
  iterations: number;
  failures: number;
  seconds: number;
  first?: string;
}

const rows: Row[] = [];
console.log(`fuzz: ${iterations} iterations per target, seed ${seed}`);
for (const target of FUZZ_TARGETS) {
  if (only && !target.name.includes(only)) continue;
  let failures = 0;
  let first: string | undefined;
  const t0 = performance.now();
  // The predicate records failures and returns true, so fast-check runs every iteration.
  await fc.check(
    fc.asyncProperty(target.arb, async (input) => {
      try {
        await target.check(input);
      } catch (e) {
        failures++;
        if (!first) {
          first = `${(e as Error)?.message ?? e} — input ${
            JSON.stringify(input, (_k, v) =>
              v instanceof Uint8Array
                ? `hex:${
                  Array.from(v.subarray(0, 64), (b) =>
                    b.toString(16).padStart(2, "0")).join("")
                }${v.length > 64 ? "…" : ""}`
                : v).slice(0, 400)
          }`;
        }
      }
      return true;
    }),
    { numRuns: iterations, seed },
  );
  const seconds = (performance.now() - t0) / 1000;
  rows.push({ target: target.name, iterations, failures, seconds, first });
  console.log(`  ${target.name}: ${failures} failures in ${seconds.toFixed(1)} s`);
}

const w = Math.max(...rows.map((r) => r.target.length), 6);
console.log("");
console.log(
  `${"target".padEnd(w)}  ${"iterations".padStart(10)}  ${"failures".padStart(8)}  ${
    "seconds".padStart(8)
  }`,
);
console.log(`${"-".repeat(w)}  ${"-".repeat(10)}  ${"-".repeat(8)}  ${"-".repeat(8)}`);
for (const r of rows) {
  console.log(
    `${r.target.padEnd(w)}  ${String(r.iterations).padStart(10)}  ${
      String(r.failures).padStart(8)
    }  ${r.seconds.toFixed(1).padStart(8)}`,
  );
}
for (const r of rows) if (r.first) console.log(`\nfirst failure of ${r.target}: ${r.first}`);
Deno.exit(rows.some((r) => r.failures > 0) ? 1 : 0);
