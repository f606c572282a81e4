/**
 * `deno task start` / `npm start`: the gateway on Deno.
 *
 * With no arguments it needs no set-up: the embedded demo origin (https://demo/...) behind the
 * channel, and a gateway key created on first run in .pqgate/gateway-key.json (mode 0600,
 * git-ignored, never printed). `--config file.json` runs it in front of real APIs
 * (docs/configuration.md). SIGINT / SIGTERM shut it down gracefully (clients see 1001).
 * The command itself (flags, config, keys, banner) is gateway-command.ts, shared with
 * `npx pqgate serve` on Node (main.ts).
 *
 * The demo page's /client.js is the prebuilt dist/pqgate-client.js: `npm start` runs
 * scripts/build-client.mjs (Node, esbuild) before this process starts, so this process builds
 * nothing and runs with --allow-net --allow-read --allow-write --allow-env --allow-run=git
 * (write: the key file created on first run or by --generate-key; run=git: the check that git
 * would not pick the new key file up, src/cli/git-exposure.ts). `deno task start` alone serves
 * whatever dist/ holds and warns when it is older than its sources.
 */
import { readFile, stat } from "node:fs/promises";
import { serveDeno } from "../transport/deno/serve.ts";
import { CLIENT_BUNDLE_NAME, SW_BUNDLE_NAME } from "../gateway/client-bundle.ts";
import { addDemoPage } from "./demo-page.ts";
import {
  describeListenError,
  NPM_START_TEXTS,
  runGateway,
  serverOptions,
} from "./gateway-command.ts";
import { wsOriginWebSocket } from "../transport/node-http/origin-websocket.ts";

/** dist/pqgate-client.js of this repository (this file is src/cli/start.ts). */
/** The repository's Service Worker build (scripts/build-client.mjs --service-worker). */
export const REPO_SW: URL = new URL(`../../dist/${SW_BUNDLE_NAME}`, import.meta.url);
export const REPO_BUNDLE: URL = new URL(`../../dist/${CLIENT_BUNDLE_NAME}`, import.meta.url);

/**
 * The repository sources (from the bundle's source map) changed after the bundle was built:
 * `deno task start` without `npm start`'s build step would serve old client code.
 */
export async function staleSources(bundle: URL): Promise<string[]> {
  const built = (await stat(bundle)).mtimeMs;
  const map = JSON.parse(await readFile(new URL(bundle.href + ".map"), "utf8")) as {
    sources: string[];
  };
  const newer: string[] = [];
  for (const source of map.sources) {
    if (source.includes("node_modules/")) continue;
    const file = new URL(source, bundle);
    const changed = await stat(file).then((s) => s.mtimeMs > built, () => true);
    if (changed) newer.push(file.pathname);
  }
  return newer;
}

async function warnIfStale(bundle: URL): Promise<void> {
  const newer = await staleSources(bundle);
  if (newer.length > 0) {
    const root = new URL("../../", import.meta.url).pathname;
    console.error(
      `pqgate: warning: dist/${CLIENT_BUNDLE_NAME} is older than ${newer[0].replace(root, "")}${
        newer.length > 1 ? ` and ${newer.length - 1} more` : ""
      }: run \`npm run build:client\` ` +
        "(`npm start` does)",
    );
  }
}

export function main(argv: readonly string[]): Promise<number> {
  return runGateway(argv, {
    ...NPM_START_TEXTS,
    originWebSocket: wsOriginWebSocket(),
    serve: (gateway, settings, fetch) =>
      Promise.resolve(serveDeno({ gateway, ...serverOptions(settings), fetch })),
    listenError: (e, settings) =>
      describeListenError(e, settings, e instanceof Deno.errors.AddrInUse),
    addDemoPage: (gateway) => {
      // Demo mode: the page at / talks to the embedded demo origin through the channel.
      addDemoPage(gateway, {
        bundle: REPO_BUNDLE,
        buildHint: "run `npm run build:client` (`npm start` does it before starting)",
        serviceWorker: {
          file: REPO_SW,
          buildHint: "run `node scripts/build-client.mjs --service-worker` (`npm start` does it)",
        },
      });
      warnIfStale(REPO_BUNDLE).catch(() => {/* no bundle: addDemoPage says so */});
    },
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
