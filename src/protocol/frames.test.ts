import assert from "node:assert/strict";
import fc from "fast-check";
import {
  dataFrames,
  decodeFrames,
  decodeSessionInfo,
  encodeFrame,
  encodeFrames,
  encodeSessionInfo,
  type Frame,
  frameLength,
  MAX_FRAME_PAYLOAD,
  packFrames,
  type SessionInfo,
  STREAM_CANCEL,
  STREAM_ERROR_NAMES,
  STREAM_TOO_LARGE,
} from "./frames.ts";
import { fromHex, toHex, utf8Decode, utf8Encode } from "./bytes.ts";
import { PqgateError } from "./errors.ts";
import { MAX_PLAINTEXT } from "./constants.ts";

const isCode = (code: string) => (e: unknown) => e instanceof PqgateError && e.code === code;
const protocolError = isCode("protocol_error");
const internalError = isCode("internal_error");

const info: SessionInfo = {
  maxStreams: 100,
  maxHeaderBytes: 16384,
  maxBodyBytes: 2 ** 40,
  idleTimeoutMs: 30000,
  sessionLifetimeS: 86400,
  sessionId: new Uint8Array(16).fill(7),
  maxWindow: 16 * 1024 * 1024,
};

// ---- arbitraries ----------------------------------------------------------------------

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const streamId = fc.integer({ min: 1, max: 0xffffffff });
const bytes8 = fc.uint8Array({ minLength: 8, maxLength: 8 });
const arbInfo: fc.Arbitrary<SessionInfo> = fc.record({
  maxStreams: fc.integer({ min: 1, max: 0xffffffff }),
  maxHeaderBytes: u32,
  maxBodyBytes: fc.maxSafeNat(),
  idleTimeoutMs: u32,
  sessionLifetimeS: fc.integer({ min: 0, max: 86_400 }),
  sessionId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  maxWindow: fc.integer({ min: 65536, max: 2 ** 31 - 1 }),
});
/** Strings whose UTF-8 form is ≤ 123 bytes (well-formed UTF-16 only). */
const reason = fc.string({ unit: "grapheme", maxLength: 30 }).filter((s) =>
  utf8Encode(s).length <= 123
);
const arbMiddle: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant("padding" as const), length: fc.nat({ max: 64 }) }),
  fc.record({ type: fc.constant("ping" as const), data: bytes8 }),
  fc.record({ type: fc.constant("pong" as const), data: bytes8 }),
  fc.record({
    type: fc.constant("headers" as const),
    stream: streamId,
    endStream: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({
    type: fc.constant("data" as const),
    stream: streamId,
    endStream: fc.constant(false),
    payload: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    type: fc.constant("data" as const),
    stream: streamId,
    endStream: fc.constant(true),
    payload: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({ type: fc.constant("reset_stream" as const), stream: streamId, errorCode: u32 }),
  fc.record({
    type: fc.constant("window_update" as const),
    stream: u32,
    increment: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  }),
  fc.record({
    type: fc.constant("close" as const),
    code: fc.oneof(fc.constantFrom(1000, 1001), fc.integer({ min: 4000, max: 4999 })),
    reason,
  }),
);
/** A valid frame list: SESSION_INFO only first, KEY_UPDATE only last. */
const arbFrames: fc.Arbitrary<Frame[]> = fc.tuple(
  fc.option(arbInfo.map((info) => ({ type: "session_info" as const, info }))),
  fc.array(arbMiddle, { maxLength: 8 }),
  fc.option(fc.boolean().map((u) => ({ type: "key_update" as const, updateRequested: u }))),
).map(([first, mid, last]) => [...(first ? [first] : []), ...mid, ...(last ? [last] : [])])
  .filter((fs) => fs.length > 0);

/** Normalizes Uint8Array subclasses/views for deepEqual. */
function norm(fs: Frame[]): unknown {
  return JSON.parse(JSON.stringify(fs, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)));
}

// ---- tests -----------------------------------------------------------------------------

Deno.test("frames: arbitrary valid frame lists round-trip (property)", () => {
  fc.assert(
    fc.property(arbFrames, (fs) => {
      const enc = encodeFrames(fs);
      assert.deepEqual(norm(decodeFrames(enc)), norm(fs));
      // encodeFrames is the concatenation of encodeFrame
      assert.equal(toHex(enc), fs.map((f) => toHex(encodeFrame(f))).join(""));
    }),
    { numRuns: 500 },
  );
});

Deno.test("frames: random bytes only ever decode or throw protocol_error (property)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        decodeFrames(b);
      } catch (e) {
        assert.ok(protocolError(e), `unexpected ${e}`);
      }
    }),
    { numRuns: 3000 },
  );
  // Structured noise: valid headers with random fields hit deeper branches.
  const hdr = fc.tuple(
    fc.integer({ min: 0, max: 11 }),
    fc.constantFrom(0, 1, 2, 0x80),
    fc.constantFrom(0, 1, 3, 0xffffffff),
    fc.uint8Array({ maxLength: 48 }),
    fc.boolean(),
  ).map(([t, fl, s, p, lie]) => {
    const b = new Uint8Array(8 + p.length);
    const dv = new DataView(b.buffer);
    b[0] = t;
    b[1] = fl;
    dv.setUint32(2, s);
    dv.setUint16(6, lie ? p.length + 1 : p.length);
    b.set(p, 8);
    return b;
  });
  fc.assert(
    fc.property(fc.array(hdr, { minLength: 1, maxLength: 4 }), (parts) => {
      const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) b.set(p, o), o += p.length;
      try {
        const fs = decodeFrames(b);
        // anything accepted re-encodes to the same bytes (the codec is canonical)
        assert.equal(toHex(encodeFrames(fs)), toHex(b));
      } catch (e) {
        assert.ok(protocolError(e), `unexpected ${e}`);
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("frames: mutations of valid plaintexts decode or throw protocol_error (property)", () => {
  fc.assert(
    fc.property(arbFrames, fc.nat(), fc.integer({ min: 1, max: 255 }), (fs, pos, d) => {
      const enc = encodeFrames(fs);
      enc[pos % enc.length] ^= d;
      try {
        decodeFrames(enc);
      } catch (e) {
        assert.ok(protocolError(e), `unexpected ${e}`);
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("frames: wire layout of each type (§6.1)", () => {
  const hex = (f: Frame) => toHex(encodeFrame(f));
  assert.equal(hex({ type: "padding", length: 3 }), "0000000000000003000000");
  assert.equal(
    hex({ type: "ping", data: fromHex("0102030405060708") }),
    "01000000000000080102030405060708",
  );
  assert.equal(
    hex({ type: "headers", stream: 1, endStream: true, payload: fromHex("aa") }),
    "0401000000010001aa",
  );
  assert.equal(
    hex({ type: "data", stream: 3, endStream: true, payload: new Uint8Array(0) }),
    "0501000000030000",
  );
  assert.equal(hex({ type: "reset_stream", stream: 5, errorCode: 4 }), "060000000005000400000004");
  assert.equal(
    hex({ type: "window_update", stream: 0, increment: 65536 }),
    "070000000000000400010000",
  );
  assert.equal(hex({ type: "key_update", updateRequested: true }), "080000000000000101");
  assert.equal(hex({ type: "close", code: 4011, reason: "é" }), "0900000000000004" + "0fabc3a9");
  assert.equal(encodeFrame({ type: "session_info", info }).length, 8 + 44);
});

Deno.test("frames: each §6.1 rule is enforced with protocol_error", () => {
  const f = (t: number, fl: number, s: number, p: string) => {
    const pl = fromHex(p);
    const b = new Uint8Array(8 + pl.length);
    b[0] = t, b[1] = fl;
    new DataView(b.buffer).setUint32(2, s);
    new DataView(b.buffer).setUint16(6, pl.length);
    b.set(pl, 8);
    return toHex(b);
  };
  const bad = (hexStr: string, why: string) =>
    assert.throws(() => decodeFrames(fromHex(hexStr)), protocolError, why);
  const ok = (hexStr: string) => decodeFrames(fromHex(hexStr));
  const si = toHex(encodeSessionInfo(info));

  bad("", "empty plaintext");
  bad("00", "truncated header");
  bad("00000000000000", "7-byte header");
  bad(f(0, 0, 0, "00").slice(0, -2), "length past the end");
  bad(f(0x0a, 0, 0, ""), "unknown type");
  bad(f(0xff, 0, 0, ""), "unknown type ff");
  // PADDING
  ok(f(0, 0, 0, "0000"));
  bad(f(0, 0, 0, "0001"), "non-zero padding");
  bad(f(0, 1, 0, ""), "padding flag");
  bad(f(0, 0, 1, ""), "padding stream");
  // PING/PONG
  ok(f(1, 0, 0, "0011223344556677"));
  bad(f(1, 0, 0, "00112233445566"), "short ping");
  bad(f(2, 0, 0, "001122334455667788"), "long pong");
  bad(f(1, 0, 9, "0011223344556677"), "ping stream");
  bad(f(2, 1, 0, "0011223344556677"), "pong flag");
  // SESSION_INFO
  ok(f(3, 0, 0, si));
  ok(f(3, 0, 0, si.slice(0, 80))); // a 1.0 gateway's 40 bytes
  ok(f(3, 0, 0, si + "00")); // a later revision's extra field, ignored
  bad(f(3, 0, 0, si.slice(0, 82)), "session info 41 bytes");
  bad(f(3, 0, 0, si.slice(0, 86)), "session info 43 bytes");
  bad(f(3, 0, 0, si.slice(0, 78)), "session info 39 bytes");
  bad(f(3, 0, 1, si), "session info stream");
  bad(f(0, 0, 0, "") + f(3, 0, 0, si), "session info not first");
  // HEADERS / DATA
  ok(f(4, 0, 1, "") + f(4, 1, 1, "01"));
  bad(f(4, 2, 1, ""), "headers flag 2");
  bad(f(4, 0x81, 1, ""), "headers flag 0x80");
  bad(f(4, 0, 0, ""), "headers on stream 0");
  ok(f(5, 1, 1, ""));
  bad(f(5, 0, 1, ""), "empty DATA without END_STREAM");
  bad(f(5, 0, 0, "01"), "data on stream 0");
  bad(f(5, 3, 1, "01"), "data flag");
  // RESET_STREAM
  ok(f(6, 0, 1, "00000002"));
  bad(f(6, 0, 0, "00000002"), "reset on stream 0");
  bad(f(6, 0, 1, "000002"), "reset size");
  bad(f(6, 1, 1, "00000002"), "reset flag");
  // WINDOW_UPDATE
  ok(f(7, 0, 0, "00000001") + f(7, 0, 7, "7fffffff"));
  bad(f(7, 0, 1, "00000000"), "zero increment");
  bad(f(7, 0, 1, "80000000"), "increment 2^31");
  bad(f(7, 0, 1, "0000000001"), "window size");
  bad(f(7, 1, 1, "00000001"), "window flag");
  // KEY_UPDATE
  ok(f(8, 0, 0, "00"));
  ok(f(0, 0, 0, "") + f(8, 0, 0, "01"));
  bad(f(8, 0, 0, "02"), "update_requested 2");
  bad(f(8, 0, 0, ""), "key update size");
  bad(f(8, 0, 1, "00"), "key update stream");
  bad(f(8, 0, 0, "00") + f(0, 0, 0, ""), "key update not last");
  bad(f(8, 0, 0, "00") + f(8, 0, 0, "00"), "two key updates");
  // CLOSE
  ok(f(9, 0, 0, "03e8"));
  ok(f(9, 0, 0, "0fab" + "61".repeat(123)));
  bad(f(9, 0, 0, "0fab" + "61".repeat(124)), "reason 124 bytes");
  bad(f(9, 0, 0, "0f"), "close size 1");
  bad(f(9, 0, 0, "0fabc3"), "truncated UTF-8");
  bad(f(9, 0, 0, "0fabc0af"), "overlong UTF-8");
  bad(f(9, 0, 0, "0fabeda080"), "surrogate in UTF-8");
  bad(f(9, 0, 0, "0fabf4908080"), "above U+10FFFF");
  bad(f(9, 0, 0, "0fab80"), "stray continuation");
  bad(f(9, 1, 0, "03e8"), "close flag");
  bad(f(9, 0, 1, "03e8"), "close stream");
  bad(f(9, 0, 0, "0000"), "close code 0");
  bad(f(9, 0, 0, "03ea"), "close code 1002");
  bad(f(9, 0, 0, "1388"), "close code 5000");
  const c = decodeFrames(fromHex(f(9, 0, 0, "0fab" + toHex(utf8Encode("déjà 🔑")))));
  assert.deepEqual(c, [{ type: "close", code: 4011, reason: "déjà 🔑" }]);
});

Deno.test("frames: encoding invalid frames is a local internal_error", () => {
  const e = (f: Frame) => assert.throws(() => encodeFrame(f), internalError);
  e({ type: "padding", length: -1 });
  e({ type: "padding", length: MAX_FRAME_PAYLOAD + 1 });
  e({ type: "ping", data: new Uint8Array(7) });
  e({ type: "headers", stream: 0, endStream: false, payload: new Uint8Array(0) });
  e({ type: "data", stream: 1, endStream: false, payload: new Uint8Array(0) });
  e({ type: "data", stream: 2 ** 32, endStream: true, payload: new Uint8Array(1) });
  e({ type: "data", stream: 1, endStream: true, payload: new Uint8Array(MAX_FRAME_PAYLOAD + 1) });
  e({ type: "reset_stream", stream: 1, errorCode: -1 });
  e({ type: "window_update", stream: 1, increment: 0 });
  e({ type: "window_update", stream: 1, increment: 2 ** 31 });
  e({ type: "close", code: 70000, reason: "" });
  e({ type: "close", code: 1006, reason: "" });
  e({ type: "close", code: 1000, reason: "x".repeat(124) });
  e({ type: "close", code: 1000, reason: "\ud800" });
  e({ type: "session_info", info: { ...info, sessionId: new Uint8Array(15) } });
  e({ type: "session_info", info: { ...info, maxStreams: 2 ** 32 } });
  // deno-lint-ignore no-explicit-any
  e({ type: "bogus" } as any);
  const ku: Frame = { type: "key_update", updateRequested: false };
  assert.throws(() => encodeFrames([ku, { type: "padding", length: 0 }]), internalError);
  assert.throws(
    () => encodeFrames([{ type: "padding", length: 0 }, { type: "session_info", info }]),
    internalError,
  );
  assert.throws(() => encodeFrames([]), internalError);
  assert.throws(
    () =>
      encodeFrames([{ type: "padding", length: MAX_FRAME_PAYLOAD }, {
        type: "padding",
        length: 0,
      }]),
    internalError,
  );
  assert.equal(
    encodeFrames([{ type: "padding", length: MAX_FRAME_PAYLOAD }]).length,
    MAX_PLAINTEXT,
  );
});

Deno.test("SESSION_INFO: 48 bytes carry max_ws_message (1.4, §6.9); shorter payloads offer none", () => {
  const b = encodeSessionInfo({ ...info, maxWsMessage: 1_048_576 });
  assert.equal(b.length, 48);
  assert.equal(toHex(b.subarray(44)), "00100000");
  assert.equal(decodeSessionInfo(b).maxWsMessage, 1_048_576);
  const f: Frame = { type: "session_info", info: { ...info, maxWsMessage: 0 } };
  assert.equal(frameLength(f), encodeFrame(f).length);
  assert.equal(frameLength(f), 56);
  // 44 bytes (a 1.3 gateway) and 45-47 bytes (no whole field) offer no WebSocket streams.
  assert.equal(decodeSessionInfo(b.subarray(0, 44)).maxWsMessage, undefined);
  assert.equal(decodeSessionInfo(b.subarray(0, 47)).maxWsMessage, undefined);
  assert.throws(
    () => encodeSessionInfo({ ...info, maxWsMessage: 2 ** 32 }),
    (e: unknown) => e instanceof PqgateError && e.code === "internal_error",
  );
});

Deno.test("SESSION_INFO: 44-byte layout round-trips; 1.0's 40 bytes decode (§6.3)", () => {
  const b = encodeSessionInfo(info);
  assert.equal(b.length, 44);
  assert.equal(
    toHex(b),
    "00000064" + "00004000" + "0000010000000000" + "00007530" + "00015180" + "07".repeat(16) +
      "01000000",
  );
  assert.deepEqual(
    norm([{ type: "session_info", info: decodeSessionInfo(b) }]),
    norm([{ type: "session_info", info }]),
  );
  // A 1.0 gateway sends no max_window: the largest window applies.
  assert.equal(decodeSessionInfo(b.subarray(0, 40)).maxWindow, 2 ** 31 - 1);
  // Bytes after max_window belong to a later revision and are ignored.
  assert.equal(decodeSessionInfo(Uint8Array.from([...b, 9, 9])).maxWindow, info.maxWindow);
  assert.throws(() => decodeSessionInfo(b.subarray(1)), protocolError);
  const big = Uint8Array.from(b);
  big[8] = 0xff; // max_body_bytes ≥ 2^53
  assert.throws(() => decodeSessionInfo(big), protocolError);
  for (const w of [0, 65535, 2 ** 31]) {
    const x = Uint8Array.from(b);
    new DataView(x.buffer).setUint32(40, w);
    assert.throws(() => decodeSessionInfo(x), protocolError, `max_window ${w}`);
  }
  assert.throws(() => encodeSessionInfo({ ...info, maxWindow: 1000 }), /out of range/);
  // max_streams 0 (no stream could open) and a lifetime over 24 h are refused (§6.3, §5.4).
  const noStreams = Uint8Array.from(b);
  new DataView(noStreams.buffer).setUint32(0, 0);
  assert.throws(() => decodeSessionInfo(noStreams), protocolError);
  const tooLong = Uint8Array.from(b);
  new DataView(tooLong.buffer).setUint32(20, 86_401);
  assert.throws(() => decodeSessionInfo(tooLong), protocolError);
  new DataView(tooLong.buffer).setUint32(20, 86_400);
  assert.equal(decodeSessionInfo(tooLong).sessionLifetimeS, 86_400);
});

Deno.test("dataFrames splits a body into record-sized DATA frames", () => {
  const body = new Uint8Array(40000).map((_, i) => i & 0xff);
  const fs = dataFrames(5, body, true);
  assert.equal(fs.length, 3);
  assert.deepEqual(fs.map((f) => f.type === "data" && [f.payload.length, f.endStream]), [
    [MAX_FRAME_PAYLOAD, false],
    [MAX_FRAME_PAYLOAD, false],
    [40000 - 2 * MAX_FRAME_PAYLOAD, true],
  ]);
  for (const f of fs) assert.ok(encodeFrame(f).length <= MAX_PLAINTEXT);
  const joined = fs.flatMap((f) => (f.type === "data" ? [...f.payload] : []));
  assert.deepEqual(joined, [...body]);
  assert.deepEqual(dataFrames(1, new Uint8Array(0), false), []);
  assert.deepEqual(
    norm(dataFrames(1, new Uint8Array(0), true)),
    norm([
      { type: "data", stream: 1, endStream: true, payload: new Uint8Array(0) },
    ]),
  );
  assert.equal(dataFrames(1, new Uint8Array(10), false, 3).length, 4);
  assert.throws(() => dataFrames(0, body, true), internalError);
  assert.throws(() => dataFrames(1, body, true, 0), internalError);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 100 }),
      fc.integer({ min: 1, max: 30 }),
      fc.boolean(),
      (b, max, end) => {
        const fs = dataFrames(3, b, end, max);
        const back = decodeFrames(encodeFrames(fs.length ? fs : [{ type: "padding", length: 0 }]));
        const got = back.flatMap((f) => (f.type === "data" ? [...f.payload] : []));
        assert.deepEqual(got, [...b]);
        assert.equal(back.filter((f) => f.type === "data" && f.endStream).length, end ? 1 : 0);
      },
    ),
  );
});

Deno.test("packFrames fills records, ends one at KEY_UPDATE, starts one at SESSION_INFO", () => {
  const body = dataFrames(1, new Uint8Array(50000), true);
  const recs = packFrames([
    { type: "session_info", info },
    { type: "headers", stream: 1, endStream: false, payload: new Uint8Array(100) },
    ...body,
    { type: "key_update", updateRequested: false },
    { type: "ping", data: new Uint8Array(8) },
  ]);
  for (const r of recs) assert.ok(r.length >= 1 && r.length <= MAX_PLAINTEXT);
  const decoded = recs.map(decodeFrames);
  assert.equal(decoded[0][0].type, "session_info");
  const kuRec = decoded.findIndex((fs) => fs.some((f) => f.type === "key_update"));
  assert.equal(decoded[kuRec].at(-1)?.type, "key_update");
  assert.equal(decoded[kuRec + 1][0].type, "ping");
  assert.equal(decoded.flat().length, 2 + body.length + 2);
  assert.deepEqual(packFrames([]), []);
});

Deno.test("stream error codes (§6.5)", () => {
  assert.equal(STREAM_CANCEL, 0);
  assert.equal(STREAM_TOO_LARGE, 4);
  assert.equal(STREAM_ERROR_NAMES[1], "REFUSED");
});

Deno.test("utf8Encode/utf8Decode agree with TextEncoder/fatal TextDecoder (property)", () => {
  const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const enc = new TextEncoder();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      let want: string | null;
      try {
        want = dec.decode(b);
      } catch {
        want = null;
      }
      assert.equal(utf8Decode(b), want);
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 20 }), (s) => {
      assert.equal(toHex(utf8Encode(s)), toHex(enc.encode(s)));
      assert.equal(utf8Decode(utf8Encode(s)), s);
    }),
  );
  // Multi-byte edge cases
  for (
    const h of ["c280", "dfbf", "e0a080", "efbfbf", "f0908080", "f48fbfbf", "eda080", "e080bf"]
  ) {
    let want: string | null;
    try {
      want = dec.decode(fromHex(h));
    } catch {
      want = null;
    }
    assert.equal(utf8Decode(fromHex(h)), want, h);
  }
});
