/**
 * PROTOCOL.md 1.1 conformance of the client side (src/tunnel/client-session.ts, which the
 * client library src/client drives) against a SCRIPTED gateway: a real ServerHandshake and
 * gateway RecordLayer on an in-memory socket, sending exactly the bytes each case needs
 * (malformed ServerHellos, 40/44/48-byte SESSION_INFO, CLOSE followed by frames, ...) and
 * recording every record the client sends.
 */
import assert from "node:assert/strict";
import { concat, u16, u32 } from "../../src/protocol/bytes.ts";
import { decodeFrames, encodeFrame, encodeFrames, type Frame } from "../../src/protocol/frames.ts";
import { ServerHandshake } from "../../src/protocol/handshake-server.ts";
import { RecordLayer } from "../../src/protocol/record-layer.ts";
import { seededRandom } from "../../src/protocol/testing.ts";
import { encodeResponseHead } from "../../src/tunnel/bhttp.ts";
import {
  ClientSession,
  type ClientSessionOptions,
  type CloseInfo,
} from "../../src/tunnel/client-session.ts";
import { memorySocketPair } from "../../src/tunnel/memory-socket.ts";
import {
  ManualClock,
  settle,
  TEST_KEY,
  testEnv,
  waitFor,
  wireClient,
} from "../../src/tunnel/testing.ts";

const SH_EXT_OFFSET = 1156; // ext_len in a ServerHello (§3.2)

interface Scripted {
  client: ClientSession;
  clock: ManualClock;
  /** Each record the client sent after the handshake, opened. */
  records: Frame[][];
  /** The WebSocket close the gateway end saw (the client's code), if any. */
  closed(): { code: number; reason: string } | null;
  /** Seals raw plaintext into one gateway record and sends it. */
  sendRaw(plaintext: Uint8Array): void;
  send(frames: Frame[]): void;
  layer: RecordLayer | null;
}

let n = 0;
/**
 * Runs the handshake; `serverHello` may rewrite the ServerHello. When `sessionInfo` is not
 * false, the first record carries a SESSION_INFO whose payload is `sessionInfo` (default: a
 * valid 44-byte one).
 */
async function scripted(o: {
  serverHello?: (sh: Uint8Array) => Uint8Array;
  sessionInfo?: Uint8Array | false;
  client?: Partial<ClientSessionOptions>;
} = {}): Promise<Scripted> {
  const clock = new ManualClock();
  const [cs, ss] = memorySocketPair();
  const label = `conformance client ${n++}`;
  const client = new ClientSession({
    socket: cs,
    env: testEnv(label, clock),
    server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
    ...o.client,
  });
  wireClient(client, cs);
  const hs = new ServerHandshake({ keys: [TEST_KEY], random: seededRandom(`gw ${label}`) });
  const records: Frame[][] = [];
  let closed: { code: number; reason: string } | null = null;
  let layer: RecordLayer | null = null;
  ss.onclose = (code, reason) => (closed = { code, reason });
  ss.onmessage = (m) => {
    if (typeof m === "string") return;
    if (!layer) {
      if (m[0] === 0x01) {
        const sh = hs.receiveClientHello(m);
        ss.send(Uint8Array.from(o.serverHello ? o.serverHello(sh) : sh));
      } else if (m[0] === 0x03) {
        layer = new RecordLayer({
          role: "server",
          keys: hs.receiveClientFinished(m),
          now: clock.now(),
        });
      }
      return;
    }
    const fs = decodeFrames(layer.open(m, clock.now()));
    if (fs[fs.length - 1].type === "key_update") layer.updateRx();
    records.push(fs);
  };
  const s: Scripted = {
    client,
    clock,
    records,
    closed: () => closed,
    sendRaw(p) {
      ss.send(layer!.seal(p, clock.now()));
    },
    send(frames) {
      const p = encodeFrames(frames);
      ss.send(layer!.seal(p, clock.now()));
      if (frames[frames.length - 1]?.type === "key_update") layer!.updateTx(clock.now());
    },
    get layer() {
      return layer;
    },
  };
  client.start();
  await waitFor(
    () => layer !== null || closed !== null || client.state === "closed",
    3000,
    "handshake",
  );
  if (layer && o.sessionInfo !== false) {
    s.sendRaw(sessionInfoFrame(o.sessionInfo ?? sessionInfoPayload()));
  }
  await settle();
  return s;
}

