/**
 * The limits the abuse matrix's gateway process runs with (gateway-process.ts) and the test
 * asserts against (abuse-matrix.test.ts). Small, so each bound is reached within a few seconds;
 * every name is a documented option (docs/configuration.md).
 */
import type { SessionLimits } from "../../src/tunnel/types.ts";

export const MiB = 1024 * 1024;

/** createGateway `limits`. */
export const ABUSE_LIMITS: Partial<SessionLimits> = Object.freeze({
  maxStreams: 100,
  handshakeTimeoutMs: 1500,
  idleTimeoutMs: 60_000,
  maxControlFramesPerSecond: 1000,
  controlFrameBurst: 2000,
  maxBufferedBytes: 256 * 1024,
  maxUnackedBytes: 1 * MiB,
  maxWindowBytes: 16 * MiB,
});

/** serveDeno options (src/transport/deno/serve.ts). */
export const ABUSE_SERVE = Object.freeze({
  maxChannelsPerAddress: 32,
  maxHandshakesPerAddressPerMinute: 100,
  maxSockets: 300,
  maxHandshakesInFlight: 150,
  closeTimeoutMs: 1000,
  headersTimeoutMs: 2000,
});
