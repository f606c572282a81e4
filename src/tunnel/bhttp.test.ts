import assert from "node:assert/strict";
import fc from "fast-check";
import {
  BhttpError,
  decodeRequestHead,
  decodeResponseHead,
  encodeRequestHead,
  encodeResponseHead,
  type RequestHead,
} from "./bhttp.ts";

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.replace(/\s/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string =>
  [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const OPTS = { maxBytes: 16376 };

function throwsBhttp(fn: () => unknown, status: 400 | 431): void {
  assert.throws(fn, (e: unknown) => e instanceof BhttpError && e.status === status);
}

// RFC 9292 §5.1, "Known-Length Binary Encoding of Request" (Figure 8), as printed. The last two
// bytes are the empty content and empty trailer section; a pqgate HEADERS payload stops before
// them (PROTOCOL.md §6.4: content goes in DATA frames, no trailers in version 1).
const RFC9292_REQUEST = hex(`
  00034745 54056874 74707300 0a2f6865 6c6c6f2e 74787440 6c0a7573 65722d61
  67656e74 34637572 6c2f372e 31362e33 206c6962 6375726c 2f372e31 362e3320
  4f70656e 53534c2f 302e392e 376c207a 6c69622f 312e322e 3304686f 73740f77
  77772e65 78616d70 6c652e63 6f6d0f61 63636570 742d6c61 6e677561 67650665
  6e2c206d 690000`);
const RFC9292_REQUEST_HEAD: RequestHead = {
  method: "GET",
  scheme: "https",
  authority: "",
  path: "/hello.txt",
  headers: [
    ["user-agent", "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3"],
    ["host", "www.example.com"],
    ["accept-language", "en, mi"],
  ],
};

Deno.test("bhttp: RFC 9292 §5.1 request example decodes (head part) and re-encodes byte-exact", () => {
  const head = RFC9292_REQUEST.subarray(0, RFC9292_REQUEST.length - 2);
  assert.deepEqual(decodeRequestHead(head, OPTS), RFC9292_REQUEST_HEAD);
  assert.equal(toHex(encodeRequestHead(RFC9292_REQUEST_HEAD)), toHex(head));
  // The full message (with content and trailer lengths) is not a HEADERS payload.
  throwsBhttp(() => decodeRequestHead(RFC9292_REQUEST, OPTS), 400);
});

Deno.test("bhttp: RFC 9292 §5.2 known-length response example (head part)", () => {
  // "0140c800 1d546869 ..." : indicator 1, status 200 as a 2-byte varint, empty field section,
  // then content (not part of a HEADERS payload).
  const full = hex(
    "0140c800 1d546869 7320636f 6e74656e 7420636f 6e746169 6e732043 524c462e 0d0a0d07 74726169 6c657204 74657874",
  );
  assert.deepEqual(decodeResponseHead(full.subarray(0, 4), OPTS), { status: 200, headers: [] });
  assert.equal(toHex(encodeResponseHead({ status: 200, headers: [] })), "0140c800");
  throwsBhttp(() => decodeResponseHead(full, OPTS), 400);
});

Deno.test("bhttp: varints use the shortest form and non-minimal forms decode (RFC 9000 §16)", () => {
  const h = encodeResponseHead({ status: 404, headers: [["a".repeat(64), "v"]] });
  // 01 | 4194 (404) | 4044 (section 68) | 4040 (name 64) "a"*64 | 01 "v"
  assert.equal(toHex(h.subarray(0, 7)), "01419440444040");
  // status 200 written as a 4-byte and an 8-byte varint
  assert.equal(decodeResponseHead(hex("01 800000c8 00"), OPTS).status, 200);
  assert.equal(decodeResponseHead(hex("01 c0000000000000c8 00"), OPTS).status, 200);
  throwsBhttp(() => decodeResponseHead(hex("01 ffffffffffffffff 00"), OPTS), 400);
});

Deno.test("bhttp: strict decoding rejects malformed heads with 400", () => {
  const ok = encodeRequestHead({
    method: "GET",
    scheme: "https",
    authority: "a.example",
    path: "/",
    headers: [["x", "1"]],
  });
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array()],
    ["response indicator for a request", hex("01")],
    ["indeterminate-length indicator", hex("02 03474554 05687474707300 012f 00")],
    ["truncated", ok.subarray(0, ok.length - 1)],
    ["trailing byte", Uint8Array.from([...ok, 0])],
    ["length past end", hex("00 0a474554")],
    ["empty method", hex("00 00 05687474707300 012f 00")],
    ["method not a token", hex("00 0347 2054 05687474707300 012f 00")],
    ["scheme with colon", hex("00 03474554 0568747470 3a 00 012f 00")],
    ["CR in path", hex("00 03474554 0568747470730001 0d 00")],
    ["space in authority", hex("00 03474554 056874747073 02 6120 012f 00")],
    ["empty path", hex("00 03474554 056874747073 00 00 00")],
    ["uppercase field name", hex("00 03474554 056874747073 00 012f 03 01 41 00")],
    ["field name with colon", hex("00 03474554 056874747073 00 012f 03 01 3a 00")],
    ["empty field name", hex("00 03474554 056874747073 00 012f 02 00 00")],
    ["LF in value", hex("00 03474554 056874747073 00 012f 04 0178 010a")],
    ["NUL in value", hex("00 03474554 056874747073 00 012f 04 0178 0100")],
    ["leading space in value", hex("00 03474554 056874747073 00 012f 05 0178 022061")],
    ["field section shorter than its fields", hex("00 03474554 056874747073 00 012f 02 0178 0161")],
    ["field section longer than the payload", hex("00 03474554 056874747073 00 012f 09 0178 0161")],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => decodeRequestHead(bytes, OPTS), (e: unknown) => {
      assert.ok(e instanceof BhttpError, name);
      assert.equal(e.status, 400, name);
      return true;
    });
  }
});

