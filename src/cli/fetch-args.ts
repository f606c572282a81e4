/**
 * Argument parsing for `deno task fetch` (curl-like). Pure: no I/O, so it is unit-tested.
 *
 *   deno task fetch [--pin sha256:...] [--gateway ws://host:port/pqgate] <target-url>
 *                   [-X METHOD] [-H 'name: value']... [-d data | --data-binary @file | --json data]
 *                   [-i] [-v] [-o file] [--anonymous] [--timeout ms]
 */

import { UsageError, walkArgs } from "./argv.ts";

export const DEFAULT_GATEWAY = "ws://localhost:8787/pqgate";

export type BodySource =
  | { kind: "none" }
  | { kind: "text"; text: string }
  | { kind: "file"; path: string } // "-" = stdin
;

export interface FetchArgs {
  gateway: string;
  gatewayFromFlag: boolean;
  pin: string | null;
  anonymous: boolean;
  target: string;
  method: string;
  headers: [string, string][];
  body: BodySource;
  include: boolean;
  verbose: boolean;
  output: string | null;
  timeoutMs: number | null;
  keyFile: string | null;
}

export const FETCH_USAGE = `Usage: npm run fetch -- [options] <target-url>

Sends one HTTP request through a pqgate post-quantum channel and prints the response body.

Options:
  --gateway URL        channel endpoint (default ${DEFAULT_GATEWAY})
  --pin sha256:...     gateway key pin; for a localhost gateway it defaults to the pin of the
                       local key file (.pqgate/gateway-key.json, or --key-file)
  --key-file PATH      local gateway key file to read the pin from (localhost only)
  --anonymous          no pin: trust the gateway through TLS only (if the gateway allows it)
  -X, --request M      HTTP method (default GET, or POST with a body)
  -H, --header 'k: v'  request header (repeatable)
  -d, --data DATA      request body (@file reads a file, @- reads stdin); default
                       content-type application/x-www-form-urlencoded
  --data-binary DATA   like -d
  --json DATA          body with content-type and accept application/json
  -i, --include        print the status line and response headers
  -v, --verbose        print channel details (suite, key id, pin source, sizes, timing) to stderr
  -o, --output FILE    write the body to FILE instead of stdout
  -f, --fail           exit with code 22 when the HTTP status is 400 or more
  --timeout MS         give up after MS milliseconds
  -h, --help           this text

Exit codes: 0 a response arrived, 1 connection or channel error, 2 usage error,
22 HTTP error with --fail.

Examples:
  npm run fetch -- https://demo/api/hello                       (local gateway, pin from its key file)
  npm run fetch -- --pin sha256:... ws://localhost:8787/pqgate https://demo/api/hello -i
  npm run fetch -- --gateway wss://gw.example/pqgate --pin sha256:... https://api.example/v1/x \
    -X POST --json '{"a":1}' -v
`;

export function parseFetchArgs(argv: readonly string[]): FetchArgs | "help" {
  const out: FetchArgs = {
    gateway: DEFAULT_GATEWAY,
    gatewayFromFlag: false,
    pin: null,
    anonymous: false,
    target: "",
    method: "",
    headers: [],
    body: { kind: "none" },
    include: false,
    verbose: false,
    output: null,
    timeoutMs: null,
    keyFile: null,
  };
  const positional: string[] = [];
  let json = false;
  for (const { arg, value } of walkArgs(argv)) {
    switch (arg) {
      case "-h":
      case "--help":
        return "help";
      case "--gateway":
        out.gateway = value();
        out.gatewayFromFlag = true;
        break;
      case "--pin":
        out.pin = value();
        break;
      case "--key-file":
        out.keyFile = value();
        break;
      case "--anonymous":
        out.anonymous = true;
        break;
      case "-X":
      case "--request":
        out.method = value().toUpperCase();
        break;
      case "-H":
      case "--header": {
        const h = value();
        const colon = h.indexOf(":");
        if (colon <= 0) throw new UsageError(`-H expects 'name: value', got '${h}'`);
        out.headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
        break;
      }
      case "-d":
      case "--data":
      case "--data-binary":
      case "--json": {
        if (out.body.kind !== "none") throw new UsageError("only one request body may be given");
        const d = value();
        out.body = d.startsWith("@")
          ? { kind: "file", path: d.slice(1) }
          : { kind: "text", text: d };
        if (arg === "--json") json = true;
        break;
      }
      case "-i":
      case "--include":
        out.include = true;
        break;
      case "-v":
      case "--verbose":
        out.verbose = true;
        break;
      case "-o":
      case "--output":
        out.output = value();
        break;
      case "--timeout": {
        const t = Number(value());
        if (!Number.isInteger(t) || t <= 0) {
          throw new UsageError("--timeout expects milliseconds > 0");
        }
        out.timeoutMs = t;
        break;
      }
      default:
        if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  // `fetch <gateway> <target>` is accepted as a shorthand for `--gateway <gateway> <target>`.
  if (
    positional.length === 2 && /^(wss?|https?):\/\//i.test(positional[0]) && !out.gatewayFromFlag
  ) {
    out.gateway = positional.shift()!;
    out.gatewayFromFlag = true;
  }
  if (positional.length !== 1) {
    throw new UsageError(positional.length === 0 ? "missing <target-url>" : "too many arguments");
  }
  out.target = positional[0];
  try {
    const t = new URL(out.target);
    if (t.protocol !== "https:" && t.protocol !== "http:") throw new Error();
  } catch {
    throw new UsageError(`target must be an absolute http(s) URL, got '${out.target}'`);
  }
  out.gateway = normalizeGatewayUrl(out.gateway);
  if (out.pin !== null && out.anonymous) {
    throw new UsageError("--pin and --anonymous exclude each other");
  }
  if (out.pin !== null && !/^sha256:[A-Za-z0-9_-]{43}$/.test(out.pin)) {
    throw new UsageError(`--pin must look like sha256:<43 base64url chars>, got '${out.pin}'`);
  }
  if (!out.method) out.method = out.body.kind === "none" ? "GET" : "POST";
  const has = (n: string) => out.headers.some(([k]) => k.toLowerCase() === n);
  if (json) {
    if (!has("content-type")) out.headers.push(["content-type", "application/json"]);
    if (!has("accept")) out.headers.push(["accept", "application/json"]);
  } else if (out.body.kind !== "none" && !has("content-type")) {
    out.headers.push(["content-type", "application/x-www-form-urlencoded"]);
  }
  return out;
}

/** Accepts ws(s):// or http(s):// (mapped to ws(s)://) gateway URLs. */
export function normalizeGatewayUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new UsageError(`--gateway must be a URL like ${DEFAULT_GATEWAY}, got '${s}'`);
  }
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new UsageError(`--gateway must be a ws:// or wss:// URL, got '${s}'`);
  }
  return u.href;
}

export function isLocalhost(gatewayUrl: string): boolean {
  const h = new URL(gatewayUrl).hostname;
  return h === "localhost" || h === "127.0.0.1" || h === "[::1]" || h === "::1";
}
