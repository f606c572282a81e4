/**
 * Tunneled WebSockets end to end (PROTOCOL.md §6.9, docs/client-websocket.md,
 * docs/websockets.md): the real client's `channel.websocket()` through a real gateway to a real
 * WebSocket origin (tests/e2e/ws-origin.ts). Written once for any gateway deployment: it needs
 * the gateway's channel URL and pin, the origin, and optionally the gateway's `websocket` events
 * and a channel WebSocket whose delivery can be paused (for the bound on what the gateway holds
 * for a client that stops reading). The gateway MUST be configured with `wsSuiteRoutes`,
 * `WS_SUITE_LIMITS` and `WS_SUITE_WEBSOCKETS`. The browser test (tests/browser/websocket.test.ts)
 * runs the essentials of it in Chromium against the same routes and origin.
 */
import assert from "node:assert/strict";
import { type Channel, connect } from "../../src/client/mod.ts";
import { recordWebSocket } from "../../src/client/testing.ts";
import type { PqgateWebSocket } from "../../src/client/pqgate-websocket.ts";
import type { RouteConfig } from "../../src/proxy/routes.ts";
import type { OriginWebSocketConnect } from "../../src/proxy/origin-websocket.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import {
  FLOOD_LIMIT,
  FLOOD_PIECE,
  ORIGIN_CLOSE_CODE,
  ORIGIN_CLOSE_REASON,
  type WsOrigin,
} from "./ws-origin.ts";

const MIB = 1024 * 1024;
/** The relay's slack above one message (PROTOCOL.md §6.9). */
const SLACK = 65_536;

export const WS_SUITE_HOSTS = {
  /** A wss: route to the origin. */
  echo: "chat.test",
  /** An HTTP route to the same origin and no WebSocket route: a WebSocket to it is 403. */
  forbidden: "http-only.test",
} as const;

/** The gateway's routes for the suite: a WebSocket route, and an HTTP-only one (§6.9). */
export function wsSuiteRoutes(originUrl: string): RouteConfig[] {
  return [
    { match: { authority: WS_SUITE_HOSTS.echo }, origin: originUrl },
    { match: { authority: WS_SUITE_HOSTS.forbidden }, origin: originUrl.replace(/^ws/, "http") },
  ];
}

export const WS_SUITE_LIMITS = { maxWsMessage: MIB };
/** More sockets per channel than the reference's 16, for the concurrency case. */
export const WS_SUITE_WEBSOCKETS = { maxPerChannel: 24 };
export const WS_SUITE_CONCURRENT = 20;

/**
 * The gateway the suite expects, built in this process with `connect` (a fresh key; its pin),
 * recording the `websocket` events.
 */
export function wsSuiteGateway(origin: WsOrigin, connect: OriginWebSocketConnect) {
  const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
  const events: Record<string, unknown>[] = [];
  const gateway = createGateway({
    keys: key,
    routes: wsSuiteRoutes(origin.url),
    limits: WS_SUITE_LIMITS,
    websockets: { ...WS_SUITE_WEBSOCKETS, connect },
    log: (event, fields) => {
      if (event === "websocket") events.push(fields as Record<string, unknown>);
    },
  });
  return { gateway, pin: pinFor(key.publicKey), events };
}

/** A channel WebSocket whose incoming messages can be held back (the client stops reading). */
export interface PausableChannelSocket {
  WebSocket: unknown;
  pause(): void;
  resume(): void;
}

export interface WsSuiteTarget {
  name: string;
  wsUrl: string;
  pin: string;
  /** The gateway's `websocket` events (the relay's summaries), when the test can see them. */
  events?: () => Record<string, unknown>[];
  /** For the case of a client that stops reading while the origin floods. */
  pausable?: PausableChannelSocket;
}

/**
 * A WebSocket class (Deno's, or any with an `onmessage` accessor) whose `onmessage` deliveries
 * are held while paused and replayed in order on resume.
 */
