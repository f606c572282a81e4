/**
 * The few Cloudflare Workers / Durable Object shapes the transport uses, declared structurally.
 *
 * Why not `@cloudflare/workers-types`: its globals (Response, WebSocket, ...) collide with
 * Deno's, and `deno check src/` must type-check this folder. The subset below is exactly what
 * the code calls, so a fake of it (tests/cloudflare/fakes.ts) drives the Durable Object under
 * Deno, and the real runtime satisfies it structurally.
 */

/** A server-side WebSocket accepted with `ctx.acceptWebSocket` (hibernation API). */
export interface HibernatableWebSocket {
  send(message: ArrayBuffer | ArrayBufferView | string): void;
  close(code?: number, reason?: string): void;
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
  readonly readyState: number;
  /** Absent in some workerd versions; treated as 0 then. */
  readonly bufferedAmount?: number;
}

/** `ctx.storage`, alarm subset. */
export interface AlarmStorage {
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number | Date): Promise<void>;
  deleteAlarm(): Promise<void>;
}

/** `DurableObjectState` subset. */
export interface DurableObjectContext {
  acceptWebSocket(ws: HibernatableWebSocket, tags?: string[]): void;
  getWebSockets(tag?: string): HibernatableWebSocket[];
  readonly storage: AlarmStorage;
  readonly id: { toString(): string };
}

/** A Durable Object handle or a service binding: anything with `fetch`. */
export interface Fetcher {
  fetch(input: Request | string | URL, init?: RequestInit): Promise<Response>;
}

export interface DurableObjectId {
  toString(): string;
}

/** `DurableObjectNamespace` subset. */
export interface DurableObjectNamespace {
  newUniqueId(): DurableObjectId;
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): Fetcher;
}

/** workerd's `WebSocketPair` (a global there, absent elsewhere). */
export interface WebSocketPairLike {
  0: HibernatableWebSocket;
  1: HibernatableWebSocket;
}

/** `new WebSocketPair()` from the global scope. */
function newWebSocketPair(): { client: unknown; server: HibernatableWebSocket } {
  const Ctor = (globalThis as unknown as { WebSocketPair?: new () => WebSocketPairLike })
    .WebSocketPair;
  if (!Ctor) throw new Error("WebSocketPair is not available outside workerd");
  const pair = new Ctor();
  return { client: pair[0], server: pair[1] };
}

/**
 * A 101 response carrying the client end of the pair. workerd's ResponseInit has a `webSocket`
 * member that the standard type lacks; the status 101 is only valid with it.
 */
function upgradeResponse(client: unknown, headers?: HeadersInit): Response {
  const init = { status: 101, webSocket: client, headers } as unknown as ResponseInit;
  return new Response(null, init);
}

/**
 * The two workerd-only constructors, behind one seam: tests under Deno replace them with
 * doubles (Deno's Response refuses status 101 and has no WebSocketPair).
 */
export const platform = { newWebSocketPair, upgradeResponse };
