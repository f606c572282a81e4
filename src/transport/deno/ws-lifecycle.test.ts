/**
 * The node:http + ws transport's bounds (ws-lifecycle.ts, node-http.ts): messages refused at
 * the frame header per session state, every close bounded by closeTimeoutMs with input drained
 * so the close code arrives, sockets counted until their TCP connection is gone.
 */
import assert from "node:assert/strict";
import { WebSocket as NodeWebSocket } from "ws";
import { createGateway } from "../../gateway/create-gateway.ts";
import { MAX_CLIENT_HELLO_LEN, MAX_RECORD_LEN } from "../../protocol/constants.ts";
import { generateStaticKey, keyIdFor, pinFor } from "../../protocol/static-keys.ts";
import { RawSession, SecretBook } from "../../../tests/hardening/wire.ts";
import { serveDeno } from "./serve.ts";
import {
  frameHeader,
  openFds,
  rawUpgrade,
  readCloseCode,
  sleep,
  waitFor,
  writeAll,
} from "./testing.ts";

const key = generateStaticKey(new Uint8Array(32).fill(5));
const opts = { sanitizeOps: false, sanitizeResources: false };
const wsUrl = (s: { url: string }) => `${s.url.replace(/^http/, "ws")}/pqgate`;

Deno.test({
  ...opts,
  name:
    "ws transport: silent clients that never answer the close are all gone within handshake timeout + closeTimeoutMs",
  async fn() {
    const gateway = createGateway({ keys: key, limits: { handshakeTimeoutMs: 300 } });
    const server = serveDeno({ gateway, port: 0, closeTimeoutMs: 600 });
    const conns: Deno.TcpConn[] = [];
    try {
      const fd0 = openFds();
      const N = 40;
      for (let i = 0; i < N; i++) {
        const r = await rawUpgrade(wsUrl(server));
        assert.equal(r.status, 101);
        conns.push(r.conn); // never read, never answer the close
      }
      assert.equal(server.transport.sessionCount, N);
      // Handshake timeout (4000 close sent) at 300 ms, destroyed by 300 + 600 ms.
      const t0 = Date.now();
      assert.ok(
        await waitFor(() => server.transport.sessionCount === 0, 3000),
        `still ${server.transport.sessionCount} sockets`,
      );
      assert.ok(Date.now() - t0 < 300 + 600 + 700, `took ${Date.now() - t0} ms`);
      if (fd0 !== null) {
        // The clients' own N fds stay open (this process holds them); the gateway's are gone.
        await waitFor(() => (openFds() ?? 0) <= fd0 + N + 2, 1000);
        assert.ok(
          (openFds() ?? 0) <= fd0 + N + 2,
          `fds ${openFds()} vs baseline ${fd0} + ${N} clients`,
        );
      }
    } finally {
      for (const c of conns) c.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  ...opts,
  name:
    "ws transport: a client still sending when the gateway closes receives the close code, not 1006",
  async fn() {
    const gateway = createGateway({ keys: key });
    const server = serveDeno({ gateway, port: 0 });
    try {
      for (let round = 0; round < 5; round++) {
        const ws = new NodeWebSocket(wsUrl(server));
        await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
        const closed = new Promise<number>((r) => ws.once("close", (code: number) => r(code)));
        ws.on("error", () => {});
        // Flood: a burst of messages queued at once, then the gateway's protocol error (4011: the
        // first message is not a ClientHello) arrives while the rest is unread on its side.
        const junk = new Uint8Array(3000).fill(0xee);
        for (let i = 0; i < 400; i++) ws.send(junk);
        const code = await closed;
        assert.equal(code, 4011, `round ${round}: close ${code}`);
      }
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  ...opts,
  name:
    "ws transport: 6 unfinished 60 MiB frames are refused at the header (1009), memory stays flat, sockets released",
  async fn() {
    const gateway = createGateway({ keys: key });
    const server = serveDeno({ gateway, port: 0 });
    const conns: Deno.TcpConn[] = [];
    try {
      const rss0 = Deno.memoryUsage().rss;
      const codes: Promise<number | null>[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await rawUpgrade(wsUrl(server));
        assert.equal(r.status, 101);
        conns.push(r.conn);
        await writeAll(r.conn, frameHeader(60 * 1024 * 1024));
        codes.push(readCloseCode(r.conn, r.rest, 5000));
      }
      // Trickle payload bytes; they are discarded (or refused by a closed connection).
      const trickle = new Uint8Array(1024).fill(0x41);
      for (let k = 0; k < 20; k++) {
        for (const c of conns) await c.write(trickle).catch(() => 0);
        await sleep(10);
      }
      const growth = (Deno.memoryUsage().rss - rss0) / 2 ** 20;
      assert.deepEqual(await Promise.all(codes), [1009, 1009, 1009, 1009, 1009, 1009]);
      assert.ok(growth < 20, `RSS grew by ${growth.toFixed(1)} MiB`);
      for (const c of conns) c.close();
      assert.ok(await waitFor(() => server.transport.sessionCount === 0, 3000));
    } finally {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await server.shutdown();
    }
  },
});

Deno.test({
  ...opts,
  name:
    "ws transport: the message limit is MAX_CLIENT_HELLO_LEN before the ServerHello and MAX_RECORD_LEN after (ws 8.23.0)",
  async fn() {
    const gateway = createGateway({ keys: key });
    const server = serveDeno({ gateway, port: 0 });
    const url = wsUrl(server);
    const closeOf = (ws: InstanceType<typeof NodeWebSocket>) =>
      new Promise<number>((r) => ws.once("close", (c: number) => r(c)));
    try {
      // Before the handshake: one byte over the ClientHello limit → 1009.
      const a = new NodeWebSocket(url);
      a.on("error", () => {});
      await new Promise((r) => a.once("open", r));
      const ac = closeOf(a);
      a.send(new Uint8Array(MAX_CLIENT_HELLO_LEN + 1));
      assert.equal(await ac, 1009);

      const target = {
        wsUrl: url,
        httpUrl: server.url,
        pin: pinFor(key.publicKey),
        publicKey: key.publicKey,
        keyId: keyIdFor(key.publicKey),
      };
      // After the ServerHello a message of that size is not refused by size (the session judges it).
      const s1 = await RawSession.connect(target, new SecretBook());
      s1.conn.send(new Uint8Array(MAX_CLIENT_HELLO_LEN + 1));
      const c1 = await s1.conn.waitClose(3000);
      assert.notEqual(c1.code, 1009);
      // One byte over a record → 1009.
      const s2 = await RawSession.connect(target, new SecretBook());
      s2.conn.send(new Uint8Array(MAX_RECORD_LEN + 1));
      assert.equal((await s2.conn.waitClose(3000)).code, 1009);
      await s1.conn.close();
      await s2.conn.close();
      assert.ok(await waitFor(() => server.transport.sessionCount === 0, 3000));
    } finally {
      await server.shutdown();
    }
  },
});
