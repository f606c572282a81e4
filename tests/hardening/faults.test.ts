/**
 * Faults: origins that reset mid-stream, hang, or answer garbage; the gateway restarting while
 * clients are mid-request; and many concurrent clients whose responses must never cross
 * streams or sessions (request ids echoed and checked).
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { channelUrl } from "../e2e/loopback.ts";
import { startRecordingOrigin } from "../e2e/recording-origin.ts";
import { HARDENING_HOSTS, hardeningRoutes, holdService } from "./bad-input-cases.ts";
import { startHarness } from "./harness.ts";
import { sleep, WS } from "./wire.ts";

type Behaviour = "reset-mid-body" | "hang" | "hang-mid-body" | "hang-mid-small-body" | "garbage";

/** A raw TCP "origin" that reads one request head and then misbehaves. */
function startBadOrigin(
  behaviour: Behaviour,
): { url: string; close(): void; peerClosed: () => number } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let peerClosed = 0;
  (async () => {
    for await (const c of l) {
      conns.add(c);
      (async () => {
        const buf = new Uint8Array(65536);
        let head = "";
        while (!head.includes("\r\n\r\n")) {
          const n = await c.read(buf);
          if (n === null) return;
          head += new TextDecoder().decode(buf.subarray(0, n));
        }
        const w = (s: string | Uint8Array) =>
          c.write(typeof s === "string" ? new TextEncoder().encode(s) : s);
        if (behaviour === "garbage") {
          await w("this is not HTTP at all\r\n\r\n\x00\x01\x02");
          c.close();
        } else if (behaviour === "reset-mid-body") {
          await w(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000000\r\n\r\n",
          );
          await w(new Uint8Array(30_000).fill(0x61));
          await sleep(50);
          c.close(); // 970,000 bytes short
        } else if (behaviour === "hang-mid-body" || behaviour === "hang-mid-small-body") {
          // 100,000 declared: streamed; 1,000: a small body the gateway reads whole first.
          const declared = behaviour === "hang-mid-body" ? 100_000 : 1000;
          await w(`HTTP/1.1 200 OK\r\ncontent-length: ${declared}\r\n\r\n`);
          await w(new Uint8Array(10).fill(0x62)); // then nothing, connection open
          // ... until the gateway gives up and closes it.
          while ((await c.read(buf).catch(() => null)) !== null) { /* discard */ }
          peerClosed++;
        }
        // "hang": never answer
      })().catch(() => {}).finally(() => {});
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}`,
    peerClosed: () => peerClosed,
    close() {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

async function readAllOrError(
  body: ReadableStream<Uint8Array> | null,
  ms: number,
): Promise<{ bytes: number; error: unknown; timedOut: boolean }> {
  let bytes = 0;
  if (!body) return { bytes, error: null, timedOut: false };
  const reader = body.getReader();
  const end = Date.now() + ms;
  try {
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) {
        await reader.cancel().catch(() => {});
        return { bytes, error: null, timedOut: true };
      }
      let t: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        reader.read(),
        new Promise<"timeout">((res) => (t = setTimeout(() => res("timeout"), left))),
      ]);
      clearTimeout(t);
      if (r === "timeout") {
        await reader.cancel().catch(() => {});
        return { bytes, error: null, timedOut: true };
      }
      if (r.done) return { bytes, error: null, timedOut: false };
      bytes += r.value.length;
    }
  } catch (error) {
    return { bytes, error, timedOut: false };
  }
}

Deno.test({
  name: "hardening: origin faults (reset mid-stream, hang, garbage)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const bad = {
      reset: startBadOrigin("reset-mid-body"),
      hang: startBadOrigin("hang"),
      hangBody: startBadOrigin("hang-mid-body"),
      hangSmall: startBadOrigin("hang-mid-small-body"),
      garbage: startBadOrigin("garbage"),
    };
    const h = await startHarness({
      gateway: { originBodyIdleTimeoutMs: 800 },
      routes: (origin) => [
        ...hardeningRoutes(origin.url),
        { match: { authority: "reset.test" }, origin: bad.reset.url },
        { match: { authority: "hang.test" }, origin: bad.hang.url, timeoutMs: 500 },
        { match: { authority: "hangbody.test" }, origin: bad.hangBody.url, timeoutMs: 500 },
        {
          match: { authority: "hangbody-route.test" },
          origin: bad.hangBody.url,
          bodyIdleTimeoutMs: 300,
        },
        { match: { authority: "hangsmall.test" }, origin: bad.hangSmall.url, timeoutMs: 2000 },
        { match: { authority: "garbage.test" }, origin: bad.garbage.url },
      ],
    });
    const ch = await connect(h.target.wsUrl, { pin: h.target.pin, WebSocket: WS });
    const healthy = async () => {
      const r = await ch.fetch(`https://${HARDENING_HOSTS.origin}/hello`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { hello: "world" });
    };
    try {
      await t.step(
        "origin resets mid-body → the client's body read fails (never a short 'complete' body)",
        async () => {
          const r = await ch.fetch("https://reset.test/big");
          assert.equal(r.status, 200);
          const got = await readAllOrError(r.body, 5000);
          assert.ok(!got.timedOut, "body read hung");
          assert.ok(got.error !== null, `body ended cleanly after ${got.bytes} of 1,000,000 bytes`);
          assert.ok(got.bytes < 1_000_000);
          await healthy();
        },
      );
      await t.step("origin never answers → 504 after the route timeout", async () => {
        const t0 = Date.now();
        const r = await ch.fetch("https://hang.test/x");
        assert.equal(r.status, 504);
        assert.equal(r.headers.get("pqgate-error"), "gateway_timeout");
        await r.body?.cancel();
        assert.ok(Date.now() - t0 < 3000);
        await healthy();
      });
      await t.step(
        "origin stalls mid-body → body idle timeout: the client's body read fails, the origin request is aborted",
        async () => {
          for (
            const [host, idleMs] of [["hangbody.test", 800], ["hangbody-route.test", 300]] as const
          ) {
            const closedBefore = bad.hangBody.peerClosed();
            const t0 = Date.now();
            const r = await ch.fetch(`https://${host}/x`);
            assert.equal(r.status, 200);
            const got = await readAllOrError(r.body, 5000);
            const ms = Date.now() - t0;
            assert.ok(!got.timedOut, `${host}: the stalled body stayed open`);
            assert.ok(got.error !== null, `${host}: the stalled body ended cleanly`);
            assert.equal(got.bytes, 10);
            // Gateway default (originBodyIdleTimeoutMs 800) vs the route's bodyIdleTimeoutMs 300.
            assert.ok(
              ms >= idleMs - 50 && ms < idleMs + 2500,
              `${host}: body failed after ${ms} ms (idle ${idleMs})`,
            );
            // The gateway closed its origin connection (the fetch was aborted).
            const end = Date.now() + 3000;
            while (bad.hangBody.peerClosed() === closedBefore && Date.now() < end) await sleep(20);
            assert.equal(
              bad.hangBody.peerClosed(),
              closedBefore + 1,
              `${host}: origin connection still open`,
            );
          }
          // The stream slots were released: max_streams (4) concurrent stalled bodies, twice over.
          for (let round = 0; round < 2; round++) {
            const rs = await Promise.all(
              Array.from({ length: 4 }, () => ch.fetch("https://hangbody-route.test/x")),
            );
            const gots = await Promise.all(rs.map((r) => readAllOrError(r.body, 5000)));
            assert.ok(
              gots.every((g) => g.error !== null && g.bytes === 10),
              JSON.stringify(gots.map((g) => g.bytes)),
            );
          }
          await healthy();
        },
      );
      await t.step(
        "origin stalls mid-body on a small declared body (read whole before the response) → 504 after the idle timeout, the origin request is aborted",
        async () => {
          const closedBefore = bad.hangSmall.peerClosed();
          const t0 = Date.now();
          const r = await ch.fetch("https://hangsmall.test/x");
          const ms = Date.now() - t0;
          assert.equal(r.status, 504);
          assert.equal(r.headers.get("pqgate-error"), "gateway_timeout");
          await r.body?.cancel();
          // Gateway body idle timeout 800 ms (the route's header timeout is 2,000).
          assert.ok(ms >= 750 && ms < 1800, `504 after ${ms} ms`);
          const end = Date.now() + 3000;
          while (bad.hangSmall.peerClosed() === closedBefore && Date.now() < end) await sleep(20);
          assert.equal(
            bad.hangSmall.peerClosed(),
            closedBefore + 1,
            "origin connection still open",
          );
          await healthy();
        },
      );
      await t.step("origin answers garbage (not HTTP) → 502", async () => {
        const r = await ch.fetch("https://garbage.test/x");
        assert.equal(r.status, 502);
        assert.equal(r.headers.get("pqgate-error"), "bad_gateway");
        await r.body?.cancel();
        await healthy();
      });
    } finally {
      ch.close();
      await h.close();
      for (const b of Object.values(bad)) b.close();
    }
  },
});

