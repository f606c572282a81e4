/**
 * Metrics and logs end to end on Deno: a real serveDeno gateway whose `log` feeds both sinks of
 * the observation seam (the JSON-line writer and prom-client), the metrics listener on its own
 * port, the real client. The scrape is parsed with parse-prometheus-text-format (a kept
 * parser, not a regex) before and after a scripted session: a handshake, requests answered
 * 2xx / 4xx / 5xx, a refused page origin, a refused handshake (unknown key), and the close.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { connect } from "../../src/client/mod.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { createLogWriter } from "../../src/gateway/log-writer.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { startMetricsListener } from "../../src/transport/observe/metrics-listener.ts";
import { createPromMetrics } from "../../src/transport/observe/prom-metrics.ts";
import { teeLogs } from "../../src/tunnel/events.ts";
import { toHex } from "../../src/protocol/bytes.ts";
import { channelUrl } from "./loopback.ts";
import http from "node:http";
import {
  HELLO_PARAM,
  HELLO_SUBPROTOCOL,
  MAX_HELLO_PARAM_LEN,
} from "../../src/tunnel/client-hello.ts";

/** The status of a raw WebSocket upgrade request (node:http: fetch cannot send Upgrade). */
function upgradeStatus(base: string, path: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-protocol": HELLO_SUBPROTOCOL,
      },
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("upgrade", (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on("error", reject);
    req.end();
  });
}

interface Family {
  name: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    count?: string;
    buckets?: Record<string, string>;
  }[];
}

async function scrape(url: string): Promise<Family[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return (parsePrometheusTextFormat as (t: string) => Family[])(await res.text());
}

/**
 * The sum of the series matching `labels` (0 when absent). A histogram's value is its +Inf
 * bucket: parse-prometheus-text-format 1.1.1 flattens a labelled histogram into its buckets
 * (labels, sum and count dropped), so a histogram is read only where one label set exists.
 */
function value(fams: Family[], name: string, labels: Record<string, string> = {}): number {
  const f = fams.find((x) => x.name === name);
  if (!f) return 0;
  let sum = 0;
  for (const m of f.metrics) {
    const l = m.labels ?? {};
    if (m.buckets) sum += Number(m.buckets["+Inf"]);
    else if (Object.entries(labels).every(([k, v]) => l[k] === v)) sum += Number(m.value);
  }
  return sum;
}

