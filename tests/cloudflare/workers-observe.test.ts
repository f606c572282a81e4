/**
 * Observation on Workers, in real workerd (Miniflare): with PQGATE_LOG=info the Worker and its
 * Durable Object write one JSON line per request and per channel open/close through
 * console.log (Workers Logs), with no path or address; with the PQGATE_ANALYTICS binding (a
 * local Analytics Engine dataset, whose writes Miniflare accepts and drops) the same session
 * runs unchanged. What the Analytics Engine sink writes is checked with a recording binding in
 * src/transport/cloudflare/analytics.test.ts.
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { connect } from "../../src/client/mod.ts";
import { channelUrl } from "../e2e/loopback.ts";
import { startWorker } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const KEY = generateStaticKey(SEED);

Deno.test({
  name: "cf workers: JSON access and channel lines on stdout; the Analytics Engine binding",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const lines: string[] = [];
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(SEED)]),
      vars: { PQGATE_LOG: "info" },
      analytics: true,
      stdout: (l) => lines.push(l),
    });
    try {
      const ch = await connect(channelUrl(w.url.replace(/\/$/, "")), {
        pin: pinFor(KEY.publicKey),
      });
      const ok = await ch.fetch("https://demo/api/hello?token=SECRET-TOKEN");
      assert.equal(ok.status, 200);
      await ok.text();
      const missing = await ch.fetch("https://nowhere.example/x");
      assert.equal(missing.status, 403);
      await missing.text();
      ch.close();
      const parsed = () =>
        lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      const deadline = Date.now() + 10_000;
      while (!parsed().some((l) => l.event === "channel_close") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const events = parsed();
      const access = events.filter((l) => l.event === "request");
      assert.deepEqual(access.map((l) => [l.route, l.status]), [["0", 200], ["none", 403]]);
      for (const l of access) {
        assert.equal(l.level, "info");
        assert.equal(typeof l.sessionId, "string");
        assert.equal(l.stream === 1 || l.stream === 3, true);
      }
      assert.ok(events.some((l) => l.event === "channel_open"));
      const close = events.find((l) => l.event === "channel_close")!;
      assert.equal(close.sessionId, access[0].sessionId);
      assert.equal(close.requests, 2);
      const text = lines.join("\n");
      for (const s of ["SECRET-TOKEN", "/api/hello", "nowhere.example", "127.0.0.1"]) {
        assert.ok(!text.includes(s), `${s} in the Worker's log`);
      }
    } finally {
      await w.close();
    }
  },
});
