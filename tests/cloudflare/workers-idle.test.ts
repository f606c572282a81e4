/**
 * Hibernation keeps the session's promises in real workerd (Miniflare): the idle clock of
 * SESSION_INFO `idle_timeout_ms` (idle PING at half of it, close 4008 at it) survives every
 * wake of the Durable Object, and a wake resets only the streams that were really open (the
 * snapshot is persisted when a stream finishes, src/tunnel/session-snapshot.ts). Evictions are
 * forced with the `/__pqgate_test/<object>/evict` hook, which drops the in-memory sessions
 * exactly as hibernation does.
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey } from "../../src/protocol/static-keys.ts";
import { encodeRequestHead } from "../../src/tunnel/bhttp.ts";
import { startWorker, type WorkerHarness } from "./miniflare.ts";
import { WireClient } from "./wire-client.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const KEY = generateStaticKey(SEED);
const server = { keyId: KEY.keyId, publicKey: KEY.publicKey };
const opts = { sanitizeOps: false, sanitizeResources: false };
const IDLE_MS = 4_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let counter = 0;
const objectName = () => `idle${Date.now()}-${++counter}`;
const wsUrl = (w: WorkerHarness, object: string) =>
  w.url.replace(/^http/, "ws") + `pqgate?__object=${object}`;
const evict = async (w: WorkerHarness, object: string): Promise<number> => {
  const r = await fetch(`${w.url}__pqgate_test/${object}/evict`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { evicted: number }).evicted;
};

async function withWorker(fn: (w: WorkerHarness) => Promise<void>): Promise<void> {
  const w = await startWorker({
    keys: JSON.stringify([toBase64Url(SEED)]),
    routes: [{ match: { authority: "svc.test" }, origin: "service:BACKEND" }],
    services: { BACKEND: (req) => new Response(`ok ${new URL(req.url).pathname}`) },
    vars: { PQGATE_LIMITS: JSON.stringify({ idleTimeoutMs: IDLE_MS }) },
    testHooks: true,
  });
  try {
    await fn(w);
  } finally {
    await w.close();
  }
}

Deno.test({
  name:
    "cf workers: a silent channel gets the idle PING and is closed with 4008 across forced evictions",
  ...opts,
  fn: () =>
    withWorker(async (w) => {
      const name = objectName();
      const c = await WireClient.connect(wsUrl(w, name), server);
      const t0 = Date.now(); // ≈ the gateway's last receive (ClientFinished)
      c.answerPings = false;
      let closedAt = 0;
      const closed = c.closed.then((x) => (closedAt = Date.now(), x));
      // Evict every 250 ms: every alarm finds the object without its session and rebuilds it
      // from the attachment (the path a hibernated object takes). Bounded: 3 idle periods.
      let evictions = 0;
      while (closedAt === 0 && Date.now() - t0 < 3 * IDLE_MS) {
        evictions += await evict(w, name);
        await Promise.race([closed, sleep(250)]);
      }
      assert.ok(
        closedAt > 0,
        `still open ${Date.now() - t0} ms after the last receive (idle ${IDLE_MS} ms)`,
      );
      const { code, reason } = await closed;
      assert.equal(code, 4008, `close ${code} ${reason}`);
      const pings = c.frames.map((f, i) => ({ f, at: c.frameTimes[i] })).filter((x) =>
        x.f.type === "ping"
      );
      assert.equal(
        pings.length,
        1,
        "exactly one idle PING (persisted as outstanding across wakes)",
      );
      assert.ok(
        c.frames.some((f) => f.type === "close" && f.code === 4008),
        "authenticated CLOSE 4008",
      );
      const pingMs = pings[0].at - t0, closeMs = closedAt - t0;
      console.log(
        `  idle ${IDLE_MS} ms, ${evictions} evictions: PING at +${pingMs} ms (due +${
          IDLE_MS / 2
        }), ` +
          `4008 at +${closeMs} ms (due +${IDLE_MS})`,
      );
      assert.ok(pingMs >= IDLE_MS / 2 - 100 && pingMs < IDLE_MS, `PING at +${pingMs} ms`);
      assert.ok(closeMs >= IDLE_MS - 100 && closeMs < IDLE_MS + 1_500, `close at +${closeMs} ms`);
      assert.equal(c.error, null);
    }),
});

Deno.test({
  name: "cf workers: a stream that finished before a wake is not reset by it; the channel goes on",
  ...opts,
  fn: () =>
    withWorker(async (w) => {
      const name = objectName();
      const c = await WireClient.connect(wsUrl(w, name), server);
      const get = (path: string) =>
        encodeRequestHead({
          method: "GET",
          scheme: "https",
          authority: "svc.test",
          path,
          headers: [],
        });
      const text = (stream: number) =>
        new TextDecoder().decode(
          new Uint8Array(
            c.frames.flatMap((f) => f.type === "data" && f.stream === stream ? [...f.payload] : []),
          ),
        );
      c.send([{ type: "headers", stream: 1, endStream: true, payload: get("/one") }]);
      await c.waitFor((f) => f.type === "data" && f.stream === 1 && f.endStream);
      assert.equal(text(1), "ok /one");
      await sleep(200); // let the object settle (the response's last frame has left)
      assert.equal(await evict(w, name), 1);
      const seen = c.frames.length;
      await c.ping(); // the first event after the wake
      c.send([{ type: "headers", stream: 3, endStream: true, payload: get("/two") }]);
      await c.waitFor((f) => f.type === "data" && f.stream === 3 && f.endStream);
      assert.equal(text(3), "ok /two");
      const resets = c.frames.slice(seen).filter((f) => f.type === "reset_stream");
      assert.deepEqual(resets, [], "a finished stream was reset after the wake");
      assert.equal(c.error, null);
      await c.close();
    }),
});
