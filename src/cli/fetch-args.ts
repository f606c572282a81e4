/**
 * Argument parsing for `deno task fetch` (curl-like). Pure: no I/O, so it is unit-tested.
 *
 *   deno task fetch [--pin sha256:...] [--gateway ws://host:port/pqgate] <target-url>
 *                   [-X METHOD] [-H 'name: value']... [-d data | --data-binary @file | --json data]
 *                   [-i] [-v] [-o file] [--anonymous] [--timeout ms]
 *                   [--user NAME [--password-stdin] | --token T | --token-file F
 *                    | --psk-file F --psk-id ID]
 */

import { UsageError, walkArgs } from "./argv.ts";

export const DEFAULT_GATEWAY = "ws://localhost:8787/pqgate";

export type BodySource =
  | { kind: "none" }
  | { kind: "text"; text: string }
  | { kind: "file"; path: string } // "-" = stdin
;

/**
 * Client authentication (docs/client-auth.md) as the flags name it; the secrets themselves are
 * read by fetch.ts (a prompt, stdin, a file), never taken from the command line except --token.
 */
export type AuthSource =
  | { kind: "none" }
  /** `--user NAME`: the password from stdin (`--password-stdin`) or a prompt without echo. */
  | { kind: "password"; username: string; passwordStdin: boolean }
  | { kind: "token"; token: string }
  | { kind: "token-file"; path: string }
  | { kind: "psk"; path: string; identity: string };

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
  auth: AuthSource;
}

export const FETCH_USAGE = `Usage: npm run fetch -- [options] <target-url>

Sends one HTTP request through a pqgate post-quantum channel and prints the response body.

Options:
  --gateway URL        channel endpoint (default ${DEFAULT_GATEWAY})
  --pin sha256:...     gateway key pin; for a localhost gateway it defaults to the pin of the
                       local key file (.pqgate/gateway-key.json, or --key-file)
  --key-file PATH      local gateway key file to read the pin from (localhost only)
  --anonymous          no pin: trust the gateway through TLS only (if the gateway allows it)
  --user NAME          authenticate as NAME with a password (asked for without echo, or
                       read from stdin with --password-stdin); sent only inside the channel
  --password-stdin     read the password from the first line of stdin
  --token TOKEN        authenticate with a bearer token (visible in the process list:
                       prefer --token-file)
  --token-file PATH    read the bearer token from PATH
  --psk-file PATH      authenticate with a pre-shared key: PATH holds the 32-byte key (64 hex
                       or 43 base64url characters), or PSK-file lines ID:KEY
  --psk-id ID          the PSK identity (required with --psk-file)
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
    auth: { kind: "none" },
  };
  const positional: string[] = [];
  let user: string | null = null;
  let passwordStdin = false;
  let token: string | null = null;
  let tokenFile: string | null = null;
  let pskFile: string | null = null;
  let pskId: string | null = null;
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
      case "--user":
        user = value();
        break;
      case "--password-stdin":
        passwordStdin = true;
        break;
      case "--token":
        token = value();
        break;
      case "--token-file":
        tokenFile = value();
        break;
      case "--psk-file":
        pskFile = value();
        break;
      case "--psk-id":
        pskId = value();
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
  out.auth = authSource({ user, passwordStdin, token, tokenFile, pskFile, pskId });
  if (
    out.auth.kind === "password" && out.auth.passwordStdin && out.body.kind === "file" &&
    out.body.path === "-"
  ) {
    throw new UsageError("--password-stdin and a body from stdin (@-) exclude each other");
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

/** The one authentication the flags ask for (UsageError when they name several or half of one). */
function authSource(f: {
  user: string | null;
  passwordStdin: boolean;
  token: string | null;
  tokenFile: string | null;
  pskFile: string | null;
  pskId: string | null;
}): AuthSource {
  const given = [
    f.user !== null && "--user",
    f.token !== null && "--token",
    f.tokenFile !== null && "--token-file",
    f.pskFile !== null && "--psk-file",
  ].filter((x): x is string => x !== false);
  if (given.length > 1) throw new UsageError(`${given.join(" and ")} exclude each other`);
  if (f.passwordStdin && f.user === null) throw new UsageError("--password-stdin needs --user");
  if (f.pskId !== null && f.pskFile === null) throw new UsageError("--psk-id needs --psk-file");
  if (f.user !== null) {
    // The name is sent as is (the gateway decides which names exist); never a control character.
    // deno-lint-ignore no-control-regex
    if (f.user === "" || f.user.length > 256 || /[\x00-\x1f\x7f]/.test(f.user)) {
      throw new UsageError("--user must be 1-256 characters, none of them a control character");
    }
    return { kind: "password", username: f.user, passwordStdin: f.passwordStdin };
  }
  if (f.token !== null) {
    if (f.token === "") throw new UsageError("--token must not be empty");
    return { kind: "token", token: f.token };
  }
  if (f.tokenFile !== null) return { kind: "token-file", path: f.tokenFile };
  if (f.pskFile !== null) {
    if (f.pskId === null) throw new UsageError("--psk-file needs --psk-id");
    if (f.pskId === "") throw new UsageError("--psk-id must not be empty");
    return { kind: "psk", path: f.pskFile, identity: f.pskId };
  }
  return { kind: "none" };
}