export function pausableWebSocket(Base: typeof WebSocket = WebSocket): PausableChannelSocket {
  let paused = false;
  const held: (() => void)[] = [];
  class Pausable extends Base {
    #handler: ((ev: MessageEvent) => void) | null = null;
    override get onmessage(): ((ev: MessageEvent) => void) | null {
      return this.#handler;
    }
    override set onmessage(h: ((ev: MessageEvent) => void) | null) {
      this.#handler = h;
      super.onmessage = h === null ? null : (ev: MessageEvent) => {
        if (paused) held.push(() => h.call(this, ev));
        else h.call(this, ev);
      };
    }
  }
  return {
    WebSocket: Pausable,
    pause: () => void (paused = true),
    resume: () => {
      paused = false;
      for (const f of held.splice(0)) f();
    },
  };
}

function pattern(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 13)) & 0xff;
  return b;
}

function equalBytes(a: ArrayBuffer | Blob | string, b: Uint8Array): boolean {
  if (!(a instanceof ArrayBuffer) || a.byteLength !== b.length) return false;
  const x = new Uint8Array(a);
  for (let i = 0; i < b.length; i++) if (x[i] !== b[i]) return false;
  return true;
}

async function open(ch: Channel, path: string, protocols?: string[]) {
  const ws = ch.websocket(`wss://${WS_SUITE_HOSTS.echo}${path}`, protocols);
  const r = recordWebSocket(ws);
  await r.opened(60_000);
  assert.deepEqual(r.log, ["open"], `open ${path}: ${r.error?.message ?? ""}`);
  return { ws, r };
}

type Recorded = ReturnType<typeof recordWebSocket>;

async function waitMessages(r: Recorded, n: number, ms = 60_000): Promise<void> {
  await waitUntil(() => r.messages.length >= n || r.close !== null, `${n} messages`, ms);
  assert.ok(r.messages.length >= n, `${n} messages, got ${r.log.join()} ${r.error?.message}`);
}

