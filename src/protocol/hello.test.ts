import assert from "node:assert/strict";
import fc from "fast-check";
import { concat, toHex, u16 } from "./bytes.ts";
import { PqgateError } from "./errors.ts";
import { EXT_CRITICAL, EXT_PADDING } from "./constants.ts";
import { decodeExtensions, encodeExtensions, paddingExtension } from "./extensions.ts";
import {
  type ClientHello,
  decodeClientFinished,
  decodeClientHello,
  decodeServerHello,
  encodeClientFinished,
  encodeClientHello,
  encodeServerHello,
  type ServerHello,
} from "./hello.ts";
import { seededRandom } from "./testing.ts";

const rnd = seededRandom("hello tests");

function pinnedCH(over: Partial<ClientHello> = {}): ClientHello {
  return {
    authMode: 1,
    suites: [1, 2],
    clientRandom: rnd(32),
    keyId: rnd(8),
    ekC: rnd(1216),
    ctS: rnd(1120),
    extensions: [],
    ...over,
  };
}
function anonCH(over: Partial<ClientHello> = {}): ClientHello {
  return pinnedCH({ authMode: 0, keyId: new Uint8Array(8), ctS: null, ...over });
}
function sh(over: Partial<ServerHello> = {}): ServerHello {
  return {
    suite: 1,
    serverRandom: rnd(32),
    ctE: rnd(1120),
    extensions: [],
    serverFinished: rnd(32),
    ...over,
  };
}

