/**
 * The metrics sink's label bounds (prom-metrics.ts, docs/operations.md "Metrics"): whatever
 * key ids, close codes, routes and statuses events carry, the series count stays bounded, and
 * the exposition parses with a kept parser.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { createPromMetrics, MAX_KEY_ID_LABELS } from "./prom-metrics.ts";

type Family = { name: string; metrics: { labels?: Record<string, string>; value?: string }[] };
const parse = parsePrometheusTextFormat as (t: string) => Family[];

Deno.test("prom metrics: key_id and close_code labels are bounded whatever clients send", async () => {
  const m = await createPromMetrics({ keyIds: ["aa00aa00aa00aa00"], processMetrics: false });
  m.allowKeyIds(Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(16, "0")));
  for (let i = 0; i < 500; i++) {
    m.log("handshake", {
      result: i % 2 ? "ok" : "failed",
      // A client may close with any code from 1000 to 4999.
      closeCode: i % 2 ? 0 : 1000 + i * 7,
      error: null,
      ms: 3,
      keyId: i % 2 ? i.toString(16).padStart(16, "0") : null,
      suite: 1,
    });
  }
  const fams = parse(await m.metrics());
  const hs = fams.find((f) => f.name === "pqgate_handshakes_total")!;
  const keys = new Set(hs.metrics.map((x) => x.labels!.key_id));
  const codes = new Set(hs.metrics.map((x) => x.labels!.close_code));
  assert.ok(keys.size <= MAX_KEY_ID_LABELS + 2, `${keys.size} key_id values`); // + none, other
  assert.ok(keys.has("none") && keys.has("other"));
  assert.ok(codes.has("other"));
  assert.ok(codes.size <= 20 + 1, `${codes.size} close_code values`); // §9's 15 + 4 + 0 + other
  const total = hs.metrics.reduce((n, x) => n + Number(x.value), 0);
  assert.equal(total, 500, "every handshake is counted, under a bounded label set");
});

Deno.test("prom metrics: a reload counts and admits its keys' ids as labels; draining", async () => {
  const m = await createPromMetrics({ keyIds: ["1111111111111111"], processMetrics: false });
  const ok = (keyId: string) =>
    m.log("handshake", { result: "ok", closeCode: 0, error: null, ms: 1, keyId, suite: 1 });
  ok("2222222222222222"); // not configured yet: "other"
  const where = { file: "pqgate.json", setting: null, restartOnly: [] };
  m.log("gateway.reload", { ok: false, keyIds: [], error: "bad routes", ...where });
  m.log("gateway.reload", {
    ok: true,
    keyIds: ["1111111111111111", "2222222222222222"],
    error: null,
    ...where,
  });
  ok("2222222222222222");
  m.log("transport.draining", { channels: 3, deadlineMs: 10_000 });
  let fams = parse(await m.metrics());
  const by = (name: string) => fams.find((f) => f.name === name)!.metrics;
  assert.deepEqual(
    by("pqgate_handshakes_total").map((x) => [x.labels!.key_id, x.value]),
    [["other", "1"], ["2222222222222222", "1"]],
  );
  assert.deepEqual(by("pqgate_reloads_total").map((x) => [x.labels!.result, x.value]), [
    ["ok", "1"],
    ["refused", "1"],
  ]);
  assert.equal(by("pqgate_draining")[0].value, "1");
  m.log("transport.drained", { channels: 3, cut: 0, ms: 40 });
  fams = parse(await m.metrics());
  assert.equal(by("pqgate_draining")[0].value, "0");
});

Deno.test("prom metrics: requests by route and status class; refusals start at zero per reason", async () => {
  const m = await createPromMetrics({ processMetrics: false });
  const base = {
    sessionId: "s",
    stream: 1,
    method: "GET",
    gatewayError: null,
    bytesIn: 3,
    bytesOut: 5,
    ms: 1,
    originMs: 1,
    outcome: "complete" as const,
    authority: "api.example",
    path: "/secret?token=x",
    clientAddress: "198.51.100.1",
    authMethod: null,
  };
  for (const [route, status] of [["0", 200], ["0", 204], ["1", 503], ["none", 403], ["0", 0]]) {
    m.log("stream_open", { sessionId: "s", stream: 1 });
    m.log("request", { ...base, route: route as string, status: status as number });
  }
  const text = await m.metrics();
  for (const s of ["secret", "token", "api.example", "198.51.100.1"]) {
    assert.ok(!text.includes(s), `${s} in the exposition`);
  }
  const fams = parse(text);
  const req = fams.find((f) => f.name === "pqgate_requests_total")!;
  const series = Object.fromEntries(
    req.metrics.map((x) => [`${x.labels!.route} ${x.labels!.status_class}`, Number(x.value)]),
  );
  assert.deepEqual(series, { "0 2xx": 2, "1 5xx": 1, "none 4xx": 1, "0 none": 1 });
  assert.equal(Number(fams.find((f) => f.name === "pqgate_streams_open")!.metrics[0].value), 0);
  const refusals = fams.find((f) => f.name === "pqgate_refusals_total")!;
  assert.equal(refusals.metrics.length, 12);
  assert.ok(refusals.metrics.every((x) => x.value === "0"));
});

Deno.test("prom metrics: tunneled WebSockets by route and outcome, their messages and bytes", async () => {
  const m = await createPromMetrics({ processMetrics: false });
  const base = {
    sessionId: "s",
    route: "2",
    closeCode: 1000,
    by: "client" as const,
    messagesIn: 3,
    messagesOut: 4,
    bytesIn: 30,
    bytesOut: 40,
    ms: 10,
    peakHeld: 0,
  };
  m.log("websocket", { ...base, outcome: "closed" });
  m.log("websocket", { ...base, outcome: "stalled", closeCode: null });
  m.log("websocket", { ...base, outcome: "closed" });
  const fams = parse(await m.metrics());
  const ws = fams.find((f) => f.name === "pqgate_websockets_total")!;
  assert.deepEqual(
    Object.fromEntries(ws.metrics.map((x) => [`${x.labels!.route} ${x.labels!.outcome}`, x.value])),
    { "2 closed": "2", "2 stalled": "1" },
  );
  const msgs = fams.find((f) => f.name === "pqgate_websocket_messages_total")!;
  assert.deepEqual(
    Object.fromEntries(msgs.metrics.map((x) => [x.labels!.direction, x.value])),
    { in: "9", out: "12" },
  );
  const bytes = fams.find((f) => f.name === "pqgate_websocket_bytes_total")!;
  assert.deepEqual(
    Object.fromEntries(bytes.metrics.map((x) => [x.labels!.direction, x.value])),
    { in: "90", out: "120" },
  );
});
