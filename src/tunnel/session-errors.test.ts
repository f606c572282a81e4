/** Gateway session: stream rules, record failures and timers map to the right close codes. */
import assert from "node:assert/strict";
import { encodeRequestHead } from "./bhttp.ts";
import { encodeFrames } from "../protocol/frames.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import { seededRandom } from "../protocol/testing.ts";
import { memorySocketPair } from "./memory-socket.ts";
import { ServerSession } from "./server-session.ts";
import {
  ManualClock,
  type RawClient,
  rawClient,
  settle,
  startPair,
  TEST_KEY,
  TEST_LIMITS,
  testEnv,
  waitFor,
} from "./testing.ts";

const never = () => new Promise<Response>(() => {});

function head(method = "POST", path = "/"): Uint8Array {
  return encodeRequestHead({ method, scheme: "https", authority: "a.example", path, headers: [] });
}

async function expectClose(raw: RawClient, code: number): Promise<void> {
  await waitFor(() => raw.closed() !== null, 3000, `close ${code}`);
  assert.equal(raw.closed()!.code, code);
  assert.equal(raw.server.state, "closed");
  assert.equal(raw.server.closeCode, code);
  // An authenticated CLOSE frame with the same code came first (§9).
  const close = raw.frames().find((f) => f.type === "close");
  assert.ok(close && close.type === "close");
  assert.equal(close.code, code);
}

Deno.test("first record from the gateway starts with SESSION_INFO", async () => {
  const raw = await rawClient();
  raw.send([{ type: "ping", data: new Uint8Array(8) }]);
  await waitFor(() => raw.frames().length >= 2, 2000, "frames");
  const fs = raw.frames();
  assert.equal(fs[0].type, "session_info");
  assert.equal(fs[1].type, "pong");
  raw.cs.close();
  await settle();
});

Deno.test("DATA beyond the stream window → 4013 limit_exceeded", async () => {
  const raw = await rawClient({ handler: never });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  for (let i = 0; i < 4; i++) {
    raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(16376) }]);
  }
  raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(32) }]);
  await settle();
  assert.equal(raw.server.state, "established"); // exactly 65,536: still fine
  raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(1) }]);
  await expectClose(raw, 4013);
});

Deno.test("WINDOW_UPDATE overflowing 2^31-1 → 4013", async () => {
  const raw = await rawClient({ handler: never });
  raw.send([{ type: "headers", stream: 1, endStream: true, payload: head("GET") }]);
  raw.send([{ type: "window_update", stream: 1, increment: 2 ** 31 - 1 }]);
  await expectClose(raw, 4013);
});

Deno.test("frame for a stream never opened → 4011", async () => {
  const raw = await rawClient();
  raw.send([{ type: "data", stream: 7, endStream: false, payload: new Uint8Array(3) }]);
  await expectClose(raw, 4011);
});

Deno.test("DATA after END_STREAM → 4011", async () => {
  const raw = await rawClient({ handler: never });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  raw.send([{ type: "data", stream: 1, endStream: true, payload: new Uint8Array(3) }]);
  raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(3) }]);
  await expectClose(raw, 4011);
});

Deno.test("stream id reuse, decrease or even id → 4011; late frames on a reset stream are ignored", async () => {
  for (const second of [1, 3, 4]) {
    const raw = await rawClient({ handler: never });
    raw.send([{ type: "headers", stream: 5, endStream: true, payload: head("GET") }]);
    raw.send([{ type: "headers", stream: second, endStream: true, payload: head("GET") }]);
    await expectClose(raw, 4011);
  }
  const raw = await rawClient({ handler: never });
  raw.send([{ type: "headers", stream: 1, endStream: false, payload: head() }]);
  raw.send([{ type: "reset_stream", stream: 1, errorCode: 0 }]);
  raw.send([{ type: "data", stream: 1, endStream: false, payload: new Uint8Array(3) }]);
  raw.send([{ type: "window_update", stream: 1, increment: 10 }]);
  raw.send([{ type: "window_update", stream: 0, increment: 10 }]);
  await settle();
  assert.equal(raw.server.state, "established");
  raw.cs.close();
  await settle();
});

