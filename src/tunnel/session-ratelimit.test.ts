/**
 * Flood control in the gateway session: the control-frame token bucket (4009 rate_limited past
 * it, refilled on the injected clock) and best-effort PONGs behind a congested socket.
 */
import assert from "node:assert/strict";
import type { Frame } from "../protocol/frames.ts";
import { encodeRequestHead } from "./bhttp.ts";
import {
  DEFAULT_CONTROL_FRAME_BURST,
  DEFAULT_CONTROL_FRAMES_PER_SECOND,
  TokenBucket,
} from "./rate-limit.ts";
import { type RawClient, rawClient, settle, waitFor } from "./testing.ts";

const pings = (n: number, tag = 0): Frame[] =>
  Array.from(
    { length: n },
    (_, i) => ({ type: "ping", data: new Uint8Array([tag, i >> 8, i & 0xff, 0, 0, 0, 0, 0]) }),
  );
const pongs = (raw: RawClient) => raw.frames().filter((f) => f.type === "pong").length;

async function expectRateLimited(raw: RawClient): Promise<void> {
  await waitFor(() => raw.closed() !== null, 3000, "close 4009");
  assert.equal(raw.closed()!.code, 4009);
  assert.equal(raw.closed()!.reason, "rate limited");
  assert.equal(raw.server.closeCode, 4009);
  // The authenticated CLOSE frame carries the same code (§9).
  const close = raw.frames().find((f) => f.type === "close");
  assert.ok(close && close.type === "close");
  assert.equal(close.code, 4009);
  const err = raw.serverLog.find((l) => l.event === "session_error");
  assert.equal(err?.fields.code, "rate_limited");
}

Deno.test("TokenBucket: burst, continuous refill, cap, clock going backwards", () => {
  const b = new TokenBucket(10, 20, 1000);
  for (let i = 0; i < 20; i++) assert.ok(b.take(1000), `token ${i}`);
  assert.equal(b.take(1000), false);
  assert.equal(b.take(1990), true); // 0.99 s → 9.9 tokens
  assert.equal(b.available(1990) >= 8.8 && b.available(1990) < 9, true);
  assert.equal(b.take(1990, 9), false); // refuses without taking
  assert.ok(b.take(1990, 8));
  // Backwards: nothing refilled, nothing lost; refill restarts from the earlier time.
  assert.equal(b.take(500), false);
  assert.ok(b.take(600)); // +1 token from 500 → 600 (0.9 were left)
  // Cap at capacity after a long pause.
  assert.equal(b.available(10_000_000), 20);
  assert.ok(b.full(10_000_000));
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
  assert.equal(DEFAULT_CONTROL_FRAMES_PER_SECOND, 1000);
  assert.equal(DEFAULT_CONTROL_FRAME_BURST, 2000);
});

Deno.test("PING flood: the burst is answered, one more PING → CLOSE 4009 rate_limited", async () => {
  const raw = await rawClient({ limits: { maxControlFramesPerSecond: 10, controlFrameBurst: 20 } });
  raw.send(pings(20));
  await waitFor(() => pongs(raw) === 20, 2000, "20 PONGs");
  assert.equal(raw.server.state, "established");
  raw.send(pings(1, 1));
  await expectRateLimited(raw);
});

Deno.test("the bucket refills on the injected clock: a steady rate below the limit never closes", async () => {
  const raw = await rawClient({
    limits: { maxControlFramesPerSecond: 10, controlFrameBurst: 20, idleTimeoutMs: 10_000_000 },
  });
  raw.send(pings(20));
  await waitFor(() => pongs(raw) === 20, 2000, "burst answered");
  // 100 s at 9 PINGs per second (the limit is 10/s): always answered.
  for (let s = 0; s < 100; s++) {
    raw.clock.advance(1000);
    raw.send(pings(9, 2));
    await settle(2); // delivered (and charged) at this time
  }
  await waitFor(() => pongs(raw) === 20 + 900, 3000, "steady PINGs answered");
  assert.equal(raw.server.state, "established");
  // The leftover tokens are capped at the burst (20): 21 PINGs at once → closed.
  raw.clock.advance(1000);
  raw.send(pings(21, 3));
  await expectRateLimited(raw);
});

Deno.test("default limits: 2,000 PINGs at once are answered, the 2,001st closes with 4009", async () => {
  const raw = await rawClient(); // TEST_LIMITS has no control-frame fields: the defaults apply
  raw.send(pings(1000, 4));
  raw.send(pings(1000, 5));
  await waitFor(() => pongs(raw) === 2000, 3000, "2000 PONGs");
  assert.equal(raw.server.state, "established");
  raw.send(pings(1, 6));
  await expectRateLimited(raw);
});

