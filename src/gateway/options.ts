/**
 * `createGateway` options: types, defaults, and validation at construction. Every error is a
 * ConfigError naming the option it is about (`createGateway: options.limits.maxStreams must
 * be ...`), so a misconfigured gateway fails at start, never on the first request. The config
 * file and environment parser (config.ts) runs the same checks on its values, with its own
 * names (`where`): `pqgate.json: limits.maxStreams ...`, `PQGATE_LIMITS.maxStreams ...`.
 */
import {
  INITIAL_STREAM_WINDOW,
  KEY_ID_LEN,
  MAX_RECORD_LEN,
  MAX_WINDOW,
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
  SUITES,
  XWING_PK_LEN,
  XWING_SEED_LEN,
} from "../protocol/constants.ts";
import type { StaticKey } from "../protocol/types.ts";
import { RouteConfigError } from "../proxy/routes.ts";
import type { EventLog } from "../tunnel/events.ts";
import type { Env, SessionLimits } from "../tunnel/types.ts";
import {
  DEFAULT_CONTROL_FRAME_BURST,
  DEFAULT_CONTROL_FRAMES_PER_SECOND,
} from "../tunnel/rate-limit.ts";
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_UNACKED_BYTES,
  DEFAULT_MAX_WINDOW_BYTES,
} from "../tunnel/output-budget.ts";
import {
  ConfigError,
  configFail,
  configFailWith,
  type ConfigPath,
  type Where,
  within,
} from "./config-error.ts";

export { ConfigError };

/** Default per-session limits, announced to clients in SESSION_INFO (PROTOCOL.md §6.3). */
export const DEFAULT_LIMITS: Readonly<Required<SessionLimits>> = Object.freeze({
  /** Concurrent streams (requests in flight) per channel. */
  maxStreams: 100,
  /** Largest HEADERS payload (Binary HTTP request head) accepted. One frame carries it. */
  maxHeaderBytes: 16_376,
  /** Largest request body; 0 = no limit. */
  maxBodyBytes: 100 * 1024 * 1024,
  /** A WebSocket that has not finished the handshake by then is closed with 4000. */
  handshakeTimeoutMs: 10_000,
  /** A channel with no traffic (PING unanswered) for this long is closed with 4008. */
  idleTimeoutMs: 60_000,
  /** After this a channel is closed with 4007 and the client re-handshakes. */
  sessionLifetimeMs: 24 * 60 * 60 * 1000,
  /**
   * Sustained rate of floodable control frames (PING, PONG, PADDING, WINDOW_UPDATE on stream 0,
   * KEY_UPDATE asking for an update, late frames, refused streams) per channel; past the burst
   * and this rate the channel is closed with 4009 `rate_limited`. Not announced.
   */
  maxControlFramesPerSecond: DEFAULT_CONTROL_FRAMES_PER_SECOND,
  /** Control frames accepted at once (the token bucket's size). Not announced. */
  controlFrameBurst: DEFAULT_CONTROL_FRAME_BURST,
  /** Output queued in the gateway per channel before responses wait and reading pauses. */
  maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
  /** Output the client has not acknowledged before responses wait; twice this → 4013. */
  maxUnackedBytes: DEFAULT_MAX_UNACKED_BYTES,
  /** Largest stream send window a client may grant (announced in SESSION_INFO). */
  maxWindowBytes: DEFAULT_MAX_WINDOW_BYTES,
  /**
   * Largest tunneled WebSocket message (PROTOCOL.md §6.9, announced in SESSION_INFO); 0 = no
   * WebSocket streams (405). createGateway makes it 1 MiB (DEFAULT_MAX_WS_MESSAGE) when the
   * routes have a WebSocket route and it is not set (src/gateway/websocket-options.ts).
   */
  maxWsMessage: 0,
});

/** Ranges of the limits whose range is not 1..2^32-1. */
const LIMIT_RANGES: Record<string, [number, number]> = {
  maxBodyBytes: [0, Number.MAX_SAFE_INTEGER],
  maxHeaderBytes: [1, 16_376],
  // At most 24 h: a client fails a session older than that (PROTOCOL.md §5.4), so a longer
  // announced lifetime would only move the failure to the client.
  sessionLifetimeMs: [1, 24 * 60 * 60 * 1000],
  maxBufferedBytes: [MAX_RECORD_LEN, 2 ** 31 - 1],
  maxUnackedBytes: [4 * MAX_RECORD_LEN, 2 ** 31 - 1],
  maxWindowBytes: [INITIAL_STREAM_WINDOW, MAX_WINDOW],
  // A tunneled WebSocket may hold about 4 messages (docs/websockets.md): 16 MiB at most.
  maxWsMessage: [0, 16 * 1024 * 1024],
};

/** Time an origin gets to send its response head before the client gets 504. */
export const DEFAULT_ORIGIN_TIMEOUT_MS = 30_000;
/**
 * Response-body idle timeout: an origin that sends no body byte for this long while the client
 * waits for one has its stream reset (the client's body read fails) and its request aborted.
 */
