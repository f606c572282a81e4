import assert from "node:assert/strict";
import { OutgoingBody } from "./outgoing-body.ts";

type Sent = ["head"] | ["data", number, boolean];

function harness(window?: number) {
  const sent: Sent[] = [];
  const out = new OutgoingBody({
    sendData: (p, end) => sent.push(["data", p.length, end]),
    drain: () => null,
    window,
  });
  return { out, sent, head: () => sent.push(["head"]) };
}

function source(chunks: number[], opts: { close?: boolean } = {}) {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const n of chunks) c.enqueue(new Uint8Array(n));
      if (opts.close !== false) c.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

Deno.test("declared length: HEADERS wait for the first DATA, END_STREAM rides on the last", async () => {
  const { out, sent, head } = harness();
  const src = source([600, 424], { close: false }); // never closes: the length ends it
  await out.pump(src.stream, { length: 1024, head });
  assert.deepEqual(sent, [["head"], ["data", 600, false], ["data", 424, true]]);
  assert.equal(out.finished, true);
  assert.equal(src.cancelled(), true, "the source is released once its length is sent");
});

Deno.test("declared length: bytes past it are never sent", async () => {
  const { out, sent, head } = harness();
  const src = source([1000, 1000, 1000], { close: false });
  await out.pump(src.stream, { length: 1500, head });
  assert.deepEqual(sent, [["head"], ["data", 1000, false], ["data", 500, true]]);
  assert.equal(src.cancelled(), true);
});

Deno.test("declared length: a body that ends early ends with an empty END_STREAM", async () => {
  const { out, sent, head } = harness();
  await out.pump(source([100]).stream, { length: 1024, head });
  assert.deepEqual(sent, [["head"], ["data", 100, false], ["data", 0, true]]);
});

Deno.test("declared length 0: HEADERS and an empty END_STREAM, the source is not read", async () => {
  const { out, sent, head } = harness();
  const src = source([5]);
  await out.pump(src.stream, { length: 0, head });
  assert.deepEqual(sent, [["head"], ["data", 0, true]]);
  assert.equal(src.cancelled(), true);
});

Deno.test("a body larger than one frame, or of unknown length, sends its HEADERS first", async () => {
  for (const length of [null, 20_000]) {
    const { out, sent, head } = harness(1 << 20);
    let headBeforeRead = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        headBeforeRead = sent.length > 0 && sent[0][0] === "head";
        c.enqueue(new Uint8Array(20_000));
        c.close();
      },
    }, { highWaterMark: 0 });
    await out.pump(stream, { length, head });
    assert.equal(headBeforeRead, true, `length ${length}`);
    assert.equal(sent[0][0], "head");
    assert.deepEqual(
      sent.at(-1),
      length === null ? ["data", 0, true] : ["data", 20_000 - 16_376, true],
    );
  }
});

Deno.test("a null body: HEADERS then END_STREAM, as before", async () => {
  const { out, sent, head } = harness();
  await out.pump(null, { head });
  assert.deepEqual(sent, [["head"], ["data", 0, true]]);
});

Deno.test("a whole body (bytes) gives the same frames as a stream of that one chunk", async () => {
  const cases: { n: number; length: number | null; window?: number }[] = [
    { n: 1024, length: 1024 },
    { n: 1024, length: null },
    { n: 1024, length: 600 },
    { n: 100, length: 1024 },
    { n: 5, length: 0 },
    { n: 0, length: null },
    { n: 40_000, length: 40_000 }, // several frames
    { n: 3000, length: 3000, window: 1000 }, // waits for window
  ];
  for (const c of cases) {
    const run = async (src: ReadableStream<Uint8Array> | Uint8Array) => {
      const { out, sent, head } = harness(c.window);
      const p = out.pump(src, { length: c.length, head });
      for (let i = 0; i < 5 && c.window; i++) {
        await new Promise((r) => setTimeout(r, 0));
        out.addWindow(1000);
      }
      await p;
      return { sent, finished: out.finished, sentBytes: out.sent };
    };
    const viaStream = await run(source(c.n > 0 ? [c.n] : []).stream);
    const viaBytes = await run(new Uint8Array(c.n));
    assert.deepEqual(viaBytes, viaStream, JSON.stringify(c));
  }
});
