import assert from "node:assert/strict";
import fc from "fast-check";
import { concat, toHex, u16, u32 } from "./bytes.ts";
import {
  authBinding,
  bindingMatches,
  clientAuthExtension,
  clientAuthRequestOf,
  decodeAuthPayload,
  decodeAuthResultPayload,
  decodeClientAuthExtension,
  decodePskExtension,
  encodeAuthPayload,
  encodeAuthResultPayload,
  pskExtension,
} from "./client-auth.ts";
import { EXT_CLIENT_AUTH, EXT_PSK, FRAME_AUTH, FRAME_AUTH_RESULT } from "./constants.ts";
import { type ErrorCode, PqgateError } from "./errors.ts";
import { decodeFrames, encodeFrame } from "./frames.ts";
import { exportKeyingMaterial } from "./key-schedule.ts";

function assertPq(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof PqgateError && e.code === code);
}

const B = new Uint8Array(32).fill(7);

Deno.test("psk extension: u8 identity_len | identity, 1..128 UTF-8 bytes", () => {
  const e = pskExtension("client-1");
  assert.equal(e.type, EXT_PSK);
  assert.deepEqual([...e.data], [8, ...new TextEncoder().encode("client-1")]);
  assert.equal(decodePskExtension(e.data), "client-1");
  assert.equal(decodePskExtension(pskExtension("é".repeat(64)).data), "é".repeat(64));
  assertPq(() => pskExtension(""), "internal_error");
  assertPq(() => pskExtension("x".repeat(129)), "internal_error");
  assertPq(() => decodePskExtension(new Uint8Array(0)), "protocol_error");
  assertPq(() => decodePskExtension(new Uint8Array([0])), "protocol_error");
  assertPq(
    () => decodePskExtension(new Uint8Array([129, ...new Uint8Array(129)])),
    "protocol_error",
  );
  assertPq(() => decodePskExtension(new Uint8Array([2, 65])), "protocol_error"); // short
  assertPq(() => decodePskExtension(new Uint8Array([1, 65, 65])), "protocol_error"); // trailing
  assertPq(() => decodePskExtension(new Uint8Array([1, 0xff])), "protocol_error"); // not UTF-8
});

Deno.test("client_auth extension: one method byte; unknown method → unsupported_extension", () => {
  assert.deepEqual([...clientAuthExtension("password").data], [1]);
  assert.deepEqual([...clientAuthExtension("token").data], [2]);
  assert.equal(decodeClientAuthExtension(new Uint8Array([1])), "password");
  assert.equal(decodeClientAuthExtension(new Uint8Array([2])), "token");
  assertPq(() => decodeClientAuthExtension(new Uint8Array([3])), "unsupported_extension");
  assertPq(() => decodeClientAuthExtension(new Uint8Array([0])), "unsupported_extension");
  assertPq(() => decodeClientAuthExtension(new Uint8Array([])), "protocol_error");
  assertPq(() => decodeClientAuthExtension(new Uint8Array([1, 1])), "protocol_error");
  // psk and client_auth exclude each other.
  assertPq(
    () => clientAuthRequestOf([pskExtension("a"), clientAuthExtension("token")]),
    "protocol_error",
  );
  assert.deepEqual(clientAuthRequestOf([pskExtension("a")]), { method: "psk", identity: "a" });
  assert.deepEqual(clientAuthRequestOf([{ type: EXT_CLIENT_AUTH, data: new Uint8Array([2]) }]), {
    method: "token",
  });
  assert.equal(clientAuthRequestOf([]), null);
});