const head = encodeRequestHead({
  method: "GET",
  scheme: "https",
  authority: "a.example",
  path: "/",
  headers: [],
});

Deno.test("every floodable control frame is charged: PADDING, PONG, WINDOW_UPDATE 0, KEY_UPDATE(1), late frames, refused streams", async () => {
  const limits = { maxControlFramesPerSecond: 1, controlFrameBurst: 3 };
  const cases: [string, (raw: RawClient) => void][] = [
    [
      "PADDING",
      (raw) =>
        raw.send([{ type: "padding", length: 16 }, { type: "padding", length: 0 }, {
          type: "padding",
          length: 1,
        }, { type: "padding", length: 2 }]),
    ],
    [
      "PONG",
      (raw) =>
        raw.send(
          Array.from({ length: 4 }, () => ({ type: "pong", data: new Uint8Array(8) }) as Frame),
        ),
    ],
    [
      "WINDOW_UPDATE on stream 0",
      (raw) =>
        raw.send(
          Array.from({ length: 4 }, () =>
            ({ type: "window_update", stream: 0, increment: 1 }) as Frame),
        ),
    ],
    ["KEY_UPDATE with update_requested", (raw) => {
      for (let i = 0; i < 4; i++) {
        raw.send([{ type: "key_update", updateRequested: true }]);
        raw.layer.updateTx(raw.clock.now());
      }
    }],
    ["late frames on a forgotten stream", (raw) => {
      raw.send([{ type: "headers", stream: 1, endStream: true, payload: head }]);
      raw.send([{ type: "reset_stream", stream: 1, errorCode: 0 }]);
      raw.send([
        { type: "reset_stream", stream: 1, errorCode: 0 },
        { type: "window_update", stream: 1, increment: 5 },
        { type: "data", stream: 1, endStream: false, payload: new Uint8Array(3) },
        { type: "reset_stream", stream: 1, errorCode: 0 },
      ]);
    }],
  ];
  for (const [name, flood] of cases) {
    const raw = await rawClient({ limits, label: name });
    flood(raw);
    await expectRateLimited(raw).catch((e) => {
      throw new Error(`${name}: ${e.message}`);
    });
  }
  // Three frames of a kind are fine (the burst), and a plain request still works after them.
  const raw = await rawClient({ limits, label: "within the burst" });
  raw.send([{ type: "padding", length: 4 }, { type: "pong", data: new Uint8Array(8) }, {
    type: "window_update",
    stream: 0,
    increment: 1,
  }]);
  raw.send([{ type: "headers", stream: 1, endStream: true, payload: head }]);
  await waitFor(
    () => raw.frames().some((f) => f.type === "headers" && f.stream === 1),
    2000,
    "response",
  );
  assert.equal(raw.server.state, "established");
  raw.cs.close();
  await settle();
});

Deno.test("streams refused past max_streams are charged too", async () => {
  const never = () => new Promise<Response>(() => {});
  const raw = await rawClient({
    handler: never,
    limits: { maxStreams: 1, maxControlFramesPerSecond: 1, controlFrameBurst: 2 },
  });
  for (let id = 1; id <= 7; id += 2) {
    raw.send([{ type: "headers", stream: id, endStream: true, payload: head }]);
  }
  await expectRateLimited(raw);
  // Two refusals (the burst) went out before the close.
  assert.equal(
    raw.frames().filter((f) => f.type === "reset_stream" && f.errorCode === 1).length,
    2,
  );
});

Deno.test("PONGs are not queued while the socket is above its high-water mark", async () => {
  const raw = await rawClient({ limits: { maxBufferedBytes: 16_410 } });
  let buffered = 20_000;
  Object.defineProperty(raw.ss, "bufferedAmount", { get: () => buffered });
  raw.send(pings(50, 7));
  await settle();
  assert.equal(pongs(raw), 0);
  assert.equal(raw.server.state, "established");
  assert.equal(raw.serverLog.filter((l) => l.event === "pong_dropped").length, 1, "logged once");
  raw.send(pings(50, 8));
  await settle();
  assert.equal(
    raw.serverLog.filter((l) => l.event === "pong_dropped").length,
    1,
    "still logged once",
  );
  // Drained: PINGs are answered again.
  buffered = 0;
  raw.send(pings(1, 9));
  await waitFor(() => pongs(raw) === 1, 2000, "PONG after the socket drained");
  raw.cs.close();
  await settle();
});
