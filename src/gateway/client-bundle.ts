/**
 * The browser build of the client library, as the gateway serves it (the demo page's
 * /client.js): a PREBUILT file, only read here. Nothing at run time builds it, so the gateway
 * process needs no bundler and no permission to run one.
 *
 * It is built by scripts/build-client.mjs (esbuild on Node, a build step):
 *
 *   the repository   dist/pqgate-client.js (+ .map): `npm run build:client`; `npm start` runs it
 *                    before the gateway starts, so it serves a fresh build
 *   the npm package  dist/pkg/browser/pqgate-client.js (+ .map), exported as `pqgate/browser`:
 *                    built by `npm run build:package`; what `npx pqgate serve` serves
 *
 * Platform-neutral (the caller passes how to read a file), so the same code runs on Deno (npm
 * start) and Node (npx pqgate serve).
 */

/** File name of the bundle in both places (its source map: the same name + ".map"). */
export const CLIENT_BUNDLE_NAME = "pqgate-client.js";
/** First line of every bundle scripts/build-client.mjs writes. */
export const CLIENT_BUNDLE_BANNER = "/* pqgate client (browser build)";
/**
 * The Service Worker's file (`build-client.mjs --service-worker`: dist/pqgate-sw.js; in the
 * package dist/pkg/browser/pqgate-sw.js, `pqgate/sw`) and its first line.
 */
export const SW_BUNDLE_NAME = "pqgate-sw.js";
export const SW_BUNDLE_BANNER = "/* pqgate service worker (browser build)";

export class ClientBundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientBundleError";
  }
}

/** A bundle to serve: the code (no sourceMappingURL line) and, when there is one, its map. */
export interface ClientBundle {
  code: Uint8Array;
  map: Uint8Array | null;
}

export interface LoadClientBundleOptions {
  /** The bundle file; its map is the same URL + ".map" (optional). */
  file: URL;
  /** Reads a whole file (e.g. node:fs/promises readFile); rejects when it is missing. */
  readFile: (file: URL) => Promise<Uint8Array>;
  /** What to run when the file is missing or not a bundle, for the error message. */
  buildHint?: string;
  /** Its expected first line (default CLIENT_BUNDLE_BANNER; the worker: SW_BUNDLE_BANNER). */
  banner?: string;
}

const SOURCE_MAP_LINE = /\n\/\/# sourceMappingURL=\S+\s*$/;

/**
 * The code without its trailing `//# sourceMappingURL=` line: the server names the map by the
 * path it serves it under (src/demo/page.ts adds `client.js.map`).
 */
export function withoutSourceMapComment(code: Uint8Array): Uint8Array {
  // The comment is ASCII at the very end: look at the tail only, one character per byte (so
  // an index is a byte offset, whatever UTF-8 precedes it).
  const tailStart = Math.max(0, code.length - 512);
  const tail = String.fromCharCode(...code.subarray(tailStart));
  const m = SOURCE_MAP_LINE.exec(tail);
  return m ? code.subarray(0, tailStart + m.index) : code;
}

/**
 * Reads a prebuilt bundle (and its map, when present) for serving. Throws ClientBundleError,
 * naming `buildHint`, when the file is missing or is not a bundle scripts/build-client.mjs
 * wrote.
 */
export async function loadClientBundle(opts: LoadClientBundleOptions): Promise<ClientBundle> {
  const hint = opts.buildHint ? `: ${opts.buildHint}` : "";
  let raw: Uint8Array;
  try {
    raw = await opts.readFile(opts.file);
  } catch (e) {
    throw new ClientBundleError(
      `the browser client bundle ${opts.file.pathname} cannot be read (${
        (e as Error).message
      })${hint}`,
    );
  }
  const banner = opts.banner ?? CLIENT_BUNDLE_BANNER;
  const head = new TextDecoder().decode(raw.subarray(0, new TextEncoder().encode(banner).length));
  if (head !== banner) {
    throw new ClientBundleError(
      `${opts.file.pathname} is not a pqgate browser ${
        banner === SW_BUNDLE_BANNER ? "service worker" : "client bundle"
      }${hint}`,
    );
  }
  const map = await opts.readFile(new URL(opts.file.href + ".map")).catch(() => null);
  return { code: withoutSourceMapComment(raw), map };
}