Deno.test("AUTH password: exact layout and every length checked", () => {
  const pw = new TextEncoder().encode("hunter2");
  const p = encodeAuthPayload({ method: "password", binding: B, username: "ann", password: pw });
  assert.equal(
    toHex(p),
    "01" + toHex(B) + "03" + toHex(new TextEncoder().encode("ann")) + "0007" + toHex(pw),
  );
  const d = decodeAuthPayload(p);
  assert.equal(d.method, "password");
  if (d.method !== "password") return;
  assert.equal(d.username, "ann");
  assert.equal(toHex(d.password), toHex(pw));
  assert.equal(toHex(d.binding), toHex(B));
  // Truncated anywhere, or one byte extra: protocol_error.
  for (let n = 0; n < p.length; n++) {
    assertPq(() => decodeAuthPayload(p.subarray(0, n)), "protocol_error");
  }
  assertPq(() => decodeAuthPayload(concat(p, new Uint8Array([0]))), "protocol_error");
  const head = concat(new Uint8Array([1]), B);
  assertPq(
    () => decodeAuthPayload(concat(head, new Uint8Array([0]), u16(1), new Uint8Array([1]))),
    "protocol_error",
  ); // user_len 0
  assertPq(
    () => decodeAuthPayload(concat(head, new Uint8Array([1, 0xff]), u16(1), new Uint8Array([1]))),
    "protocol_error",
  ); // user not UTF-8
  assertPq(
    () => decodeAuthPayload(concat(head, new Uint8Array([1, 65]), u16(0))),
    "protocol_error",
  ); // pw_len 0
  assertPq(
    () => decodeAuthPayload(concat(head, new Uint8Array([1, 65]), u16(1025), new Uint8Array(1025))),
    "protocol_error",
  ); // pw_len > 1024
  // The largest password and user name are accepted.
  const big = encodeAuthPayload({
    method: "password",
    binding: B,
    username: "u".repeat(255),
    password: new Uint8Array(1024),
  });
  assert.equal(decodeAuthPayload(big).method, "password");
  assertPq(
    () =>
      encodeAuthPayload({
        method: "password",
        binding: B,
        username: "u".repeat(256),
        password: pw,
      }),
    "internal_error",
  );
  assertPq(
    () =>
      encodeAuthPayload({
        method: "password",
        binding: B,
        username: "u",
        password: new Uint8Array(1025),
      }),
    "internal_error",
  );
  assertPq(
    () =>
      encodeAuthPayload({
        method: "password",
        binding: B.subarray(1),
        username: "u",
        password: pw,
      }),
    "internal_error",
  );
});

Deno.test("AUTH token: u16 len 1..8192, visible ASCII", () => {
  const t = "eyJhbGciOi.x.y";
  const p = encodeAuthPayload({ method: "token", binding: B, token: t });
  assert.equal(toHex(p), "02" + toHex(B) + "000e" + toHex(new TextEncoder().encode(t)));
  const d = decodeAuthPayload(p);
  assert.equal(d.method === "token" && d.token, t);
  const head = concat(new Uint8Array([2]), B);
  assertPq(() => decodeAuthPayload(concat(head, u16(0))), "protocol_error");
  assertPq(
    () => decodeAuthPayload(concat(head, u16(8193), new Uint8Array(8193).fill(65))),
    "protocol_error",
  );
  assertPq(
    () => decodeAuthPayload(concat(head, u16(2), new Uint8Array([65, 0x20]))),
    "protocol_error",
  ); // space
  assertPq(() => decodeAuthPayload(concat(head, u16(2), new Uint8Array([65]))), "protocol_error");
  assertPq(
    () => decodeAuthPayload(concat(new Uint8Array([3]), B, u16(1), new Uint8Array([65]))),
    "protocol_error",
  ); // method
  assert.equal(
    decodeAuthPayload(encodeAuthPayload({ method: "token", binding: B, token: "a".repeat(8192) }))
      .method,
    "token",
  );
  assertPq(
    () => encodeAuthPayload({ method: "token", binding: B, token: "a".repeat(8193) }),
    "internal_error",
  );
  assertPq(
    () => encodeAuthPayload({ method: "token", binding: B, token: "a b" }),
    "internal_error",
  );
});

