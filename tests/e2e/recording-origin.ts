/**
 * A real origin server for the end-to-end suite: `Deno.serve` on an ephemeral loopback port,
 * behind a tiny TCP front that counts every connection, so a test can assert that the gateway
 * opened NO connection at all (not merely sent no request). Every request is recorded.
 *
 * `url` goes through the counting front. `directUrl` reaches the server itself (no extra hop,
 * so the 50 MiB scenarios measure the gateway rather than a second pair of kernel socket
 * buffers); connections there are counted by their distinct remote ports.
 *
 * Endpoints (all under any path prefix-free origin):
 *   GET  /hello              → 200 {"hello":"world"}
 *   POST /echo               → 200 {"method","json","contentType"} (echoes a JSON body)
 *   GET  /item/:n            → 200 {"n":n} after a small pseudo-random delay (concurrency)
 *   GET  /headers            → 200 the request headers as a JSON object
 *   GET  /status/:code       → that status with body "status <code>"
 *   GET  /slow?ms=N          → 200 after N ms (or when the gateway gives up)
 *   POST /upload             → streams and counts the body → 200 {"bytes":n,"checksum":c}
 *   GET  /download?bytes=N   → N bytes produced on demand (pull-based, counted)
 */

export interface RecordedRequest {
  method: string;
  path: string; // pathname + search
  headers: Record<string, string>;
}

export interface RecordingOrigin {
  /** Base URL through the counting front, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** Base URL of the server itself (no front). */
  readonly directUrl: string;
  readonly port: number;
  /** TCP connections accepted so far (front accepts + direct connections). */
  readonly connections: number;
  readonly requests: readonly RecordedRequest[];
  /** Live counters for the streaming scenarios. */
  readonly uploadReceived: number;
  readonly downloadProduced: number;
  /** Forget recorded connections, requests and counters. */
  reset(): void;
  close(): Promise<void>;
}

/** Deterministic byte pattern shared by the upload/download scenarios and their checks. */
export function patternByte(i: number): number {
  return (i * 31 + (i >>> 13)) & 0xff;
}

/** Order-sensitive checksum of a byte stream, updated chunk by chunk. */
export function checksumUpdate(sum: number, chunk: Uint8Array, offset: number): number {
  let s = sum;
  for (let i = 0; i < chunk.length; i++) s = (s * 33 + chunk[i] + ((offset + i) & 7)) >>> 0;
  return s;
}

export function startRecordingOrigin(): Promise<RecordingOrigin> {
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const frontUpstreamPorts = new Set<number>();
  const directPorts = new Set<number>();
  let uploadReceived = 0;
  let downloadProduced = 0;
  const inflight = new Set<AbortController>();

  const inner = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      const url = new URL(req.url);
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      const remotePort = (info.remoteAddr as Deno.NetAddr).port;
      if (!frontUpstreamPorts.has(remotePort)) directPorts.add(remotePort);
      requests.push({ method: req.method, path: url.pathname + url.search, headers });
      const p = url.pathname;
      if (p === "/hello") return Response.json({ hello: "world" });
      if (p === "/echo" && req.method === "POST") {
        return Response.json({
          method: req.method,
          contentType: req.headers.get("content-type"),
          json: await req.json(),
        });
      }
      let m = /^\/item\/(\d+)$/.exec(p);
      if (m) {
        const n = Number(m[1]);
        await sleep((n * 7919) % 60);
        return Response.json({ n }, { headers: { "x-item": String(n) } });
      }
      if (p === "/headers") return Response.json(headers);
      m = /^\/status\/(\d{3})$/.exec(p);
      if (m) return new Response(`status ${m[1]}`, { status: Number(m[1]) });
      if (p === "/slow") {
        const ms = Number(url.searchParams.get("ms") ?? "5000");
        const ac = new AbortController();
        inflight.add(ac);
        await sleep(ms, ac.signal); // cut short by close()
        inflight.delete(ac);
        return Response.json({ slow: ms });
      }
      if (p === "/upload" && req.method === "POST") {
        let bytes = 0;
        let sum = 0;
        for await (const chunk of req.body ?? new ReadableStream<Uint8Array>()) {
          sum = checksumUpdate(sum, chunk, bytes);
          bytes += chunk.length;
          uploadReceived += chunk.length;
        }
        return Response.json({ bytes, checksum: sum });
      }
      if (p === "/download") {
        const total = Number(url.searchParams.get("bytes") ?? "0");
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= total) return controller.close();
            const n = Math.min(64 * 1024, total - sent);
            const chunk = new Uint8Array(n);
            for (let i = 0; i < n; i++) chunk[i] = patternByte(sent + i);
            sent += n;
            downloadProduced += n;
            controller.enqueue(chunk);
          },
        }, { highWaterMark: 0 });
        return new Response(body, {
          headers: { "content-type": "application/octet-stream", "content-length": String(total) },
        });
      }
      return new Response("not found", { status: 404 });
    },
  );

  // The TCP front: counts connections and pipes each one to the inner server.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const innerPort = inner.addr.port;
  const conns = new Set<Deno.Conn>();
  const acceptLoop = (async () => {
    for await (const conn of listener) {
      connections++;
      conns.add(conn);
      (async () => {
        let upstream: Deno.Conn | undefined;
        try {
          upstream = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
          frontUpstreamPorts.add((upstream.localAddr as Deno.NetAddr).port);
          conns.add(upstream);
          await Promise.allSettled([
            conn.readable.pipeTo(upstream.writable),
            upstream.readable.pipeTo(conn.writable),
          ]);
        } catch {
          // connection reset by either side
        } finally {
          for (const c of [conn, upstream]) {
            if (!c) continue;
            conns.delete(c);
            try {
              c.close();
            } catch { /* already closed */ }
          }
        }
      })();
    }
  })().catch(() => {});

  const port = (listener.addr as Deno.NetAddr).port;
  return Promise.resolve({
    url: `http://127.0.0.1:${port}`,
    directUrl: `http://127.0.0.1:${innerPort}`,
    port,
    get connections() {
      return connections + directPorts.size;
    },
    get requests() {
      return requests;
    },
    get uploadReceived() {
      return uploadReceived;
    },
    get downloadProduced() {
      return downloadProduced;
    },
    reset() {
      requests.length = 0;
      connections = 0;
      directPorts.clear();
      uploadReceived = 0;
      downloadProduced = 0;
    },
    async close() {
      for (const ac of inflight) ac.abort();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await acceptLoop;
      await inner.shutdown();
    },
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}