function assertPq(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PqgateError, `expected PqgateError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function sameCH(a: ClientHello, b: ClientHello): void {
  assert.equal(a.authMode, b.authMode);
  assert.deepEqual(a.suites, b.suites);
  assert.equal(toHex(a.clientRandom), toHex(b.clientRandom));
  assert.equal(toHex(a.keyId), toHex(b.keyId));
  assert.equal(toHex(a.ekC), toHex(b.ekC));
  assert.equal(a.ctS === null ? null : toHex(a.ctS), b.ctS === null ? null : toHex(b.ctS));
  assert.deepEqual(
    a.extensions.map((e) => [e.type, toHex(e.data)]),
    b.extensions.map((e) => [e.type, toHex(e.data)]),
  );
}

Deno.test("ClientHello: sizes of §3.1 (2386 pinned / 1266 anonymous with two suites)", () => {
  assert.equal(encodeClientHello(pinnedCH()).length, 2386);
  assert.equal(encodeClientHello(anonCH()).length, 1266);
  assert.equal(encodeClientHello(pinnedCH({ suites: [1] })).length, 2384);
  assert.equal(
    encodeClientHello(pinnedCH({ extensions: [paddingExtension(10)] })).length,
    2386 + 14,
  );
});

Deno.test("ClientHello: round trips (pinned, anonymous, extensions, unknown suites)", () => {
  for (
    const ch of [
      pinnedCH(),
      anonCH(),
      pinnedCH({
        suites: [2, 0x7777, 1],
        extensions: [paddingExtension(0), { type: 0x1234, data: rnd(5) }],
      }),
      anonCH({
        suites: [1, 2, 3, 4, 5, 6, 7, 8],
        extensions: [{ type: EXT_PADDING, data: rnd(1020) }],
      }),
    ]
  ) {
    const wire = encodeClientHello(ch);
    const back = decodeClientHello(wire);
    sameCH(back, ch);
    assert.equal(toHex(encodeClientHello(back)), toHex(wire));
  }
});

Deno.test("ClientHello: field layout matches the §3.1 offsets", () => {
  const ch = pinnedCH({ suites: [2, 1] });
  const w = encodeClientHello(ch);
  assert.deepEqual([...w.subarray(0, 8)], [1, 1, 1, 2, 0, 2, 0, 1]);
  assert.equal(toHex(w.subarray(8, 40)), toHex(ch.clientRandom)); // 4+2n
  assert.equal(toHex(w.subarray(40, 48)), toHex(ch.keyId)); // 36+2n
  assert.equal(toHex(w.subarray(48, 1264)), toHex(ch.ekC)); // 44+2n
  assert.equal(toHex(w.subarray(1264, 2384)), toHex(ch.ctS!)); // 1260+2n
  assert.deepEqual([...w.subarray(2384)], [0, 0]);
});

Deno.test("ClientHello: version is checked before the layout; type before version", () => {
  const w = encodeClientHello(pinnedCH());
  const v2 = new Uint8Array(w);
  v2[1] = 2;
  assertPq(() => decodeClientHello(v2), "unsupported_version");
  assertPq(() => decodeClientHello(v2.subarray(0, 2)), "unsupported_version");
  assertPq(() => decodeClientHello(new Uint8Array([1, 9, 0xff])), "unsupported_version");
  const t = new Uint8Array(v2);
  t[0] = 2;
  assertPq(() => decodeClientHello(t), "protocol_error");
  assertPq(() => decodeClientHello(new Uint8Array(0)), "protocol_error");
  assertPq(() => decodeClientHello(new Uint8Array([1])), "protocol_error");
});

Deno.test("ClientHello: layout violations are protocol_error", () => {
  const w = encodeClientHello(pinnedCH());
  const mut = (i: number, v: number) => {
    const c = new Uint8Array(w);
    c[i] = v;
    return c;
  };
  assertPq(() => decodeClientHello(w.subarray(0, w.length - 1)), "protocol_error"); // missing byte
  assertPq(() => decodeClientHello(concat(w, new Uint8Array([0]))), "protocol_error"); // trailing
  assertPq(() => decodeClientHello(mut(2, 2)), "protocol_error"); // auth_mode
  assertPq(() => decodeClientHello(mut(2, 0)), "protocol_error"); // anonymous: length mismatch
  assertPq(() => decodeClientHello(mut(3, 0)), "protocol_error"); // n_suites 0
  assertPq(() => decodeClientHello(mut(3, 9)), "protocol_error"); // n_suites 9
  assertPq(() => decodeClientHello(mut(3, 3)), "protocol_error"); // n_suites vs length
  assertPq(() => decodeClientHello(mut(5, 2)), "protocol_error"); // duplicate suite [2,2]
  assertPq(() => decodeClientHello(mut(2385, 1)), "protocol_error"); // ext_len runs past end
  // anonymous with a non-zero key id
  const a = encodeClientHello(anonCH());
  a[40] = 1;
  assertPq(() => decodeClientHello(a), "protocol_error");
  // ext_len > 1024 even if the bytes are there
  const big = concat(
    encodeClientHello(anonCH()).subarray(0, 1264),
    u16(1025),
    new Uint8Array(1025),
  );
  assertPq(() => decodeClientHello(big), "protocol_error");
});

Deno.test("Extensions: duplicates, structure, critical and non-critical (§3.4)", () => {
  const base = encodeClientHello(anonCH()).subarray(0, 1264);
  const withExt = (block: Uint8Array) => concat(base, u16(block.length), block);
  const ext = (t: number, d: Uint8Array) => concat(u16(t), u16(d.length), d);
  // duplicate
  assertPq(
    () => decodeClientHello(withExt(concat(ext(1, new Uint8Array(1)), ext(1, new Uint8Array(0))))),
    "protocol_error",
  );
  // ext_data runs past the block / partial header
  assertPq(
    () => decodeClientHello(withExt(concat(u16(1), u16(5), new Uint8Array(4)))),
    "protocol_error",
  );
  assertPq(() => decodeClientHello(withExt(new Uint8Array([0, 1, 0]))), "protocol_error");
  // unknown critical
  assertPq(
    () => decodeClientHello(withExt(ext(EXT_CRITICAL | 0x42, new Uint8Array(0)))),
    "unsupported_extension",
  );
  // a known type with the critical bit is understood only if listed; padding 0x0001 is not critical
  assertPq(
    () => decodeClientHello(withExt(ext(EXT_CRITICAL | EXT_PADDING, new Uint8Array(0)))),
    "unsupported_extension",
  );
  // accepted when the receiver knows it
  const known = new Set([EXT_CRITICAL | 0x42]);
  assert.equal(
    decodeClientHello(withExt(ext(EXT_CRITICAL | 0x42, new Uint8Array(2))), known).extensions
      .length,
    1,
  );
  // unknown non-critical is kept and ignored
  assert.equal(
    decodeClientHello(withExt(ext(0x4242, new Uint8Array(3)))).extensions[0].type,
    0x4242,
  );
  // layout error wins over an unknown critical extension (layout is checked first)
  assertPq(
    () =>
      decodeClientHello(
        concat(withExt(ext(EXT_CRITICAL | 0x42, new Uint8Array(0))), new Uint8Array(1)),
      ),
    "protocol_error",
  );
  // encoder refuses duplicates and oversize
  assertPq(() => encodeExtensions([paddingExtension(1), paddingExtension(2)]), "internal_error");
  assertPq(() => encodeExtensions([paddingExtension(1021)]), "internal_error");
  assert.equal(encodeExtensions([paddingExtension(1020)]).length, 1024);
  assert.deepEqual(decodeExtensions(new Uint8Array(0)), []);
});

Deno.test("ServerHello: size, layout and round trip (§3.2)", () => {
  const s = sh({ suite: 2 });
  const w = encodeServerHello(s);
  assert.equal(w.length, 1190);
  assert.deepEqual([...w.subarray(0, 4)], [2, 1, 0, 2]);
  assert.equal(toHex(w.subarray(36, 1156)), toHex(s.ctE));
  assert.equal(toHex(w.subarray(1158)), toHex(s.serverFinished));
  const back = decodeServerHello(w);
  assert.equal(back.suite, 2);
  assert.equal(toHex(back.serverRandom), toHex(s.serverRandom));
  assert.equal(toHex(back.serverFinished), toHex(s.serverFinished));
  const e = sh({ extensions: [paddingExtension(7), { type: 0x0bad, data: rnd(3) }] });
  const we = encodeServerHello(e);
  assert.equal(we.length, 1190 + 11 + 7);
  assert.equal(toHex(encodeServerHello(decodeServerHello(we))), toHex(we));
});

Deno.test("ServerHello: errors", () => {
  const w = encodeServerHello(sh());
  const mut = (i: number, v: number) => {
    const c = new Uint8Array(w);
    c[i] = v;
    return c;
  };
  assertPq(() => decodeServerHello(mut(0, 1)), "protocol_error");
  assertPq(() => decodeServerHello(mut(1, 0)), "unsupported_version");
  assertPq(() => decodeServerHello(w.subarray(0, 1189)), "protocol_error");
  assertPq(() => decodeServerHello(concat(w, new Uint8Array(1))), "protocol_error");
  assertPq(() => decodeServerHello(mut(1157, 1)), "protocol_error");
  const crit = encodeServerHello(sh({ extensions: [{ type: 0x8123, data: new Uint8Array(0) }] }));
  assertPq(() => decodeServerHello(crit), "unsupported_extension");
});

Deno.test("ClientFinished: exactly 33 bytes (§3.3)", () => {
  const mac = rnd(32);
  const w = encodeClientFinished(mac);
  assert.equal(w.length, 33);
  assert.equal(w[0], 3);
  assert.equal(toHex(decodeClientFinished(w)), toHex(mac));
  assertPq(() => decodeClientFinished(w.subarray(0, 32)), "protocol_error");
  assertPq(() => decodeClientFinished(concat(w, new Uint8Array(1))), "protocol_error");
  assertPq(() => decodeClientFinished(concat(new Uint8Array([4]), mac)), "protocol_error");
  assertPq(() => decodeClientFinished(new Uint8Array(0)), "protocol_error");
});

Deno.test("property: ClientHello and ServerHello round-trip for arbitrary valid fields", () => {
  const extArb = fc.uniqueArray(
    fc.record({
      type: fc.integer({ min: 0, max: 0x7fff }),
      data: fc.uint8Array({ maxLength: 40 }),
    }),
    { selector: (e) => e.type, maxLength: 5 },
  );
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 8 }),
      extArb,
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      (pinned, suites, extensions, keyId) => {
        const ch = pinned
          ? pinnedCH({ suites, extensions, keyId })
          : anonCH({ suites, extensions });
        const w = encodeClientHello(ch);
        sameCH(decodeClientHello(w), ch);
        const s = sh({ suite: suites[0], extensions });
        const ws = encodeServerHello(s);
        assert.equal(toHex(encodeServerHello(decodeServerHello(ws))), toHex(ws));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("property: decoders throw only PqgateError on arbitrary input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 3 }), (junk, t) => {
      const msg = junk.length > 0 ? junk : new Uint8Array([t]);
      if (msg.length > 1) {
        msg[0] = t;
        msg[1] = 1;
      }
      for (const dec of [decodeClientHello, decodeServerHello, decodeClientFinished]) {
        try {
          dec(msg);
        } catch (e) {
          assert.ok(e instanceof PqgateError, String(e));
        }
      }
    }),
    { numRuns: 500 },
  );
});