function sessionInfoPayload(
  f: {
    maxStreams?: number;
    maxHeaderBytes?: number;
    idleMs?: number;
    maxWindow?: number;
    extra?: number;
  } = {},
): Uint8Array {
  return concat(
    u32(f.maxStreams ?? 100),
    u32(f.maxHeaderBytes ?? 16384),
    u32(0),
    u32(0),
    u32(f.idleMs ?? 60_000),
    u32(3600),
    new Uint8Array(16).fill(0x5a),
    f.maxWindow === undefined && f.extra === undefined
      ? u32(1 << 20)
      : f.maxWindow === -1
      ? new Uint8Array(0)
      : u32(f.maxWindow ?? 1 << 20),
    new Uint8Array(f.extra ?? 0),
  );
}

function sessionInfoFrame(payload: Uint8Array): Uint8Array {
  return concat(new Uint8Array([0x03, 0]), u32(0), u16(payload.length), payload);
}

const ping = (b: number): Frame => ({ type: "ping", data: new Uint8Array(8).fill(b) });
const flat = (s: Scripted) => s.records.flat();

async function expectClientClose(s: Scripted, code: number, what: string): Promise<void> {
  await waitFor(() => s.closed() !== null, 2000, `${what}: close`);
  assert.equal(s.closed()!.code, code, what);
}

async function alive(s: Scripted): Promise<boolean> {
  const b = 0xee;
  s.send([ping(b)]);
  await settle(5);
  return flat(s).some((f) => f.type === "pong" && f.data[0] === b);
}

// ---- SESSION_INFO (§3, §6.3) ----------------------------------------------------------------

Deno.test("§6.3 client: a 1.0 SESSION_INFO of 40 bytes is accepted, max_window = 2^31-1", async () => {
  const s = await scripted({ sessionInfo: sessionInfoPayload({ maxWindow: -1 }) });
  assert.equal(s.client.sessionInfo?.maxWindow, 2 ** 31 - 1);
  assert.ok(await alive(s));
  s.client.close();
});

Deno.test("§6.3 client: 44 bytes accepted; bytes after max_window (48) are ignored", async () => {
  for (const extra of [0, 4, 200]) {
    const s = await scripted({ sessionInfo: sessionInfoPayload({ maxWindow: 70_000, extra }) });
    assert.equal(s.client.state, "established", `44 + ${extra}`);
    assert.equal(s.client.sessionInfo?.maxWindow, 70_000);
    assert.ok(await alive(s));
    s.client.close();
  }
});

Deno.test("§6.3 client: SESSION_INFO of 41-43 or under 40 bytes, or max_window out of range → 4011", async () => {
  const bad: [string, Uint8Array][] = [
    ["41 bytes", sessionInfoPayload({ maxWindow: -1, extra: 1 })],
    ["43 bytes", sessionInfoPayload({ maxWindow: -1, extra: 3 })],
    ["39 bytes", sessionInfoPayload({ maxWindow: -1 }).subarray(0, 39)],
    ["max_window 65,535", sessionInfoPayload({ maxWindow: 65_535 })],
    ["max_window 2^31", sessionInfoPayload({ maxWindow: 2 ** 31 })],
  ];
  for (const [what, payload] of bad) {
    const s = await scripted({ sessionInfo: payload });
    await expectClientClose(s, 4011, what);
  }
});

Deno.test("§6.3 client: any u32 max_header_bytes is accepted (effective limit min(…, 16,376))", async () => {
  const s = await scripted({ sessionInfo: sessionInfoPayload({ maxHeaderBytes: 0xffffffff }) });
  assert.equal(s.client.state, "established");
  assert.ok(await alive(s));
  s.client.close();
});

Deno.test("§6.3 client: a first record without SESSION_INFO, or a second SESSION_INFO → 4011", async () => {
  const a = await scripted({ sessionInfo: false });
  a.send([ping(1)]);
  await expectClientClose(a, 4011, "first record starts with PING");
  const b = await scripted();
  b.sendRaw(sessionInfoFrame(sessionInfoPayload()));
  await expectClientClose(b, 4011, "second SESSION_INFO");
});

Deno.test("§3 client: requests sent before SESSION_INFO arrives; no idle timer runs before it", async () => {
  const s = await scripted({ sessionInfo: false, client: { handshakeTimeoutMs: 10_000 } });
  assert.equal(s.client.nextDeadline(), null, "no liveness timer before SESSION_INFO");
  void s.client.fetch(new Request("https://a.example/")).catch(() => {});
  await settle(5);
  assert.ok(flat(s).some((f) => f.type === "headers"), "the request went out before SESSION_INFO");
  s.client.close();
});