Deno.test("AUTH_RESULT: status | u32 retry_after_ms | u8 subject_len | subject (ok only)", () => {
  const ok = encodeAuthResultPayload({ status: "ok", retryAfterMs: 0, subject: "ann" });
  assert.equal(toHex(ok), "00" + "00000000" + "03" + "616e6e");
  assert.deepEqual(decodeAuthResultPayload(ok), { status: "ok", retryAfterMs: 0, subject: "ann" });
  const busy = encodeAuthResultPayload({ status: "busy", retryAfterMs: 1500, subject: null });
  assert.equal(toHex(busy), "04" + "000005dc" + "00");
  assert.deepEqual(decodeAuthResultPayload(busy), {
    status: "busy",
    retryAfterMs: 1500,
    subject: null,
  });
  for (
    const [i, s] of [
      "bad_credentials",
      "token_expired",
      "token_invalid",
      "busy",
      "rate_limited",
      "method_not_enabled",
    ].entries()
  ) {
    assert.equal(
      decodeAuthResultPayload(concat(new Uint8Array([i + 1]), u32(0), new Uint8Array([0]))).status,
      s,
    );
  }
  assertPq(
    () => decodeAuthResultPayload(concat(new Uint8Array([7]), u32(0), new Uint8Array([0]))),
    "protocol_error",
  );
  assertPq(
    () => decodeAuthResultPayload(concat(new Uint8Array([0]), u32(0), new Uint8Array([0]))),
    "protocol_error",
  ); // ok, no subject
  assertPq(
    () => decodeAuthResultPayload(concat(new Uint8Array([1]), u32(0), new Uint8Array([1, 65]))),
    "protocol_error",
  ); // subject w/o ok
  assertPq(
    () => decodeAuthResultPayload(concat(new Uint8Array([0]), u32(0), new Uint8Array([2, 65]))),
    "protocol_error",
  );
  assertPq(
    () => decodeAuthResultPayload(concat(new Uint8Array([0]), u32(0), new Uint8Array([1, 0xff]))),
    "protocol_error",
  );
  assertPq(() => decodeAuthResultPayload(ok.subarray(0, 5)), "protocol_error");
  assertPq(
    () => encodeAuthResultPayload({ status: "ok", retryAfterMs: 0, subject: "x".repeat(256) }),
    "internal_error",
  );
  assertPq(
    () => encodeAuthResultPayload({ status: "busy", retryAfterMs: -1, subject: null }),
    "internal_error",
  );
});

Deno.test("AUTH / AUTH_RESULT frames: types 0x0a / 0x0b, stream 0, no flags", () => {
  const auth = encodeFrame({ type: "auth", auth: { method: "token", binding: B, token: "t" } });
  assert.equal(auth[0], FRAME_AUTH);
  const res = encodeFrame({
    type: "auth_result",
    result: { status: "rate_limited", retryAfterMs: 9, subject: null },
  });
  assert.equal(res[0], FRAME_AUTH_RESULT);
  const both = decodeFrames(concat(auth, res));
  assert.deepEqual(both.map((f) => f.type), ["auth", "auth_result"]);
  const flagged = auth.slice();
  flagged[1] = 1;
  assertPq(() => decodeFrames(flagged), "protocol_error");
  const onStream = res.slice();
  onStream[5] = 1;
  assertPq(() => decodeFrames(onStream), "protocol_error");
});

Deno.test('binding = Export("pqgate client auth", method byte, 32), per method and channel', () => {
  const exp = new Uint8Array(32).fill(1);
  const b = authBinding(exp, "password");
  assert.equal(
    toHex(b),
    toHex(exportKeyingMaterial(exp, "pqgate client auth", new Uint8Array([1]), 32)),
  );
  assert.notEqual(toHex(b), toHex(authBinding(exp, "token")));
  assert.notEqual(toHex(b), toHex(authBinding(new Uint8Array(32).fill(2), "password")));
  assert.equal(
    bindingMatches(exp, { method: "password", binding: b, username: "u", password: B }),
    true,
  );
  assert.equal(bindingMatches(exp, { method: "token", binding: b, token: "t" }), false);
});

Deno.test("AUTH / AUTH_RESULT decoders: arbitrary bytes give a payload or protocol_error", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      for (
        const dec of [
          decodeAuthPayload,
          decodeAuthResultPayload,
          decodePskExtension,
          decodeClientAuthExtension,
        ]
      ) {
        try {
          dec(b);
        } catch (e) {
          assert.ok(
            e instanceof PqgateError &&
              (e.code === "protocol_error" || e.code === "unsupported_extension"),
          );
        }
      }
    }),
    { numRuns: 2000 },
  );
});
