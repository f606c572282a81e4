/**
 * `pqgate/hono`: the gateway as Hono building blocks, for a user's own Hono app on Deno, Node or
 * Cloudflare Workers. The public surface of the gateway; everything else in src/ is internal.
 *
 *   import { Hono } from "hono";
 *   import { createGateway, gatewayOptionsFromEnv } from "pqgate/hono";
 *
 *   const { logOff: _, ...options } = gatewayOptionsFromEnv({ PQGATE_KEYS: secret });
 *   const gateway = createGateway({ ...options, services: { api: myApi } });
 *   const app = new Hono();
 *   app.route("/pq", gateway.app); // channel /pq/pqgate, key config /pq/.well-known/pqgate
 *
 * Mounted under a prefix, the key configuration is served under it too: clients pass
 * `keyConfigUrl: "https://host/pq/.well-known/pqgate"` to `connect()` (pqgate/client), or the
 * app also serves it at the root with `app.get("/.well-known/pqgate", gateway.keyConfigHandler)`
 * (docs/configuration.md, "Mounting"). The WebSocket upgrade is the platform's: `pqgate/deno`
 * (serveDeno, denoTransport) on Deno; any other transport passes an `Upgrader` as
 * `createGateway({ upgrade })` or in the Hono env under `UPGRADE_ENV_KEY`.
 *
 * `hono` is a peer dependency: the gateway's app and the user's app share one Hono.
 */
export {
  createGateway,
  type Gateway,
  type GatewayCryptoReport,
  type GatewayOptions,
  type GatewaySession,
  type SessionConfig,
  UPGRADE_ENV_KEY,
  type UpgradeArgs,
  type Upgrader,
} from "./gateway/create-gateway.ts";
export {
  ConfigError,
  type EnvGatewayOptions,
  GATEWAY_ENV_VARS,
  type GatewayEnv,
  gatewayOptionsFromEnv,
} from "./gateway/config.ts";
export type { KeyConfigEntry, KeyConfiguration } from "./gateway/key-config.ts";
export {
  DEFAULT_CHANNEL_PATH,
  DEFAULT_LIMITS,
  type GatewayLog,
  type ServiceBinding,
} from "./gateway/options.ts";
export type { RouteConfig } from "./proxy/routes.ts";
/** Client authentication (docs/configuration.md §6): createGateway `auth` and its inputs. */
export type { GatewayAuth } from "./gateway/auth-options.ts";
// The modules themselves, not src/auth/mod.ts (its Argon2id exports carry WebAssembly types).
export type { AuthOptions, TokenOptions } from "./auth/options.ts";
export { parseUsersFile } from "./auth/users-file.ts";
export { parsePskFile } from "./auth/psk-file.ts";
export type {
  AuthFailure,
  AuthMethod,
  AuthOutcome,
  AuthVerifier,
  ClientIdentity,
} from "./tunnel/types.ts";
export { type SuiteId, SUITES } from "./protocol/constants.ts";
export { generateStaticKey, pinFor } from "./protocol/static-keys.ts";
export type { StaticKey } from "./protocol/types.ts";
export type { SessionCrypto, SessionFactory, SessionState, Socket } from "./tunnel/session-seam.ts";
export type { SessionLimits } from "./tunnel/types.ts";
/** Observation (docs/operations.md): the typed event seam and the JSON/text line writer. */
export {
  EVENT_LEVELS,
  type EventFields,
  type EventLog,
  type EventName,
  type LogLevel,
  REFUSAL_REASONS,
  type RefusalReason,
  teeLogs,
} from "./tunnel/events.ts";
export {
  batchedLines,
  createLogWriter,
  type LogFormat,
  type LogThreshold,
  type LogWriterOptions,
} from "./gateway/log-writer.ts";
export { parseLogLevel } from "./gateway/config.ts";
