/**
 * The metrics listener (`--metrics-listen 127.0.0.1:9464`, off by default): a node:http server
 * of its own, never the public channel port, serving
 *
 *   GET  /metrics   the Prometheus text exposition (prom-metrics.ts)
 *   POST /-/reload  the admin reload (`onReload`: re-read keys, routes and limits; its answer:
 *                   200 with the live key ids, or 4xx/5xx with the refusal's reason, as
 *                   src/cli/reload.ts gives them; 501 without `onReload`); 405 for other methods
 *
 * and 404 for anything else. It reads no request body (a POST's is ignored, at most 0 bytes are
 * buffered) and answers one request at a time per connection; headers are bounded by node:http
 * (16 KiB) and each request by `requestTimeout`. Bind it to loopback or a private interface: it
 * has no authentication (docs/operations.md "Metrics").
 */
import http from "node:http";

export interface MetricsListenerOptions {
  hostname: string;
  port: number;
  /** The exposition text and its content type. */
  metrics(): Promise<string>;
  contentType: string;
  /**
   * POST /-/reload: resolves with the status and JSON body to answer (200 once the new
   * configuration is live, 4xx/5xx with why it was refused). A rejection answers 500.
   */
  onReload?: () => Promise<{ status: number; body: Record<string, unknown> }>;
}

export interface MetricsListener {
  addr: { hostname: string; port: number };
  close(): Promise<void>;
}

export async function startMetricsListener(o: MetricsListenerOptions): Promise<MetricsListener> {
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body) + "\n");
  };
  const server = http.createServer(async (req, res) => {
    req.resume(); // no body is read
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (path === "/metrics") {
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.writeHead(405, { allow: "GET, HEAD" }).end();
          return;
        }
        const text = await o.metrics();
        res.writeHead(200, { "content-type": o.contentType, "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : text);
        return;
      }
      if (path === "/-/reload") {
        if (req.method !== "POST") {
          res.writeHead(405, { allow: "POST" }).end();
          return;
        }
        if (!o.onReload) return json(res, 501, { error: "reload is not available" });
        try {
          const answer = await o.onReload();
          return json(res, answer.status, answer.body);
        } catch (e) {
          return json(res, 500, { error: String((e as Error)?.message ?? e).slice(0, 500) });
        }
      }
      json(res, 404, { error: "not found", endpoints: ["/metrics", "/-/reload"] });
    } catch {
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    }
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  const addr = typeof a === "object" && a !== null
    ? { hostname: a.address, port: a.port }
    : { hostname: o.hostname, port: o.port };
  return {
    addr,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
