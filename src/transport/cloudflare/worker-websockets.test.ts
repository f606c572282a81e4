/**
 * The Worker's `websockets` option: connectors for URL and service-binding origins, caps from
 * PQGATE_WEBSOCKETS under the code's, the per-isolate default, and the 1 MiB message ceiling.
 * In real workerd: tests/cloudflare/workers-websocket.test.ts.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../gateway/config.ts";
import {
  checkWorkersMaxWsMessage,
  WORKERS_MAX_ORIGIN_SOCKETS,
  WORKERS_MAX_WS_MESSAGE,
  workerWebSockets,
} from "./worker-websockets.ts";

const signal = new AbortController().signal;
const request = (url: string) => ({
  url,
  protocols: [],
  headers: new Headers(),
  signal,
  maxMessage: 1024,
});

Deno.test("cf worker websockets: a service: WebSocket route upgrades through its binding", async () => {
  const seen: string[] = [];
  const binding = {
    fetch: (r: Request | string | URL) => {
      const q = r as Request;
      seen.push(`${q.method} ${q.url} ${q.headers.get("upgrade")}`);
      return Promise.resolve(new Response("no", { status: 426 }));
    },
  };
  const ws = workerWebSockets(
    [
      { match: { authority: "live.test" }, origin: "service:LIVE", websocket: true },
      { match: { authority: "api.test" }, origin: "service:API" },
    ],
    { LIVE: binding, API: binding },
    undefined,
    undefined,
  );
  assert.deepEqual(Object.keys(ws.services ?? {}), ["LIVE"], "only WebSocket service routes");
  await assert.rejects(
    ws.services!.LIVE(request("wss://live.test/feed")),
    (e: Error & { kind?: string; status?: number }) => e.kind === "refused" && e.status === 426,
  );
  assert.deepEqual(seen, ["GET https://live.test/feed websocket"]);
  assert.equal(typeof ws.connect, "function", "ws:/wss: origins get the fetch connector");
  assert.equal(ws.maxOriginSockets, WORKERS_MAX_ORIGIN_SOCKETS);
});

Deno.test("cf worker websockets: env caps, the code's over them, its connectors win", () => {
  const mine = () => Promise.reject(new Error("mine"));
  const ws = workerWebSockets(
    [{ match: { authority: "live.test" }, origin: "service:LIVE", websocket: true }],
    { LIVE: { fetch: () => Promise.resolve(new Response()) } },
    { maxPerChannel: 4, maxOriginSockets: 8 },
    { maxPerChannel: 2, connect: mine, services: { LIVE: mine } },
  );
  assert.equal(ws.maxPerChannel, 2);
  assert.equal(ws.maxOriginSockets, 8);
  assert.equal(ws.connect, mine);
  assert.equal(ws.services?.LIVE, mine);
  assert.equal(workerWebSockets([], {}, undefined, { connect: false }).connect, false);
});

Deno.test("cf worker websockets: maxWsMessage over 1 MiB is a configuration error", () => {
  checkWorkersMaxWsMessage(undefined, "PQGATE_LIMITS");
  checkWorkersMaxWsMessage(WORKERS_MAX_WS_MESSAGE, "PQGATE_LIMITS");
  assert.throws(
    () => checkWorkersMaxWsMessage(WORKERS_MAX_WS_MESSAGE + 1, "PQGATE_LIMITS"),
    (e: Error) =>
      e instanceof ConfigError &&
      /^PQGATE_LIMITS\.maxWsMessage is 1048577, but Workers/.test(e.message),
  );
  assert.throws(
    () => checkWorkersMaxWsMessage(2 * WORKERS_MAX_WS_MESSAGE, "limits"),
    /limits\.maxWsMessage is 2097152/,
  );
});
