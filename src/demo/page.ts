/**
 * The demo page as a small Hono app, to mount next to the gateway:
 *
 *   GET /           the page (src/demo/page/index.html, with its config filled in)
 *   GET /demo.js    the page's script (src/demo/page/demo.js)
 *   GET /client.js  the browser build of the client library (a prebuilt file: see
 *                   src/gateway/client-bundle.ts)
 *   GET /pqgate-sw.js  the pqgate Service Worker (prebuilt too), when `serviceWorker` is given:
 *                   the page's "Service Worker mode" registers it (docs/service-worker.md)
 *
 * Platform-neutral: the bundle comes from `clientBundle()`, and the two page files from
 * `assets()` (default: readDemoPageAssets(), which reads them next to this module with
 * `fetch` of a file: URL, as Deno does; on Node pass a reader, as src/cli/demo-page.ts does).
 * Both are loaded on first use and cached; a failure is answered with 503 and tried again on
 * the next request. The npm package ships the page files in dist/pkg/demo/page/.
 *
 * Mount it at the root (the page loads ./client.js and ./demo.js relative to itself):
 *
 *   gateway.app.route("/", demoPageRoutes({ clientBundle, channelPath: gateway.channelPath }));
 */
import { Hono } from "hono";

export interface DemoPageAssets {
  /** index.html; its `__PQGATE_CONFIG__` placeholder receives the page config as JSON. */
  html: string;
  /** demo.js, the page's ES module. */
  script: string;
}

/** What `clientBundle` returns: the code alone, or the code and its source map. */
export type BundleSource = Uint8Array | string | {
  code: Uint8Array | string;
  map: Uint8Array | string | null;
};

export interface DemoPageOptions {
  /**
   * The browser client bundle (ESM), or `{ code, map }` with its source map (then served as
   * /client.js.map). Called once, on the first request for /client.js.
   */
  clientBundle: () => Promise<BundleSource> | BundleSource;
  /**
   * The Service Worker script (pqgate-sw.js), or `{ code, map }`; served at /pqgate-sw.js at the
   * page's origin (a worker's script must be same-origin with the pages it controls). Without
   * it the page's Service Worker mode says the worker is not available.
   */
  serviceWorker?: () => Promise<BundleSource> | BundleSource;
  /** Path of the gateway's channel endpoint, e.g. gateway.channelPath ("/pqgate"). */
  channelPath: string;
  /** Path of the key configuration. Default "/.well-known/pqgate". */
  keyConfigPath?: string;
  /** Origin the page's requests go to through the channel. Default "https://demo". */
  targetOrigin?: string;
  /** The page files. Default: readDemoPageAssets() (Deno: fetch of file: URLs). */
  assets?: () => Promise<DemoPageAssets> | DemoPageAssets;
  /** Told when the bundle or the assets fail to load (the response is a 503). */
  onError?: (what: "client.js" | "pqgate-sw.js" | "page", error: unknown) => void;
}

/** The directory of the page files (src/demo/page/; in the npm package dist/pkg/demo/page/). */
export const DEMO_PAGE_DIR: URL = new URL("./page/", import.meta.url);

/**
 * Reads the page files in DEMO_PAGE_DIR with `readText` (default: `fetch` of their file: URLs,
 * which Deno supports with --allow-read; Node's fetch does not: pass e.g.
 * `(url) => readFile(url, "utf8")` from node:fs/promises).
 */
export async function readDemoPageAssets(
  readText: (file: URL) => Promise<string> = fetchText,
): Promise<DemoPageAssets> {
  const [html, script] = await Promise.all([
    readText(new URL("index.html", DEMO_PAGE_DIR)),
    readText(new URL("demo.js", DEMO_PAGE_DIR)),
  ]);
  return { html, script };
}

async function fetchText(file: URL): Promise<string> {
  const res = await fetch(file);
  if (!res.ok) throw new Error(`cannot read ${file.pathname} (HTTP ${res.status})`);
  return await res.text();
}

/** A value loaded once; a failed load is forgotten so the next call tries again. */
function once<T>(load: () => Promise<T> | T): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => {
    if (!p) {
      p = Promise.resolve().then(load);
      p.catch(() => (p = null));
    }
    return p;
  };
}

/**
 * The page's CSP. connect-src: 'self' (the key configuration, the channel's ws: on the same
 * host) and, for the Service Worker mode, the target origin: a page's fetch is checked against
 * its CSP before the worker sees it. worker-src 'self': pqgate-sw.js.
 */
function pageCsp(targetOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'unsafe-inline'",
    `connect-src 'self' ${targetOrigin}`,
    "worker-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The worker's own CSP (a worker gets its policy from its script's response): its channel. */
const SW_CSP = [
  "default-src 'none'",
  "connect-src 'self'",
  "base-uri 'none'",
].join("; ");

const HTML = { "content-type": "text/html; charset=utf-8" };
const JS = { "content-type": "text/javascript; charset=utf-8" };
const SOURCE_MAP = { "content-type": "application/json; charset=utf-8" };

const COMMON_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // Served from memory, read at start: always revalidate so a restart shows a new build.
  "cache-control": "no-cache",
};