export const DEFAULT_ORIGIN_BODY_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_CHANNEL_PATH = "/pqgate";

/**
 * The observation seam (src/tunnel/events.ts): every event the gateway emits, typed. Events
 * never carry secrets (keys, plaintext bodies, the ClientHello).
 */
export type GatewayLog = EventLog;

/** A `service:NAME` origin: a Workers service binding, a Hono app, or a plain handler. */
export type ServiceBinding =
  | { fetch(request: Request): Response | Promise<Response> }
  | ((request: Request) => Response | Promise<Response>);

const U32_MAX = 0xffff_ffff;

/** Where createGateway option `path` is: `createGateway: options.<path>`. */
export function optionAt(...path: ConfigPath): Where {
  return { source: "createGateway", path: ["options", ...path] };
}

/** Throws the ConfigError of createGateway option `path` (`[]`: the options object). */
export function configError(path: ConfigPath, detail: string, sep?: string): never {
  configFail(optionAt(...path), detail, sep);
}

/** The same, for a message that already names the option (`options.allowedOrigins[1] ...`). */
export function configErrorWith(path: ConfigPath, message: string): never {
  configFailWith(optionAt(...path), message);
}

/**
 * compileRoutes' RouteConfigError (proxy layer, which knows no ConfigError) as the ConfigError
 * of the route table at `where`: `routes[2].origin: ...`. Anything else is rethrown.
 */
export function routeError(e: unknown, where: Where = optionAt("routes")): never {
  if (!(e instanceof RouteConfigError)) throw e;
  configFail(within(where, ...e.segments), e.detail, ": ");
}

function isBytes(x: unknown, len: number): boolean {
  return x instanceof Uint8Array && x.length === len;
}

/** Validates `options.keys` (one StaticKey or a non-empty array; several live for rotation). */
export function validateKeys(keys: unknown, where: Where = optionAt("keys")): StaticKey[] {
  const list = Array.isArray(keys) ? keys : keys === undefined || keys === null ? [] : [keys];
  if (list.length === 0) configFail(where, "must be one StaticKey or a non-empty array of them");
  const seen = new Set<string>();
  list.forEach((k, i) => {
    const at = within(where, i);
    if (typeof k !== "object" || k === null) configFail(at, "must be a StaticKey object");
    const key = k as Partial<StaticKey>;
    if (!isBytes(key.keyId, KEY_ID_LEN)) {
      configFail(within(at, "keyId"), `must be a ${KEY_ID_LEN}-byte Uint8Array`);
    }
    if (!isBytes(key.publicKey, XWING_PK_LEN)) {
      configFail(within(at, "publicKey"), `must be a ${XWING_PK_LEN}-byte X-Wing public key`);
    }
    if (!isBytes(key.secretKey, XWING_SEED_LEN)) {
      configFail(within(at, "secretKey"), `must be the ${XWING_SEED_LEN}-byte X-Wing seed`);
    }
    const id = Array.from(key.keyId!, (b) => b.toString(16).padStart(2, "0")).join("");
    if (seen.has(id)) configFail(within(at, "keyId"), `${id} is used by two keys`);
    seen.add(id);
  });
  return list as StaticKey[];
}

/** The JavaScript runtime, as far as the default suite order cares (see `defaultSuites`). */
export type SuiteRuntime = "deno" | "node" | "workerd" | "other";

/** Which runtime this is: Deno, Cloudflare Workers (workerd), Node, or anything else. */
export function detectRuntime(): SuiteRuntime {
  const g = globalThis as {
    Deno?: unknown;
    navigator?: { userAgent?: string };
    process?: { versions?: { node?: string } };
  };
  if (g.Deno !== undefined) return "deno";
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  if (typeof g.process?.versions?.node === "string") return "node";
  return "other";
}

/**
 * The gateway's default suite preference per runtime (PROTOCOL.md §3.2: the gateway picks the
 * first suite of ITS list that the client offered, so this order decides the AEAD of every
 * connection whose client offers both). Measured by bench/aead-backends.ts (seal + open of one
 * 16 KiB record, MB/s; docs/benchmarks.md "AEAD per runtime"):
 *
 * | runtime            | AES-256-GCM           | ChaCha20-Poly1305 | default first     |
 * | ------------------ | --------------------- | ----------------- | ----------------- |
 * | workerd 2026-04/11 | 284-304 (node:crypto) | 564-591           | ChaCha20-Poly1305 |
 * | Node 20            | 1206 (OpenSSL)        | 1127              | AES-256-GCM       |
 * | Deno 2.9           | 128 (node:crypto)     | 749 (node:crypto) | AES-256-GCM (*)   |
 * | other (noble)      | 32                    | 131               | ChaCha20-Poly1305 |
 *
 * (*) ChaCha20-Poly1305 is 5.8× faster on Deno, but both Deno's node:crypto ChaCha20-Poly1305
 * and noble's leave far more short-lived off-heap garbage per record than AES-GCM: a 50 MiB
 * upload through a Deno gateway grows rss by 42-50 MiB instead of 6-9 MiB, past the 40 MiB
 * bound that tests/e2e/gateway-suite.ts holds. Until that is solved AES-256-GCM stays first
 * on Deno; `suites: [2, 1]` opts in.
 *
 * WebCrypto AES-GCM (workerd 2.1-2.4 GB/s, Deno 185 MB/s) is asynchronous and the record
 * layer is synchronous, so it is not a candidate. An explicit `suites` option always wins.
 */
