import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeWsMessage,
  isSendableCloseCode,
  type WsMessage,
  WsMessageDecoder,
  WsMessageError,
} from "./ws-messages.ts";

const MAX = 1024;
const bad = (e: unknown) => e instanceof WsMessageError;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

Deno.test("ws messages: the §6.9 layout, byte for byte", () => {
  assert.deepEqual([...encodeWsMessage({ kind: "text", data: "hé" }, MAX)], [
    1,
    0,
    0,
    0,
    3,
    0x68,
    0xc3,
    0xa9,
  ]);
  assert.deepEqual([...encodeWsMessage({ kind: "binary", data: Uint8Array.of(7) }, MAX)], [
    2,
    0,
    0,
    0,
    1,
    7,
  ]);
  assert.deepEqual([...encodeWsMessage({ kind: "close", code: 1000, reason: "ok" }, MAX)], [
    8,
    0,
    0,
    0,
    4,
    0x03,
    0xe8,
    0x6f,
    0x6b,
  ]);
  assert.deepEqual([...encodeWsMessage({ kind: "close", code: null, reason: "" }, MAX)], [
    8,
    0,
    0,
    0,
    0,
  ]);
});

Deno.test("ws messages: any split of a message sequence decodes to the same messages (property)", () => {
  const msg = fc.oneof(
    fc.string({ maxLength: 40 }).map((data): WsMessage => ({ kind: "text", data })),
    fc.uint8Array({ maxLength: 300 }).map((data): WsMessage => ({ kind: "binary", data })),
  );
  fc.assert(
    fc.property(
      fc.array(msg, { maxLength: 8 }),
      fc.array(fc.nat(400), { maxLength: 10 }),
      (ms, cuts) => {
        const all: WsMessage[] = [...ms, { kind: "close", code: 4001, reason: "bye" }];
        const bytes = concat(all.map((m) => encodeWsMessage(m, MAX)));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const d = new WsMessageDecoder(MAX);
        const got: WsMessage[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          got.push(...d.push(bytes.subarray(from, p)));
          from = p;
        }
        d.end();
        assert.equal(d.buffered, 0);
        assert.equal(got.length, all.length);
        for (let i = 0; i < all.length; i++) {
          const a = all[i], g = got[i];
          assert.equal(g.kind, a.kind);
          if (a.kind === "text" && g.kind === "text") {
            // Lone surrogates become U+FFFD on the way, as in a browser's WebSocket.send.
            assert.equal(g.data, new TextDecoder().decode(new TextEncoder().encode(a.data)));
          } else assert.deepEqual(g, a);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("ws messages: the length is checked at the header, before any payload is held", () => {
  const d = new WsMessageDecoder(MAX);
  // A header announcing MAX + 1 bytes fails with nothing buffered beyond the 5 header bytes.
  assert.throws(() => d.push(Uint8Array.of(2, 0, 0, 4, 1)), bad);
  const d2 = new WsMessageDecoder(MAX);
  assert.deepEqual(d2.push(Uint8Array.of(2, 0, 0, 4, 0)), []);
  assert.equal(d2.buffered, 5);
  d2.push(new Uint8Array(1000));
  assert.equal(d2.buffered, 1005);
  assert.equal(d2.push(new Uint8Array(24)).length, 1);
  assert.equal(d2.buffered, 0);
  // A message exactly at the limit encodes; one byte more does not.
  assert.equal(encodeWsMessage({ kind: "binary", data: new Uint8Array(MAX) }, MAX).length, MAX + 5);
  assert.throws(
    () => encodeWsMessage({ kind: "binary", data: new Uint8Array(MAX + 1) }, MAX),
    RangeError,
  );
});

Deno.test("ws messages: every §6.9 violation is a WsMessageError", () => {
  const cases: [string, number[]][] = [
    ["unknown kind", [3, 0, 0, 0, 0]],
    ["kind 0", [0, 0, 0, 0, 0]],
    ["text not UTF-8", [1, 0, 0, 0, 1, 0xff]],
    ["overlong UTF-8", [1, 0, 0, 0, 2, 0xc0, 0x80]],
    ["close of 1 byte", [8, 0, 0, 0, 1, 3]],
    ["close over 125", [8, 0, 0, 0, 126]],
    ["close code 1005", [8, 0, 0, 0, 2, 0x03, 0xed]],
    ["close code 1006", [8, 0, 0, 0, 2, 0x03, 0xee]],
    ["close code 999", [8, 0, 0, 0, 2, 0x03, 0xe7]],
    ["close code 5000", [8, 0, 0, 0, 2, 0x13, 0x88]],
    ["close reason not UTF-8", [8, 0, 0, 0, 3, 0x03, 0xe8, 0xfe]],
    ["a byte after close", [8, 0, 0, 0, 0, 2]],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => new WsMessageDecoder(MAX).push(Uint8Array.from(bytes)), bad, name);
  }
  const mid = new WsMessageDecoder(MAX);
  mid.push(Uint8Array.of(2, 0, 0, 0, 4, 1));
  assert.throws(() => mid.end(), bad, "END_STREAM inside a message");
  assert.throws(() => new WsMessageDecoder(MAX).end(), bad, "END_STREAM without close");
  const after = new WsMessageDecoder(MAX);
  after.push(Uint8Array.of(8, 0, 0, 0, 0));
  assert.throws(() => after.push(Uint8Array.of(1)), bad, "a later chunk after close");
  after.end();
});

Deno.test("ws messages: sendable close codes are RFC 6455 §7.4's", () => {
  for (const c of [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999]) {
    assert.ok(isSendableCloseCode(c), String(c));
  }
  for (const c of [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 1000.5]) {
    assert.ok(!isSendableCloseCode(c), String(c));
  }
  assert.throws(() => encodeWsMessage({ kind: "close", code: 1006, reason: "" }, MAX), RangeError);
  assert.throws(
    () => encodeWsMessage({ kind: "close", code: 1000, reason: "x".repeat(124) }, MAX),
    RangeError,
  );
  assert.throws(() => encodeWsMessage({ kind: "close", code: null, reason: "x" }, MAX), RangeError);
});
