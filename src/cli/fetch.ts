/**
 * `deno task fetch`: a curl-like client that sends one HTTP request through a pqgate channel.
 *
 *   deno task fetch [--pin sha256:...] [--gateway ws://host:port/pqgate] <target-url>
 *                   [-X METHOD] [-H 'k: v']... [-d data | --data-binary @file] [-i] [-v]
 *
 * The body goes to stdout (or -o FILE); -i adds the status line and headers; -v prints the
 * channel details (pin source, key id, suite, message sizes, timing) to stderr, curl-style.
 * Exit codes: 0 a response arrived, 1 connection or channel error (the typed error's message),
 * 2 usage error, 22 HTTP status >= 400 with --fail.
 */
import { AuthError, type Channel, connect, PqgateClientError } from "../client/mod.ts";
import { readClientAuth } from "./auth-input.ts";
import { PROTOCOL_NAMES, type SuiteId } from "../protocol/constants.ts";
import { FETCH_USAGE, type FetchArgs, isLocalhost, parseFetchArgs } from "./fetch-args.ts";
import { UsageError } from "./argv.ts";
import { DEFAULT_KEY_FILE, KeyFileError, readKeyFile } from "./key-file.ts";
import { GATEWAY_ERROR_HINTS } from "./error-hints.ts";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import process from "node:process";
import { Readable } from "node:stream";

let useInitCwd = true;

function initCwdPath(p: string): string {
  if (!useInitCwd) return p;
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p)) return p;
  let base: string | undefined;
  try {
    base = process.env.INIT_CWD;
  } catch { /* no env permission */ }
  return base ? `${base.replace(/\/$/, "")}/${p}` : p;
}

interface PinChoice {
  pin: string | null;
  source: string;
}

/** Where the pin comes from: --pin, --anonymous, or (localhost only) the local key file. */
async function choosePin(a: FetchArgs): Promise<PinChoice> {
  if (a.pin !== null) return { pin: a.pin, source: "--pin" };
  if (a.anonymous) {
    return { pin: null, source: "none: --anonymous (the gateway is trusted through TLS only)" };
  }
  if (!isLocalhost(a.gateway)) {
    throw new UsageError(
      `a pin is required for the remote gateway ${a.gateway}: pass --pin sha256:... (from its operator or its start-up output), or --anonymous to trust TLS only`,
    );
  }
  const explicit = a.keyFile !== null;
  const path = explicit ? initCwdPath(a.keyFile!) : DEFAULT_KEY_FILE;
  try {
    const k = await readKeyFile(path);
    return {
      pin: k.pin,
      source: `local key file ${path} (localhost convenience; use --pin elsewhere)`,
    };
  } catch (e) {
    if (e instanceof KeyFileError) {
      throw new UsageError(
        `no --pin given and ${e.message}; pass --pin sha256:... as printed by \`npm start\`` +
          (explicit ? "" : ", or --key-file PATH"),
      );
    }
    throw e;
  }
}

async function requestBody(
  a: FetchArgs,
): Promise<{ body: BodyInit | null; length: number | null }> {
  switch (a.body.kind) {
    case "none":
      return { body: null, length: null };
    case "text":
      return { body: a.body.text, length: null };
    case "file": {
      if (a.body.path === "-") return { body: webStream(process.stdin), length: null };
      const path = initCwdPath(a.body.path);
      try {
        const size = (await stat(path)).size;
        const file = createReadStream(path);
        await new Promise((ok, fail) => file.once("open", ok).once("error", fail));
        return { body: webStream(file), length: size };
      } catch (e) {
        throw new UsageError(`cannot read ${a.body.path}: ${(e as Error).message}`);
      }
    }
  }
}

function webStream(r: Readable): ReadableStream<Uint8Array> {
  return Readable.toWeb(r) as unknown as ReadableStream<Uint8Array>;
}