export function defaultSuites(runtime: SuiteRuntime = detectRuntime()): SuiteId[] {
  return runtime === "node" || runtime === "deno"
    ? [SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305]
    : [SUITE_XWING_CHACHA20POLY1305, SUITE_XWING_AES256GCM];
}

/**
 * Validates `options.suites`: a non-empty list of known suite ids, gateway preference first.
 * Absent → `defaultSuites()` (the runtime's fastest AEAD first).
 */
export function validateSuites(suites: unknown, where: Where = optionAt("suites")): SuiteId[] {
  if (suites === undefined) return defaultSuites();
  if (!Array.isArray(suites) || suites.length === 0) {
    configFail(where, `must be a non-empty array of suite ids (${SUITES.join(", ")})`);
  }
  const seen = new Set<number>();
  for (const s of suites) {
    if (!(SUITES as readonly number[]).includes(s)) {
      configFail(
        where,
        `contains unknown suite ${JSON.stringify(s)} (known: ${SUITES.join(", ")})`,
      );
    }
    if (seen.has(s)) configFail(where, `lists suite ${s} twice`);
    seen.add(s);
  }
  return suites as SuiteId[];
}

/** Merges `options.limits` over DEFAULT_LIMITS and checks every field. */
export function validateLimits(
  limits: unknown,
  where: Where = optionAt("limits"),
): Required<SessionLimits> {
  if (limits === undefined) return { ...DEFAULT_LIMITS };
  if (typeof limits !== "object" || limits === null || Array.isArray(limits)) {
    configFail(where, "must be an object");
  }
  const out: Required<SessionLimits> = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(limits as Record<string, unknown>)) {
    if (!(name in DEFAULT_LIMITS)) {
      configFail(
        within(where, name),
        `is not a known limit (known: ${Object.keys(DEFAULT_LIMITS).join(", ")})`,
      );
    }
    if (value === undefined) continue;
    const [min, max] = LIMIT_RANGES[name] ?? [1, U32_MAX];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      configFail(
        within(where, name),
        `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      );
    }
    (out as unknown as Record<string, number>)[name] = value;
  }
  return out;
}

export function validateChannelPath(p: unknown, where: Where = optionAt("channelPath")): string {
  if (p === undefined) return DEFAULT_CHANNEL_PATH;
  if (
    typeof p !== "string" || !/^\/[A-Za-z0-9._~\-\/]*$/.test(p) || p.includes("//") || p === "/"
  ) {
    configFail(where, `must be an absolute path like "/pqgate", got ${JSON.stringify(p)}`);
  }
  if (p === "/healthz" || p === "/readyz" || p.startsWith("/.well-known/")) {
    configFail(where, `${JSON.stringify(p)} collides with a built-in endpoint`);
  }
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

export function validatePositiveMs(
  name: string,
  v: unknown,
  dflt: number,
  where: Where = optionAt(name),
): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0 || v > U32_MAX) {
    configFail(
      where,
      `must be a positive integer number of milliseconds, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/** A timer length in ms where 0 means "none": an integer from 0 to 2^31 - 1. */
export function validateOptionalMs(
  name: string,
  v: unknown,
  dflt: number,
  where: Where = optionAt(name),
): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    configFail(
      where,
      `must be an integer number of milliseconds from 0 (none) to 2147483647, got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

export function validateFunction<T>(name: string, v: unknown): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "function") configError([name], "must be a function");
  return v as T;
}

export function validateServices(v: unknown): Record<string, ServiceBinding> {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    configError(["services"], "must be an object mapping service names to bindings");
  }
  for (const [name, b] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      configError(["services"], `has an invalid name ${JSON.stringify(name)}`);
    }
    const ok = typeof b === "function" ||
      (typeof b === "object" && b !== null &&
        typeof (b as { fetch?: unknown }).fetch === "function");
    if (!ok) configError(["services", name], "must be a function or an object with fetch()");
  }
  return v as Record<string, ServiceBinding>;
}

export function validateEnv(v: unknown): Env | undefined {
  if (v === undefined) return undefined;
  const e = v as Partial<Env>;
  if (
    typeof e !== "object" || e === null || typeof e.now !== "function" ||
    typeof e.random !== "function"
  ) {
    configError(["env"], "must be { now(): number, random(n): Uint8Array }");
  }
  return e as Env;
}
