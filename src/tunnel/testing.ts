/**
 * Test support for the tunnel: a manual clock, a fixed gateway key, a client/gateway session
 * pair wired back to back over in-memory sockets, and a "raw" client that speaks frames
 * directly (to send what a well-behaved ClientSession never would). Tests only.
 */
import { concat } from "../protocol/bytes.ts";
import { decodeFrames, encodeFrames, type Frame } from "../protocol/frames.ts";
import { generateStaticKey } from "../protocol/static-keys.ts";
import { ClientHandshake, type ClientHandshakeOptions } from "../protocol/handshake-client.ts";
import { RecordLayer } from "../protocol/record-layer.ts";
import { seededRandom } from "../protocol/testing.ts";
import { ClientSession, type ClientSessionOptions } from "./client-session.ts";
import { type MemorySocket, type MemorySocketOptions, memorySocketPair } from "./memory-socket.ts";
import { ServerSession, type ServerSessionOptions } from "./server-session.ts";
import type { Env, RequestHandler, SessionLimits, StaticKey } from "./types.ts";

export class ManualClock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

export function testEnv(label: string, clock: ManualClock): Env {
  return { now: clock.now, random: seededRandom(label) };
}

export const TEST_KEY: StaticKey = generateStaticKey(seededRandom("tunnel test key")(32));

export const TEST_LIMITS: SessionLimits = {
  maxStreams: 100,
  maxHeaderBytes: 16384,
  maxBodyBytes: 0,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  sessionLifetimeMs: 3_600_000,
};

/** Echoes the request: status 200, `x-method`, `x-url`, body = request body. */
export const echoHandler: RequestHandler = (req) =>
  Promise.resolve(
    new Response(req.body, {
      status: 200,
      headers: {
        "x-method": req.method,
        "x-url": req.url,
        "x-req-header": req.headers.get("x-test") ?? "",
      },
    }),
  );

export function wireServer(server: ServerSession, socket: MemorySocket): void {
  socket.onmessage = (m) => server.receive(m);
  socket.onclose = (c, r) => server.onSocketClose(c, r);
}

export function wireClient(client: ClientSession, socket: MemorySocket): void {
  socket.onmessage = (m) => client.receive(m);
  socket.onclose = (c, r) => client.onSocketClose(c, r);
}

export interface PairOptions {
  handler?: RequestHandler;
  limits?: Partial<SessionLimits>;
  server?: Partial<ServerSessionOptions>;
  client?: Partial<ClientSessionOptions>;
  socket?: MemorySocketOptions;
  clock?: ManualClock;
  label?: string;
  /** rawClient: what its ClientHandshake announces (client authentication, PROTOCOL.md §3.4). */
  hello?: Partial<ClientHandshakeOptions>;
}

export interface Pair {
  client: ClientSession;
  server: ServerSession;
  cs: MemorySocket;
  ss: MemorySocket;
  clock: ManualClock;
  serverLog: { event: string; fields: Record<string, unknown> }[];
}

/** A ClientSession and a ServerSession connected back to back; the handshake is started. */
export function startPair(o: PairOptions = {}): Pair {
  const clock = o.clock ?? new ManualClock();
  const [cs, ss] = memorySocketPair(o.socket);
  const serverLog: Pair["serverLog"] = [];
  const server = new ServerSession({
    socket: ss,
    keys: [TEST_KEY],
    env: testEnv(`server ${o.label ?? ""}`, clock),
    limits: { ...TEST_LIMITS, ...o.limits },
    handler: o.handler ?? echoHandler,
    clientAddress: "192.0.2.1",
    log: (event, fields) => serverLog.push({ event, fields }),
    ...o.server,
  });
  const client = new ClientSession({
    socket: cs,
    env: testEnv(`client ${o.label ?? ""}`, clock),
    server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
    ...o.client,
  });
  wireServer(server, ss);
  wireClient(client, cs);
  client.start();
  return { client, server, cs, ss, clock, serverLog };
}

/** Polls `cond` on macrotasks until true; throws after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Lets all queued deliveries and microtasks run. */
export async function settle(ticks = 5): Promise<void> {
  for (let i = 0; i < ticks; i++) await new Promise((r) => setTimeout(r, 0));
}

export async function readAll(stream: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return concat(...parts);
}

/** A client that completes the handshake by hand and then sends arbitrary frames. */
export interface RawClient {
  server: ServerSession;
  cs: MemorySocket;
  ss: MemorySocket;
  clock: ManualClock;
  layer: RecordLayer;
  /** Seals `frames` into one record and sends it. */
  send(frames: Frame[]): Uint8Array;
  /** Frames received so far (records opened in order). */
  frames(): Frame[];
  /** Close seen by the client end, if any. */
  closed(): { code: number; reason: string } | null;
  serverLog: { event: string; fields: Record<string, unknown> }[];
}

export async function rawClient(o: PairOptions = {}): Promise<RawClient> {
  const clock = o.clock ?? new ManualClock();
  const [cs, ss] = memorySocketPair(o.socket);
  const serverLog: RawClient["serverLog"] = [];
  const server = new ServerSession({
    socket: ss,
    keys: [TEST_KEY],
    env: testEnv(`raw server ${o.label ?? ""}`, clock),
    limits: { ...TEST_LIMITS, ...o.limits },
    handler: o.handler ?? echoHandler,
    log: (event, fields) => serverLog.push({ event, fields }),
    ...o.server,
  });
  wireServer(server, ss);
  const inbox: Uint8Array[] = [];
  let closed: { code: number; reason: string } | null = null;
  cs.onmessage = (m) => {
    if (typeof m !== "string") inbox.push(m);
  };
  cs.onclose = (code, reason) => (closed = { code, reason });
  const hs = new ClientHandshake({
    server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
    random: seededRandom(`raw client ${o.label ?? ""}`),
    ...o.hello,
  });
  cs.send(hs.start());
  await waitFor(() => inbox.length > 0 || closed !== null, 5000, "ServerHello");
  const { clientFinished, keys } = hs.receiveServerHello(inbox.shift()!);
  cs.send(clientFinished);
  const layer = new RecordLayer({ role: "client", keys, now: clock.now() });
  await waitFor(() => server.state !== "serverHelloSent", 5000, "ClientFinished processed");
  const got: Frame[] = [];
  const drain = () => {
    while (inbox.length > 0) {
      const m = inbox.shift()!;
      const fs = decodeFrames(layer.open(m, clock.now()));
      got.push(...fs);
      if (fs[fs.length - 1].type === "key_update") layer.updateRx();
    }
  };
  return {
    server,
    cs,
    ss,
    clock,
    layer,
    send(frames) {
      const rec = layer.seal(encodeFrames(frames), clock.now());
      cs.send(rec);
      return rec;
    },
    frames() {
      drain();
      return got;
    },
    closed: () => closed,
    serverLog,
  };
}
