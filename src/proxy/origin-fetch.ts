/**
 * The gateway's default origin fetch: the platform `fetch`, except for one case Deno's fetch
 * gets wrong for a proxy. Deno frames every streamed request body as
 * `transfer-encoding: chunked` and ignores a content-length field, so a large upload whose
 * length the client declared would reach the origin chunked (fixed-length-body.ts handles
 * the small ones and Workers). For a streamed body WITH a content-length field, on Deno, this
 * sends the request with `node:http(s)`, which frames it with that length. Everything else,
 * and every other runtime, uses `fetch` (Node's fetch honours the field itself).
 *
 * The node path behaves as the gateway's fetch does: no redirects followed, the request's
 * signal aborts it (before and after the response head), gzip and br response bodies are
 * decoded (headers.ts drops their content-encoding, as for fetch), and errors reject (502).
 * Node built-ins are reached through `process.getBuiltinModule`, so bundles for runtimes
 * without them (browsers, Workers) never import them.
 */
import type * as NodeHttp from "node:http";
import type * as NodeStream from "node:stream";
import type * as NodeZlib from "node:zlib";

type Builtins = {
  http: typeof NodeHttp;
  https: typeof NodeHttp; // request() has the same shape
  stream: typeof NodeStream;
  zlib: typeof NodeZlib;
};

function builtins(): Builtins | null {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (typeof p?.getBuiltinModule !== "function") return null;
  const get = p.getBuiltinModule;
  return {
    http: get("node:http") as typeof NodeHttp,
    https: get("node:https") as typeof NodeHttp,
    stream: get("node:stream") as typeof NodeStream,
    zlib: get("node:zlib") as typeof NodeZlib,
  };
}

/** True on Deno: the one runtime whose fetch drops content-length on a streamed body. */
const FETCH_DROPS_STREAM_LENGTH = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** Sends `request` (streamed body, content-length set) with node:http(s). */
export function nodeHttpFetch(request: Request, b: Builtins): Promise<Response> {
  const url = new URL(request.url);
  const mod = url.protocol === "https:" ? b.https : b.http;
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => (headers[k] = v));
  const method = request.method;
  return new Promise<Response>((resolve, reject) => {
    const req = mod.request(url, { method, headers, signal: request.signal }, (res) => {
      const h = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
        h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      }
      const status = res.statusCode ?? 0;
      // 1xx never gets here as a Response: the constructor refuses it (502 below).
      if (method === "HEAD" || status === 204 || status === 205 || status === 304) {
        res.resume();
        return settle(() =>
          new Response(null, { status, statusText: res.statusMessage, headers: h })
        );
      }
      const encoding = (h.get("content-encoding") ?? "").trim().toLowerCase();
      const decoder = encoding === "gzip"
        ? b.zlib.createGunzip()
        : encoding === "br"
        ? b.zlib.createBrotliDecompress()
        : null;
      let source: NodeStream.Readable = res;
      if (decoder) {
        b.stream.pipeline(res, decoder, () => {}); // errors surface on the web stream below
        source = decoder;
      }
      const body = b.stream.Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
      settle(() => new Response(body, { status, statusText: res.statusMessage, headers: h }));
    });
    let done = false;
    function settle(make: () => Response): void {
      if (done) return;
      done = true;
      try {
        resolve(make());
      } catch (e) {
        req.destroy();
        reject(e); // e.g. a status fetch refuses (1xx): a bad gateway
      }
    }
    req.on("error", (e) => {
      if (done) return;
      done = true;
      reject(e);
    });
    void (async () => {
      const reader = request.body!.getReader();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          if (!req.write(r.value)) {
            await new Promise<void>((ok) => {
              const go = () => {
                req.off("drain", go);
                req.off("close", go);
                ok();
              };
              req.on("drain", go);
              req.on("close", go);
            });
          }
          if (req.destroyed) return void reader.cancel().catch(() => {});
        }
        req.end();
      } catch (e) {
        req.destroy(e as Error);
      }
    })();
  });
}

/**
 * `platformOriginFetch` for a URL and an init (forward.ts `fetchUrl`): the platform fetch
 * without a `Request` made first, except where `platformOriginFetch` takes the node:http path
 * (Deno, a body, a content-length field), which gets the same `Request` as before.
 */
export function platformOriginFetchUrl(
  url: string,
  init: RequestInit & { duplex?: "half" },
): Promise<Response> {
  if (FETCH_DROPS_STREAM_LENGTH && init.body != null && declaresLength(init.headers)) {
    return platformOriginFetch(new Request(url, init));
  }
  return fetch(url, init);
}

function declaresLength(h: HeadersInit | undefined): boolean {
  if (h === undefined) return false;
  if (h instanceof Headers) return h.has("content-length");
  if (Array.isArray(h)) return h.some(([n]) => String(n).toLowerCase() === "content-length");
  return Object.keys(h).some((n) => n.toLowerCase() === "content-length");
}

/** The default `fetch` for origin calls (create-gateway.ts). */
export function platformOriginFetch(request: Request): Promise<Response> {
  // Order matters: reading `request.body` turns a byte body into a stream in Deno, which its
  // fetch then frames chunked. Only requests with a content-length field are looked at.
  if (FETCH_DROPS_STREAM_LENGTH && request.headers.has("content-length") && request.body !== null) {
    const b = builtins();
    if (b) return nodeHttpFetch(request, b);
  }
  return fetch(request);
}
