/**
 * The session seam: the one place that says what a transport drives (`GatewaySession`), what a
 * gateway session is built from (`SessionOptions`, `SessionClass`) and what it writes to
 * (`Socket`, types.ts). ServerSession (server-session.ts) implements it; createGateway
 * (`createSession`, `sessionConfig`) and every transport (the Durable Object, the node:http
 * server, Deno.upgradeWebSocket) speak only these types.
 *
 * Transport contract:
 * - call `receive(message)` for every WebSocket message, in order, and `onSocketClose` when
 *   the socket closed;
 * - the session never starts timers for its deadlines: after constructing it and after every
 *   `receive()` / `onTimer()` call, (re)arm a timer or alarm for `nextDeadline()` and call
 *   `onTimer(now)` when it fires (deadlines only move later, except right after construction);
 * - a ClientHello the client carried in the upgrade request (PROTOCOL.md §1; read by
 *   client-hello.ts `helloFromUpgrade`, kind "url") is the session's first message: pass it to
 *   `receive()` right after creating the session, before any WebSocket message (the session
 *   cannot tell it from a first WebSocket message, so every check and close code is the same);
 *   select the `protocol` that `helloFromUpgrade` returns in the 101;
 * - with `persist` set, every snapshot handed to it must be durable before the call returns
 *   (e.g. `ws.serializeAttachment`); a restored session comes from `SessionClass.resume`.
 */
import type { ConnectionKem } from "../crypto/select.ts";
import type { SuiteId } from "../protocol/constants.ts";
import type { RecordLimits } from "../protocol/record-layer.ts";
import type { Aead } from "../protocol/types.ts";
import type { EventLog } from "./events.ts";
import type {
  AuthVerifier,
  Env,
  RequestHandler,
  SessionLimits,
  Socket,
  StaticKey,
} from "./types.ts";

export type { Socket };

/** Where a gateway session is: "established" and "closed" end the handshake. */
export type SessionState = "start" | "serverHelloSent" | "established" | "closed";

/** The session a transport drives (implemented by ServerSession). */
export interface GatewaySession {
  /**
   * One WebSocket message. Never throws for protocol errors (they close the channel). Returns a
   * Promise (that never rejects) only while the ClientHello is in the KEM's async hop; messages
   * received meanwhile are held and replayed in order, so a transport may ignore it.
   */
  receive(message: Uint8Array<ArrayBuffer> | string): void | Promise<void>;
  /** The WebSocket closed (by the peer or the platform). */
  onSocketClose(code: number, reason: string): void;
  /** The next time (ms, `env.now()` clock) `onTimer` must run, or null when none. */
  nextDeadline(): number | null;
  /** Runs whatever is due at `now`: handshake timeout, idle PING / timeout, session lifetime. */
  onTimer(now: number): void;
  /** Graceful shutdown: CLOSE frame (1001) then WebSocket close 1001 "going away". */
  shutdown(): void;
  /**
   * Graceful drain (docs/operations.md): new streams are refused with REFUSED (PROTOCOL.md
   * §6.5, not processed), and `shutdown()` follows as soon as no stream is open (at once when
   * none is, or when the channel is not established). The transport bounds it with its deadline.
   */
  drain?(): void;
  /** Read after every event by transports that count handshakes in flight. */
  readonly state: SessionState;
}

/** What a transport needs to start sessions: the factory, and the clock their deadlines use. */
export interface SessionFactory {
  /** Creates the ServerSession for an accepted socket; the transport feeds it events. */
  createSession(socket: Socket, clientAddress: string | null): GatewaySession;
  /** The gateway clock (ms), for `onTimer(now)` and deadlines. */
  clock(): number;
}

/** What a gateway session is built from (ServerSession's constructor). */
export interface SessionOptions {
  socket: Socket;
  keys: StaticKey[];
  suites?: SuiteId[];
  allowAnonymous?: boolean;
  /**
   * Client authentication (docs/client-auth.md): the credential checks behind the psk and
   * client_auth ClientHello extensions and AUTH frames. Absent: no method is enabled (a client
   * that asks for one gets the refusal PROTOCOL.md specifies).
   */
  auth?: AuthVerifier;
  env: Env;
  limits: SessionLimits;
  handler: RequestHandler;
  clientAddress?: string | null;
  /** The observation seam (events.ts): structured events; fields never carry secrets. */
  log?: EventLog;
  /**
   * Hibernation: called synchronously with the session snapshot after the handshake, before
   * any record that uses newly reserved sequence numbers, after each received record (so a
   * restore keeps the replay high-water mark) and after KeyUpdates.
   */
  persist?: (snapshot: Uint8Array) => void;
  /** Sequence numbers reserved per persisted snapshot (default 256). */
  reserveBlock?: number;
  /**
   * Hybrid KEM backend (default noble X-Wing). When it has `prepareServer` (a per-connection
   * `PreparedXWing` from src/crypto), the ClientHello first goes through that async hop (native
   * ML-KEM), then through the sync core; `receive` returns a Promise for that message.
   */
  kem?: ConnectionKem;
  /** AEAD per suite for the record layer (default: the core's noble AEADs). */
  aead?: (suite: SuiteId) => Aead;
  /** Record-layer key-usage limits (tests lower the soft limits). */
  recordLimits?: Partial<RecordLimits>;
  /**
   * Tests: the output budget's poll interval and low-water mark (the marks themselves are
   * `limits.maxBufferedBytes` / `limits.maxUnackedBytes`).
   */
  drain?: { pollMs?: number; lowWater?: number };
}

/**
 * A session class for transports that build and restore sessions themselves (the Durable
 * Object after a wake). `ServerSession` itself satisfies it (constructor + static resume).
 */
export interface SessionClass {
  new (opts: SessionOptions): GatewaySession;
  resume(snapshot: Uint8Array, opts: SessionOptions): GatewaySession;
}

/**
 * Per-connection crypto (the gateway's `sessionConfig.crypto`): `kem()` a fresh KEM for one
 * connection (SessionOptions `kem`), `aead()` the AEADs (SessionOptions `aead`); undefined =
 * the core's noble.
 */
export interface SessionCrypto {
  kem(): ConnectionKem | undefined;
  aead(): ((suite: SuiteId) => Aead) | undefined;
}