// ---- PING / liveness (§6.2) -----------------------------------------------------------------

Deno.test("§6.2 client: every PING answered with its bytes, in order, in the next record", async () => {
  const s = await scripted();
  const before = s.records.length;
  s.send([ping(1), ping(2), ping(3)]);
  s.send([ping(4)]);
  await settle(5);
  const next = s.records.slice(before);
  assert.ok(next.length >= 1);
  const pongs = next.flat().filter((f) => f.type === "pong").map((f) =>
    (f as { data: Uint8Array }).data[0]
  );
  assert.deepEqual(pongs, [1, 2, 3, 4]);
  // The PONGs of the first record are in the first record the client sent after it.
  assert.deepEqual(
    next[0].filter((f) => f.type === "pong").map((f) => (f as { data: Uint8Array }).data[0]).slice(
      0,
      3,
    ),
    [1, 2, 3],
  );
  s.client.close();
});

Deno.test("§6.2 client: a gateway silent for idle + max(5 s, idle/2) is gone (4008); idle_timeout_ms = 0 runs no timer", async () => {
  const s = await scripted({ sessionInfo: sessionInfoPayload({ idleMs: 20_000 }) });
  const t = s.clock.now();
  assert.equal(s.client.nextDeadline(), t + 20_000 + 10_000);
  s.clock.advance(29_999);
  s.client.onTimer(s.clock.now());
  assert.equal(s.client.state, "established");
  s.clock.advance(1);
  s.client.onTimer(s.clock.now());
  await expectClientClose(s, 4008, "silent gateway");

  const short = await scripted({ sessionInfo: sessionInfoPayload({ idleMs: 2_000 }) });
  assert.equal(short.client.nextDeadline(), short.clock.now() + 2_000 + 5_000, "max(5 s, idle/2)");
  short.client.close();

  const zero = await scripted({ sessionInfo: sessionInfoPayload({ idleMs: 0 }) });
  assert.equal(zero.client.nextDeadline(), null);
  zero.client.close();
});

// ---- KeyUpdate (§5.3) -----------------------------------------------------------------------

Deno.test("§5.3 client: update_requested = 1 is answered at the end of its next record with update_requested = 0", async () => {
  const s = await scripted();
  const before = s.records.length;
  s.send([ping(7), { type: "key_update", updateRequested: true }]);
  await settle(5);
  const next = s.records[before];
  assert.ok(next, "a record right after the request");
  const last = next[next.length - 1];
  assert.ok(
    last.type === "key_update" && last.updateRequested === false,
    `last frame ${JSON.stringify(last.type)}`,
  );
  assert.ok(next.some((f) => f.type === "pong" && f.data[0] === 7), "with the PONG");
  assert.ok(await alive(s), "both directions in epoch 1");
  s.client.close();
});

Deno.test("§5.3 client: a soft-limit KEY_UPDATE carries update_requested = 0", async () => {
  const s = await scripted({ client: { recordLimits: { softRecordsPerEpoch: 2 } } });
  for (let i = 0; i < 5; i++) {
    s.send([ping(10 + i)]);
    await settle(3);
  }
  const kus = flat(s).filter((f) => f.type === "key_update");
  assert.ok(kus.length >= 1, "the client updated at its soft limit");
  assert.ok(kus.every((f) => f.type === "key_update" && f.updateRequested === false));
  assert.equal(s.layer!.txEpoch, 0, "the gateway's direction is untouched");
  s.client.close();
});

// ---- CLOSE (§6.6) ---------------------------------------------------------------------------

Deno.test("§6.6 client: on a gateway CLOSE it sends no frame, fails pending requests with its code, closes 1000 ''", async () => {
  let info: CloseInfo | null = null;
  const s = await scripted({
    client: { errorFor: (c) => new Error(`closed ${c.code} ${c.reason}`) },
  });
  s.client.closed.then((c) => (info = c));
  const pending = s.client.fetch(new Request("https://a.example/")).then(
    () => "resolved",
    (e) => String(e),
  );
  await settle(5);
  const before = s.records.length;
  s.send([{ type: "close", code: 4321, reason: "gateway done" }, ping(9)]);
  assert.equal(await pending, "Error: closed 4321 gateway done");
  await waitFor(() => s.closed() !== null, 2000, "WebSocket close");
  assert.deepEqual(s.closed(), { code: 1000, reason: "" });
  assert.equal(
    s.records.length,
    before,
    "no record (no CLOSE, no PONG for the PING after the CLOSE)",
  );
  assert.equal((info as CloseInfo | null)?.code, 4321);
});

