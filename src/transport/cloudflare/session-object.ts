/**
 * The Cloudflare transport: a thin Durable Object that maps platform events onto a
 * ServerSession (docs/cloudflare.md, PROTOCOL.md §5.5). It owns no protocol logic.
 *
 *   fetch (upgrade)        → WebSocketPair, ctx.acceptWebSocket (hibernation API), new session
 *   webSocketMessage       → session.receive(bytes)   (rebuilt from the attachment after a wake)
 *   webSocketClose/Error   → session.onSocketClose, then reciprocate the close
 *   alarm                  → session.onTimer(now) for every socket; deadlines use the one DO
 *                            alarm, never setTimeout, so an idle object can hibernate
 *
 * Hibernation: the constructor runs again on the next event and the in-memory map is empty;
 * each socket's state is then read back from its attachment (attachment.ts). A socket whose
 * attachment shows a handshake in progress closes with 4000 handshake_timeout (half-done
 * handshakes are never persisted); a malformed or unknown-version attachment, or a snapshot
 * the session refuses, closes with 4014 internal_error.
 */
import { CLOSE_CODES, CLOSE_NORMAL, CLOSE_REASONS } from "../../protocol/errors.ts";
import type {
  Env,
  RequestHandler,
  SessionLimits,
  Socket,
  StaticKey,
  SuiteId,
} from "../../tunnel/types.ts";
import type { Aead } from "../../protocol/types.ts";
import type { ConnectionKem } from "../../crypto/select.ts";
import {
  type Attachment,
  closedAttachment,
  establishedAttachment,
  handshakeAttachment,
  parseAttachment,
} from "./attachment.ts";
import { type DurableObjectContext, type HibernatableWebSocket, platform } from "./platform.ts";

/** What the object needs from ServerSession (src/tunnel/server-session.ts). */
export interface SessionLike {
  receive(message: Uint8Array<ArrayBuffer> | string): unknown;
  onSocketClose(code: number, reason: string): void;
  nextDeadline(): number | null | undefined;
  onTimer(now: number): void;
  shutdown(): void;
}

export interface SessionOptions {
  socket: Socket;
  keys: StaticKey[];
  suites?: SuiteId[];
  allowAnonymous?: boolean;
  env: Env;
  limits: SessionLimits;
  handler: RequestHandler;
  clientAddress?: string | null;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  persist?: (snapshot: Uint8Array) => void;
  /** Per-connection KEM (native ML-KEM where selected); undefined = the core's noble. */
  kem?: ConnectionKem;
  /** AEAD per suite (native where selected); undefined = the core's noble. */
  aead?: (suite: SuiteId) => Aead;
}

/** `ServerSession` itself satisfies this (constructor + static resume). */
export interface SessionClass {
  new (opts: SessionOptions): SessionLike;
  resume(snapshot: Uint8Array, opts: SessionOptions): SessionLike;
}

/** Everything the object needs, derived once per isolate from the Worker's env. */
export interface SessionObjectConfig {
  Session: SessionClass;
  keys: StaticKey[];
  limits: SessionLimits;
  handler: RequestHandler;
  suites?: SuiteId[];
  allowAnonymous?: boolean;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** Crypto backends per connection (the gateway's `sessionConfig.crypto`); noble if absent. */
  crypto?: { kem(): ConnectionKem | undefined; aead(): ((suite: SuiteId) => Aead) | undefined };
  /** Tests: observe every message the object sends (wire-level, after sealing). */
  onSend?: (bytes: Uint8Array) => void;
}

/** Header by which the Worker tells the object the client's address (CF-Connecting-IP). */
export const CLIENT_ADDRESS_HEADER = "x-pqgate-client-address";

const RESERVED_CLOSE = new Set([1005, 1006, 1015]);

function randomSource(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) {
    crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  }
  return out;
}

const platformEnv: Env = { now: () => Date.now(), random: randomSource };

export type SessionObjectConfigure<E> = (
  env: E,
) => SessionObjectConfig | Promise<SessionObjectConfig>;

/** A Durable Object class as the runtime instantiates it. */
export interface SessionObjectClass<E> {
  new (ctx: DurableObjectContext, env: E): SessionObject<E>;
}

/**
 * Build the Durable Object class for a given configuration source:
 * `class PqgateSession extends definePqgateSession(configure) {}` (what pqgate/cloudflare
 * exports, src/transport/cloudflare/worker.ts).
 */
export function definePqgateSession<E>(
  configure: SessionObjectConfigure<E>,
): SessionObjectClass<E> {
  return class PqgateSessionObject extends SessionObject<E> {
    constructor(ctx: DurableObjectContext, env: E) {
      super(ctx, env, configure);
    }
  };
}

