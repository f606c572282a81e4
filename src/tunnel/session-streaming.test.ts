/** Large bodies stream through with bounded buffers; backpressure; KeyUpdate under load. */
import assert from "node:assert/strict";
import { SUITE_XWING_CHACHA20POLY1305 } from "../protocol/constants.ts";
import { settle, startPair } from "./testing.ts";

const MiB = 1024 * 1024;

/** A pull source of `total` bytes (byte i = i mod 251) that counts what it produced. */
function source(total: number, chunk = 64 * 1024) {
  const state = { produced: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (state.produced >= total) return c.close();
      const n = Math.min(chunk, total - state.produced);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (state.produced + i) % 251;
      state.produced += n;
      c.enqueue(b);
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

/** Reads and checks the pattern, yielding to the event loop now and then (a slowish reader). */
async function consume(
  body: ReadableStream<Uint8Array>,
  onBytes: (n: number) => void,
): Promise<number> {
  let n = 0, k = 0;
  for await (const c of body) {
    for (let i = 0; i < c.length; i += 997) {
      if (c[i] !== (n + i) % 251) throw new Error(`corrupt at ${n + i}`);
    }
    n += c.length;
    onBytes(n);
    if (++k % 16 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  return n;
}

Deno.test("20 MiB up and 20 MiB down at once; every buffer stays bounded", async () => {
  const total = 20 * MiB;
  const p = startPair({
    client: { suites: [SUITE_XWING_CHACHA20POLY1305] },
    handler: (req) => Promise.resolve(new Response(req.body)), // echo: upload and download together
  });
  const src = source(total);
  let consumed = 0;
  let maxInFlight = 0, maxClient = 0, maxServer = 0;
  const sample = setInterval(() => {
    maxInFlight = Math.max(maxInFlight, src.state.produced - consumed);
    maxClient = Math.max(maxClient, p.client.bufferedBytes);
    maxServer = Math.max(maxServer, p.server.bufferedBytes);
  }, 1);
  try {
    const res = await p.client.fetch(
      new Request(
        "https://a.example/echo",
        { method: "POST", body: src.stream, duplex: "half" } as RequestInit,
      ),
    );
    const n = await consume(res.body!, (x) => {
      consumed = x;
      maxInFlight = Math.max(maxInFlight, src.state.produced - consumed);
      maxClient = Math.max(maxClient, p.client.bufferedBytes);
      maxServer = Math.max(maxServer, p.server.bufferedBytes);
    });
    assert.equal(n, total);
  } finally {
    clearInterval(sample);
  }
  // Everything between the producer and the consumer: both sessions' queues, both sockets, the
  // gateway's echo. Per-stream windows (64 KiB each way) bound it; allow generous slack.
  assert.ok(maxInFlight < 2 * MiB, `in flight ${maxInFlight}`);
  assert.ok(maxClient < 512 * 1024, `client buffered ${maxClient}`);
  assert.ok(maxServer < 512 * 1024, `server buffered ${maxServer}`);
  assert.ok(p.cs.maxBuffered < MiB, `client socket ${p.cs.maxBuffered}`);
  assert.ok(p.ss.maxBuffered < MiB, `server socket ${p.ss.maxBuffered}`);
  console.log(
    `in flight max ${maxInFlight} B, client ${maxClient} B, server ${maxServer} B, sockets ${p.cs.maxBuffered}/${p.ss.maxBuffered} B`,
  );
  p.client.close();
  await settle();
});

Deno.test("socket backpressure: the gateway stops reading origin bodies while bufferedAmount is high", async () => {
  const high = 128 * 1024;
  const p = startPair({
    socket: { bytesPerTick: 64 * 1024, latencyMs: 1 },
    limits: { maxBufferedBytes: high },
    server: { drain: { pollMs: 1 } },
    client: { suites: [SUITE_XWING_CHACHA20POLY1305] },
    handler: () => Promise.resolve(new Response(source(2 * MiB).stream)),
  });
  const rs = await Promise.all(
    Array.from({ length: 8 }, () => p.client.fetch(new Request("https://a.example/big"))),
  );
  const ns = await Promise.all(rs.map((r) => consume(r.body!, () => {})));
  for (const n of ns) assert.equal(n, 2 * MiB);
  console.log(`server socket max buffered ${p.ss.maxBuffered} B (high-water ${high})`);
  // Above the high-water mark each stream may add at most one more DATA record.
  assert.ok(p.ss.maxBuffered < high + 9 * 16_500, `server socket buffered ${p.ss.maxBuffered}`);
  p.client.close();
  await settle();
});

Deno.test("KeyUpdate under small soft limits keeps traffic flowing in both directions", async () => {
  const recordLimits = { softRecordsPerEpoch: 8, softBytesPerEpoch: 100_000 };
  const p = startPair({ client: { recordLimits }, server: { recordLimits } });
  for (let i = 0; i < 30; i++) {
    const r = await p.client.fetch(
      new Request(`https://a.example/${i}`, { method: "POST", body: `body ${i}` }),
    );
    assert.equal(await r.text(), `body ${i}`);
  }
  const big = source(MiB);
  const r = await p.client.fetch(
    new Request(
      "https://a.example/big",
      { method: "POST", body: big.stream, duplex: "half" } as RequestInit,
    ),
  );
  assert.equal(await consume(r.body!, () => {}), MiB);
  await settle();
  const c = p.client.keyUpdates, s = p.server.keyUpdates;
  assert.ok(c.tx >= 5 && s.tx >= 5, `updates client ${c.tx} server ${s.tx}`);
  assert.equal(c.rx, s.tx);
  assert.equal(s.rx, c.tx);
  assert.equal(p.server.state, "established");
  // An explicit update asking the peer to follow.
  p.client.keyUpdate(true);
  const r2 = await p.client.fetch(new Request("https://a.example/after"));
  await r2.body?.cancel();
  await settle();
  assert.equal(p.client.keyUpdates.rx, p.server.keyUpdates.tx);
  p.client.close();
  await settle();
});
