/**
 * The Cloudflare transport: a thin Durable Object that maps platform events onto a session
 * (src/tunnel/session-seam.ts; docs/cloudflare.md, PROTOCOL.md §5.5). It owns no protocol logic.
 *
 *   fetch (upgrade)        → WebSocketPair, ctx.acceptWebSocket (hibernation API), new session;
 *                            a ClientHello in the upgrade URL (PROTOCOL.md §1) is its first
 *                            message, and the 101 selects `pqgate.hello`
 *   webSocketMessage       → session.receive(bytes)   (rebuilt from the attachment after a wake)
 *   webSocketClose/Error   → session.onSocketClose, then reciprocate the close
 *   alarm                  → session.onTimer(now) for every socket
 *
 * After every event the one DO alarm is re-armed for the earliest deadline (alarm-policy.ts).
 * Hibernation: the constructor runs again on the next event and the in-memory map is empty;
 * each socket's session is then rebuilt from its attachment (session-restore.ts). Sessions are
 * built by session-options.ts; a session that throws is closed with 4014 (socket-close.ts).
 */
import type { GatewaySession, SessionOptions } from "../../tunnel/session-seam.ts";
import { helloFromUpgrade } from "../../tunnel/client-hello.ts";
import { type Attachment, handshakeAttachment } from "./attachment.ts";
import { DeadlineAlarm, runOverdue } from "./alarm-policy.ts";
import { type DurableObjectContext, type HibernatableWebSocket, platform } from "./platform.ts";
import { abandon, reciprocateClose, tellClosed } from "./socket-close.ts";
import { type SessionObjectConfig, socketSessionOptions } from "./session-options.ts";
import { restoreSession } from "./session-restore.ts";

export type { SessionObjectConfig };

/** Header by which the Worker tells the object the client's address (CF-Connecting-IP). */
export const CLIENT_ADDRESS_HEADER = "x-pqgate-client-address";

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
  readonly sessions: Map<HibernatableWebSocket, GatewaySession> = new Map();
  /** The DO alarm; forgotten by the tests' eviction hook (tests/cloudflare/test-hooks.ts). */
  protected readonly deadlineAlarm: DeadlineAlarm;
  private config: SessionObjectConfig | undefined;
  private readonly configure: SessionObjectConfigure<E>;

  constructor(ctx: DurableObjectContext, env: E, configure: SessionObjectConfigure<E>) {
    this.ctx = ctx;
    this.env = env;
    this.configure = configure;
    this.deadlineAlarm = new DeadlineAlarm(ctx);
  }

  private async cfg(): Promise<SessionObjectConfig> {
    return this.config ??= await this.configure(this.env);
  }

  async fetch(request: Request): Promise<Response> {
    const cfg = await this.cfg();
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const reading = helloFromUpgrade(request.url, request.headers.get("sec-websocket-protocol"));
    // The Worker refuses a too-long hello before it gets here; a direct request still may not.
    if (reading.kind === "refuse") {
      return new Response(reading.message, { status: reading.status });
    }
    const clientAddress = request.headers.get(CLIENT_ADDRESS_HEADER) || null;
    const { client, server } = platform.newWebSocketPair();
    this.ctx.acceptWebSocket(server);
    const attachment = handshakeAttachment(Date.now(), clientAddress);
    server.serializeAttachment(attachment);
    let pending: unknown;
    try {
      const session = new cfg.Session(this.options(cfg, server, attachment));
      this.sessions.set(server, session);
      // The URL's ClientHello is the first message (session-seam.ts); its ServerHello goes out
      // once the socket is accepted. An async KEM hop finishes after the 101 is returned.
      if (reading.kind === "url") {
        pending = this.guarded(cfg, server, () => session.receive(reading.hello));
      }
      await this.arm();
    } catch (e) {
      // Answer the upgrade anyway, so the client learns why (4014) instead of a bare 500.
      this.fail(cfg, server, e);
    }
    if (pending instanceof Promise) {
      pending.then(() => this.arm(), (e) => this.fail(cfg, server, e)).catch(() => {});
    }
    const headers = reading.protocol !== null
      ? { "sec-websocket-protocol": reading.protocol }
      : undefined;
    return platform.upgradeResponse(client, headers);
  }

  async webSocketMessage(ws: HibernatableWebSocket, message: ArrayBuffer | string): Promise<void> {
    const cfg = await this.cfg();
    const session = this.sessionFor(cfg, ws);
    if (!session) return;
    const bytes = typeof message === "string" ? message : new Uint8Array(message);
    const pending = this.guarded(cfg, ws, () => session.receive(bytes));
    await this.arm();
    if (pending instanceof Promise) {
      await pending.catch((e) => this.fail(cfg, ws, e));
      await this.arm();
    }
  }

  async webSocketClose(
    ws: HibernatableWebSocket,
    code: number,
    reason: string,
    _wasClean?: boolean,
  ): Promise<void> {
    const session = this.take(ws);
    this.config?.log?.("cf.websocket_close", { code, live: !!session });
    tellClosed(session, code, reason);
    reciprocateClose(ws, code, reason);
    await this.arm();
  }

  async webSocketError(ws: HibernatableWebSocket, _error: unknown): Promise<void> {
    tellClosed(this.take(ws), 1006, "socket error");
    await this.arm();
  }

  async alarm(): Promise<void> {
    this.deadlineAlarm.fired(); // a fired alarm is cleared by the runtime
    const cfg = await this.cfg();
    const now = Date.now();
    for (const ws of this.ctx.getWebSockets()) {
      const session = this.sessionFor(cfg, ws);
      if (session) this.guarded(cfg, ws, () => session.onTimer(now));
    }
    await this.arm();
  }

  /** The session of `ws`, rebuilt from its attachment after a wake; null when closed. */
  private sessionFor(cfg: SessionObjectConfig, ws: HibernatableWebSocket): GatewaySession | null {
    const live = this.sessions.get(ws);
    if (live) return live;
    const session = restoreSession(ws, cfg.Session, (a) => this.options(cfg, ws, a), cfg.log);
    if (!session) return null;
    this.sessions.set(ws, session);
    cfg.log?.("cf.resumed", { object: this.ctx.id.toString() });
    this.guarded(cfg, ws, () => runOverdue(session, Date.now()));
    return this.sessions.get(ws) === session ? session : null;
  }

  /** Forgets the in-memory session of `ws` and returns it. */
  private take(ws: HibernatableWebSocket): GatewaySession | undefined {
    const session = this.sessions.get(ws);
    this.sessions.delete(ws);
    return session;
  }

  private options(
    cfg: SessionObjectConfig,
    ws: HibernatableWebSocket,
    attachment: Attachment,
  ): SessionOptions {
    return socketSessionOptions(cfg, ws, attachment, () => this.sessions.delete(ws));
  }

  /** One session call; a throw closes the socket with 4014. */
  private guarded<T>(cfg: SessionObjectConfig, ws: HibernatableWebSocket, call: () => T): T | void {
    try {
      return call();
    } catch (e) {
      this.fail(cfg, ws, e);
    }
  }

  private fail(cfg: SessionObjectConfig, ws: HibernatableWebSocket, e: unknown): void {
    cfg.log?.("cf.session_error", { error: String((e as Error)?.message ?? e) });
    abandon(ws, this.take(ws));
  }

  private arm(): Promise<void> {
    return this.deadlineAlarm.arm(this.sessions);
  }
}