/** The Durable Object's behaviour (a named class, so that its declarations can be emitted). */
export class SessionObject<E> {
  readonly ctx: DurableObjectContext;
  readonly env: E;
  /** In-memory sessions; empty again after every wake from hibernation. */
  readonly sessions: Map<HibernatableWebSocket, SessionLike> = new Map();
  /**
   * Alarm time as last set by this instance; undefined = unknown (fresh after a wake). Reset
   * by the tests' eviction hook (tests/cloudflare/test-hooks.ts), hence not private.
   */
  protected scheduled: number | null | undefined = undefined;
  private config: SessionObjectConfig | undefined;
  private readonly configure: SessionObjectConfigure<E>;

  constructor(ctx: DurableObjectContext, env: E, configure: SessionObjectConfigure<E>) {
    this.ctx = ctx;
    this.env = env;
    this.configure = configure;
  }

  private async cfg(): Promise<SessionObjectConfig> {
    return this.config ??= await this.configure(this.env);
  }

  async fetch(request: Request): Promise<Response> {
    const cfg = await this.cfg();
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const clientAddress = request.headers.get(CLIENT_ADDRESS_HEADER) || null;
    const { client, server } = platform.newWebSocketPair();
    this.ctx.acceptWebSocket(server);
    const attachment = handshakeAttachment(Date.now(), clientAddress);
    server.serializeAttachment(attachment);
    try {
      this.sessions.set(server, new cfg.Session(this.options(cfg, server, attachment)));
      await this.arm();
    } catch (e) {
      // Answer the upgrade anyway, so the client learns why (4014) instead of a bare 500.
      this.fail(cfg, server, e);
    }
    const protocol = request.headers.get("sec-websocket-protocol");
    const headers = protocol
      ? { "sec-websocket-protocol": protocol.split(",")[0].trim() }
      : undefined;
    return platform.upgradeResponse(client, headers);
  }

  async webSocketMessage(ws: HibernatableWebSocket, message: ArrayBuffer | string): Promise<void> {
    const cfg = await this.cfg();
    const session = this.sessionFor(cfg, ws);
    if (!session) return;
    const bytes = typeof message === "string" ? message : new Uint8Array(message);
    let pending: unknown;
    try {
      pending = session.receive(bytes);
    } catch (e) {
      this.fail(cfg, ws, e);
    }
    await this.arm();
    if (pending instanceof Promise) {
      try {
        await pending;
      } catch (e) {
        this.fail(cfg, ws, e);
      }
      await this.arm();
    }
  }

  async webSocketClose(
    ws: HibernatableWebSocket,
    code: number,
    reason: string,
    _wasClean?: boolean,
  ): Promise<void> {
    const session = this.sessions.get(ws);
    this.sessions.delete(ws);
    this.config?.log?.("cf.websocket_close", { code, live: !!session });
    if (session) {
      try {
        session.onSocketClose(code, reason);
      } catch { /* the socket is gone either way */ }
    }
    // The hibernation API requires answering the peer's close frame (otherwise the client
    // sees 1006 after a timeout). Reserved codes cannot be sent: normalize them to 1000.
    safeClose(ws, RESERVED_CLOSE.has(code) ? CLOSE_NORMAL : code, reason);
    await this.arm();
  }

  async webSocketError(ws: HibernatableWebSocket, _error: unknown): Promise<void> {
    const session = this.sessions.get(ws);
    this.sessions.delete(ws);
    if (session) {
      try {
        session.onSocketClose(1006, "socket error");
      } catch { /* ignore */ }
    }
    await this.arm();
  }

  async alarm(): Promise<void> {
    this.scheduled = null; // a fired alarm is cleared by the runtime
    const cfg = await this.cfg();
    const now = Date.now();
    for (const ws of this.ctx.getWebSockets()) {
      const session = this.sessionFor(cfg, ws);
      if (!session) continue;
      try {
        session.onTimer(now);
      } catch (e) {
        this.fail(cfg, ws, e);
      }
    }
    await this.arm();
  }

  /** The session of `ws`, rebuilt from its attachment after a wake; null when closed. */
  private sessionFor(cfg: SessionObjectConfig, ws: HibernatableWebSocket): SessionLike | null {
    const live = this.sessions.get(ws);
    if (live) return live;
    let attachment: Attachment;
    try {
      attachment = parseAttachment(ws.deserializeAttachment());
    } catch (e) {
      cfg.log?.("cf.attachment_invalid", { error: String((e as Error).message) });
      markClosed(ws);
      closeWith(ws, "internal_error");
      return null;
    }
    if (attachment.st === "c") return null; // closed by us; a late event
    if (attachment.st === "h") {
      // Woke mid-handshake: nothing was persisted, the client retries.
      ws.serializeAttachment(closedAttachment(attachment));
      closeWith(ws, "handshake_timeout");
      return null;
    }
    let session: SessionLike;
    try {
      session = cfg.Session.resume(attachment.ss, this.options(cfg, ws, attachment));
    } catch (e) {
      cfg.log?.("cf.resume_failed", { error: String((e as Error).message) });
      ws.serializeAttachment(closedAttachment(attachment));
      closeWith(ws, "internal_error");
      return null;
    }
    this.sessions.set(ws, session);
    cfg.log?.("cf.resumed", { object: this.ctx.id.toString() });
    // The restored session keeps its deadlines (the idle clock is in the snapshot): whatever
    // fell due while the object slept runs now, before the event that woke it. An idle
    // deadline that passed closes the channel with 4008 even if a message woke the object.
    try {
      session.onTimer(Date.now());
    } catch (e) {
      this.fail(cfg, ws, e);
    }
    return this.sessions.get(ws) === session ? session : null;
  }

