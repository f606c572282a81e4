/**
 * `npx pqgate <command>`: the package's command line, on Node 20+ (bin/pqgate.mjs runs the
 * compiled dist/pkg/cli/main.js). The same commands as the repository's `npm start` and
 * `npm run fetch`, from the same modules:
 *
 *   pqgate keygen PATH [--allow-unignored-key]   a new key file (key-file.ts createKeyFile)
 *   pqgate pin PATH|URL                          the pin(s) of a key file or of a gateway
 *   pqgate serve [--config FILE] [--port N] ...  the gateway on Node (serveNode); without a
 *                                                config, the demo origin and the demo page at
 *                                                / with the package's prebuilt browser client
 *   pqgate fetch [options] <target-url>          one request through a channel (fetch.ts)
 *   pqgate passwd add|remove USER [--file PATH]  the users file of client authentication (passwd.ts)
 *   pqgate psk new ID                            a PSK-file line with a fresh key (passwd.ts)
 */
import WebSocket from "ws";
import { keyConfigUrl } from "../client/key-config.ts";
import { CLIENT_BUNDLE_NAME, SW_BUNDLE_NAME } from "../gateway/client-bundle.ts";
import { fromBase64Url } from "../protocol/bytes.ts";
import { pinFor } from "../protocol/static-keys.ts";
import { serveNode } from "../transport/node/serve.ts";
import { wsOriginWebSocket } from "../transport/node-http/origin-websocket.ts";
import { UsageError, walkArgs } from "./argv.ts";
import { addDemoPage } from "./demo-page.ts";
import { main as fetchMain } from "./fetch.ts";
import { describeListenError, runGateway, serverOptions } from "./gateway-command.ts";
import { createKeyFile, KeyFileError, readKeyFile } from "./key-file.ts";
import { passwd, psk } from "./passwd.ts";
import { START_USAGE } from "./start-config.ts";

export const USAGE = `Usage: npx pqgate <command> [options]

Commands:
  keygen PATH [--allow-unignored-key]
                    create a gateway key file (mode 0600; refused where git would pick it up)
                    and print its key id and pin
  pin PATH|URL      print the pin of a key file, or the pins a gateway offers (its channel
                    URL ws(s)://... or its key configuration URL http(s)://.../.well-known/pqgate)
  serve [options]   run the gateway (npx pqgate serve --help)
  fetch [options] <target-url>
                    send one request through a channel (npx pqgate fetch --help)
  passwd add USER [--file PATH] [--force]
                    set a user's password in the users file (Argon2id; prompted without echo,
                    or one line of stdin); passwd remove USER [--file PATH] removes one
  psk new ID        print a line for the PSK file: ID and a fresh 32-byte key
  help              this text
`;

const SERVE_USAGE = START_USAGE
  .replace("Usage: npm start -- [options]", "Usage: npx pqgate serve [options]")
  .replace("the pqgate gateway on Deno;", "the pqgate gateway on Node;");

/**
 * The browser client the package ships (this file is dist/pkg/cli/main.js there): built by
 * `npm run build:package` (scripts/build-client.mjs), never at run time.
 */
const PACKAGE_BUNDLE = new URL(`../browser/${CLIENT_BUNDLE_NAME}`, import.meta.url);
/** The Service Worker the package ships beside it (pqgate/sw). */
const PACKAGE_SW = new URL(`../browser/${SW_BUNDLE_NAME}`, import.meta.url);

/** npx runs the command where the user typed it: relative paths are the cwd's (no INIT_CWD). */
const userPath = (p: string) => p;

async function keygen(argv: readonly string[]): Promise<number> {
  let path: string | null = null;
  let allowUnignored = false;
  for (const o of walkArgs(argv)) {
    if (o.arg === "--allow-unignored-key") allowUnignored = true;
    else if (o.arg.startsWith("-") || path !== null) {
      throw new UsageError(`keygen: unexpected ${o.arg}`);
    } else path = o.arg;
  }
  if (path === null) throw new UsageError("keygen needs a PATH for the new key file");
  try {
    const k = await createKeyFile(userPath(path), { allowUnignored });
    console.log(`created ${k.path}\n  key id  ${k.keyIdHex}\n  pin     ${k.pin}`);
    return 0;
  } catch (e) {
    console.error(`pqgate: cannot create key file ${path}: ${(e as Error).message}`);
    return 1;
  }
}

async function pin(argv: readonly string[]): Promise<number> {
  if (argv.length !== 1 || argv[0].startsWith("-")) {
    throw new UsageError("pin needs one PATH or URL");
  }
  const what = argv[0];
  if (!/^(?:wss?|https?):\/\//i.test(what)) {
    try {
      console.log((await readKeyFile(userPath(what))).pin);
      return 0;
    } catch (e) {
      if (e instanceof KeyFileError) {
        console.error(`pqgate: ${e.message}`);
        return 1;
      }
      throw e;
    }
  }
  const url = /^https?:/i.test(what) && new URL(what).pathname !== "/"
    ? new URL(what)
    : keyConfigUrl(what);
  let config: { keys?: { kem?: unknown; public_key?: unknown }[] };
  try {
    const res = await fetch(url, { headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    config = await res.json();
  } catch (e) {
    console.error(`pqgate: cannot fetch the key configuration ${url}: ${(e as Error).message}`);
    return 1;
  }
  const pins = (Array.isArray(config?.keys) ? config.keys : [])
    .filter((k) => k?.kem === "X-Wing" && typeof k.public_key === "string")
    .map((k) => pinFor(fromBase64Url(k.public_key as string)));
  if (pins.length === 0) {
    console.error(`pqgate: ${url} lists no X-Wing key`);
    return 1;
  }
  console.log(pins.join("\n"));
  return 0;
}

function serve(argv: readonly string[]): Promise<number> {
  return runGateway(argv, {
    usage: SERVE_USAGE,
    keygenCommand: "npx pqgate keygen",
    fetchCommand: "npx pqgate fetch",
    initCwd: false,
    originWebSocket: wsOriginWebSocket(),
    serve: async (gateway, settings, fetch) => {
      const server = serveNode({ gateway, ...serverOptions(settings), fetch });
      await server.listening;
      return server;
    },
    listenError: (e, settings) =>
      describeListenError(e, settings, (e as NodeJS.ErrnoException)?.code === "EADDRINUSE"),
    addDemoPage: (gateway) =>
      addDemoPage(gateway, {
        bundle: PACKAGE_BUNDLE,
        buildHint: "the package ships it in dist/pkg/browser/: reinstall pqgate " +
          "(in the pqgate repository: npm run build:package)",
        serviceWorker: {
          file: PACKAGE_SW,
          buildHint: "the package ships it in dist/pkg/browser/: reinstall pqgate",
        },
      }),
  });
}

/** Runs `pqgate <argv>`; resolves to the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "keygen":
        return await keygen(rest);
      case "pin":
        return await pin(rest);
      case "serve":
        return await serve(rest);
      case "fetch":
        return await fetchMain(rest, { WebSocket, command: "npx pqgate fetch", initCwd: false });
      case "passwd":
        return await passwd(rest);
      case "psk":
        return psk(rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`pqgate: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
