/**
 * The metrics sink of the observation seam (src/tunnel/events.ts) on Deno and Node: the same
 * events as the log, counted with prom-client (a kept library: exposition format, histograms,
 * the process metrics of `collectDefaultMetrics`) and served by metrics-listener.ts. Loaded
 * with a dynamic import only when metrics are enabled, so neither the client, the Worker nor a
 * gateway without `--metrics-listen` loads prom-client.
 *
 * Every label has a bound (docs/operations.md "Metrics", SECURITY.md): `key_id` one of the
 * configured keys' ids or "none"; `route` a route table index, "none" or "gateway"; `close_code`
 * one of the codes of PROTOCOL.md §9 plus 1000/1001/1005/1006, else "other"; `reason` the closed
 * REFUSAL_REASONS; `status_class` 1xx..5xx or "none". No label ever holds a path, an address,
 * a session id or anything a client chooses freely.
 */
import { CLOSE_CODES } from "../../protocol/errors.ts";
import {
  type EventFields,
  type EventLog,
  type EventName,
  REFUSAL_REASONS,
} from "../../tunnel/events.ts";

export interface PromMetricsOptions {
  /** Hex ids of the configured keys: the only values `key_id` takes besides "none". */
  keyIds?: readonly string[];
  /** Add prom-client's default process metrics (default true). */
  processMetrics?: boolean;
  /** Metric name prefix (default "pqgate_"). */
  prefix?: string;
}

export interface PromMetrics {
  /** The sink to tee into createGateway's `log`. */
  log: EventLog;
  /** The exposition text. */
  metrics(): Promise<string>;
  /** Its content type (Prometheus text format 0.0.4). */
  contentType: string;
  /** Adds ids to the `key_id` allow-list (after a key reload). */
  allowKeyIds(ids: readonly string[]): void;
}

const KNOWN_CLOSE_CODES = new Set<number>([
  1000,
  1001,
  1005,
  1006,
  ...Object.values(CLOSE_CODES),
]);
/** Close codes as label values, made once. */
const CLOSE_LABELS = new Map<number, string>([...KNOWN_CLOSE_CODES].map((c) => [c, String(c)]));
const STATUS_CLASSES = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];
/** Keys beyond this many are counted under "other" (a reload loop cannot grow the label set). */
export const MAX_KEY_ID_LABELS = 64;

function closeLabel(code: number): string {
  return code === 0 ? "0" : CLOSE_LABELS.get(code) ?? "other";
}

function statusClass(status: number): string {
  return status >= 100 && status <= 599 ? STATUS_CLASSES[Math.floor(status / 100)] : "none";
}