async function waitUntil(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

export async function runWebSocketSuite(
  target: WsSuiteTarget,
  origin: WsOrigin,
  t: Deno.TestContext,
): Promise<void> {
  const max = WS_SUITE_LIMITS.maxWsMessage;
  const ch = await connect(target.wsUrl, {
    pin: target.pin,
    ...(target.pausable ? { WebSocket: target.pausable.WebSocket } : {}),
  });
  /** Sockets left open for the channel-close case at the end. */
  const left: PqgateWebSocket[] = [];
  try {
    await t.step(`${target.name}: SESSION_INFO offers max_ws_message 1 MiB`, async () => {
      await waitUntil(() => ch.sessionInfo !== null, "SESSION_INFO");
      assert.equal(ch.sessionInfo?.maxWsMessage, max);
    });

    await t.step(`${target.name}: echo text and binary, subprotocol, in order`, async () => {
      const { ws, r } = await open(ch, "/echo?room=1", ["v2.chat", "v1.chat"]);
      left.push(ws);
      assert.equal(ws.protocol, "v2.chat");
      ws.send("héllo");
      ws.send(pattern(1000, 1));
      ws.send(new Blob([pattern(10, 2)]));
      ws.send("");
      await waitMessages(r, 4);
      const got = r.messages;
      assert.equal(got[0], "héllo");
      assert.ok(got[1] instanceof Blob, "binaryType blob by default");
      assert.deepEqual(new Uint8Array(await (got[1] as Blob).arrayBuffer()), pattern(1000, 1));
      assert.deepEqual(new Uint8Array(await (got[2] as Blob).arrayBuffer()), pattern(10, 2));
      assert.equal(got[3], "");
      ws.binaryType = "arraybuffer";
      ws.send(pattern(7, 3));
      await waitMessages(r, 5);
      assert.ok(equalBytes(r.messages[4], pattern(7, 3)));
      // What the origin's upgrade carried: the path and query, no pqgate-protocol (§6.9).
      const req = origin.requests[origin.requests.length - 1];
      const u = new URL(req.url);
      assert.equal(u.pathname + u.search, "/echo?room=1");
      assert.equal(req.headers.get("pqgate-protocol"), null);
      assert.equal(req.headers.get("sec-websocket-protocol"), "v2.chat, v1.chat");
    });

    await t.step(`${target.name}: 1 MiB messages each way (max_ws_message)`, async () => {
      const { ws, r } = await open(ch, "/echo");
      left.push(ws);
      ws.binaryType = "arraybuffer";
      const mib = pattern(max, 9);
      ws.send(mib);
      await waitMessages(r, 1);
      assert.ok(equalBytes(r.messages[0], mib), "1 MiB binary echoed byte for byte");
      const text = "ü".repeat(max / 2); // 1 MiB of UTF-8
      ws.send(text);
      await waitMessages(r, 2);
      assert.equal(r.messages[1], text);
      assert.equal(ws.bufferedAmount, 0);
    });

    await t.step(`${target.name}: max_ws_message + 1 fails the socket with 1009`, async () => {
      const { ws, r } = await open(ch, "/echo/over");
      ws.send(new Uint8Array(max + 1));
      assert.equal(ws.readyState, ws.CLOSING);
      await r.closed(60_000);
      assert.deepEqual(r.log, ["open", "error", "close:1009"]);
      assert.equal(r.close!.wasClean, false);
      assert.match(r.error!.message!, new RegExp(`${max + 1} bytes over max_ws_message`));
      // Nothing of it was sent; the socket's close reached the origin.
      await waitUntil(() => origin.closes.some((c) => c.path === "/echo/over"), "origin close");
    });

    await t.step(
      `${target.name}: ${WS_SUITE_CONCURRENT} concurrent sockets on one channel`,
      async () => {
        const sessionBefore = ch.sessionId;
        const all = await Promise.all(
          Array.from({ length: WS_SUITE_CONCURRENT }, (_, i) => open(ch, `/echo?n=${i}`)),
        );
        for (const [i, { ws }] of all.entries()) {
          ws.binaryType = "arraybuffer";
          ws.send(`${i}`);
          ws.send(pattern(30_000 + i, i));
        }
        await Promise.all(all.map(({ r }) => waitMessages(r, 2)));
        for (const [i, { r }] of all.entries()) {
          assert.equal(r.messages[0], `${i}`);
          assert.ok(equalBytes(r.messages[1], pattern(30_000 + i, i)), `socket ${i}`);
        }
        assert.equal(ch.sessionId, sessionBefore, "one channel");
        for (const { ws } of all) ws.close(1000);
        await Promise.all(all.map(({ r }) => r.closed(60_000)));
        for (const { r } of all) assert.equal(r.close!.wasClean, true);
      },
    );

    await t.step(`${target.name}: the origin closes with 4321 "bye": a clean close`, async () => {
      const { ws, r } = await open(ch, "/close");
      ws.send("close please");
      await r.closed();
      assert.deepEqual(r.log, ["open", `close:${ORIGIN_CLOSE_CODE}`]);
      assert.equal(r.close!.reason, ORIGIN_CLOSE_REASON);
      assert.equal(r.close!.wasClean, true);
      assert.equal(ws.readyState, ws.CLOSED);
    });

    await t.step(`${target.name}: the client closes with 1000: the origin sees 1000`, async () => {
      const { ws, r } = await open(ch, "/echo/bye");
      ws.close(1000, "client done");
      assert.equal(ws.readyState, ws.CLOSING);
      await r.closed();
      assert.deepEqual(r.log, ["open", "close:1000"]);
      assert.equal(r.close!.wasClean, true);
      await waitUntil(() => origin.closes.some((c) => c.path === "/echo/bye"), "origin close");
      assert.deepEqual(origin.closes.filter((c) => c.path === "/echo/bye"), [
        { path: "/echo/bye", code: 1000, reason: "client done" },
      ]);
    });

    await t.step(`${target.name}: no WebSocket route: error, 1006, no connection`, async () => {
      const before = origin.requests.length;
      const ws = ch.websocket(`wss://${WS_SUITE_HOSTS.forbidden}/echo`);
      const r = recordWebSocket(ws);
      await r.closed();
      assert.deepEqual(r.log, ["error", "close:1006"]);
      assert.equal(r.close!.wasClean, false);
      assert.deepEqual(ws.gatewayError, { status: 403, error: "forbidden" });
      // The HTTP route to the same origin works, and was the first request since: the refusal
      // made none.
      const res = await ch.fetch(`https://${WS_SUITE_HOSTS.forbidden}/plain`);
      assert.equal(res.status, 426);
      await res.body?.cancel();
      assert.equal(origin.requests.length, before + 1);
      assert.equal(new URL(origin.requests[before].url).pathname, "/plain");
      assert.equal(origin.requests[before].upgrade, false);
      assert.equal(ch.connected, true, "the channel stays");
    });

    if (target.pausable && target.events) {
      const { pausable, events } = target;
      await t.step(
        `${target.name}: a client that stops reading while the origin floods: the gateway holds at most 2 × max + 64 KiB, then fails that stream only`,
        async () => {
          const stalled = () => events().find((e) => e.outcome === "stalled");
          assert.equal(stalled(), undefined);
          const ws = ch.websocket(`wss://${WS_SUITE_HOSTS.echo}/flood`);
          const r = recordWebSocket(ws);
          // From the open on, the channel's messages are held: no DATA is read, no window given.
          ws.addEventListener("open", () => pausable.pause());
          try {
            await waitUntil(() => stalled() !== undefined || r.close !== null, "the stall", 60_000);
          } finally {
            pausable.resume();
          }
          const e = stalled();
          assert.ok(e, `no stalled websocket event: ${JSON.stringify(events())} ${r.log}`);
          assert.ok(
            (e.peakHeld as number) <= 2 * max + SLACK + FLOOD_PIECE + 5,
            `held ${e.peakHeld} B`,
          );
          assert.ok((e.peakHeld as number) > 2 * max + SLACK, `held ${e.peakHeld} B`);
          // The reset reaches the client once it reads again: error, then 1006.
          await r.closed();
          assert.equal(r.log[0], "open");
          assert.deepEqual(r.log.slice(-2), ["error", "close:1006"]);
          assert.equal(r.close!.wasClean, false);
          // The origin's socket was closed by the gateway long before the flood ran out.
          await waitUntil(() => origin.closes.some((c) => c.path === "/flood"), "origin close");
          assert.ok(origin.flooded < FLOOD_LIMIT, `flooded ${origin.flooded} B`);
          // The channel and its other sockets are fine.
          assert.equal(ch.connected, true);
          const { ws: again, r: ra } = await open(ch, "/echo/after");
          again.send("still here");
          await waitMessages(ra, 1);
          assert.equal(ra.messages[0], "still here");
          left.push(again);
        },
      );
    }

    await t.step(`${target.name}: the channel closing fails its sockets (1006)`, async () => {
      const { ws, r } = await open(ch, "/echo/last");
      const others = left.filter((s) => s.readyState === s.OPEN);
      assert.ok(others.length >= 2, `${others.length} other sockets open`);
      ch.close();
      await r.closed();
      assert.deepEqual(r.log, ["open", "error", "close:1006"]);
      assert.equal(r.close!.wasClean, false);
      assert.equal(ws.readyState, ws.CLOSED);
      for (const s of others) await waitUntil(() => s.readyState === s.CLOSED, "all closed");
      await waitUntil(() => origin.open === 0, "the gateway closed the origin sockets");
    });
  } finally {
    ch.close();
  }
}
