/**
 * Output and input bounds of the gateway session (SECURITY.md, "Resource accounting"): response
 * HEADERS wait like DATA, unacknowledged output is capped by flow probes (so a client that does
 * not read cannot make the gateway queue, on any transport), WINDOW_UPDATE is charged beyond one
 * per stream and record, the window a client may grant is capped, and what a session holds while
 * its first message is in the async KEM hop is bounded.
 */
import assert from "node:assert/strict";
import type { Frame } from "../protocol/frames.ts";
import { MAX_RECORD_LEN } from "../protocol/constants.ts";
import { encodeRequestHead } from "./bhttp.ts";
import { IncomingBody, SMALL_CHUNK } from "./incoming-body.ts";
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
import { ClientHandshake } from "../protocol/handshake-client.ts";
import { seededRandom } from "../protocol/testing.ts";

const MIN_UNACKED = 4 * MAX_RECORD_LEN; // the smallest maxUnackedBytes allowed (65,640)
const get = (path = "/") =>
  encodeRequestHead({ method: "GET", scheme: "https", authority: "a.example", path, headers: [] });
const heads = (from: number, n: number): Frame[] =>
  Array.from(
    { length: n },
    (_, i) => ({ type: "headers", stream: from + 2 * i, endStream: true, payload: get() }),
  );
/** Bytes of records the gateway handed to its socket (what a peer that never reads makes it hold). */
const sentBy = (raw: RawClient) => raw.ss.bytesSent;
/** A 204 whose head is ~4 KiB: the amplification of finding 1 is the response-head size. */
const bigHead204 = () =>
  Promise.resolve(new Response(null, { status: 204, headers: { "x-pad": "p".repeat(4000) } }));

Deno.test("bodiless responses wait for the output gate: a client that never acknowledges cannot make the gateway queue HEADERS", async () => {
  const raw = await rawClient({
    handler: bigHead204,
    limits: {
      maxUnackedBytes: MIN_UNACKED,
      maxStreams: 10,
      maxControlFramesPerSecond: 1e6,
      controlFrameBurst: 1e6,
    },
  });
  // 400 GETs (200 × 4 KiB of response heads = 1.6 MiB if nothing waited), never a PONG.
  for (let i = 0; i < 40; i++) {
    raw.send(heads(1 + 20 * i, 10));
    await settle(2);
  }
  await settle(20);
  const sent = sentBy(raw);
  console.log(
    `gateway sent ${sent} B for 400 bodiless responses without acknowledgement (cap ${MIN_UNACKED})`,
  );
  // The gate closes at maxUnacked; each of the 10 stream slots may hold one head beyond it.
  assert.ok(sent < MIN_UNACKED + 10 * 4200 + 16_384, `sent ${sent}`);
  assert.ok(
    raw.server.output.outstanding <= 2 * MIN_UNACKED,
    `outstanding ${raw.server.output.outstanding}`,
  );
  // Streams kept their slots: later ones were refused, not answered.
  const fs = raw.frames();
  assert.ok(
    fs.some((f) => f.type === "reset_stream" && f.errorCode === 1),
    "REFUSED past max_streams",
  );
  assert.ok(fs.filter((f) => f.type === "headers").length < 40, "most responses still waiting");
  // Acknowledging the probes lets the waiting responses go.
  const waitingBefore = raw.server.openStreams;
  assert.ok(waitingBefore > 0);
  for (const f of fs) if (f.type === "ping") raw.send([{ type: "pong", data: f.data }]);
  await waitFor(
    () => {
      for (const f of raw.frames()) {
        if (f.type === "ping") raw.send([{ type: "pong", data: f.data }]);
      }
      return raw.server.openStreams === 0;
    },
    5000,
    "waiting responses sent after the acknowledgements",
  );
  assert.equal(raw.server.state, "established");
});

