/**
 * The end-to-end scenarios every gateway deployment must pass, written once and run against
 * real servers on loopback: tests/e2e/deno-gateway.test.ts runs them against `serveDeno`; the
 * Workers runner runs the same function against a Worker. Runtime-agnostic by construction:
 * it needs only the gateway's URLs and pin, a WebSocket constructor, and the recording origin.
 *
 * The gateway under test MUST be configured with `suiteRoutes(origin.url, deadUrl)` and with
 * the handshake / idle timeouts it reports in the target (SUITE_LIMITS are good values).
 */
import assert from "node:assert/strict";
import { connect, PinMismatchError } from "../../src/client/mod.ts";
import type { RouteConfig } from "../../src/proxy/routes.ts";
import { checksumUpdate, patternByte, type RecordingOrigin } from "./recording-origin.ts";

export interface GatewayTarget {
  /** Shown in step names, e.g. "deno" or "workers". */
  name: string;
  /** Channel endpoint, e.g. ws://127.0.0.1:8787/pqgate. */
  wsUrl: string;
  /** HTTP base of the gateway app (/.well-known/pqgate, /healthz live under it). */
  httpUrl: string;
  /** Pin of a live gateway key. */
  pin: string;
  /** The gateway's configured handshake and idle timeouts (keep them small: ~1-2 s). */
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  /** WebSocket constructor for the client and raw sockets (default: globalThis.WebSocket). */
  WebSocket?: typeof WebSocket;
  /** Scenario names to skip on this platform, with the reason in the runner. */
  skip?: readonly string[];
  /** Memory probe for the 50 MiB scenarios (default: Deno.memoryUsage().rss when present). */
  rss?: () => number;
}

/** Authorities the suite's requests use; `suiteRoutes` maps them. */
export const SUITE_HOSTS = {
  origin: "origin.test",
  bulk: "bulk.test",
  slow: "slow.test",
  down: "down.test",
  forbidden: "not-routed.test",
  /** Same origin as `origin`, with the route's `forwardedHost` on. */
  forwarded: "fwd.test:8443",
} as const;

/** Per-route origin timeout of slow.test (→ 504). */
export const SUITE_SLOW_TIMEOUT_MS = 500;

export const SUITE_LIMITS = { handshakeTimeoutMs: 1000, idleTimeoutMs: 2000 } as const;

/**
 * The route table the gateway under test must use. `deadUrl` must refuse connections. The
 * 50 MiB scenarios go to the origin's `directUrl` (no counting front in between).
 */
export function suiteRoutes(
  origin: Pick<RecordingOrigin, "url" | "directUrl">,
  deadUrl: string,
): RouteConfig[] {
  return [
    { match: { authority: SUITE_HOSTS.origin }, origin: origin.url },
    { match: { authority: SUITE_HOSTS.bulk }, origin: origin.directUrl },
    {
      match: { authority: SUITE_HOSTS.slow },
      origin: origin.url,
      timeoutMs: SUITE_SLOW_TIMEOUT_MS,
    },
    { match: { authority: SUITE_HOSTS.down }, origin: deadUrl },
    { match: { authority: SUITE_HOSTS.forwarded }, origin: origin.url, forwardedHost: true },
  ];
}

export const MIB = 1024 * 1024;
export const BIG_BYTES = 50 * MIB;
/**
 * Bytes allowed "in flight" between producer and consumer in the 50 MiB scenarios. A gateway
 * that buffered whole bodies would reach 50 MiB. What is in flight on loopback is mostly the
 * kernel's socket buffers between origin and gateway (Linux autotunes them to several MiB);
 * the channel itself holds at most one 64 KiB stream window plus the 1 MiB socket high-water.
 */
export const MAX_LAG_BYTES = 16 * MIB;
/** rss growth allowed during a 50 MiB scenario (includes not-yet-collected garbage). */
export const MAX_RSS_GROWTH = 40 * MIB;

