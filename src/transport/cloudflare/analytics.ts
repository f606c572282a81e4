/**
 * The Workers sink of the observation seam (src/tunnel/events.ts): the same events the Deno
 * gateway counts in Prometheus, written as Workers Analytics Engine data points through an
 * optional binding (`PQGATE_ANALYTICS`, wrangler.toml `[[analytics_engine_datasets]]`). One
 * data point per event below; `index1` is the event name (the sampling key), `blob1` too.
 * The dataset schema (docs/operations.md "Workers: Analytics Engine" has the same table and queries):
 *
 *   event          blobs (blob1..)                                      doubles (double1..)
 *   handshake      event, result, close_code, key_id|"none", error|""   ms, close_code, suite|0
 *   channel_open   event, key_id|"none", mode                           suite
 *   channel_close  event, close_code, by, reason, key_id|"none"         lifetime_ms, bytes_in,
 *                                                                       bytes_out, requests,
 *                                                                       close_code
 *   request        event, route, status_class, method, gateway_error|"" status, ms,
 *                                                                       origin_ms (-1: none),
 *                                                                       bytes_in, bytes_out
 *   refused        event, reason                                        status
 *   crypto         event, mlkem, x25519, aes-256-gcm, chacha20-poly1305 ms
 *
 * No blob holds a path, an address or a session id (SECURITY.md). A data point is written with
 * `writeDataPoint`, which never blocks the request; a throwing binding is ignored (emit()).
 */
import type { EventFields, EventLog, EventName } from "../../tunnel/events.ts";

/** The binding's surface (Workers `AnalyticsEngineDataset`). */
export interface AnalyticsEngineDataset {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

/** The bindings' name for the dataset (wrangler.toml). */
export const ANALYTICS_BINDING = "PQGATE_ANALYTICS";

function statusClass(status: number): string {
  return status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : "none";
}

/** The sink writing to `dataset`, or undefined without one. */
export function analyticsLog(dataset: unknown): EventLog | undefined {
  const ds = dataset as AnalyticsEngineDataset | undefined;
  if (!ds || typeof ds.writeDataPoint !== "function") return undefined;
  const write = (event: string, blobs: string[], doubles: number[]) =>
    ds.writeDataPoint({ indexes: [event], blobs: [event, ...blobs], doubles });
  const on: { [E in EventName]?: (f: EventFields[E]) => void } = {
    handshake: (f) =>
      write("handshake", [f.result, String(f.closeCode), f.keyId ?? "none", f.error ?? ""], [
        f.ms,
        f.closeCode,
        f.suite ?? 0,
      ]),
    channel_open: (f) => write("channel_open", [f.keyId ?? "none", f.mode], [f.suite]),
    channel_close: (f) =>
      write("channel_close", [String(f.closeCode), f.by, f.reason, f.keyId ?? "none"], [
        f.lifetimeMs,
        f.bytesIn,
        f.bytesOut,
        f.requests,
        f.closeCode,
      ]),
    request: (f) =>
      write("request", [f.route, statusClass(f.status), f.method, f.gatewayError ?? ""], [
        f.status,
        f.ms,
        f.originMs ?? -1,
        f.bytesIn,
        f.bytesOut,
      ]),
    refused: (f) => write("refused", [f.reason], [f.status]),
    crypto: (f) =>
      write("crypto", [
        f.mlkem,
        f.x25519,
        f.aead["AES-256-GCM"] ?? "none",
        f.aead["ChaCha20-Poly1305"] ?? "none",
      ], [f.ms]),
  };
  const log: EventLog = (event, fields) => {
    const h = on[event] as ((f: unknown) => void) | undefined;
    if (h) h(fields);
  };
  log.wants = (event) => on[event] !== undefined;
  return log;
}
