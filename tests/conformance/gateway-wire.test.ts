/**
 * PROTOCOL.md 1.1 conformance of the REAL Deno gateway (serveDeno) over the wire: every case of
 * tests/conformance/wire-cases.ts, one gateway for all of them (HARDENING_LIMITS, hardening
 * routes). The same table runs against the Worker in tests/cloudflare/workers-conformance.test.ts.
 */
import { startHarness } from "../hardening/harness.ts";
import { WIRE_CASES } from "./wire-cases.ts";

Deno.test({
  name: `conformance: gateway over the wire (${WIRE_CASES.length} cases) against serveDeno`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const h = await startHarness();
    try {
      for (const c of WIRE_CASES) {
        await t.step({
          name: `${c.section} ${c.name}`,
          // A case the code disagrees with on Deno is kept, ignored; its `disagrees.deno` says where.
          ignore: c.disagrees?.deno !== undefined && !Deno.env.get("PQGATE_CONFORMANCE_ALL"),
          fn: () =>
            c.run({
              target: h.target,
              originPaths: () => h.origin.requests.map((r) => r.path),
              atFrameHeader: true,
            }),
        });
      }
    } finally {
      await h.close();
    }
  },
});