Deno.test({
  name: "hardening: responses never cross streams or sessions (concurrent clients, echoed ids)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const h = await startHarness({
      gateway: { limits: { maxStreams: 16, handshakeTimeoutMs: 5000, idleTimeoutMs: 30_000 } },
    });
    const clients = 8, perClient = 40;
    const channels = await Promise.all(
      Array.from(
        { length: clients },
        () => connect(h.target.wsUrl, { pin: h.target.pin, WebSocket: WS }),
      ),
    );
    try {
      let mismatches = 0;
      await Promise.all(
        channels.map((ch, c) =>
          Promise.all(Array.from({ length: perClient }, async (_, i) => {
            const n = c * 1000 + i;
            if (i % 2 === 0) {
              const r = await ch.fetch(`https://${HARDENING_HOSTS.origin}/item/${n}`);
              const body = await r.json();
              if (r.headers.get("x-item") !== String(n) || body.n !== n) mismatches++;
            } else {
              const id = `${ch.sessionId}:${n}:${crypto.randomUUID()}`;
              const r = await ch.fetch(`https://${HARDENING_HOSTS.origin}/echo`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ id, pad: "x".repeat(i * 50) }),
              });
              const body = await r.json();
              if (body.json?.id !== id) mismatches++;
            }
          }))
        ),
      );
      assert.equal(mismatches, 0);
      assert.equal(h.origin.requests.length, clients * perClient);
    } finally {
      for (const ch of channels) ch.close();
      await h.close();
    }
  },
});

