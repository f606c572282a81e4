/**
 * The demo page of the gateway command in demo mode, mounted at /: `npm start` (start.ts, on
 * Deno) serves the repository's dist/pqgate-client.js, which `npm start` builds right before
 * the gateway starts; `npx pqgate serve` (main.ts, on Node) serves the copy the npm package
 * ships (dist/pkg/browser/pqgate-client.js). Both read the page files next to the demo module
 * (src/demo/page/, in the package dist/pkg/demo/page/). Nothing is built here: the bundle is
 * read once at start-up (src/gateway/client-bundle.ts), and a missing one is reported then and
 * answered with 503 until it appears.
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { demoPageRoutes, readDemoPageAssets } from "../demo/page.ts";
import type { Gateway } from "../gateway/create-gateway.ts";
import { type ClientBundle, loadClientBundle, SW_BUNDLE_BANNER } from "../gateway/client-bundle.ts";

export interface DemoPageSetup {
  /** The prebuilt browser client bundle (scripts/build-client.mjs). */
  bundle: URL;
  /** How to build it, for the message when it is missing (e.g. "run `npm run build:client`"). */
  buildHint: string;
  /**
   * The prebuilt Service Worker (pqgate-sw.js), served at /pqgate-sw.js for the page's Service
   * Worker mode (docs/service-worker.md); read on first use.
   */
  serviceWorker?: { file: URL; buildHint: string };
  /** Where messages go (default: stderr, prefixed "pqgate: "). */
  log?: (message: string) => void;
}

/** The bundle's path for messages: relative to the working directory when it is inside it. */
function shown(file: URL): string {
  const cwd = `file://${process.cwd().replace(/\/$/, "")}/`;
  return file.href.startsWith(cwd) ? file.href.slice(cwd.length) : file.pathname;
}

/** Mounts the demo page at / of `gateway`, starting to read the bundle now. */
export function addDemoPage(gateway: Gateway, setup: DemoPageSetup): void {
  const say = setup.log ?? ((m: string) => console.error(`pqgate: ${m}`));
  const load = () =>
    loadClientBundle({
      file: setup.bundle,
      readFile: (f) => readFile(f),
      buildHint: setup.buildHint,
    });
  // Read at start-up, so a missing bundle is said before the banner, not on the first visit.
  let first: Promise<ClientBundle> | null = load();
  first.then(
    (b) =>
      say(`demo page: serving the browser client ${shown(setup.bundle)} (${b.code.length} bytes)`),
    (e) => say(`demo page: ${(e as Error).message}`), // and again on each request until it loads
  );
  gateway.app.route(
    "/",
    demoPageRoutes({
      clientBundle: () => {
        const p = first ?? load();
        first = null;
        return p;
      },
      ...(setup.serviceWorker === undefined ? {} : {
        serviceWorker: () =>
          loadClientBundle({
            file: setup.serviceWorker!.file,
            readFile: (f) => readFile(f),
            buildHint: setup.serviceWorker!.buildHint,
            banner: SW_BUNDLE_BANNER,
          }),
      }),
      assets: () => readDemoPageAssets((f) => readFile(f, "utf8")),
      channelPath: gateway.channelPath,
      onError: (what, e) => say(`demo page: ${what}: ${(e as Error).message}`),
    }),
  );
}