Deno.test("§6.6 client: a malformed frame after CLOSE in the same record is a protocol_error (4011)", async () => {
  const s = await scripted();
  s.sendRaw(
    concat(
      encodeFrame({ type: "close", code: 1000, reason: "" }),
      new Uint8Array([0x0a, 0, 0, 0, 0, 0, 0, 0]),
    ),
  );
  await expectClientClose(s, 4011, "CLOSE + unknown frame");
});

Deno.test("§6.6 client: after its own close() it discards what arrives", async () => {
  const s = await scripted();
  s.client.close();
  await settle(5);
  const before = s.records.length;
  s.send([ping(3)]);
  await settle(5);
  assert.equal(s.records.length, before);
  const last = flat(s).at(-1);
  assert.ok(last?.type === "close" && last.code === 1000, "its CLOSE 1000 was the last frame");
});

// ---- ServerHello (§3.2, §3.4) ---------------------------------------------------------------

function withShExtensions(block: Uint8Array): (sh: Uint8Array) => Uint8Array {
  // The handshake fails on the extension check before the Finished check, so server_finished
  // (the last 32 bytes) can stay as it was.
  return (sh) =>
    concat(sh.subarray(0, SH_EXT_OFFSET), u16(block.length), block, sh.subarray(sh.length - 32));
}
const ext = (type: number, data: Uint8Array = new Uint8Array(0)) =>
  concat(u16(type), u16(data.length), data);

Deno.test("§3.4 client: ServerHello extension block malformed → 4011, also with an unknown critical one", async () => {
  for (
    const [what, block] of [
      ["3 trailing bytes", new Uint8Array([0, 1, 0])],
      ["entry runs past the block", concat(u16(0x0001), u16(10), new Uint8Array(2))],
      ["malformed + unknown critical", concat(ext(0x8abc), new Uint8Array([0, 1]))],
      ["repeated type + unknown critical", concat(ext(0x8abc), ext(0x0001), ext(0x0001))],
    ] as const
  ) {
    const s = await scripted({ serverHello: withShExtensions(block) });
    await expectClientClose(s, 4011, what);
  }
});

Deno.test("§3.4 client: ServerHello with an unknown critical extension → 4012", async () => {
  const s = await scripted({
    serverHello: withShExtensions(concat(ext(0x0001, new Uint8Array(5)), ext(0x8abc))),
  });
  await expectClientClose(s, 4012, "unknown critical");
});

Deno.test("§3.2 client: a ServerHello suite the client did not offer → 4004", async () => {
  const s = await scripted({
    client: { suites: [0x0001] },
    serverHello: (sh) => {
      const m = sh.slice();
      m[2] = 0x00;
      m[3] = 0x02;
      return m;
    },
  });
  await expectClientClose(s, 4004, "suite not offered");
});

// ---- streams and windows (§6.2, §6.4) -------------------------------------------------------

const okHead = (status = 200) => encodeResponseHead({ status, headers: [] });

Deno.test("§6.2 client: a gateway WINDOW_UPDATE taking its send window past 2^31-1 → 4013", async () => {
  const s = await scripted();
  const body = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
  void s.client.fetch(
    new Request("https://a.example/up", { method: "POST", body, duplex: "half" } as RequestInit),
  ).catch(() => {});
  await settle(5);
  const id = (flat(s).find((f) => f.type === "headers") as { stream: number }).stream;
  s.send([{ type: "window_update", stream: id, increment: 2 ** 31 - 1 - 65_536 }]);
  await settle(5);
  assert.equal(s.client.state, "established", "exactly 2^31-1 is allowed");
  s.send([{ type: "window_update", stream: id, increment: 1 }]);
  await expectClientClose(s, 4013, "past 2^31-1");
});