Deno.test("SESSION_INFO from the client → 4011; text message → 4011", async () => {
  const raw = await rawClient();
  raw.send([{
    type: "session_info",
    info: {
      maxStreams: 1,
      maxHeaderBytes: 1,
      maxBodyBytes: 0,
      idleTimeoutMs: 1,
      sessionLifetimeS: 1,
      sessionId: new Uint8Array(16),
      maxWindow: 65536,
    },
  }]);
  await expectClose(raw, 4011);
  const raw2 = await rawClient();
  raw2.cs.inject("hello");
  await expectClose(raw2, 4011);
});

Deno.test("tampered record → 4005 record_auth_failed", async () => {
  const raw = await rawClient();
  const rec = raw.layer.seal(
    encodeFrames([{ type: "ping", data: new Uint8Array(8) }]),
    raw.clock.now(),
  );
  rec[rec.length - 1] ^= 1;
  raw.cs.inject(rec);
  await expectClose(raw, 4005);
});

Deno.test("replayed record → 4006 sequence_error", async () => {
  const raw = await rawClient();
  const rec = raw.send([{ type: "ping", data: new Uint8Array(8) }]);
  raw.cs.inject(rec.slice());
  await expectClose(raw, 4006);
});

Deno.test("client session: tampering by the network is detected (4005) and fails pending fetches", async () => {
  const p = startPair({ handler: never });
  await p.client.ready;
  let n = 0;
  p.cs.transform = (m) => {
    if (++n === 1) m[m.length - 3] ^= 0x40;
    return [m];
  };
  const r = p.client.fetch(new Request("https://a.example/"));
  await assert.rejects(r, /4005/);
  await waitFor(() => p.ss.closed !== null, 2000, "socket close");
  assert.equal(p.ss.closed!.code, 4005);
  assert.equal(p.client.closeInfo?.code, 4005);
});

Deno.test("handshake timeout → 4000 via onTimer (no ClientHello, and after ClientHello only)", async () => {
  for (const sendHello of [false, true]) {
    const clock = new ManualClock();
    const [cs, ss] = memorySocketPair();
    const server = new ServerSession({
      socket: ss,
      keys: [TEST_KEY],
      env: testEnv("hs timeout", clock),
      limits: TEST_LIMITS,
      handler: never,
    });
    ss.onmessage = (m) => server.receive(m);
    let closed: number | null = null;
    cs.onclose = (c) => (closed = c);
    if (sendHello) {
      const hs = new ClientHandshake({
        server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
        random: seededRandom("hs timeout client"),
      });
      cs.send(hs.start());
      await waitFor(() => server.state === "serverHelloSent", 2000, "ServerHello");
    }
    const deadline = server.nextDeadline()!;
    assert.equal(deadline, clock.now() + TEST_LIMITS.handshakeTimeoutMs);
    server.onTimer(deadline - 1);
    assert.notEqual(server.state, "closed");
    clock.advance(TEST_LIMITS.handshakeTimeoutMs);
    server.onTimer(clock.now());
    assert.equal(server.state, "closed");
    assert.equal(server.nextDeadline(), null);
    await settle();
    assert.equal(closed, 4000);
  }
});

