/**
 * Finding 5 of the bounded-edges work, in real workerd: workerd's WebSocket reports no
 * `bufferedAmount`, so socket backpressure alone never pauses a Durable Object. The session's
 * protocol-level bound (flow probes: PINGs whose PONGs acknowledge output, PROTOCOL.md §6.2;
 * src/tunnel/output-budget.ts) must hold there: a client that grants itself the largest window
 * and never answers a PING receives at most `maxUnackedBytes` (+ one record per stream) of a
 * large response, and workerd's memory does not grow with the response. Once the client answers
 * the probes the same response completes.
 */
import assert from "node:assert/strict";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { MAX_RECORD_LEN, MSG_RECORD } from "../../src/protocol/constants.ts";
import { decodeFrames, encodeFrames, type Frame } from "../../src/protocol/frames.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import { generateStaticKey } from "../../src/protocol/static-keys.ts";
import { RecordLayer } from "../../src/protocol/record-layer.ts";
import { encodeRequestHead } from "../../src/tunnel/bhttp.ts";
import { startWorker } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const KEY = generateStaticKey(SEED);
const MiB = 1024 * 1024;
const BODY = 64 * MiB;
const UNACKED = 256 * 1024;

function rssOf(pid: number | null): number {
  if (pid === null) return 0;
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A raw client: reads every record, counts DATA bytes, answers PINGs only when told to. */
async function rawChannel(wsUrl: string) {
  const ws = new WebSocket(wsUrl);
  ws.binaryType = "arraybuffer";
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket error"));
  });
  const hs = new ClientHandshake({
    server: { keyId: KEY.keyId, publicKey: KEY.publicKey },
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
  });
  const first = new Promise<ArrayBuffer>((
    resolve,
  ) => (ws.onmessage = (e) => resolve(e.data as ArrayBuffer)));
  ws.send(hs.start());
  const { clientFinished, keys } = hs.receiveServerHello(new Uint8Array(await first));
  const layer = new RecordLayer({ role: "client", keys, now: Date.now() });
  const state = {
    data: 0,
    ended: false,
    pings: [] as Uint8Array[],
    answer: false,
    closed: null as number | null,
  };
  const send = (frames: Frame[]) => ws.send(layer.seal(encodeFrames(frames), Date.now()));
  ws.onmessage = (e) => {
    const msg = new Uint8Array(e.data as ArrayBuffer);
    if (msg[0] !== MSG_RECORD) return;
    for (const f of decodeFrames(layer.open(msg, Date.now()))) {
      if (f.type === "data") {
        state.data += f.payload.length;
        if (f.endStream) state.ended = true;
      }
      if (f.type === "ping") {
        if (state.answer) send([{ type: "pong", data: f.data }]);
        else state.pings.push(f.data);
      }
      if (f.type === "key_update") layer.updateRx();
    }
  };
  ws.onclose = (e) => (state.closed = e.code);
  ws.send(clientFinished);
  return {
    state,
    send,
    answerPings() {
      state.answer = true;
      send(state.pings.splice(0).map((data) => ({ type: "pong" as const, data })));
    },
    close: () => ws.close(1000),
  };
}

Deno.test({
  name:
    "cf workers: a client that never acknowledges gets at most maxUnackedBytes of a 64 MiB response",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const origin = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      let sent = 0;
      return new Response(
        new ReadableStream({
          pull(c) {
            if (sent >= BODY) return c.close();
            c.enqueue(chunk);
            sent += chunk.length;
          },
        }, { highWaterMark: 0 }),
      );
    });
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(SEED)]),
      routes: [{
        match: { authority: "big.test" },
        origin: `http://127.0.0.1:${origin.addr.port}`,
      }],
      vars: {
        PQGATE_LIMITS: JSON.stringify({ maxUnackedBytes: UNACKED, maxWindowBytes: 2 ** 31 - 1 }),
      },
    });
    try {
      const c = await rawChannel(w.url.replace(/^http/, "ws") + "pqgate");
      const rss0 = rssOf(w.workerdPid);
      c.send([
        {
          type: "headers",
          stream: 1,
          endStream: true,
          payload: encodeRequestHead({
            method: "GET",
            scheme: "https",
            authority: "big.test",
            path: "/",
            headers: [],
          }),
        },
        { type: "window_update", stream: 1, increment: 2 ** 31 - 1 - 65536 },
      ]);
      let peak = rss0;
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rssOf(w.workerdPid));
      }
      const stalled = c.state.data;
      console.log(
        `workerd: ${stalled} B of ${BODY} delivered without acknowledgement (cap ${UNACKED}); ` +
          `RSS ${(rss0 / MiB).toFixed(1)} -> peak ${(peak / MiB).toFixed(1)} MiB`,
      );
      assert.ok(stalled > 0, "the response started");
      assert.ok(stalled <= UNACKED + 2 * MAX_RECORD_LEN, `delivered ${stalled}`);
      assert.equal(c.state.closed, null, "the channel stays open: it is only waiting");
      if (w.workerdPid !== null) {
        assert.ok(peak - rss0 < 48 * MiB, `workerd grew ${(peak - rss0) / MiB} MiB`);
      }
      // Acknowledging lets the same response finish.
      c.answerPings();
      const t0 = Date.now();
      while (!c.state.ended && Date.now() - t0 < 60_000) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(c.state.data, BODY);
      c.close();
    } finally {
      await w.close();
      await origin.shutdown();
    }
  },
});
