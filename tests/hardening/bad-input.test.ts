/**
 * The bad-input matrix (tests/hardening/bad-input-cases.ts) against the REAL Deno gateway:
 * each named case must produce its documented close code or HTTP status, a healthy client must
 * still get a correct response after it, and no gateway log line may contain a secret.
 * The per-address cases run against a second gateway served with HARDENING_ADDRESS_LIMITS.
 */
import assert from "node:assert/strict";
import {
  BAD_INPUT_CASES,
  HARDENING_ADDRESS_LIMITS,
  healthyCheck,
  runCase,
} from "./bad-input-cases.ts";
import { startHarness } from "./harness.ts";
import { assertNoSecrets } from "./wire.ts";

Deno.test({
  name: `hardening: bad-input matrix (${BAD_INPUT_CASES.length} cases) against serveDeno`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    assert.ok(BAD_INPUT_CASES.length >= 40, "at least 40 named cases");
    assert.equal(
      new Set(BAD_INPUT_CASES.map((c) => c.name)).size,
      BAD_INPUT_CASES.length,
      "case names are unique",
    );
    const h = await startHarness();
    try {
      await healthyCheck(h.target);
      for (const c of BAD_INPUT_CASES.filter((c) => c.needs !== "address-limits")) {
        await t.step(`[${c.area}] ${c.name}`, async () => {
          const { outcome, error } = await runCase(c, { target: h.target, book: h.book });
          if (error) throw error;
          assert.deepEqual(outcome, c.atFrameHeader ?? c.expect);
          await healthyCheck(h.target);
          assertNoSecrets(h.logs, h.book);
        });
      }
      // The origin was only ever reached through the routes (origin.test); nothing else.
      for (const r of h.origin.requests) {
        assert.ok(["/hello", "/echo"].includes(r.path), `unexpected origin request ${r.path}`);
      }
      assert.ok(h.logs.some((l) => l.event === "session_error"), "session errors are logged");
      assertNoSecrets(h.logs, h.book);
    } finally {
      await h.close();
    }
  },
});

Deno.test({
  name: "hardening: per-client-address limits (serveDeno with HARDENING_ADDRESS_LIMITS)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cases = BAD_INPUT_CASES.filter((c) => c.needs === "address-limits");
    assert.ok(cases.length >= 2);
    const h = await startHarness({ serve: HARDENING_ADDRESS_LIMITS });
    try {
      await healthyCheck(h.target);
      for (const c of cases) {
        await t.step(`[${c.area}] ${c.name}`, async () => {
          const { outcome, error } = await runCase(c, { target: h.target, book: h.book });
          if (error) throw error;
          assert.deepEqual(outcome, c.expect);
          // From 127.0.0.1: another address is served while 127.0.0.2/3 are limited.
          await healthyCheck(h.target);
          assertNoSecrets(h.logs, h.book);
        });
      }
      const limited = h.logs.filter((l) => l.event === "transport.rate_limited");
      assert.deepEqual(
        limited.map((l) => l.fields?.limit).sort(),
        ["maxChannelsPerAddress", "maxHandshakesPerAddressPerMinute"],
        "each refused address is logged once (no address in the log)",
      );
      assert.ok(limited.every((l) => !JSON.stringify(l).includes("127.0.0")));
    } finally {
      await h.close();
    }
  },
});