/** JSON that is safe inside <script type="application/json"> (no "</script>"). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(
    /&/g,
    "\\u0026",
  );
}

/** A bundle as served: the code, naming its map by the path the map is served under. */
async function withMapName(
  source: Promise<BundleSource> | BundleSource,
  mapPath: string,
): Promise<{ code: Uint8Array | string; map: Uint8Array | string | null }> {
  const b = await source;
  if (typeof b === "string" || b instanceof Uint8Array) return { code: b, map: null };
  if (b.map === null) return { code: b.code, map: null };
  const code = (typeof b.code === "string" ? b.code : new TextDecoder().decode(b.code)) +
    `\n//# sourceMappingURL=${mapPath}\n`;
  return { code, map: b.map };
}

function unavailable(what: string): Response {
  return new Response(`${what} is not available: see the gateway's log\n`, {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "5", ...COMMON_HEADERS },
  });
}

export function demoPageRoutes(opts: DemoPageOptions): Hono {
  if (typeof opts?.clientBundle !== "function") {
    throw new TypeError("demoPageRoutes: clientBundle must be a function");
  }
  if (typeof opts.channelPath !== "string" || !opts.channelPath.startsWith("/")) {
    throw new TypeError('demoPageRoutes: channelPath must be an absolute path like "/pqgate"');
  }
  const pageConfig = {
    channelPath: opts.channelPath,
    keyConfigPath: opts.keyConfigPath ?? "/.well-known/pqgate",
    targetOrigin: (opts.targetOrigin ?? "https://demo").replace(/\/$/, ""),
  };
  if (opts.serviceWorker !== undefined && typeof opts.serviceWorker !== "function") {
    throw new TypeError("demoPageRoutes: serviceWorker must be a function");
  }
  const csp = pageCsp(pageConfig.targetOrigin);
  const bundle = once(() => withMapName(opts.clientBundle(), "client.js.map"));
  const sw = opts.serviceWorker;
  const swBundle = sw ? once(() => withMapName(sw(), "pqgate-sw.js.map")) : null;
  const assets = once(async () => {
    const a = await (opts.assets ?? (() => readDemoPageAssets()))();
    if (!a.html.includes("__PQGATE_CONFIG__")) {
      throw new Error("index.html has no __PQGATE_CONFIG__ placeholder");
    }
    return {
      html: a.html.replace("__PQGATE_CONFIG__", () => scriptJson(pageConfig)),
      script: a.script,
    };
  });

  /**
   * One asset's route: `body` gives what to send, or null for an asset that has no source map
   * (404); a failure is reported to onError as `source` and answered 503 naming `what`.
   */
  const asset = (
    source: "client.js" | "pqgate-sw.js" | "page",
    what: string,
    headers: Record<string, string>,
    body: () => Promise<BodyInit | null>,
  ) =>
  async (): Promise<Response> => {
    try {
      const b = await body();
      if (b === null) {
        return new Response("no source map", { status: 404, headers: COMMON_HEADERS });
      }
      return new Response(b, { headers: { ...headers, ...COMMON_HEADERS } });
    } catch (e) {
      opts.onError?.(source, e);
      return unavailable(what);
    }
  };

  const page = async () => (await assets()).html;
  const script = async () => (await assets()).script;
  const clientCode = async () => (await bundle()).code as BodyInit;
  const clientMap = async () => (await bundle()).map as BodyInit | null;

  const app = new Hono();
  app.get("/", asset("page", "the demo page", { ...HTML, "content-security-policy": csp }, page));
  app.get("/demo.js", asset("page", "demo.js", JS, script));
  app.get(
    "/client.js",
    asset("client.js", "client.js (the browser client bundle)", JS, clientCode),
  );
  app.get("/client.js.map", asset("client.js", "client.js.map", SOURCE_MAP, clientMap));
  if (swBundle) {
    const swCode = async () => (await swBundle()).code as BodyInit;
    const swMap = async () => (await swBundle()).map as BodyInit | null;
    const swHeaders = { ...JS, "content-security-policy": SW_CSP };
    app.get(
      "/pqgate-sw.js",
      asset("pqgate-sw.js", "pqgate-sw.js (the service worker)", swHeaders, swCode),
    );
    app.get("/pqgate-sw.js.map", asset("pqgate-sw.js", "pqgate-sw.js.map", SOURCE_MAP, swMap));
  } else {
    const none = () =>
      new Response("no service worker here\n", { status: 404, headers: COMMON_HEADERS });
    app.get("/pqgate-sw.js", none);
    app.get("/pqgate-sw.js.map", none);
  }
  app.get("/favicon.ico", () => new Response(null, { status: 204 }));
  return app;
}