Deno.test("bhttp: response status must be a final status 200-599", () => {
  for (const s of [0, 100, 101, 103, 199, 600, 999]) {
    const bytes = Uint8Array.from([1, 0x40 | (s >> 8), s & 0xff, 0]);
    throwsBhttp(() => decodeResponseHead(bytes, OPTS), 400);
    throwsBhttp(() => encodeResponseHead({ status: s, headers: [] }), 400);
  }
  for (const s of [200, 204, 302, 404, 431, 599]) {
    assert.equal(
      decodeResponseHead(encodeResponseHead({ status: s, headers: [] }), OPTS).status,
      s,
    );
  }
});

Deno.test("bhttp: size limits answer 431", () => {
  const big = encodeRequestHead({
    method: "GET",
    scheme: "https",
    authority: "a",
    path: "/",
    headers: [["x", "y".repeat(5000)]],
  });
  throwsBhttp(() => decodeRequestHead(big, { maxBytes: 4096 }), 431);
  assert.equal(decodeRequestHead(big, { maxBytes: big.length }).headers[0][1].length, 5000);
  const many = encodeRequestHead({
    method: "GET",
    scheme: "https",
    authority: "a",
    path: "/",
    headers: Array.from({ length: 300 }, () => ["x", "1"] as [string, string]),
  });
  throwsBhttp(() => decodeRequestHead(many, OPTS), 431);
  assert.equal(decodeRequestHead(many, { ...OPTS, maxFields: 300 }).headers.length, 300);
});

Deno.test("bhttp: the encoder refuses what the decoder rejects", () => {
  const base = {
    method: "GET",
    scheme: "https",
    authority: "a.example",
    path: "/",
    headers: [] as [string, string][],
  };
  throwsBhttp(() => encodeRequestHead({ ...base, headers: [["Content-Type", "x"]] }), 400);
  throwsBhttp(() => encodeRequestHead({ ...base, headers: [["x", "a\r\nb: c"]] }), 400);
  throwsBhttp(() => encodeRequestHead({ ...base, headers: [["x", "\u0100"]] }), 400);
  throwsBhttp(() => encodeRequestHead({ ...base, method: "GE T" }), 400);
  throwsBhttp(() => encodeRequestHead({ ...base, path: "/a b" }), 400);
  throwsBhttp(() => encodeRequestHead({ ...base, authority: "a\nb" }), 400);
});

// ---------------------------------------------------------------------------------------------
// Properties

const tchar = fc.constantFrom(
  ..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
);
const lowerTchar = fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz");
const visible = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const str = (ch: fc.Arbitrary<string>, min: number, max: number) =>
  fc.array(ch, { minLength: min, maxLength: max }).map((a) => a.join(""));
const valueByte = fc.integer({ min: 0, max: 0xff }).filter((c) =>
  c !== 0 && c !== 0x0a && c !== 0x0d
)
  .map((c) => String.fromCharCode(c));
const fieldValue = str(valueByte, 0, 80).filter((v) => !/^[ \t]|[ \t]$/.test(v));
const fields = fc.array(fc.tuple(str(lowerTchar, 1, 30), fieldValue), { maxLength: 20 });
const scheme = fc.tuple(fc.constantFrom(..."abcxyzABC"), str(fc.constantFrom(..."az09+-."), 0, 8))
  .map(([a, b]) => a + b);

Deno.test("bhttp property: request heads round-trip", () => {
  fc.assert(
    fc.property(
      fc.record({
        method: str(tchar, 1, 12),
        scheme,
        authority: str(visible, 0, 60),
        path: str(visible, 1, 200),
        headers: fields,
      }),
      (head) => {
        const bytes = encodeRequestHead(head);
        assert.deepEqual(decodeRequestHead(bytes, { maxBytes: bytes.length }), { ...head });
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("bhttp property: response heads round-trip", () => {
  fc.assert(
    fc.property(
      fc.record({ status: fc.integer({ min: 200, max: 599 }), headers: fields }),
      (head) => {
        const bytes = encodeResponseHead(head);
        assert.deepEqual(decodeResponseHead(bytes, { maxBytes: bytes.length }), { ...head });
      },
    ),
    { numRuns: 300 },
  );
});

function onlyBhttpErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BhttpError)) throw e;
    assert.ok(e.status === 400 || e.status === 431);
  }
}

Deno.test("bhttp property: random bytes never throw anything but BhttpError", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.integer({ min: 0, max: 300 }),
      (bytes, max) => {
        onlyBhttpErrors(() => decodeRequestHead(bytes, { maxBytes: max }));
        onlyBhttpErrors(() => decodeResponseHead(bytes, { maxBytes: max }));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("bhttp property: mutated valid heads never throw anything but BhttpError", () => {
  const seed = encodeRequestHead({ ...RFC9292_REQUEST_HEAD, authority: "www.example.com" });
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.nat(seed.length),
      (edits, cut) => {
        const b = seed.slice(0, cut === 0 ? seed.length : cut);
        for (const [i, v] of edits) if (i < b.length) b[i] = v;
        onlyBhttpErrors(() => {
          const h = decodeRequestHead(b, OPTS);
          // Anything that decodes must re-encode to the same bytes or a shorter varint form.
          decodeRequestHead(encodeRequestHead(h), OPTS);
        });
      },
    ),
    { numRuns: 2000 },
  );
});
