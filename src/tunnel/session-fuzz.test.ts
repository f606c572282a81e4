/**
 * Property: any sequence of authenticated records with random frames (valid or not) fed to an
 * established gateway session never throws out of receive() and never hangs: the session
 * either keeps working (answers a PING) or closes with a pqgate close code.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeRequestHead } from "./bhttp.ts";
import { encodeFrame, type Frame } from "../protocol/frames.ts";
import { concat } from "../protocol/bytes.ts";
import { MAX_PLAINTEXT } from "../protocol/constants.ts";
import { rawClient, settle, waitFor } from "./testing.ts";
import type { RequestHandler } from "./types.ts";

const streamId = fc.constantFrom(0, 1, 2, 3, 5, 7, 9, 0xffffffff);
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });
const validHead = fc.constantFrom("GET", "POST", "PUT", "HEAD").map((m) =>
  encodeRequestHead({
    method: m,
    scheme: "https",
    authority: "a.example",
    path: "/x",
    headers: [["x", "y"]],
  })
);

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant("padding" as const), length: fc.nat(30) }),
  fc.record({
    type: fc.constant("ping" as const),
    data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
  fc.record({
    type: fc.constant("pong" as const),
    data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  }),
  fc.record({
    type: fc.constant("headers" as const),
    stream: streamId,
    endStream: fc.boolean(),
    payload: fc.oneof(validHead, bytes(40)),
  }).filter((f) => f.stream !== 0),
  fc.record({
    type: fc.constant("data" as const),
    stream: streamId,
    endStream: fc.boolean(),
    payload: bytes(3000),
  })
    .filter((f) => f.stream !== 0 && (f.payload.length > 0 || f.endStream)),
  fc.record({ type: fc.constant("reset_stream" as const), stream: streamId, errorCode: fc.nat(6) })
    .filter((f) => f.stream !== 0),
  fc.record({
    type: fc.constant("window_update" as const),
    stream: streamId,
    increment: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  }),
  fc.record({ type: fc.constant("key_update" as const), updateRequested: fc.boolean() }),
  fc.record({
    type: fc.constant("close" as const),
    code: fc.constantFrom(1000, 4011),
    reason: fc.string({ maxLength: 10 }),
  }),
);

/** A record's plaintext: encoded frames, or raw bytes (malformed frames). */
const record = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.array(frame, { minLength: 1, maxLength: 4 }).map((fs) => ({
      kind: "frames" as const,
      fs,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 60 }).map((raw) => ({
      kind: "raw" as const,
      raw,
    })),
  },
);

const handler: RequestHandler = (req) => Promise.resolve(new Response(req.body ?? "ok"));

Deno.test("fuzz: random frame sequences never throw out of receive() and never hang", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 12 }), async (records) => {
      const raw = await rawClient({ handler, limits: { maxStreams: 3 } });
      const server = raw.server;
      const throws: unknown[] = [];
      // Deliver directly so a throw out of receive() is caught here.
      raw.ss.onmessage = (m) => {
        try {
          server.receive(m);
        } catch (e) {
          throws.push(e);
        }
      };
      for (const r of records) {
        let pt: Uint8Array;
        let keyUpdate = false;
        if (r.kind === "raw") pt = r.raw;
        else {
          const i = r.fs.findIndex((f) => f.type === "key_update");
          const fs = i >= 0 ? r.fs.slice(0, i + 1) : r.fs;
          keyUpdate = i >= 0;
          pt = concat(...fs.map(encodeFrame));
          if (pt.length > MAX_PLAINTEXT) continue;
        }
        raw.cs.send(raw.layer.seal(pt, raw.clock.now()));
        if (keyUpdate) raw.layer.updateTx();
      }
      await settle(3);
      assert.deepEqual(throws, []);
      if (server.state !== "closed") {
        // Still alive: it must answer a PING.
        const data = new Uint8Array(8).fill(0xab);
        raw.cs.send(raw.layer.seal(encodeFrame({ type: "ping", data }), raw.clock.now()));
        await waitFor(
          () =>
            server.state === "closed" ||
            raw.frames().some((f) => f.type === "pong" && f.data[0] === 0xab),
          3000,
          "PONG or close",
        );
      }
      if (server.state === "closed") {
        const c = server.closeCode!;
        assert.ok(c === 1000 || (c >= 4000 && c <= 4014), `close code ${c}`);
        assert.notEqual(c, 4014, "internal_error means a bug");
      }
      raw.cs.close();
      await settle(2);
    }),
    { numRuns: 60 },
  );
});