/** Histogram buckets in seconds: handshakes (ms to s), origin latency (ms to a minute). */
const HANDSHAKE_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ORIGIN_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export async function createPromMetrics(o: PromMetricsOptions = {}): Promise<PromMetrics> {
  const client = (await import("prom-client")).default;
  const p = o.prefix ?? "pqgate_";
  const registry = new client.Registry();
  const registers = [registry];
  if (o.processMetrics !== false) client.collectDefaultMetrics({ register: registry });

  const keyIds = new Set<string>();
  const allowKeyIds = (ids: readonly string[]) => {
    for (const id of ids) if (keyIds.size < MAX_KEY_ID_LABELS) keyIds.add(id);
  };
  allowKeyIds(o.keyIds ?? []);
  const keyLabel = (id: string | null) => id === null ? "none" : keyIds.has(id) ? id : "other";

  const handshakes = new client.Counter({
    name: `${p}handshakes_total`,
    help:
      "Handshakes finished, by result, close code (0 = ok) and key id (none = anonymous or failed)",
    labelNames: ["result", "close_code", "key_id"],
    registers,
  });
  const handshakeSeconds = new client.Histogram({
    name: `${p}handshake_duration_seconds`,
    help: "Time from the WebSocket's session start to the end of the handshake",
    labelNames: ["result"],
    buckets: HANDSHAKE_BUCKETS,
    registers,
  });
  const keyLastUsed = new client.Gauge({
    name: `${p}key_last_used_timestamp_seconds`,
    help:
      "Unix time of the last handshake with this key id (to see when an old key can be retired)",
    labelNames: ["key_id"],
    registers,
  });
  const channelsOpen = new client.Gauge({
    name: `${p}channels_open`,
    help: "Established channels now open",
    registers,
  });
  const channelCloses = new client.Counter({
    name: `${p}channel_closes_total`,
    help: "Established channels closed, by close code and by whom (gateway or client)",
    labelNames: ["close_code", "by"],
    registers,
  });
  const channelBytes = new client.Counter({
    name: `${p}channel_bytes_total`,
    help: "WebSocket message bytes of closed channels, by direction (in = from clients)",
    labelNames: ["direction"],
    registers,
  });
  const streamsOpen = new client.Gauge({
    name: `${p}streams_open`,
    help: "Streams (requests in flight) now open on all channels",
    registers,
  });
  const requests = new client.Counter({
    name: `${p}requests_total`,
    help:
      "Requests finished, by route (table index, none = no route, gateway = refused by the gateway) and status class",
    labelNames: ["route", "status_class"],
    registers,
  });
  const requestBytes = new client.Counter({
    name: `${p}request_body_bytes_total`,
    help: "Request and response body bytes of finished requests (in = request bodies from clients)",
    labelNames: ["direction"],
    registers,
  });
  const originSeconds = new client.Histogram({
    name: `${p}origin_duration_seconds`,
    help: "Time from forwarding a request to the origin's response headers, by route",
    labelNames: ["route"],
    buckets: ORIGIN_BUCKETS,
    registers,
  });
  const websockets = new client.Counter({
    name: `${p}websockets_total`,
    help:
      "Tunneled WebSockets ended, by route and outcome (closed, origin_failed, client_reset, client_invalid, stalled)",
    labelNames: ["route", "outcome"],
    registers,
  });
  const websocketMessages = new client.Counter({
    name: `${p}websocket_messages_total`,
    help: "Messages of ended tunneled WebSockets, by direction (in = client to origin)",
    labelNames: ["direction"],
    registers,
  });
  const websocketBytes = new client.Counter({
    name: `${p}websocket_bytes_total`,
    help:
      "Message payload bytes of ended tunneled WebSockets, by direction (in = client to origin)",
    labelNames: ["direction"],
    registers,
  });
  const refusals = new client.Counter({
    name: `${p}refusals_total`,
    help: "Work refused by a limit or a policy, by reason",
    labelNames: ["reason"],
    registers,
  });
  for (const reason of REFUSAL_REASONS) refusals.inc({ reason }, 0);
  const backend = new client.Gauge({
    name: `${p}crypto_backend_info`,
    help: "The crypto backends in use (value 1): ML-KEM, X25519, SHA3 and the AEAD of each suite",
    labelNames: ["mlkem", "x25519", "sha3", "aes_256_gcm", "chacha20_poly1305"],
    registers,
  });

  const reloads = new client.Counter({
    name: `${p}reloads_total`,
    help:
      "Configuration reloads (SIGHUP, POST /-/reload), by result (ok, refused: the old one kept)",
    labelNames: ["result"],
    registers,
  });
  reloads.inc({ result: "ok" }, 0);
  reloads.inc({ result: "refused" }, 0);
  const draining = new client.Gauge({
    name: `${p}draining`,
    help: "1 while a graceful shutdown drains the open channels, else 0",
    registers,
  });

  const on: { [E in EventName]?: (f: EventFields[E]) => void } = {
    handshake(f) {
      const key = keyLabel(f.keyId);
      handshakes.inc({ result: f.result, close_code: closeLabel(f.closeCode), key_id: key });
      handshakeSeconds.observe({ result: f.result }, f.ms / 1000);
      if (f.result === "ok") keyLastUsed.set({ key_id: key }, Date.now() / 1000);
    },
    channel_open() {
      channelsOpen.inc();
    },
    channel_close(f) {
      channelsOpen.dec();
      channelCloses.inc({ close_code: closeLabel(f.closeCode), by: f.by });
      channelBytes.inc({ direction: "in" }, f.bytesIn);
      channelBytes.inc({ direction: "out" }, f.bytesOut);
    },
    stream_open() {
      streamsOpen.inc();
    },
    request(f) {
      streamsOpen.dec();
      requests.inc({ route: f.route, status_class: statusClass(f.status) });
      if (f.bytesIn > 0) requestBytes.inc({ direction: "in" }, f.bytesIn);
      if (f.bytesOut > 0) requestBytes.inc({ direction: "out" }, f.bytesOut);
      if (f.originMs !== null) originSeconds.observe({ route: f.route }, f.originMs / 1000);
    },
    refused(f) {
      refusals.inc({ reason: f.reason });
    },
    websocket(f) {
      websockets.inc({ route: f.route, outcome: f.outcome });
      websocketMessages.inc({ direction: "in" }, f.messagesIn);
      websocketMessages.inc({ direction: "out" }, f.messagesOut);
      websocketBytes.inc({ direction: "in" }, f.bytesIn);
      websocketBytes.inc({ direction: "out" }, f.bytesOut);
    },
    "gateway.reload"(f) {
      reloads.inc({ result: f.ok ? "ok" : "refused" });
      // The reloaded keys' ids become `key_id` label values (bounded by MAX_KEY_ID_LABELS).
      if (f.ok) allowKeyIds(f.keyIds);
    },
    "transport.draining"() {
      draining.set(1);
    },
    "transport.drained"() {
      draining.set(0);
    },
    crypto(f) {
      backend.reset();
      backend.set({
        mlkem: f.mlkem,
        x25519: f.x25519,
        sha3: f.sha3,
        aes_256_gcm: f.aead["AES-256-GCM"] ?? "none",
        chacha20_poly1305: f.aead["ChaCha20-Poly1305"] ?? "none",
      }, 1);
    },
  };
  const log: EventLog = (event, fields) => {
    const h = on[event] as ((f: unknown) => void) | undefined;
    if (h) h(fields);
  };
  log.wants = (event) => on[event] !== undefined;

  return {
    log,
    metrics: () => registry.metrics(),
    contentType: registry.contentType,
    allowKeyIds,
  };
}