Deno.test({
  name: "hardening: gateway restart mid-request → error or reconnect, never a wrong response",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const origin = await startRecordingOrigin();
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const start = () =>
      serveDeno({
        gateway: createGateway({
          keys: key,
          routes: hardeningRoutes(origin.url),
          services: { hold: holdService },
        }),
        port,
      });
    let server = start();
    const wsUrl = channelUrl(server.url);
    const ch = await connect(wsUrl, { pin: pinFor(key.publicKey), WebSocket: WS });
    try {
      // Slow requests in flight (each echoes its own id) while the gateway restarts.
      const inFlight = Array.from({ length: 10 }, async (_, i) => {
        try {
          const r = await ch.fetch(`https://${HARDENING_HOSTS.origin}/item/${i}`);
          const body = await r.json();
          return body.n === i && r.headers.get("x-item") === String(i) ? "ok" : "WRONG";
        } catch {
          return "error";
        }
      });
      const slow = ch.fetch(`https://${HARDENING_HOSTS.origin}/slow?ms=3000`).then(
        async (r) => ((await r.json()).slow === 3000 ? "ok" : "WRONG"),
        () => "error",
      );
      await sleep(20);
      // No drain (deadline 0): a restart that cuts what is in flight (a drained one lets it
      // finish: src/transport/deno/drain.test.ts).
      await server.shutdown({ deadlineMs: 0 });
      const results = await Promise.all([...inFlight, slow]);
      assert.ok(!results.includes("WRONG"), results.join(","));
      assert.equal(await slow, "error", "the request in flight across the restart must fail");
      server = start();
      // The same channel object reconnects with a fresh handshake on the next request.
      const after = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const n = 100 + i;
        const r = await ch.fetch(`https://${HARDENING_HOSTS.origin}/item/${n}`);
        const body = await r.json();
        return body.n === n ? "ok" : "WRONG";
      }));
      assert.deepEqual(after, Array(10).fill("ok"));
    } finally {
      ch.close();
      await server.shutdown();
      await origin.close();
    }
  },
});