  private options(
    cfg: SessionObjectConfig,
    ws: HibernatableWebSocket,
    initial: Attachment,
  ): SessionOptions {
    let current = initial;
    const sessions = this.sessions;
    const socket: Socket = {
      send(bytes) {
        cfg.onSend?.(bytes);
        ws.send(bytes);
      },
      close(code, reason) {
        sessions.delete(ws);
        current = closedAttachment(current);
        try {
          ws.serializeAttachment(current);
        } catch { /* socket already gone */ }
        safeClose(ws, code, reason);
      },
      get bufferedAmount() {
        const b = ws.bufferedAmount;
        return typeof b === "number" ? b : 0;
      },
    };
    return {
      socket,
      keys: cfg.keys,
      suites: cfg.suites,
      allowAnonymous: cfg.allowAnonymous,
      env: platformEnv,
      limits: cfg.limits,
      handler: cfg.handler,
      clientAddress: initial.ca,
      log: cfg.log,
      kem: cfg.crypto?.kem(),
      aead: cfg.crypto?.aead(),
      // Synchronous and before any send that depends on it (PROTOCOL.md §5.5): throws if the
      // snapshot cannot be stored, so the session never sends past an unsaved reservation.
      persist(snapshot) {
        const next = establishedAttachment(current, snapshot);
        ws.serializeAttachment(next);
        current = next;
      },
    };
  }

  private fail(cfg: SessionObjectConfig, ws: HibernatableWebSocket, e: unknown): void {
    cfg.log?.("cf.session_error", { error: String((e as Error)?.message ?? e) });
    const session = this.sessions.get(ws);
    this.sessions.delete(ws);
    try {
      session?.shutdown();
    } catch { /* ignore */ }
    markClosed(ws);
    closeWith(ws, "internal_error");
  }

  /** Arm the DO alarm for the earliest session deadline; avoids storage writes when possible. */
  private async arm(): Promise<void> {
    let next = Infinity;
    for (const s of this.sessions.values()) {
      const d = s.nextDeadline();
      if (typeof d === "number" && Number.isFinite(d) && d < next) next = d;
    }
    const storage = this.ctx.storage;
    if (this.scheduled === undefined) this.scheduled = await storage.getAlarm();
    if (next === Infinity) {
      // Only delete when nothing at all is open: sockets not yet rebuilt after a wake still
      // need the alarm that was set for them.
      if (this.scheduled !== null && this.ctx.getWebSockets().length === 0) {
        this.scheduled = null;
        await storage.deleteAlarm();
      }
      return;
    }
    // An earlier alarm is harmless (it fires, finds nothing due, re-arms), so an idle timer
    // that moves later on every message costs no storage write. But an alarm much earlier
    // than needed (the handshake deadline, once the handshake is done) would wake an idle
    // object for nothing and delay its hibernation: move it when it is early by more than
    // half the remaining time (at most one write per half idle period under traffic).
    // A kept alarm is never later than `next`, so a deadline is never missed by this: the
    // precision is the platform's alarm delivery. Sockets not rebuilt since a wake are not in
    // `sessions`, and their deadline may be the pending alarm: never move it later then.
    const now = Date.now();
    const slack = Math.max(1000, (next - now) / 2);
    if (this.scheduled !== null && this.scheduled <= next && this.scheduled >= next - slack) return;
    if (
      this.scheduled !== null && this.scheduled < next &&
      this.ctx.getWebSockets().length > this.sessions.size
    ) return;
    this.scheduled = next;
    await storage.setAlarm(next);
  }
}

/** Erase the secrets from a socket's attachment; late events for it are then ignored. */
function markClosed(ws: HibernatableWebSocket): void {
  try {
    let prev: Attachment;
    try {
      prev = parseAttachment(ws.deserializeAttachment());
    } catch {
      prev = handshakeAttachment(0, null);
    }
    ws.serializeAttachment(closedAttachment(prev));
  } catch { /* socket already gone */ }
}

function closeWith(ws: HibernatableWebSocket, code: keyof typeof CLOSE_CODES): void {
  safeClose(ws, CLOSE_CODES[code], CLOSE_REASONS[code]);
}

function safeClose(ws: HibernatableWebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch { /* already closed */ }
}
