/**
 * The demo page as a small Hono app, to mount next to the gateway:
 *
 *   GET /           the page (src/demo/page/index.html, with its config filled in)
 *   GET /demo.js    the page's script (src/demo/page/demo.js)
 *   GET /client.js  the browser build of the client library (a prebuilt file: see
 *                   src/gateway/client-bundle.ts)
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
  /** Path of the gateway's channel endpoint, e.g. gateway.channelPath ("/pqgate"). */
  channelPath: string;
  /** Path of the key configuration. Default "/.well-known/pqgate". */
  keyConfigPath?: string;
  /** Origin the page's requests go to through the channel. Default "https://demo". */
  targetOrigin?: string;
  /** The page files. Default: readDemoPageAssets() (Deno: fetch of file: URLs). */
  assets?: () => Promise<DemoPageAssets> | DemoPageAssets;
  /** Told when the bundle or the assets fail to load (the response is a 503). */
  onError?: (what: "client.js" | "page", error: unknown) => void;
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

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

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
  const bundle = once(async () => {
    const b = await opts.clientBundle();
    if (typeof b === "string" || b instanceof Uint8Array) return { code: b, map: null };
    if (b.map === null) return { code: b.code, map: null };
    // The bundle names its map by the path it is served under.
    const code = (typeof b.code === "string" ? b.code : new TextDecoder().decode(b.code)) +
      "\n//# sourceMappingURL=client.js.map\n";
    return { code, map: b.map };
  });
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

  const app = new Hono();
  app.get("/", async () => {
    try {
      const { html } = await assets();
      return new Response(html, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": CSP,
          ...COMMON_HEADERS,
        },
      });
    } catch (e) {
      opts.onError?.("page", e);
      return unavailable("the demo page");
    }
  });
  app.get("/demo.js", async () => {
    try {
      const { script } = await assets();
      return new Response(script, {
        headers: { "content-type": "text/javascript; charset=utf-8", ...COMMON_HEADERS },
      });
    } catch (e) {
      opts.onError?.("page", e);
      return unavailable("demo.js");
    }
  });
  app.get("/client.js", async () => {
    try {
      const { code } = await bundle();
      return new Response(code as BodyInit, {
        headers: { "content-type": "text/javascript; charset=utf-8", ...COMMON_HEADERS },
      });
    } catch (e) {
      opts.onError?.("client.js", e);
      return unavailable("client.js (the browser client bundle)");
    }
  });
  app.get("/client.js.map", async () => {
    try {
      const { map } = await bundle();
      if (map === null) {
        return new Response("no source map", { status: 404, headers: COMMON_HEADERS });
      }
      return new Response(map as BodyInit, {
        headers: { "content-type": "application/json; charset=utf-8", ...COMMON_HEADERS },
      });
    } catch (e) {
      opts.onError?.("client.js", e);
      return unavailable("client.js.map");
    }
  });
  app.get("/favicon.ico", () => new Response(null, { status: 204 }));
  return app;
}
