/**
 * The Cloudflare Worker in real workerd (Miniflare), built from worker/index.ts with esbuild and
 * configured like wrangler.toml. Covers the platform side: key config and health, config
 * errors, upgrades routed to a Durable Object, the attachment/hibernation path with wire-level
 * (key, nonce) checks, and the CPU cost of a cold-isolate handshake.
 */
import assert from "node:assert/strict";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { toBase64Url, toHex } from "../../src/protocol/bytes.ts";
import { MSG_CLIENT_FINISHED, MSG_SERVER_HELLO } from "../../src/protocol/constants.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import type { StaticKey } from "../../src/protocol/types.ts";
import { processCpuNs, ROOT, startWorker, type WorkerHarness } from "./miniflare.ts";
import { duplicateNonces, WireClient } from "./wire-client.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const SEED_2 = new Uint8Array(32).map((_, i) => (i * 53 + 7) & 0xff);
const KEY: StaticKey = generateStaticKey(SEED);
const KEY_2: StaticKey = generateStaticKey(SEED_2);
const server = { keyId: KEY.keyId, publicKey: KEY.publicKey };

const opts = { sanitizeOps: false, sanitizeResources: false };
const wsUrl = (w: WorkerHarness, object?: string) =>
  w.url.replace(/^http/, "ws") + "pqgate" + (object ? `?__object=${object}` : "");