/** Where the response goes: stdout, or the -o file. */
interface Sink {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

function stdoutSink(): Sink {
  return {
    write: (chunk) =>
      new Promise((ok, fail) => process.stdout.write(chunk, (e) => (e ? fail(e) : ok()))),
    close: async () => {},
  };
}

async function fileSink(path: string): Promise<Sink> {
  const file = await open(path, "w");
  return {
    write: async (chunk) => void await file.write(chunk),
    close: () => file.close(),
  };
}

/** How the command was invoked: names it in usage texts and hints. */
export interface FetchCommandOptions {
  /** A WebSocket constructor where there is no global one (Node 20: `ws`). */
  WebSocket?: unknown;
  /** The command as the user types it (default `npm run fetch --`). */
  command?: string;
  /** False: relative paths are the cwd's, not INIT_CWD's (see GatewayRuntime.initCwd). */
  initCwd?: boolean;
}

function suiteName(s: SuiteId | null): string {
  if (s === null) return "unknown";
  const name = PROTOCOL_NAMES[s]?.replace(/^pqgate\/1 /, "") ?? "";
  return `0x${s.toString(16).padStart(4, "0")} ${name}`;
}

export async function main(
  argv: readonly string[],
  opts: FetchCommandOptions = {},
): Promise<number> {
  const enc = new TextEncoder();
  const command = opts.command ?? "npm run fetch --";
  useInitCwd = opts.initCwd !== false;
  const err = (s: string) => void process.stderr.write(s + "\n");
  let a: FetchArgs;
  let pin: PinChoice;
  let fail = false;
  const rest = argv.filter((x) => {
    if (x === "-f" || x === "--fail") return !(fail = true);
    return true;
  });
  try {
    const parsed = parseFetchArgs(rest);
    if (parsed === "help") {
      console.log(FETCH_USAGE.replace("npm run fetch --", command));
      return 0;
    }
    a = parsed;
    pin = await choosePin(a);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`pqgate fetch: ${e.message}\n(see ${command} --help)`);
      return 2;
    }
    throw e;
  }
  const v = a.verbose ? err : () => {};

  let channel: Channel | null = null;
  const signal = a.timeoutMs ? AbortSignal.timeout(a.timeoutMs) : undefined;
  try {
    // Before the body: --password-stdin reads stdin's first line (a body from stdin is refused
    // with it), and a prompt must come before any output.
    const auth = await readClientAuth(a.auth, initCwdPath);
    const { body, length } = await requestBody(a);
    v(`* gateway    ${a.gateway}`);
    v(`* pin        ${pin.pin ?? "(none)"}`);
    v(`* pin from   ${pin.source}`);
    // Who, never the secret.
    if (auth !== null) {
      v(`* auth       ${
        "username" in auth
          ? `password as ${auth.username}`
          : "token" in auth
          ? "token"
          : `psk as ${auth.pskId}`
      }`);
    }
    const t0 = performance.now();
    channel = await connect(
      a.gateway,
      pin.pin !== null
        ? {
          pin: pin.pin,
          handshakeTimeoutMs: a.timeoutMs ?? undefined,
          WebSocket: opts.WebSocket,
          ...(auth !== null ? { auth } : {}),
        }
        : {
          anonymous: true,
          handshakeTimeoutMs: a.timeoutMs ?? undefined,
          WebSocket: opts.WebSocket,
          ...(auth !== null ? { auth } : {}),
        },
    );
    const t1 = performance.now();
    const hs = channel.handshake;
    v(`* key id     ${channel.keyId ?? "(anonymous)"}`);
    v(`* suite      ${suiteName(channel.suite)}`);
    v(`* session    ${channel.sessionId ?? "?"}`);
    if (hs) {
      v(
        `* handshake  ${hs.mode}: ClientHello ${hs.clientHelloBytes} B, ServerHello ${hs.serverHelloBytes} B, ` +
          `ClientFinished ${hs.clientFinishedBytes} B; ${
            hs.durationMs?.toFixed(1) ?? "?"
          } ms handshake, ` +
          `${(t1 - t0).toFixed(1)} ms including key configuration and WebSocket`,
      );
    }
    const info = channel.sessionInfo;
    if (info) {
      v(`* limits     ${info.maxStreams} streams, ${
        info.maxBodyBytes || "unlimited"
      } body bytes, idle ${info.idleTimeoutMs} ms`);
    }
    const headers = new Headers(a.headers);
    if (length !== null && !headers.has("content-length")) {
      headers.set("content-length", String(length));
    }
    v(`> ${a.method} ${a.target}`);
    headers.forEach((value, name) => v(`> ${name}: ${value}`));
    const init: RequestInit & { duplex?: "half" } = { method: a.method, headers, body, signal };
    if (body instanceof ReadableStream) init.duplex = "half";
    const res = await channel.fetch(a.target, init);
    const t2 = performance.now();
    v(`< ${res.status} ${res.statusText}`.trimEnd());
    res.headers.forEach((value, name) => v(`< ${name}: ${value}`));
    const gwError = res.headers.get("pqgate-error");
    if (gwError) {
      v(`* gateway error ${gwError}${
        GATEWAY_ERROR_HINTS[gwError] ? `: ${GATEWAY_ERROR_HINTS[gwError]}` : ""
      }`);
      const challenge = res.headers.get("www-authenticate");
      if (challenge) v(`* the route accepts: ${challenge}`);
    }

    const writer = a.output ? await fileSink(initCwdPath(a.output)) : stdoutSink();
    if (a.include) {
      let head = `HTTP ${res.status} ${res.statusText}`.trimEnd() + "\r\n";
      res.headers.forEach((value, name) => (head += `${name}: ${value}\r\n`));
      await writer.write(enc.encode(head + "\r\n"));
    }
    let bytes = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        bytes += r.value.length;
        await writer.write(r.value);
      }
    }
    await writer.close();
    v(`* ${bytes} body bytes; response head after ${(t2 - t1).toFixed(1)} ms, body done after ${
      (performance.now() - t1).toFixed(1)
    } ms`);
    return fail && res.status >= 400 ? 22 : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`pqgate fetch: ${e.message}`);
      return 2;
    }
    if (e instanceof AuthError) {
      // The reason a user can act on (bad_credentials, rate_limited + retry-after, ...).
      err(e.message);
      return 1;
    }
    if (e instanceof PqgateClientError || e instanceof TypeError) {
      err(e.message.startsWith("pqgate") ? e.message : `pqgate fetch: ${e.message}`);
      return 1;
    }
    if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
      err(`pqgate fetch: no response within ${a.timeoutMs} ms`);
      return 1;
    }
    err(`pqgate fetch: ${(e as Error)?.name ?? "Error"}: ${(e as Error)?.message ?? e}`);
    return 1;
  } finally {
    channel?.close();
  }
}

// `deno task fetch` runs this file; the Node entry (main.ts) imports it.
if ((import.meta as { main?: boolean }).main) process.exit(await main(process.argv.slice(2)));
