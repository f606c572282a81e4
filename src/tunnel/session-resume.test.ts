/** Hibernation: a gateway session restored from its persisted snapshot continues the channel. */
import assert from "node:assert/strict";
import { ServerSession } from "./server-session.ts";
import { StreamResetError } from "./client-session.ts";
import { decodeSessionSnapshot } from "./session-snapshot.ts";
import {
  echoHandler,
  settle,
  startPair,
  TEST_LIMITS,
  testEnv,
  waitFor,
  wireServer,
} from "./testing.ts";
import type { RequestHandler } from "./types.ts";

/** (epoch, seq) of every record the gateway sent, from the socket log. */
function recordIds(log: Uint8Array[]): string[] {
  return log.filter((m) => m[0] === 0x04).map((m) => `${m[1]}:${m.subarray(2, 10).join(",")}`);
}

Deno.test("resume from the persisted snapshot: next request works, no nonce reuse, lost streams reset", async () => {
  const snapshots: Uint8Array[] = [];
  let stall = true;
  const handler: RequestHandler = (req, ch) =>
    new URL(req.url).pathname === "/stall" && stall ? new Promise(() => {}) : echoHandler(req, ch);
  const p = startPair({
    handler,
    server: { persist: (s) => snapshots.push(s.slice()), reserveBlock: 4 },
  });
  p.ss.record = true;
  const r1 = await p.client.fetch(
    new Request("https://a.example/one", { method: "POST", body: "1" }),
  );
  assert.equal(await r1.text(), "1");
  assert.ok(snapshots.length >= 1, "persisted after the handshake");
  // Several small requests: with a block of 4, several reservations happen.
  for (let i = 0; i < 6; i++) {
    await (await p.client.fetch(new Request(`https://a.example/${i}`))).body?.cancel();
  }
  const lost = p.client.fetch(new Request("https://a.example/stall"));
  await waitFor(() => p.server.openStreams === 1, 2000, "stream open");
  await settle();
  const snap = snapshots[snapshots.length - 1];
  assert.ok(snap.length < 2048, `snapshot ${snap.length} B`);
  assert.deepEqual(decodeSessionSnapshot(snap).openStreams.length, 1);

  // Eviction: the old object is gone (no close); a new one wakes up on the same socket.
  const resumed = ServerSession.resume(snap, {
    socket: p.ss,
    env: testEnv("resumed server", p.clock),
    limits: TEST_LIMITS,
    handler,
    persist: (s) => snapshots.push(s.slice()),
    reserveBlock: 4,
  });
  wireServer(resumed, p.ss);
  stall = false;
  await assert.rejects(lost, (e) => e instanceof StreamResetError && e.code === 2);
  const r2 = await p.client.fetch(
    new Request("https://a.example/two", { method: "POST", body: "2" }),
  );
  assert.equal(await r2.text(), "2");
  assert.equal(resumed.channelInfo?.sessionId, p.client.sessionId);
  assert.equal(resumed.channelInfo?.keyId, p.server.channelInfo?.keyId);
  const ids = recordIds(p.ss.log);
  assert.equal(new Set(ids).size, ids.length, "a (key, nonce) pair was reused");
  p.client.close();
  await settle();
  assert.equal(resumed.state, "closed");
});

Deno.test("a snapshot is never persisted mid-handshake; malformed snapshots are refused", async () => {
  const snapshots: Uint8Array[] = [];
  const p = startPair({ server: { persist: (s) => snapshots.push(s) } });
  await waitFor(() => p.server.state !== "start", 2000, "ClientHello processed");
  if (p.server.state === "serverHelloSent") assert.equal(snapshots.length, 0);
  await p.client.ready;
  await waitFor(() => p.server.state === "established", 2000, "established");
  assert.ok(snapshots.length >= 1);
  assert.throws(() =>
    ServerSession.resume(new Uint8Array([1, 2, 3]), {
      socket: p.ss,
      env: testEnv("x", p.clock),
      limits: TEST_LIMITS,
      handler: echoHandler,
    }), /internal_error/);
  p.client.close();
  await settle();
});