Deno.test("a healthy client answers the flow probes: 500 bodiless responses and an 8 MiB body go through a small unacknowledged cap", async () => {
  const big = new Uint8Array(8 * 1024 * 1024).fill(7);
  const p = startPair({
    handler: (req) =>
      Promise.resolve(
        new URL(req.url).pathname === "/big"
          ? new Response(big)
          : new Response(null, { status: 204 }),
      ),
    limits: { maxUnackedBytes: MIN_UNACKED },
  });
  const rs = await Promise.all(
    Array.from({ length: 500 }, (_, i) => p.client.fetch(new Request(`https://a.example/${i}`))),
  );
  for (const r of rs) assert.equal(r.status, 204);
  const r = await p.client.fetch(new Request("https://a.example/big"));
  assert.equal((await r.arrayBuffer()).byteLength, big.length);
  assert.ok(p.server.output.outstanding <= MIN_UNACKED);
  p.client.close();
  await settle();
});

Deno.test("a client granting itself the largest window and not acknowledging gets at most the unacknowledged cap", async () => {
  const body = new Uint8Array(4 * 1024 * 1024);
  const raw = await rawClient({
    handler: () => Promise.resolve(new Response(body)),
    limits: { maxUnackedBytes: MIN_UNACKED, maxWindowBytes: 2 ** 31 - 1 },
  });
  raw.send([
    { type: "headers", stream: 1, endStream: true, payload: get("/big") },
    { type: "window_update", stream: 1, increment: 2 ** 31 - 1 - 65536 },
  ]);
  await settle(50);
  const sent = sentBy(raw);
  console.log(
    `sent ${sent} B of a 4 MiB body to a client that never acknowledges (cap ${MIN_UNACKED})`,
  );
  assert.ok(sent <= MIN_UNACKED + MAX_RECORD_LEN * 2, `sent ${sent}`);
  assert.equal(raw.server.state, "established");
});

Deno.test("a client that keeps sending while acknowledging nothing is closed with 4013 once it holds twice the cap", async () => {
  const never = () => new Promise<Response>(() => {});
  const raw = await rawClient({
    handler: never,
    limits: {
      maxUnackedBytes: MIN_UNACKED,
      maxStreams: 1,
      maxControlFramesPerSecond: 1e6,
      controlFrameBurst: 1e6,
    },
  });
  raw.send(heads(1, 1)); // holds the only slot
  // Every further stream is refused: RESET_STREAM frames that never wait. 12 B each.
  let id = 3;
  for (let i = 0; i < 80 && raw.closed() === null; i++) {
    raw.send(heads(id, 500));
    id += 1000;
    await settle(2);
  }
  await waitFor(() => raw.closed() !== null, 3000, "close");
  assert.equal(raw.closed()!.code, 4013);
  assert.ok(sentBy(raw) < 3 * MIN_UNACKED, `sent ${sentBy(raw)}`);
});

Deno.test("WINDOW_UPDATE flood on a live stream: one per stream and record is free, more are charged → 4009", async () => {
  const never = () => new Promise<Response>(() => {});
  const raw = await rawClient({
    handler: never,
    limits: { maxControlFramesPerSecond: 10, controlFrameBurst: 20 },
  });
  raw.send([{ type: "headers", stream: 1, endStream: true, payload: get() }]);
  // 100 records with one WINDOW_UPDATE each: free.
  for (let i = 0; i < 100; i++) raw.send([{ type: "window_update", stream: 1, increment: 1 }]);
  await settle(5);
  assert.equal(raw.server.state, "established");
  // One record with 100 of them: 99 charged, the burst is 20.
  raw.send(
    Array.from(
      { length: 100 },
      () => ({ type: "window_update" as const, stream: 1, increment: 1 }),
    ),
  );
  await waitFor(() => raw.closed() !== null, 3000, "close 4009");
  assert.equal(raw.closed()!.code, 4009);
});

Deno.test("RESET_STREAM takes a control-frame token (rapid reset)", async () => {
  const never = () => new Promise<Response>(() => {});
  const raw = await rawClient({
    handler: never,
    limits: { maxControlFramesPerSecond: 10, controlFrameBurst: 20 },
  });
  for (let i = 0; i < 30 && raw.closed() === null; i++) {
    const id = 1 + 2 * i;
    raw.send([
      { type: "headers", stream: id, endStream: true, payload: get() },
      { type: "reset_stream", stream: id, errorCode: 0 },
    ]);
    await settle(1);
  }
  await waitFor(() => raw.closed() !== null, 3000, "close 4009");
  assert.equal(raw.closed()!.code, 4009);
});