Deno.test({
  name: "e2e: a scripted session moves the scraped metrics; access lines carry no paths",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const keyId = toHex(key.keyId);
    const metrics = await createPromMetrics({ keyIds: [keyId] });
    const lines: string[] = [];
    const logs = createLogWriter({ level: "info", write: (l) => lines.push(l) });
    const gateway = createGateway({
      keys: key,
      routes: [{ match: { authority: "api" }, origin: "service:api" }],
      services: {
        api: (req) => {
          const status = Number(new URL(req.url).pathname.slice(1)) || 200;
          return new Response(`status ${status}`, { status });
        },
      },
      allowedOrigins: ["https://app.example"],
      log: teeLogs(logs, metrics.log),
    });
    await gateway.cryptoReport();
    const server = serveDeno({ gateway, port: 0 });
    const listener = await startMetricsListener({
      hostname: "127.0.0.1",
      port: 0,
      metrics: metrics.metrics,
      contentType: metrics.contentType,
    });
    const url = `http://127.0.0.1:${listener.addr.port}/metrics`;
    try {
      const before = await scrape(url);
      assert.equal(value(before, "pqgate_handshakes_total"), 0);
      assert.equal(value(before, "pqgate_refusals_total", { reason: "origin_not_allowed" }), 0);
      assert.ok(before.some((f) => f.name === "process_cpu_seconds_total"), "process metrics");
      assert.equal(
        value(before, "pqgate_crypto_backend_info", {
          mlkem: (await gateway.cryptoReport()).mlkem,
        }),
        1,
      );

      const ch = await connect(channelUrl(server.url), { pin: pinFor(key.publicKey) });
      for (const status of [200, 201, 404, 500, 503]) {
        const r = await ch.fetch(`https://api/${status}?token=SECRET-TOKEN`);
        assert.equal(r.status, status);
        await r.text();
      }
      const noRoute = await ch.fetch("https://elsewhere/x");
      assert.equal(noRoute.status, 403);
      await noRoute.text();

      const mid = await scrape(url);
      assert.equal(value(mid, "pqgate_handshakes_total", { result: "ok", key_id: keyId }), 1);
      assert.equal(value(mid, "pqgate_channels_open"), 1);
      assert.equal(value(mid, "pqgate_requests_total", { route: "0", status_class: "2xx" }), 2);
      assert.equal(value(mid, "pqgate_requests_total", { route: "0", status_class: "4xx" }), 1);
      assert.equal(value(mid, "pqgate_requests_total", { route: "0", status_class: "5xx" }), 2);
      assert.equal(value(mid, "pqgate_requests_total", { route: "none", status_class: "4xx" }), 1);
      assert.equal(value(mid, "pqgate_origin_duration_seconds"), 5); // route 0's only
      assert.equal(value(mid, "pqgate_handshake_duration_seconds"), 1);
      assert.ok(value(mid, "pqgate_request_body_bytes_total", { direction: "out" }) > 0);
      assert.equal(value(mid, "pqgate_streams_open"), 0);
      assert.ok(value(mid, "pqgate_key_last_used_timestamp_seconds", { key_id: keyId }) > 0);

      // A page origin that is not allowed: refused before the upgrade.
      const refused = await gateway.app.fetch(
        new Request(`${server.url}/pqgate`, {
          headers: { upgrade: "websocket", origin: "https://evil.example" },
        }),
      );
      assert.equal(refused.status, 403);
      await refused.text();
      // An upgrade URL carrying a hello longer than any ClientHello: 414 before the upgrade.
      assert.equal(
        await upgradeStatus(
          server.url,
          `/pqgate?${HELLO_PARAM}=${"A".repeat(MAX_HELLO_PARAM_LEN + 1)}`,
        ),
        414,
      );
      // A client pinning a key the gateway does not have: a failed handshake (4003).
      const other = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
      await assert.rejects(connect(channelUrl(server.url), { publicKey: other.publicKey }));

      ch.close();
      const deadline = Date.now() + 5000;
      let after = await scrape(url);
      while (
        (value(after, "pqgate_channels_open") !== 0 ||
          value(after, "pqgate_handshakes_total", { result: "failed" }) === 0) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 20));
        after = await scrape(url);
      }
      assert.equal(value(after, "pqgate_channels_open"), 0);
      assert.equal(value(after, "pqgate_channel_closes_total", { by: "client" }), 1);
      assert.ok(value(after, "pqgate_channel_bytes_total", { direction: "in" }) > 0);
      assert.equal(value(after, "pqgate_refusals_total", { reason: "origin_not_allowed" }), 1);
      assert.equal(value(after, "pqgate_refusals_total", { reason: "upgrade_hello" }), 1);
      // The failed handshake: unknown key id, 4003.
      assert.equal(
        value(after, "pqgate_handshakes_total", { result: "failed", close_code: "4003" }),
        1,
      );
      assert.equal(value(after, "pqgate_handshakes_total", { key_id: "none" }), 1);

      // The access lines: one per request, no path, no query, no token, no address.
      const access = lines.map((l) => JSON.parse(l)).filter((l) => l.event === "request");
      assert.equal(access.length, 6);
      const text = lines.join("\n");
      for (const secret of ["SECRET-TOKEN", "token=", "/404", "127.0.0.1", "elsewhere"]) {
        assert.ok(!text.includes(secret), `${secret} in the log`);
      }
    } finally {
      await listener.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "e2e: the metrics listener answers 404 elsewhere and POST /-/reload through onReload",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let reloads = 0;
    let fail = false;
    const listener = await startMetricsListener({
      hostname: "127.0.0.1",
      port: 0,
      metrics: () => Promise.resolve("# nothing\n"),
      contentType: "text/plain; version=0.0.4; charset=utf-8",
      onReload: () => {
        reloads++;
        if (fail) throw new Error("routes[0].origin: bad");
        return Promise.resolve({ status: 200, body: { reloaded: true, keyIds: ["ab"] } });
      },
    });
    const base = `http://127.0.0.1:${listener.addr.port}`;
    try {
      const nf = await fetch(`${base}/`);
      assert.equal(nf.status, 404);
      await nf.body?.cancel();
      const get = await fetch(`${base}/-/reload`);
      assert.equal(get.status, 405);
      await get.body?.cancel();
      const ok = await fetch(`${base}/-/reload`, { method: "POST" });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { reloaded: true, keyIds: ["ab"] });
      fail = true;
      const bad = await fetch(`${base}/-/reload`, { method: "POST" });
      assert.equal(bad.status, 500, "a rejected onReload answers 500");
      assert.deepEqual(await bad.json(), { error: "routes[0].origin: bad" });
      assert.equal(reloads, 2);
    } finally {
      await listener.close();
    }
  },
});
