/**
 * `deno task start` / `npm start`: the gateway on Deno.
 *
 * With no arguments it needs no set-up: the embedded demo origin (https://demo/...) behind the
 * channel, and a gateway key created on first run in .pqgate/gateway-key.json (mode 0600,
 * git-ignored, never printed). `--config file.json` runs it in front of real APIs
 * (docs/configuration.md). SIGINT / SIGTERM shut it down gracefully (clients see 1001).
 * The command itself (flags, config, keys, banner) is gateway-command.ts, shared with
 * `npx pqgate serve` on Node (main.ts).
 */
import { serveDeno } from "../transport/deno/serve.ts";
import { loadClientBundle } from "../gateway/client-bundle.ts";
import { demoPageRoutes } from "../demo/page.ts";
import {
  describeListenError,
  NPM_START_TEXTS,
  runGateway,
  serverOptions,
} from "./gateway-command.ts";

export function main(argv: readonly string[]): Promise<number> {
  return runGateway(argv, {
    ...NPM_START_TEXTS,
    serve: (gateway, settings) =>
      Promise.resolve(serveDeno({ gateway, ...serverOptions(settings) })),
    listenError: (e, settings) =>
      describeListenError(e, settings, e instanceof Deno.errors.AddrInUse),
    addDemoPage: (gateway) => {
      // Demo mode: the page at / talks to the embedded demo origin through the channel.
      const say = (m: string) => console.error(`pqgate: ${m}`);
      gateway.app.route(
        "/",
        demoPageRoutes({
          clientBundle: () => loadClientBundle({ log: say }),
          channelPath: gateway.channelPath,
          onError: (what, e) => say(`demo page: ${what}: ${(e as Error).message}`),
        }),
      );
    },
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