Deno.test("the window a client may grant is capped, announced in SESSION_INFO, and enforced with 4013", async () => {
  const never = () => new Promise<Response>(() => {});
  const raw = await rawClient({ handler: never, limits: { maxWindowBytes: 1 << 20 } });
  await waitFor(() => raw.frames().length > 0, 2000, "SESSION_INFO");
  const info = raw.frames().find((f) => f.type === "session_info");
  assert.ok(info && info.type === "session_info");
  assert.equal(info.info.maxWindow, 1 << 20);
  raw.send([
    { type: "headers", stream: 1, endStream: true, payload: get() },
    { type: "window_update", stream: 1, increment: (1 << 20) - 65536 }, // exactly the cap: allowed
  ]);
  await settle(5);
  assert.equal(raw.server.state, "established");
  raw.send([{ type: "window_update", stream: 1, increment: 1 }]);
  await waitFor(() => raw.closed() !== null, 3000, "close 4013");
  assert.equal(raw.closed()!.code, 4013);
});

Deno.test("messages held during the async KEM hop are bounded (4011 past 4)", async () => {
  const clock = new ManualClock();
  const [cs, ss] = memorySocketPair();
  let closed: { code: number } | null = null;
  cs.onclose = (code) => (closed = { code });
  cs.onmessage = () => {};
  const server = new ServerSession({
    socket: ss,
    keys: [TEST_KEY],
    env: testEnv("held", clock),
    limits: TEST_LIMITS,
    handler: () => Promise.resolve(new Response(null)),
    // A KEM hop that never finishes: everything after the ClientHello is held.
    kem: { prepareServer: () => new Promise<void>(() => {}) } as never,
  });
  const hello = new ClientHandshake({
    server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
    random: seededRandom("held client"),
  }).start();
  ss.onmessage = (m) => void server.receive(m);
  cs.send(hello);
  for (let i = 0; i < 10; i++) cs.send(new Uint8Array([4, 0, 0, 0]));
  await waitFor(() => closed !== null, 2000, "close");
  assert.equal(closed!.code, 4011);
});

Deno.test("after the ServerHello the session raises the transport's message limit to one record", async () => {
  const clock = new ManualClock();
  const [cs, ss] = memorySocketPair();
  const limits: number[] = [];
  (ss as unknown as { setMaxMessageSize(n: number): void }).setMaxMessageSize = (n) =>
    limits.push(n);
  const server = new ServerSession({
    socket: ss,
    keys: [TEST_KEY],
    env: testEnv("limit", clock),
    limits: TEST_LIMITS,
    handler: () => Promise.resolve(new Response(null)),
  });
  ss.onmessage = (m) => void server.receive(m);
  let got = false;
  cs.onmessage = () => (got = true);
  cs.send(new ClientHandshake({
    server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
    random: seededRandom("limit client"),
  }).start());
  await waitFor(() => got, 2000, "ServerHello");
  assert.deepEqual(limits, [MAX_RECORD_LEN]);
});

Deno.test("IncomingBody: 1-byte DATA payloads behind a slow reader are coalesced (bounded chunk count)", async () => {
  const body = new IncomingBody({ grant: () => {} });
  for (let i = 0; i < 65_536; i++) body.push(new Uint8Array([i & 0xff]), false);
  const queue = (body as unknown as { queue: Uint8Array[] }).queue;
  assert.equal(body.buffered, 65_536);
  assert.ok(queue.length <= 65_536 / (16_384 - SMALL_CHUNK) + 2, `chunks ${queue.length}`);
  // Order and content survive the coalescing.
  body.push(new Uint8Array(0), true);
  let n = 0, ok = true;
  for await (const c of body.stream) for (const b of c) ok &&= b === (n++ & 0xff);
  assert.equal(n, 65_536);
  assert.ok(ok);
});