type Step = (name: string, fn: () => Promise<void>) => Promise<unknown>;

/**
 * Runs every scenario as a step of `t` (a Deno.TestContext, or anything with `step`).
 * The origin is `reset()` before each scenario.
 */
export async function runGatewaySuite(
  target: GatewayTarget,
  origin: RecordingOrigin,
  t: { step: Step },
): Promise<void> {
  const WS = target.WebSocket ?? globalThis.WebSocket;
  const url = (host: string, path: string) => `https://${host}${path}`;
  const open = () => connect(target.wsUrl, { pin: target.pin, WebSocket: WS });
  const rss = target.rss ??
    ((globalThis as { Deno?: { memoryUsage?: () => { rss: number } } }).Deno?.memoryUsage
      ? () => Deno.memoryUsage().rss
      : null);

  const scenario = async (name: string, fn: () => Promise<void>) => {
    if (target.skip?.includes(name)) return;
    await t.step(`${target.name}: ${name}`, async () => {
      origin.reset();
      await fn();
    });
  };

  await scenario("key configuration, health check and 426", async () => {
    const kc = await (await fetch(`${target.httpUrl}/.well-known/pqgate`)).json();
    assert.equal(kc.version, 1);
    assert.ok(Array.isArray(kc.suites) && kc.suites.length > 0);
    assert.ok(kc.keys.some((k: { pin: string }) => k.pin === target.pin));
    for (const k of kc.keys) {
      assert.match(k.key_id, /^[0-9a-f]{16}$/);
      assert.equal(k.kem, "X-Wing");
      assert.match(k.public_key, /^[A-Za-z0-9_-]{1622}$/); // 1216 bytes
    }
    const h = await fetch(`${target.httpUrl}/healthz`);
    assert.equal(h.status, 200);
    await h.body?.cancel();
    const plain = await fetch(target.wsUrl.replace(/^ws/, "http"));
    assert.equal(plain.status, 426);
    await plain.body?.cancel();
    assert.equal(origin.connections, 0);
  });

  await scenario("GET and POST JSON", async () => {
    const ch = await open();
    try {
      const get = await ch.fetch(url(SUITE_HOSTS.origin, "/hello"));
      assert.equal(get.status, 200);
      assert.deepEqual(await get.json(), { hello: "world" });
      const post = await ch.fetch(url(SUITE_HOSTS.origin, "/echo"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ a: 1, b: ["x", "ü"] }),
      });
      assert.equal(post.status, 200);
      assert.deepEqual(await post.json(), {
        method: "POST",
        contentType: "application/json",
        json: { a: 1, b: ["x", "ü"] },
      });
      assert.deepEqual(origin.requests.map((r) => `${r.method} ${r.path}`), [
        "GET /hello",
        "POST /echo",
      ]);
    } finally {
      ch.close();
    }
  });

  await scenario("20 concurrent requests on one channel", async () => {
    const ch = await open();
    try {
      const ns = Array.from({ length: 20 }, (_, i) => i + 1);
      const results = await Promise.all(ns.map(async (n) => {
        const r = await ch.fetch(url(SUITE_HOSTS.origin, `/item/${n}`));
        return { n, header: r.headers.get("x-item"), body: await r.json() };
      }));
      for (const { n, header, body } of results) {
        assert.equal(header, String(n));
        assert.deepEqual(body, { n });
      }
      assert.equal(origin.requests.length, 20);
    } finally {
      ch.close();
    }
  });

  await scenario("50 MiB streamed upload with bounded buffering", async () => {
    const ch = await open();
    try {
      const rss0 = rss?.() ?? 0;
      let peakRss = rss0;
      let produced = 0;
      let maxLag = 0;
      let expected = 0;
      const chunkSize = 64 * 1024;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (produced >= BIG_BYTES) return c.close();
          maxLag = Math.max(maxLag, produced - origin.uploadReceived);
          if (rss && (produced & (4 * MIB - 1)) === 0) peakRss = Math.max(peakRss, rss());
          const n = Math.min(chunkSize, BIG_BYTES - produced);
          const chunk = new Uint8Array(n);
          for (let i = 0; i < n; i++) chunk[i] = patternByte(produced + i);
          expected = checksumUpdate(expected, chunk, produced);
          produced += n;
          c.enqueue(chunk);
        },
      }, { highWaterMark: 0 });
      const res = await ch.fetch(url(SUITE_HOSTS.bulk, "/upload"), {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body,
        duplex: "half",
      } as RequestInit);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { bytes: BIG_BYTES, checksum: expected });
      const growth = peakRss - rss0;
      console.log(
        `    upload: max in flight ${(maxLag / MIB).toFixed(2)} MiB, rss growth ${
          (growth / MIB).toFixed(1)
        } MiB`,
      );
      assert.ok(maxLag < MAX_LAG_BYTES, `producer ran ${maxLag} bytes ahead of the origin`);
      assert.ok(growth < MAX_RSS_GROWTH, `rss grew by ${growth} bytes`);
    } finally {
      ch.close();
    }
  });

  await scenario("50 MiB streamed download with bounded buffering", async () => {
    const ch = await open();
    try {
      const rss0 = rss?.() ?? 0;
      let peakRss = rss0;
      const res = await ch.fetch(url(SUITE_HOSTS.bulk, `/download?bytes=${BIG_BYTES}`));
      assert.equal(res.status, 200);
      let consumed = 0;
      let maxLag = 0;
      let bad = -1;
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let i = 0; i < value.length && bad < 0; i++) {
          if (value[i] !== patternByte(consumed + i)) bad = consumed + i;
        }
        consumed += value.length;
        maxLag = Math.max(maxLag, origin.downloadProduced - consumed);
        if (rss && (consumed & (4 * MIB - 1)) < value.length) peakRss = Math.max(peakRss, rss());
      }
      assert.equal(bad, -1, `byte ${bad} differs`);
      assert.equal(consumed, BIG_BYTES);
      const growth = peakRss - rss0;
      console.log(
        `    download: max in flight ${(maxLag / MIB).toFixed(2)} MiB, rss growth ${
          (growth / MIB).toFixed(1)
        } MiB`,
      );
      assert.ok(maxLag < MAX_LAG_BYTES, `origin ran ${maxLag} bytes ahead of the client`);
      assert.ok(growth < MAX_RSS_GROWTH, `rss grew by ${growth} bytes`);
    } finally {
      ch.close();
    }
  });

  await scenario("origin 500 is passed through", async () => {
    const ch = await open();
    try {
      const r = await ch.fetch(url(SUITE_HOSTS.origin, "/status/500"));
      assert.equal(r.status, 500);
      assert.equal(await r.text(), "status 500");
      assert.equal(r.headers.get("pqgate-error"), null, "an origin error is not a gateway error");
    } finally {
      ch.close();
    }
  });

  await scenario("origin down → 502", async () => {
    const ch = await open();
    try {
      const r = await ch.fetch(url(SUITE_HOSTS.down, "/hello"));
      assert.equal(r.status, 502);
      assert.equal(r.headers.get("pqgate-error"), "bad_gateway");
      assert.equal((await r.json()).error, "bad_gateway");
      // The channel survives a per-request failure.
      assert.equal((await ch.fetch(url(SUITE_HOSTS.origin, "/hello"))).status, 200);
    } finally {
      ch.close();
    }
  });

  await scenario("slow origin → 504", async () => {
    const ch = await open();
    try {
      const t0 = Date.now();
      const r = await ch.fetch(url(SUITE_HOSTS.slow, "/slow?ms=5000"));
      const took = Date.now() - t0;
      assert.equal(r.status, 504);
      assert.equal(r.headers.get("pqgate-error"), "gateway_timeout");
      await r.body?.cancel();
      assert.ok(took >= SUITE_SLOW_TIMEOUT_MS * 0.9 && took < 4000, `504 after ${took} ms`);
    } finally {
      ch.close();
    }
  });

  await scenario("target not in the route table → 403, no origin connection", async () => {
    const ch = await open();
    try {
      for (const path of ["/hello", "/admin"]) {
        const r = await ch.fetch(url(SUITE_HOSTS.forbidden, path), { method: "POST", body: "x" });
        assert.equal(r.status, 403);
        assert.equal(r.headers.get("pqgate-error"), "forbidden");
        assert.deepEqual(await r.json(), { error: "forbidden", status: 403 });
      }
      // A routed host with a hostile absolute-form-looking path is refused too.
      const r2 = await ch.fetch(
        `https://${SUITE_HOSTS.forbidden}:443//${SUITE_HOSTS.origin}/hello`,
      );
      assert.equal(r2.status, 403);
      await r2.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(origin.connections, 0, "the gateway connected to the origin");
      assert.equal(origin.requests.length, 0);
    } finally {
      ch.close();
    }
  });

  await scenario("hop-by-hop headers stripped, Forwarded set by the gateway", async () => {
    const ch = await open();
    try {
      const r = await ch.fetch(url(SUITE_HOSTS.origin, "/headers"), {
        headers: {
          "connection": "x-secret-hop, keep-alive",
          "x-secret-hop": "must not reach the origin",
          "keep-alive": "timeout=5",
          "proxy-authorization": "Basic c2VjcmV0",
          "x-forwarded-for": "6.6.6.6",
          "forwarded": "for=6.6.6.6",
          "x-real-ip": "6.6.6.6",
          "pqgate-suite": "forged",
          "x-end-to-end": "kept",
        },
      });
      assert.equal(r.status, 200);
      const seen: Record<string, string> = await r.json();
      for (
        const h of ["connection", "x-secret-hop", "keep-alive", "proxy-authorization", "x-real-ip"]
      ) {
        assert.equal(seen[h], undefined, `${h} reached the origin`);
      }
      assert.equal(seen["x-end-to-end"], "kept");
      assert.match(seen["forwarded"], /^for=(127\.0\.0\.1|"\[::1\]"|unknown|[0-9.]+);proto=https$/);
      assert.ok(
        !JSON.stringify(seen).includes("6.6.6.6"),
        "a client-supplied forwarding header reached the origin",
      );
      assert.match(seen["pqgate-suite"], /^0x000[12]$/);
      assert.match(seen["pqgate-session"], /^[0-9a-f]{32}$/);
      assert.equal(seen["host"], new URL(origin.url).host);
    } finally {
      ch.close();
    }
  });

  await scenario(
    "forwardedHost: the origin learns the client's host; other routes do not",
    async () => {
      const ch = await open();
      try {
        const on: Record<string, string> =
          await (await ch.fetch(url(SUITE_HOSTS.forwarded, "/headers"))).json();
        assert.equal(on["x-forwarded-host"], SUITE_HOSTS.forwarded);
        assert.match(on["forwarded"], /;host="fwd\.test:8443";proto=https$/);
        assert.equal(on["host"], new URL(origin.url).host);
        const off: Record<string, string> =
          await (await ch.fetch(url(SUITE_HOSTS.origin, "/headers"), {
            headers: { "x-forwarded-host": "evil.example" },
          })).json();
        assert.equal(off["x-forwarded-host"], undefined);
      } finally {
        ch.close();
      }
    },
  );

  await scenario(
    "a body of known length reaches the origin with content-length, never chunked",
    async () => {
      const ch = await open();
      try {
        const bodies: [string, BodyInit, number | null][] = [
          ["bytes 1000", new Uint8Array(1000).fill(7), 1000],
          ["string", "é".repeat(500), 1000],
          ["blob 1 MiB", new Blob([new Uint8Array(MIB).fill(3)]), MIB],
          ["ArrayBuffer 3 MiB", new Uint8Array(3 * MIB).buffer, 3 * MIB],
          ["empty", new Uint8Array(0), 0],
          ["stream (length unknown)", new Blob([new Uint8Array(200_000)]).stream(), null],
        ];
        for (const [label, body, length] of bodies) {
          origin.reset();
          const init: RequestInit & { duplex?: string } = { method: "POST", body };
          if (body instanceof ReadableStream) init.duplex = "half";
          const r = await ch.fetch(url(SUITE_HOSTS.bulk, "/upload"), init);
          assert.equal(r.status, 200, label);
          const got = await r.json() as { bytes: number };
          const seen = origin.requests.at(-1)!.headers;
          if (length === null) {
            assert.equal(got.bytes, 200_000, label);
            assert.equal(seen["content-length"], undefined, label);
            assert.equal(seen["transfer-encoding"], "chunked", label);
          } else {
            assert.equal(got.bytes, length, label);
            assert.equal(
              seen["content-length"],
              String(length),
              `${label}: ${JSON.stringify(seen)}`,
            );
            assert.equal(seen["transfer-encoding"], undefined, label);
          }
        }
      } finally {
        ch.close();
      }
    },
  );

  await scenario("wrong pin → PinMismatchError", async () => {
    const wrong = "sha256:" + "A".repeat(43);
    await assert.rejects(
      connect(target.wsUrl, { pin: wrong, WebSocket: WS }),
      (e) => e instanceof PinMismatchError,
    );
    assert.equal(origin.connections, 0);
  });

  await scenario("handshake timeout → close 4000", async () => {
    const t0 = Date.now();
    const { code, at } = await rawSocketClose(WS, target.wsUrl, () => {/* send nothing */});
    const took = at - t0;
    assert.equal(code, 4000);
    assert.ok(
      took >= target.handshakeTimeoutMs * 0.8 && took < target.handshakeTimeoutMs + 3000,
      `closed after ${took} ms`,
    );
  });

  await scenario("idle timeout → close 4008", async () => {
    // A client whose socket goes mute after the handshake (ClientHello + ClientFinished): it
    // never answers the gateway's PING, so the gateway closes with idle_timeout.
    const closes: number[] = [];
    const Muted = muteAfter(WS, 2, (code) => closes.push(code));
    const ch = await connect(target.wsUrl, { pin: target.pin, WebSocket: Muted });
    const t0 = Date.now();
    try {
      while (closes.length === 0 && Date.now() - t0 < target.idleTimeoutMs + 5000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const took = Date.now() - t0;
      assert.deepEqual(closes, [4008]);
      assert.ok(
        took >= target.idleTimeoutMs * 0.8 && took < target.idleTimeoutMs + 3000,
        `closed after ${took} ms`,
      );
      assert.equal(ch.connected, false);
    } finally {
      ch.close();
    }
  });
}

/** Opens a raw WebSocket, runs `onOpen`, resolves with the close code the gateway sent. */
function rawSocketClose(
  WS: typeof WebSocket,
  wsUrl: string,
  onOpen: (ws: WebSocket) => void,
): Promise<{ code: number; at: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WS(wsUrl);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => reject(new Error("no close within 15 s")), 15_000);
    ws.onopen = () => onOpen(ws);
    ws.onclose = (e) => {
      clearTimeout(timer);
      resolve({ code: e.code, at: Date.now() });
    };
    ws.onerror = () => {/* close follows */};
  });
}

/**
 * A WebSocket class whose `send` silently drops everything after the first `n` messages;
 * `onClose` sees the close code of every instance.
 */
export function muteAfter(
  WS: typeof WebSocket,
  n: number,
  onClose: (code: number) => void,
): typeof WebSocket {
  return class MutedWebSocket extends WS {
    #sent = 0;
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener("close", (e) => onClose((e as CloseEvent).code));
    }
    override send(data: Parameters<WebSocket["send"]>[0]): void {
      if (this.#sent++ < n) super.send(data);
    }
  } as typeof WebSocket;
}