Deno.test("idle: PING at half the idle timeout, 4008 when unanswered; answered PINGs keep it up", async () => {
  const raw = await rawClient({ limits: { idleTimeoutMs: 10_000 } });
  const t0 = raw.clock.now();
  assert.equal(raw.server.nextDeadline(), t0 + 5_000);
  raw.clock.advance(5_000);
  raw.server.onTimer(raw.clock.now());
  await settle();
  assert.ok(raw.frames().some((f) => f.type === "ping"));
  assert.equal(raw.server.nextDeadline(), t0 + 10_000);
  raw.clock.advance(5_000);
  raw.server.onTimer(raw.clock.now());
  await expectClose(raw, 4008);

  // A ClientSession answers PINGs, so the gateway keeps the channel.
  const p = startPair({ limits: { idleTimeoutMs: 10_000 } });
  await p.client.ready;
  await waitFor(() => p.client.sessionInfo !== null, 2000, "session info");
  for (let i = 0; i < 4; i++) {
    p.clock.advance(5_000);
    p.server.onTimer(p.clock.now());
    await settle();
  }
  assert.equal(p.server.state, "established");
  p.client.close();
  await settle();
});

Deno.test("session lifetime → CLOSE 4007 rehandshake_required", async () => {
  const raw = await rawClient({ limits: { sessionLifetimeMs: 60_000, idleTimeoutMs: 1_000_000 } });
  assert.equal(raw.server.nextDeadline(), raw.clock.now() + 60_000);
  raw.clock.advance(60_000);
  raw.server.onTimer(raw.clock.now());
  await waitFor(() => raw.closed() !== null, 2000, "close");
  assert.equal(raw.closed()!.code, 4007);
});

Deno.test("KEY_UPDATE with update_requested: the gateway answers with its own KEY_UPDATE", async () => {
  const raw = await rawClient();
  raw.send([{ type: "key_update", updateRequested: true }]);
  raw.layer.updateTx();
  raw.send([{ type: "ping", data: new Uint8Array(8).fill(7) }]);
  await waitFor(() => raw.frames().some((f) => f.type === "pong"), 2000, "pong");
  const fs = raw.frames();
  assert.ok(fs.some((f) => f.type === "key_update" && !f.updateRequested));
  assert.equal(raw.layer.rxEpoch, 1);
  assert.deepEqual(raw.server.keyUpdates, { tx: 1, rx: 1 });
  raw.cs.close();
  await settle();
});

Deno.test("receive() before the handshake with garbage → a close, never a throw", async () => {
  const cases: (Uint8Array | string)[] = [
    new Uint8Array(0),
    new Uint8Array([4, 0, 0]),
    new Uint8Array([1, 2]),
    "x",
    new Uint8Array([3, ...new Uint8Array(32)]),
  ];
  for (const m of cases) {
    const clock = new ManualClock();
    const [, ss] = memorySocketPair();
    const server = new ServerSession({
      socket: ss,
      keys: [TEST_KEY],
      env: testEnv("g", clock),
      limits: TEST_LIMITS,
      handler: never,
    });
    server.receive(m);
    assert.equal(server.state, "closed");
    assert.ok(server.closeCode! >= 4000 && server.closeCode! <= 4014, String(server.closeCode));
  }
  // Version 2 → 4001.
  const [, ss] = memorySocketPair();
  const server = new ServerSession({
    socket: ss,
    keys: [TEST_KEY],
    env: testEnv("g", new ManualClock()),
    limits: TEST_LIMITS,
    handler: never,
  });
  const hs = new ClientHandshake({
    server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
    random: seededRandom("v2"),
  });
  const ch = hs.start();
  ch[1] = 2;
  server.receive(ch);
  assert.equal(server.closeCode, 4001);
  await settle();
});

Deno.test("anonymous mode refused unless allowed (4010), accepted when allowed", async () => {
  const p = startPair({ client: { server: undefined } });
  await assert.rejects(p.client.ready);
  await settle();
  assert.equal(p.client.closeInfo?.code, 4010);
  const q = startPair({ client: { server: undefined }, server: { allowAnonymous: true } });
  const r = await q.client.fetch(new Request("https://a.example/anon"));
  assert.equal(r.status, 200);
  await r.body?.cancel();
  assert.equal(q.server.channelInfo?.keyId, null);
  q.client.close();
  await settle();
});