interface HookState {
  live: number;
  evicted: number;
  sockets: { st: string; snapshotBytes: number }[];
}
const hook = async (w: WorkerHarness, object: string, name: string): Promise<HookState> => {
  const r = await fetch(`${w.url}__pqgate_test/${object}/${name}`);
  assert.equal(r.status, 200, `hook ${name}`);
  return await r.json();
};
let objectCounter = 0;
const objectName = () => `t${Date.now()}-${++objectCounter}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "cf workers: key config, health, upgrade required, config errors",
  ...opts,
  fn: async () => {
    // Two keys in the two accepted encodings (key-file object with pin, bare hex seed).
    const keys = JSON.stringify([
      {
        version: 1,
        kem: "X-Wing",
        seed: toBase64Url(SEED),
        key_id: toHex(KEY.keyId),
        pin: pinFor(KEY.publicKey),
      },
      toHex(SEED_2),
    ]);
    const w = await startWorker({ keys });
    try {
      const health = await fetch(w.url + "healthz");
      // status ok; the crypto backends are listed too, selected at the isolate's start-up.
      const h = await health.json() as { status: string; crypto?: { mlkem: string } };
      assert.equal(h.status, "ok");
      assert.ok(h.crypto, "backend selection ran at start-up");
      // Ready: the secret's keys parsed and the crypto self-tests ran (docs/operations.md).
      const ready = await fetch(w.url + "readyz");
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: "ready", keys: 2 });
      const cfg = await (await fetch(w.url + ".well-known/pqgate")).json() as {
        keys: { pin: string; key_id: string }[];
      };
      assert.deepEqual(cfg.keys.map((k: { pin: string }) => k.pin), [
        pinFor(KEY.publicKey),
        pinFor(KEY_2.publicKey),
      ]);
      assert.deepEqual(cfg.keys.map((k: { key_id: string }) => k.key_id), [
        toHex(KEY.keyId),
        toHex(KEY_2.keyId),
      ]);
      const plain = await fetch(w.url + "pqgate");
      assert.equal(plain.status, 426);
      await plain.body?.cancel();
    } finally {
      await w.close();
    }
    // Misconfiguration: 503 naming the variable, never the secret; health says so too.
    const bad = await startWorker({ keys: '["not-a-seed"]' });
    try {
      const r = await fetch(bad.url + ".well-known/pqgate");
      assert.equal(r.status, 503);
      const body = await r.json() as { message: string };
      assert.match(body.message, /^PQGATE_KEYS\[0\]: seed is neither/);
      assert.equal(JSON.stringify(body).includes("not-a-seed"), false);
      const h = await fetch(bad.url + "healthz");
      assert.equal(h.status, 503);
      await h.body?.cancel();
      const notReady = await fetch(bad.url + "readyz");
      assert.equal(notReady.status, 503);
      assert.deepEqual(await notReady.json(), { status: "not_ready", reason: "misconfigured" });
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name:
    "cf workers: handshake in a Durable Object, attachment under 2 KB, no (key, nonce) reuse across a forced eviction",
  ...opts,
  fn: async () => {
    const w = await startWorker({ keys: JSON.stringify([toBase64Url(SEED)]), testHooks: true });
    try {
      const name = objectName();
      const c = await WireClient.connect(wsUrl(w, name), server);
      for (let i = 0; i < 5; i++) await c.ping();
      let state = await hook(w, name, "state");
      assert.equal(state.live, 1);
      assert.equal(state.sockets.length, 1);
      assert.equal(state.sockets[0].st, "e");
      assert.ok(state.sockets[0].snapshotBytes > 0 && state.sockets[0].snapshotBytes < 2048 - 160);

      // Evict: the in-memory session is gone; the next message goes through the attachment.
      assert.equal((await hook(w, name, "evict")).evicted, 1);
      state = await hook(w, name, "state");
      assert.equal(state.live, 0);
      for (let i = 0; i < 5; i++) await c.ping();
      assert.equal((await hook(w, name, "state")).live, 1, "session rebuilt from the attachment");

      // A KeyUpdate (persisted before use), then another eviction in the new epoch.
      await c.keyUpdate();
      await c.ping();
      await hook(w, name, "evict");
      for (let i = 0; i < 3; i++) await c.ping();
      await hook(w, name, "evict");
      await c.ping();

      assert.equal(c.error, null);
      const epochs = new Set(c.sealed.map((r) => r.epoch));
      assert.deepEqual([...epochs], [0, 1]);
      assert.deepEqual(duplicateNonces(c.sealed), []);
      // Strictly increasing seq within each epoch (gaps allowed: a restore skips the rest of
      // the reservation).
      for (const e of epochs) {
        const seqs = c.sealed.filter((r) => r.epoch === e).map((r) => r.seq);
        for (let i = 1; i < seqs.length; i++) {
          assert.ok(seqs[i] > seqs[i - 1], `epoch ${e}: ${seqs}`);
        }
      }
      console.log(`  gateway records: ${c.sealed.map((r) => `${r.epoch}/${r.seq}`).join(" ")}`);
      await c.close();
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name: "cf workers: mid-handshake wake closes 4000; corrupt attachment closes 4014",
  ...opts,
  fn: async () => {
    const w = await startWorker({ keys: JSON.stringify([toBase64Url(SEED)]), testHooks: true });
    try {
      // Woken between ServerHello and ClientFinished: nothing was persisted → 4000.
      const name = objectName();
      const ws = new WebSocket(wsUrl(w, name));
      ws.binaryType = "arraybuffer";
      const closed = new Promise<CloseEvent>((r) => ws.onclose = r);
      await new Promise((r) => ws.onopen = r);
      const hs = new ClientHandshake({
        server,
        random: (n) => crypto.getRandomValues(new Uint8Array(n)),
      });
      const sh = new Promise<ArrayBuffer>((r) => ws.onmessage = (e) => r(e.data));
      ws.send(hs.start());
      const serverHello = new Uint8Array(await sh);
      assert.equal(serverHello[0], MSG_SERVER_HELLO);
      const { clientFinished } = hs.receiveServerHello(serverHello);
      assert.equal((await hook(w, name, "state")).sockets[0].st, "h");
      await hook(w, name, "evict");
      assert.equal(clientFinished[0], MSG_CLIENT_FINISHED);
      ws.send(clientFinished);
      const e = await closed;
      assert.equal(e.code, 4000);
      assert.equal(e.reason, "handshake timeout");

      // An unknown attachment version (e.g. from another deployment) → 4014.
      const name2 = objectName();
      const c = await WireClient.connect(wsUrl(w, name2), server);
      await c.ping();
      await hook(w, name2, "corrupt");
      c.send([{ type: "ping", data: new Uint8Array(8) }]);
      const closed2 = await c.closed;
      assert.equal(closed2.code, 4014);
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name:
    "cf workers: real hibernation (idle ~10 s, alarm pending) then the session continues without nonce reuse",
  ...opts,
  fn: async () => {
    // Default limits: once the handshake is done the alarm moves to the idle deadline (PING
    // at 30 s), which stays pending while the object hibernates.
    const w = await startWorker({ keys: JSON.stringify([toBase64Url(SEED)]), testHooks: true });
    try {
      const name = objectName();
      const c = await WireClient.connect(wsUrl(w, name), server);
      for (let i = 0; i < 3; i++) await c.ping();
      await sleep(13_000);
      // This fetch is the first event after the idle period: a hibernated object has a new
      // instance with an empty map, while the socket and its attachment survived.
      const state = await hook(w, name, "state");
      assert.equal(state.live, 0, "the object was evicted from memory (hibernated)");
      assert.equal(state.sockets.length, 1);
      assert.equal(state.sockets[0].st, "e");
      for (let i = 0; i < 3; i++) await c.ping();
      assert.equal(c.error, null);
      assert.deepEqual(duplicateNonces(c.sealed), []);
      console.log(`  gateway records: ${c.sealed.map((r) => `${r.epoch}/${r.seq}`).join(" ")}`);
      await c.close();
    } finally {
      await w.close();
    }
  },
});

for (const mode of ["noble", "auto"] as const) {
  Deno.test({
    name: `cf workers: cold-isolate handshake CPU (fresh workerd, PQGATE_CRYPTO=${mode})`,
    ...opts,
    fn: async () => {
      const w = await startWorker({
        keys: JSON.stringify([toBase64Url(SEED)]),
        vars: { PQGATE_CRYPTO: mode },
      });
      try {
        if (w.workerdPid === null) {
          console.log("  workerd pid not found: CPU not measured");
          return;
        }
        const pid = w.workerdPid;
        const settle = () => sleep(25); // let workerd finish the work of the previous step
        type Cpu = { main: number; total: number };
        const since = (t: Cpu): Cpu => {
          const n = processCpuNs(pid);
          return { main: (n.main - t.main) / 1e6, total: (n.total - t.total) / 1e6 };
        };
        /** CPU (ms) of [upgrade + new Durable Object, handshake] for one connection. */
        const connection = async () => {
          await settle();
          const t0 = processCpuNs(pid);
          let t1 = t0;
          let upgrade: Cpu = { main: 0, total: 0 };
          const c = await WireClient.connect(wsUrl(w), server, {
            onOpen: async () => {
              await settle();
              upgrade = since(t0);
              t1 = processCpuNs(pid);
            },
          });
          await settle();
          const handshake = since(t1);
          await c.close();
          return { upgrade, handshake };
        };
        await settle();
        const h0 = processCpuNs(pid);
        const startup: Cpu = { main: h0.main / 1e6, total: h0.total / 1e6 };
        await (await fetch(w.url + ".well-known/pqgate")).text();
        await settle();
        const keyConfig = since(h0);
        const first = await connection();
        const warm: { upgrade: Cpu; handshake: Cpu }[] = [];
        for (let i = 0; i < 9; i++) warm.push(await connection());
        const health = await (await fetch(w.url + "healthz")).json() as { crypto?: unknown };
        console.log(
          `  crypto backends in workerd: ${JSON.stringify(health.crypto ?? "not selected")}`,
        );
        const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
        const fmt = (c: Cpu) => `${c.main.toFixed(1)} ms (${c.total.toFixed(1)} ms all threads)`;
        const medCpu = (xs: Cpu[]): Cpu => ({
          main: med(xs.map((x) => x.main)),
          total: med(xs.map((x) => x.total)),
        });
        console.log(
          `  miniflare startup ${w.startupMs.toFixed(0)} ms. workerd CPU, event-loop thread ` +
            `(JS + workerd networking; V8 background JIT/GC threads in parentheses):\n` +
            `    start-up (workerd, Miniflare's workers, our module incl. warm-up handshake): ${
              fmt(startup)
            }\n` +
            `    first request (cold isolate, X-Wing key derivation, key config): ${
              fmt(keyConfig)
            }\n` +
            `    first connection: upgrade + new Durable Object ${fmt(first.upgrade)}; handshake ${
              fmt(first.handshake)
            }\n` +
            `    warm medians of 9: upgrade ${fmt(medCpu(warm.map((x) => x.upgrade)))}; handshake ${
              fmt(medCpu(warm.map((x) => x.handshake)))
            }`,
        );
        assert.ok(first.handshake.main < 2000);
      } finally {
        await w.close();
      }
    },
  });
}

Deno.test({
  name:
    "cf workers: `wrangler dev` (wrangler.toml + wrangler's own bundling) serves a working channel",
  ...opts,
  fn: async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const wrangler = new URL("node_modules/wrangler/bin/wrangler.js", ROOT).pathname;
    const child = new Deno.Command("node", {
      args: [
        wrangler,
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--show-interactive-dev-session=false",
        "--var",
        `PQGATE_KEYS:${JSON.stringify([toBase64Url(SEED)])}`,
        "--var",
        "PQGATE_LOG:off",
      ],
      cwd: ROOT.pathname,
      env: { WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (s: ReadableStream<Uint8Array>, sink: string[]) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) sink.push(chunk);
    };
    const out: string[] = [];
    const draining = Promise.all([drain(child.stdout, out), drain(child.stderr, out)]);
    try {
      const base = `http://127.0.0.1:${port}/`;
      const t0 = Date.now();
      let ready = false;
      while (!ready && Date.now() - t0 < 30_000) {
        await sleep(200);
        try {
          const r = await fetch(base + "healthz");
          ready = r.status === 200;
          await r.body?.cancel();
        } catch { /* not listening yet */ }
      }
      assert.ok(ready, `wrangler dev did not start:\n${out.join("")}`);
      console.log(`  wrangler dev ready in ${Date.now() - t0} ms`);
      const cfg = await (await fetch(base + ".well-known/pqgate")).json() as {
        keys: { pin: string }[];
      };
      assert.equal(cfg.keys[0].pin, pinFor(KEY.publicKey));
      const c = await WireClient.connect(`ws://127.0.0.1:${port}/pqgate`, server);
      await c.ping();
      assert.equal((await c.close()).code, 1000);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await draining.catch(() => {});
    }
  },
});
