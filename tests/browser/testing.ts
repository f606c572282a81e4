/**
 * Shared by the tests that drive Chromium (tests/browser, tests/package/browser-consumer.test.ts)
 * and bench/service-worker.ts: the Chromium test gate and the demo page served with both browser
 * builds.
 */
import assert from "node:assert/strict";
import { buildClient, SW_BUILD } from "../../scripts/build-client.mjs";
import type { Gateway } from "../../src/gateway/create-gateway.ts";
import { demoPageRoutes } from "../../src/demo/page.ts";
import { type DenoServer, serveDeno } from "../../src/transport/deno/serve.ts";
import { CHROMIUM_PATH, chromiumInstalled } from "./chromium.ts";

/**
 * A test that needs Chromium at CHROMIUM_PATH (`bash scripts/install-chromium.sh`): without it,
 * it FAILS under CI=true and is ignored, with a warning, otherwise. Its sanitizers are off:
 * playwright's connection and the browser's process outlive single ops.
 */
export function chromiumTest(name: string, fn: () => Promise<void>): void {
  const installed = chromiumInstalled();
  const inCI = Deno.env.get("CI") === "true";
  if (!installed && !inCI) {
    console.warn(
      `ignored, no Chromium at ${CHROMIUM_PATH} (run: bash scripts/install-chromium.sh): ${name}`,
    );
  }
  Deno.test({
    name,
    ignore: !installed && !inCI,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (!installed) {
        assert.fail(
          `Chromium is not installed at ${CHROMIUM_PATH}. CI must install it first: bash scripts/install-chromium.sh ` +
            "(Debian: apt-get install chromium).",
        );
      }
      await fn();
    },
  });
}

/** What serveDemoPage started, and the bundles it serves. */
export interface DemoPageServer {
  server: DenoServer;
  client: ClientBuild;
  sw: ClientBuild;
}

type ClientBuild = Awaited<ReturnType<typeof buildClient>>;

/**
 * Builds the browser client and the Service Worker now (what `npm start` builds), mounts the demo
 * page at / of `gateway` with both, and serves the gateway on a loopback port.
 */
export async function serveDemoPage(gateway: Gateway): Promise<DemoPageServer> {
  const [client, sw] = await Promise.all([buildClient(), buildClient(SW_BUILD)]);
  gateway.app.route(
    "/",
    demoPageRoutes({
      clientBundle: () => client.code,
      serviceWorker: () => sw.code,
      channelPath: gateway.channelPath,
    }),
  );
  return { server: serveDeno({ gateway, port: 0, hostname: "127.0.0.1" }), client, sw };
}
