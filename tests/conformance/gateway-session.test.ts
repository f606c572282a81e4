/**
 * PROTOCOL.md 1.1 conformance of the gateway's ServerSession (src/tunnel/server-session.ts) on
 * Deno, in memory (src/tunnel/testing.ts rawClient, manual clock): the statements that need a
 * clock or gateway-internal limits that the wire tests (tests/conformance/wire-cases.ts) cannot
 * set cheaply.
 */
import assert from "node:assert/strict";
import type { Frame } from "../../src/protocol/frames.ts";
import { rawClient, settle, waitFor } from "../../src/tunnel/testing.ts";

const ping = (b: number): Frame => ({ type: "ping", data: new Uint8Array(8).fill(b) });

Deno.test("§5.3 a KEY_UPDATE sent because a soft limit was reached carries update_requested = 0", async () => {
  const raw = await rawClient({ server: { recordLimits: { softRecordsPerEpoch: 3 } } });
  await waitFor(() => raw.frames().length > 0, 2000, "SESSION_INFO");
  for (let i = 0; i < 4; i++) {
    raw.send([ping(i + 1)]);
    await settle(3);
  }
  await settle(5);
  const kus = raw.frames().filter((f) => f.type === "key_update");
  assert.ok(kus.length >= 1, "the gateway updated its send direction at the soft limit");
  assert.deepEqual(
    kus.map((f) => f.type === "key_update" && f.updateRequested),
    kus.map(() => false),
  );
  // The client's direction is the client's to update: the gateway did not ask.
  assert.equal(raw.layer.txEpoch, 0);
  assert.equal(raw.server.state, "established");
});

Deno.test("§6.2 idle timer: any record (PADDING only) restarts it; the PING comes idle/2 after the last one", async () => {
  const raw = await rawClient({ limits: { idleTimeoutMs: 10_000 } });
  await waitFor(() => raw.frames().length > 0, 2000, "SESSION_INFO");
  const t0 = raw.clock.now();
  raw.clock.advance(4_000);
  raw.send([{ type: "padding", length: 4 }]);
  await settle();
  assert.equal(
    raw.server.nextDeadline(),
    t0 + 4_000 + 5_000,
    "PING due idle/2 after the PADDING record",
  );
  raw.clock.advance(5_000);
  raw.server.onTimer(raw.clock.now());
  await settle();
  assert.equal(raw.frames().filter((f) => f.type === "ping").length, 1, "one PING at idle/2");
  raw.clock.advance(4_999);
  raw.server.onTimer(raw.clock.now());
  await settle();
  assert.equal(raw.closed(), null, "not closed before idle_timeout_ms");
  raw.clock.advance(1);
  raw.server.onTimer(raw.clock.now());
  await waitFor(() => raw.closed() !== null, 2000, "close");
  assert.equal(raw.closed()!.code, 4008);
  const close = raw.frames().find((f) => f.type === "close");
  assert.ok(
    close && close.type === "close" && close.code === 4008,
    "CLOSE frame 4008 before the WebSocket close",
  );
});

Deno.test("§6.6 the gateway's CLOSE comes after its SESSION_INFO: a 4009 answering the client's first record", async () => {
  const raw = await rawClient({ limits: { maxControlFramesPerSecond: 10, controlFrameBurst: 5 } });
  raw.send(Array.from({ length: 50 }, (_, i) => ping(i)));
  await waitFor(() => raw.closed() !== null, 2000, "close");
  const fs = raw.frames();
  assert.equal(fs[0].type, "session_info", "first frame");
  assert.equal(fs.filter((f) => f.type === "session_info").length, 1);
  const last = fs[fs.length - 1];
  assert.ok(last.type === "close" && last.code === 4009, `last frame ${last.type}`);
  assert.equal(raw.closed()!.code, 4009);
});

Deno.test("§6.2 PINGs in one record are answered in order in the next record (PONG not held back)", async () => {
  const raw = await rawClient();
  await waitFor(() => raw.frames().length > 0, 2000, "SESSION_INFO");
  const before = raw.frames().length;
  raw.send([ping(1), ping(2), ping(3)]);
  await waitFor(() => raw.frames().length >= before + 3, 2000, "PONGs");
  const got = raw.frames().slice(before).map((f) => f.type === "pong" ? f.data[0] : -1);
  assert.deepEqual(got, [1, 2, 3]);
});
