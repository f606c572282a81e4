/**
 * Tunneled WebSockets end to end on Deno (PROTOCOL.md §6.9, docs/websockets.md): the real client's
 * `channel.websocket()` → a real `serveDeno` gateway → the demo routes' echo at wss://demo/ws.
 * Text and binary, 1 MiB each way, max + 1 refused by the client (1009), 16 concurrent sockets on
 * one channel and the 17th refused (429), an origin closing with a code, a target no WebSocket
 * route allows, and the channel closing under open sockets.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { channelUrl } from "./loopback.ts";

const MIB = 1024 * 1024;

interface Sock {
  binaryType: string;
  readyState: number;
  protocol: string;
  onopen: ((e: Event) => void) | null;
  onmessage: ((e: MessageEvent) => void) | null;
  onerror: ((e: Event) => void) | null;
  onclose: ((e: { code: number; reason: string; wasClean: boolean }) => void) | null;
  send(d: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

function track(ws: Sock) {
  ws.binaryType = "arraybuffer";
  const messages: unknown[] = [];
  let errored = false;
  const opened = new Promise<boolean>((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => {
      errored = true;
      resolve(false);
    };
  });
  const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
  });
  ws.onmessage = (e) => messages.push(e.data);
  return { ws, messages, opened, closed, errored: () => errored };
}

async function until(cond: () => boolean, what: string) {
  for (let i = 0; i < 1500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

Deno.test({
  name: "e2e: tunneled WebSockets on Deno (serveDeno, demo echo at wss://demo/ws)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const gateway = createGateway({ keys: key });
    const server = serveDeno({ gateway, port: 0 });
    const channel = await connect(channelUrl(server.url), { pin: pinFor(key.publicKey) });
    const open = (url = "wss://demo/ws", p?: string[]) =>
      track(channel.websocket(url, p) as unknown as Sock);
    try {
      await t.step("echo text and binary; the subprotocol the origin chose", async () => {
        const s = open("wss://demo/ws", ["echo"]);
        assert.equal(await s.opened, true);
        assert.equal(s.ws.protocol, "echo");
        s.ws.send("héllo");
        s.ws.send(new Uint8Array([0, 1, 255]));
        await until(() => s.messages.length === 2, "two echoes");
        assert.equal(s.messages[0], "héllo");
        assert.deepEqual([...new Uint8Array(s.messages[1] as ArrayBuffer)], [0, 1, 255]);
        s.ws.close(1000, "done");
        const c = await s.closed;
        assert.equal(c.code, 1000);
        assert.equal(c.wasClean, true);
      });
      await t.step("1 MiB messages each way; max + 1 fails with 1009 on the client", async () => {
        const s = open();
        assert.equal(await s.opened, true);
        const big = new Uint8Array(MIB).map((_, i) => i & 0xff);
        s.ws.send(big);
        await until(() => s.messages.length === 1, "the 1 MiB echo");
        assert.deepEqual(new Uint8Array(s.messages[0] as ArrayBuffer), big);
        s.ws.send(new Uint8Array(MIB + 1));
        const c = await s.closed;
        assert.equal(c.code, 1009);
      });
      await t.step("an origin that closes with a code", async () => {
        const s = open();
        assert.equal(await s.opened, true);
        s.ws.send("close 4321 bye");
        const c = await s.closed;
        assert.deepEqual(c, { code: 4321, reason: "bye", wasClean: true });
      });
      await t.step("a target no WebSocket route allows: error, then 1006", async () => {
        for (const url of ["wss://nowhere.example/ws", "wss://demo/api/hello"]) {
          const s = open(url);
          assert.equal(await s.opened, false, url);
          const c = await s.closed;
          assert.equal(c.code, 1006);
          assert.equal(c.wasClean, false);
        }
      });
      await t.step("16 concurrent WebSockets on one channel; the 17th is refused", async () => {
        const socks = Array.from({ length: 16 }, () => open());
        assert.deepEqual(await Promise.all(socks.map((s) => s.opened)), socks.map(() => true));
        const extra = open();
        assert.equal(await extra.opened, false);
        socks.forEach((s, i) => s.ws.send(`m${i}`));
        await until(() => socks.every((s) => s.messages.length === 1), "16 echoes");
        socks.forEach((s, i) => assert.equal(s.messages[0], `m${i}`));
        for (const s of socks) s.ws.close();
        await Promise.all(socks.map((s) => s.closed));
      });
      await t.step("the channel closing fails its open WebSockets with 1006", async () => {
        const s = open();
        assert.equal(await s.opened, true);
        channel.close();
        const c = await s.closed;
        assert.equal(c.code, 1006);
      });
    } finally {
      channel.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "e2e: a ws: route to a real Deno WebSocket origin (Deno's connector)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const upgrades: Headers[] = [];
    const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      if (new URL(req.url).pathname === "/refuse") return new Response("no", { status: 403 });
      upgrades.push(new Headers(req.headers));
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = (e) => {
        if (e.data === "bye") socket.close(4321, "bye");
        else socket.send(e.data);
      };
      return response;
    });
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const gateway = createGateway({
      keys: key,
      routes: [{ match: { authority: "chat.test" }, origin: `ws://127.0.0.1:${origin.addr.port}` }],
    });
    const server = serveDeno({ gateway, port: 0 });
    const channel = await connect(channelUrl(server.url), { pin: pinFor(key.publicKey) });
    try {
      const s = track(channel.websocket("ws://chat.test/room") as unknown as Sock);
      assert.equal(await s.opened, true);
      s.ws.send("hi");
      s.ws.send(new Uint8Array(MIB));
      await until(() => s.messages.length === 2, "two echoes");
      assert.equal(s.messages[0], "hi");
      assert.equal((s.messages[1] as ArrayBuffer).byteLength, MIB);
      assert.equal(upgrades.length, 1);
      assert.match(upgrades[0].get("forwarded") ?? "", /^for=/);
      assert.equal(upgrades[0].get("pqgate-protocol"), null);
      s.ws.send("bye");
      assert.deepEqual(await s.closed, { code: 4321, reason: "bye", wasClean: true });
      // The origin refusing the upgrade: the client sees an error and 1006.
      const r = track(channel.websocket("ws://chat.test/refuse") as unknown as Sock);
      assert.equal(await r.opened, false);
      assert.equal((await r.closed).code, 1006);
      // A target no route allows: no connection reaches the origin.
      const n = track(channel.websocket("ws://other.test/room") as unknown as Sock);
      assert.equal(await n.opened, false);
      assert.equal(upgrades.length, 1);
    } finally {
      channel.close();
      await server.shutdown();
      await origin.shutdown();
    }
  },
});