Deno.test("§6.2 client: late frames for a finished stream are ignored; a frame for a higher id → 4011", async () => {
  const s = await scripted();
  const r = s.client.fetch(new Request("https://a.example/"));
  await settle(5);
  s.send([{ type: "headers", stream: 1, endStream: true, payload: okHead() }]);
  assert.equal((await r).status, 200);
  s.send([{ type: "data", stream: 1, endStream: true, payload: new Uint8Array(3) }]);
  s.send([{ type: "window_update", stream: 1, increment: 5 }]);
  s.send([{ type: "reset_stream", stream: 1, errorCode: 0 }]);
  assert.ok(await alive(s), "late frames ignored");
  s.send([{ type: "window_update", stream: 3, increment: 5 }]);
  await expectClientClose(s, 4011, "frame for an id above the highest used");
});

Deno.test("§6.2 client: WINDOW_UPDATE and RESET_STREAM from the gateway after its END_STREAM, while the client still uploads", async () => {
  const s = await scripted();
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  const r = s.client.fetch(
    new Request("https://a.example/up", { method: "POST", body, duplex: "half" } as RequestInit),
  );
  await settle(5);
  s.send([{ type: "headers", stream: 1, endStream: true, payload: okHead() }]);
  assert.equal((await r).status, 200);
  s.send([{ type: "window_update", stream: 1, increment: 1000 }]);
  ctl.enqueue(new Uint8Array(10));
  await settle(5);
  assert.ok(
    flat(s).some((f) => f.type === "data" && f.stream === 1),
    "the upload goes on after the response ended",
  );
  s.send([{ type: "reset_stream", stream: 1, errorCode: 0 }]);
  assert.ok(await alive(s));
  s.client.close();
});

Deno.test("§6.4 client: a response head it cannot parse fails that request only (RESET_STREAM INTERNAL)", async () => {
  const s = await scripted();
  const r = s.client.fetch(new Request("https://a.example/")).then(
    () => "resolved",
    () => "rejected",
  );
  await settle(5);
  s.send([{ type: "headers", stream: 1, endStream: true, payload: new Uint8Array([0x01, 0x40]) }]);
  assert.equal(await r, "rejected");
  await settle(3);
  const reset = flat(s).find((f) => f.type === "reset_stream" && f.stream === 1);
  assert.ok(
    reset && reset.type === "reset_stream" && reset.errorCode === 2,
    "RESET_STREAM INTERNAL",
  );
  assert.ok(await alive(s), "the channel stays");
  s.client.close();
});

// ---- flow control, the client's own grants (§6.2) -------------------------------------------

Deno.test("§6.2 client: its grants never take a stream's window past 65,536 (so never past max_window)", async () => {
  // The smallest max_window a gateway may announce: a client over it would be closed with 4013.
  const s = await scripted({ sessionInfo: sessionInfoPayload({ maxWindow: 65_536 }) });
  const pending = s.client.fetch(new Request("https://a.example/big"));
  await waitFor(() => flat(s).some((f) => f.type === "headers"), 2000, "request HEADERS");
  const id = (flat(s).find((f) => f.type === "headers") as { stream: number }).stream;
  s.send([{
    type: "headers",
    stream: id,
    endStream: false,
    payload: encodeResponseHead({ status: 200, headers: [] }),
  }]);
  const reader = (await pending).body!.getReader();
  const TOTAL = 1024 * 1024;
  let window = 65_536; // the gateway's send window on this stream, as the gateway computes it
  let sent = 0;
  let granted = 0;
  let read = 0;
  let maxWindow = window;
  const chunk = new Uint8Array(16_000);
  while (read < TOTAL) {
    // The gateway sends as much as the window allows, then the client reads some.
    while (sent < TOTAL && window >= chunk.length) {
      const n = Math.min(chunk.length, TOTAL - sent);
      s.send([{
        type: "data",
        stream: id,
        endStream: sent + n === TOTAL,
        payload: chunk.subarray(0, n),
      }]);
      sent += n;
      window -= n;
    }
    const r = await reader.read();
    if (r.done) break;
    read += r.value.byteLength;
    await settle();
    const grants = flat(s).filter((f) => f.type === "window_update" && f.stream === id) as {
      increment: number;
    }[];
    const total = grants.reduce((a, g) => a + g.increment, 0);
    window += total - granted;
    granted = total;
    maxWindow = Math.max(maxWindow, window);
    assert.ok(window <= 65_536, `window ${window} after ${read} bytes read`);
  }
  assert.equal(read, TOTAL);
  assert.equal(maxWindow <= 65_536, true);
  assert.equal(s.closed(), null);
  s.client.close();
});
