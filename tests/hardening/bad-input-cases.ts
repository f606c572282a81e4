/**
 * The bad-input matrix (issue "Hardening"): named cases that each send hostile bytes to a REAL
 * gateway over a raw WebSocket and report what the gateway did. Runtime-agnostic: every case
 * takes a `HardeningTarget` ({ wsUrl, httpUrl, pin, publicKey, keyId }), so the Workers runner
 * can reuse the table unchanged.
 *
 * The gateway under test MUST be configured with:
 *   limits: HARDENING_LIMITS
 *   routes: hardeningRoutes(<recording origin base URL>)   (origin.test → origin, hold.test → service:hold)
 *   services: { hold: holdService }
 * and must not allow anonymous mode.
 *
 * Cases with `needs: "address-limits"` test the Deno transport's per-client-address limits: run
 * them against a separate gateway served with `serveDeno({ ...HARDENING_ADDRESS_LIMITS })` (the
 * rest of the matrix would exhaust them). They connect from other loopback source addresses
 * (127.0.0.2, 127.0.0.3: Linux routes all of 127/8 to lo), so the healthy check from 127.0.0.1
 * after them also shows that other addresses are unaffected. A Worker has no such limits (each
 * channel is its own Durable Object; see docs/cloudflare.md), so its runner skips them.
 *
 * Each case's `expect` is the documented outcome (PROTOCOL.md §9 close code, or an HTTP status /
 * RESET_STREAM code on the stream for per-request problems, or "answered" for input the
 * gateway must accept). `runCase` returns the observed outcome; the runner compares them.
 */
import { connect, ConnectError } from "../../src/client/mod.ts";
import { concat, u16, u32 } from "../../src/protocol/bytes.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { encodeFrame, type Frame } from "../../src/protocol/frames.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import type { RouteConfig } from "../../src/proxy/routes.ts";
import type { SessionLimits } from "../../src/tunnel/types.ts";
import {
  buildHello,
  type HardeningTarget,
  type Message,
  RawConn,
  rawRequestHead,
  RawSession,
  sealRecord,
  type SecretBook,
  sleep,
  WS,
  wsFrom,
} from "./wire.ts";
import { encodeRequestHead } from "../../src/tunnel/bhttp.ts";

export type { HardeningTarget } from "./wire.ts";

/** Limits the gateway under test must use (small, so limits are cheap to reach). */
export const HARDENING_LIMITS: Partial<SessionLimits> = Object.freeze({
  maxStreams: 4,
  maxHeaderBytes: 2048,
  maxBodyBytes: 256 * 1024,
  handshakeTimeoutMs: 1000,
  idleTimeoutMs: 10_000,
  // Control-frame flood limit (the defaults are 1,000/s with a burst of 2,000).
  maxControlFramesPerSecond: 100,
  controlFrameBurst: 200,
});

/** Per-client-address limits of the Deno transport for the `needs: "address-limits"` cases. */
export const HARDENING_ADDRESS_LIMITS = Object.freeze({
  maxChannelsPerAddress: 3,
  maxHandshakesPerAddressPerMinute: 10,
});

export const HARDENING_HOSTS = { origin: "origin.test", hold: "hold.test" } as const;

/** Routes of the gateway under test. `hold.test` never reads the body nor answers (until aborted). */
export function hardeningRoutes(originUrl: string): RouteConfig[] {
  return [
    { match: { authority: HARDENING_HOSTS.origin }, origin: originUrl },
    { match: { authority: HARDENING_HOSTS.hold }, origin: "service:hold", timeoutMs: 8000 },
  ];
}

/** The `hold` service: never reads the request body; answers 200 only after 8 s or an abort. */
export function holdService(request: Request): Promise<Response> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(new Response("held")), 8000);
    request.signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve(new Response("aborted"));
    }, { once: true });
  });
}

export type Outcome =
  | { close: number }
  | { status: number }
  | { reset: number }
  | { answered: true };

export interface CaseContext {
  target: HardeningTarget;
  /** Every secret the case produced goes here (checked against the gateway's logs). */
  book: SecretBook;
}

export interface BadInputCase {
  name: string;
  /** Area: handshake, record, frame, stream, flood, address (per-client-address limits). */
  area: "handshake" | "record" | "frame" | "stream" | "flood" | "address";
  /**
   * "address-limits": needs a gateway with HARDENING_ADDRESS_LIMITS (Deno transport only).
   * "unread-request-body": needs `hold.test` to leave the request body unread, so the gateway
   * grants no flow-control window (true of the in-process `holdService`; not through a
   * Miniflare service binding, where workerd streams the body to the test process).
   */
  needs?: "address-limits" | "unread-request-body";
  expect: Outcome;
  /**
   * The outcome on a transport that refuses an oversized message at the WebSocket frame header
   * (serveDeno's default server: 1009, src/transport/node-http/ws-lifecycle.ts), where it differs.
   */
  atFrameHeader?: Outcome;
  run(ctx: CaseContext): Promise<Outcome>;
  /** Upper bound on the case's run time (ms), default 10 s. */
  timeoutMs?: number;
}

const C = CLOSE_CODES;
const H = HARDENING_HOSTS;
const L = HARDENING_LIMITS as Required<SessionLimits>;
const A = HARDENING_ADDRESS_LIMITS;

// ---------------------------------------------------------------------------------- helpers

function closeOf(c: { code: number } | null): Outcome {
  return { close: c ? c.code : -1 };
}

/** Opens a raw socket, sends `msgs` in order, returns the close code the gateway sent. */
async function rawClose(
  ctx: CaseContext,
  msgs: Message[] | ((conn: RawConn) => Promise<void>),
  waitMs = 5000,
): Promise<Outcome> {
  const conn = await RawConn.open(ctx.target.wsUrl);
  try {
    if (typeof msgs === "function") await msgs(conn);
    else for (const m of msgs) conn.send(m);
    return closeOf(await conn.waitClose(waitMs).catch(() => null));
  } finally {
    await conn.close();
  }
}

/** A ClientHello for the target, rewritten by `mutate`. */
function hello(
  ctx: CaseContext,
  mutate?: (ch: Uint8Array) => Uint8Array,
  o: Parameters<typeof buildHello>[2] = {},
): Uint8Array {
  return buildHello(ctx.target, ctx.book, { ...o, mutate }).hello;
}

/** Completes a handshake, runs `fn`, then reports the close (or "answered" if a PING still works). */
async function session(
  ctx: CaseContext,
  fn: (s: RawSession) => unknown,
  waitMs = 5000,
): Promise<Outcome> {
  const s = await RawSession.connect(ctx.target, ctx.book);
  try {
    await fn(s);
    return await settleOutcome(s, waitMs);
  } finally {
    await s.conn.close();
  }
}

/** Closed → its code; else a PING must come back → answered. */
async function settleOutcome(s: RawSession, waitMs: number): Promise<Outcome> {
  const c = await s.conn.waitClose(Math.min(waitMs, 300)).catch(() => null);
  if (c) return { close: c.code };
  if (await s.ping(waitMs)) return { answered: true };
  return closeOf(await s.conn.waitClose(waitMs).catch(() => null));
}

/** The outcome of one stream: status or reset, but only if the channel then still answers a PING. */
async function streamOutcome(s: RawSession, id: number): Promise<Outcome> {
  const r = await s.responseOn(id, 9000);
  const alive = await s.ping(3000);
  if (!alive) return closeOf(await s.conn.waitClose(3000).catch(() => null));
  if (r.status !== null) return { status: r.status };
  if (r.reset !== null) return { reset: r.reset };
  return { close: -2 };
}

/** A raw frame: type, flags, stream, payload (length taken from the payload unless given). */
function rawFrame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array,
  length = payload.length,
): Uint8Array {
  return concat(new Uint8Array([type, flags]), u32(stream), u16(length), payload);
}

const ping = (): Frame => ({ type: "ping", data: crypto.getRandomValues(new Uint8Array(8)) });
const getHello = { authority: H.origin, path: "/hello" };

/** Offsets in a pinned ClientHello with two suites (PROTOCOL.md §3.1). */
const OFF = {
  version: 1,
  mode: 2,
  nSuites: 3,
  suites: 4,
  keyId: 40,
  ekC: 48,
  ctS: 1264,
  extLen: 2384,
} as const;
const PK_X = OFF.ekC + 1184; // X25519 part of ek_C
const CT_X = OFF.ctS + 1088; // X25519 part of ct_S

function anonymousHello(ctx: CaseContext): Uint8Array {
  const hs = new ClientHandshake({ random: (n) => crypto.getRandomValues(new Uint8Array(n)) });
  const ch = hs.start();
  hs.close();
  void ctx;
  return ch;
}

// ---------------------------------------------------------------------------------- the table

export const BAD_INPUT_CASES: readonly BadInputCase[] = [
  // ---- handshake: framing and layout (§1, §3.1) ----
  {
    name: "text message instead of a binary ClientHello",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, ["hello"]),
  },
  {
    name: "empty binary message",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [new Uint8Array(0)]),
  },
  {
    name: "one-byte hello (type only, no version)",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [new Uint8Array([0x01])]),
  },
  {
    name: "wrong version 0x02",
    area: "handshake",
    expect: { close: C.unsupported_version },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch[OFF.version] = 2, ch))]),
  },
  {
    name: "wrong version 0x00 in a two-byte message",
    area: "handshake",
    expect: { close: C.unsupported_version },
    run: (ctx) => rawClose(ctx, [new Uint8Array([0x01, 0x00])]),
  },
  {
    name: "garbage: 4 KiB of random bytes with an unknown type",
    area: "handshake",
    expect: { close: C.protocol_error },
    atFrameHeader: { close: 1009 },
    run: (ctx) => {
      const g = crypto.getRandomValues(new Uint8Array(4096));
      g[0] = 0xff;
      return rawClose(ctx, [g]);
    },
  },
  {
    name: "garbage after a valid type and version",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, [concat(new Uint8Array([1, 1]), crypto.getRandomValues(new Uint8Array(3000)))]),
  },
  {
    name: "truncated hello (last byte missing)",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => ch.slice(0, ch.length - 1))]),
  },
  {
    name: "truncated hello (cut in ek_C)",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => ch.slice(0, 600))]),
  },
  {
    name: "hello with one extra trailing byte",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => concat(ch, new Uint8Array([0])))]),
  },
  {
    name: "oversized hello (1 MiB)",
    area: "handshake",
    expect: { close: C.protocol_error },
    atFrameHeader: { close: 1009 },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => concat(ch, new Uint8Array(1024 * 1024)))]),
  },
  {
    name: "n_suites = 0",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch[OFF.nSuites] = 0, ch))]),
  },
  {
    name: "n_suites = 9",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch[OFF.nSuites] = 9, ch))]),
  },
  {
    name: "duplicate suite in the offer",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch.set([0, 1, 0, 1], OFF.suites), ch))]),
  },
  {
    name: "auth_mode 0x02",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch[OFF.mode] = 2, ch))]),
  },
  {
    name: "anonymous mode while the gateway requires a pin",
    area: "handshake",
    expect: { close: C.unauthorized },
    run: (ctx) => rawClose(ctx, [anonymousHello(ctx)]),
  },
  {
    name: "anonymous mode with a non-zero key id",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, [(() => {
        const ch = anonymousHello(ctx);
        ch[OFF.keyId] = 7;
        return ch;
      })()]),
  },
  {
    name: "no common suite (0x0003, 0xffff)",
    area: "handshake",
    expect: { close: C.no_common_suite },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch.set([0, 3, 0xff, 0xff], OFF.suites), ch))]),
  },
  {
    name: "unknown key id",
    area: "handshake",
    expect: { close: C.unknown_key_id },
    run: (ctx) =>
      rawClose(ctx, [hello(ctx, undefined, { keyId: crypto.getRandomValues(new Uint8Array(8)) })]),
  },
  {
    name: "ek_C whose ML-KEM part fails the FIPS 203 modulus check",
    area: "handshake",
    expect: { close: C.handshake_failed },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch.set([0xff, 0xff, 0xff], OFF.ekC), ch))]),
  },
  {
    name: "ek_C with a low-order X25519 point (u = 0)",
    area: "handshake",
    expect: { close: C.handshake_failed },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch.fill(0, PK_X, PK_X + 32), ch))]),
  },
  {
    name: "ek_C with a low-order X25519 point (u = 1)",
    area: "handshake",
    expect: { close: C.handshake_failed },
    run: (ctx) =>
      rawClose(ctx, [hello(ctx, (ch) => (ch.fill(0, PK_X, PK_X + 32), ch[PK_X] = 1, ch))]),
  },
  {
    name: "ct_S with a low-order X25519 point (ct_X = 0)",
    area: "handshake",
    expect: { close: C.handshake_failed },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch.fill(0, CT_X, CT_X + 32), ch))]),
  },
  {
    name: "unknown critical extension",
    area: "handshake",
    expect: { close: C.unsupported_extension },
    run: (ctx) =>
      rawClose(ctx, [
        hello(ctx, undefined, { extensions: [{ type: 0x8abc, data: new Uint8Array(3) }] }),
      ]),
  },
  {
    name: "duplicate extension",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, [hello(ctx, (ch) => (ch.set([0x12, 0x34], ch.length - 4), ch), {
        extensions: [{ type: 0x1234, data: new Uint8Array(0) }, {
          type: 0x1235,
          data: new Uint8Array(0),
        }],
      })]),
  },
  {
    name: "extension length runs past the extension block",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, [hello(ctx, (ch) => (ch.set([0, 5], ch.length - 6), ch), {
        extensions: [{ type: 0x1234, data: new Uint8Array(4) }],
      })]),
  },
  {
    name: "ext_len above 1024",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, [
        hello(ctx, (ch) => concat(ch.slice(0, OFF.extLen), u16(1025), new Uint8Array(1025))),
      ]),
  },
  {
    name: "unknown non-critical extension is ignored",
    area: "handshake",
    expect: { answered: true },
    run: async (ctx) => {
      const s = await RawSession.connect(ctx.target, ctx.book, {
        extensions: [{ type: 0x0abc, data: new Uint8Array(10) }],
      });
      try {
        return await settleOutcome(s, 3000);
      } finally {
        await s.conn.close();
      }
    },
  },
  {
    name: "ServerHello type sent by the client",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [hello(ctx, (ch) => (ch[0] = 0x02, ch))]),
  },
  {
    name: "ClientFinished before ClientHello",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [concat(new Uint8Array([0x03]), new Uint8Array(32))]),
  },
  {
    name: "Record before ClientHello",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) => rawClose(ctx, [concat(new Uint8Array([0x04, 0]), new Uint8Array(40))]),
  },
  {
    name: "wrong ClientFinished (one bit flipped)",
    area: "handshake",
    expect: { close: C.handshake_failed },
    run: (ctx) =>
      rawClose(ctx, async (conn) => {
        const { hs, hello } = buildHello(ctx.target, ctx.book);
        conn.send(hello);
        const sh = await conn.next();
        if (!(sh instanceof Uint8Array)) return;
        const { clientFinished, keys } = hs.receiveServerHello(sh);
        ctx.book.add("c_ap", keys.clientSecret);
        ctx.book.add("s_ap", keys.serverSecret);
        clientFinished[5] ^= 0x01;
        conn.send(clientFinished);
      }),
  },
  {
    name: "ClientFinished of the wrong length (34 bytes)",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, async (conn) => {
        const { hs, hello } = buildHello(ctx.target, ctx.book);
        conn.send(hello);
        const sh = await conn.next();
        if (!(sh instanceof Uint8Array)) return;
        const { clientFinished } = hs.receiveServerHello(sh);
        conn.send(concat(clientFinished, new Uint8Array([0])));
      }),
  },
  {
    name: "random ct_S (ML-KEM implicit rejection) then a guessed ClientFinished",
    area: "handshake",
    expect: { close: C.handshake_failed },
    run: (ctx) =>
      rawClose(ctx, async (conn) => {
        const { hello } = buildHello(ctx.target, ctx.book, {
          mutate: (ch) => (ch.set(crypto.getRandomValues(new Uint8Array(1088)), OFF.ctS), ch),
        });
        conn.send(hello);
        const sh = await conn.next();
        if (!(sh instanceof Uint8Array)) return; // the gateway must still answer (no oracle)
        conn.send(concat(new Uint8Array([0x03]), crypto.getRandomValues(new Uint8Array(32))));
      }),
  },
  {
    name: "a second ClientHello instead of ClientFinished",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, async (conn) => {
        conn.send(hello(ctx));
        await conn.next();
        conn.send(hello(ctx));
      }),
  },
  {
    name: "a Record instead of ClientFinished",
    area: "handshake",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      rawClose(ctx, async (conn) => {
        conn.send(hello(ctx));
        await conn.next();
        conn.send(concat(new Uint8Array([0x04, 0]), new Uint8Array(40)));
      }),
  },
  {
    name: "slowloris: the socket opens and sends nothing",
    area: "handshake",
    expect: { close: C.handshake_timeout },
    timeoutMs: 15_000,
    run: (ctx) => rawClose(ctx, [], L.handshakeTimeoutMs + 5000),
  },
  {
    name: "slowloris: ClientHello, then never ClientFinished",
    area: "handshake",
    expect: { close: C.handshake_timeout },
    timeoutMs: 15_000,
    run: (ctx) => rawClose(ctx, [hello(ctx)], L.handshakeTimeoutMs + 5000),
  },

  // ---- records (§5) ----
  {
    name: "record replayed",
    area: "record",
    expect: { close: C.sequence_error },
    run: (ctx) =>
      session(ctx, async (s) => {
        const r = s.sendFrames([ping()]);
        await s.readUntil((f) => f.type === "pong");
        s.send(r);
      }),
  },
  {
    name: "records reordered",
    area: "record",
    expect: { close: C.sequence_error },
    run: (ctx) =>
      session(ctx, (s) => {
        const a = s.sealFrames([ping()]);
        const b = s.sealFrames([ping()]);
        s.send(b);
        s.send(a);
      }),
  },
  {
    name: "record under a future epoch",
    area: "record",
    expect: { close: C.sequence_error },
    run: (ctx) => session(ctx, (s) => s.send(s.seal(encodeFrame(ping()), { epoch: 1 }))),
  },
  {
    name: "record under the old epoch after a KeyUpdate",
    area: "record",
    expect: { close: C.sequence_error },
    run: (ctx) =>
      session(ctx, async (s) => {
        const oldSecret = s.tx.secret;
        s.sendFrames([{ type: "key_update", updateRequested: false }]);
        if (!(await s.ping())) return;
        s.send(sealOld(s, oldSecret));
      }),
  },
  {
    name: "record ciphertext tampered",
    area: "record",
    expect: { close: C.record_auth_failed },
    run: (ctx) =>
      session(ctx, (s) => {
        const r = s.sealFrames([ping()]);
        r[12] ^= 0x80;
        s.send(r);
      }),
  },
  {
    name: "record header (seq) tampered",
    area: "record",
    expect: { close: C.record_auth_failed },
    run: (ctx) =>
      session(ctx, (s) => {
        const r = s.sealFrames([ping()]);
        r[9] ^= 0x04; // seq 0 → 4: passes the sequence check, fails the tag
        s.send(r);
      }),
  },
  {
    name: "record tag tampered",
    area: "record",
    expect: { close: C.record_auth_failed },
    run: (ctx) =>
      session(ctx, (s) => {
        const r = s.sealFrames([ping()]);
        r[r.length - 1] ^= 0x01;
        s.send(r);
      }),
  },
  {
    name: "record sealed with the gateway's own direction key",
    area: "record",
    expect: { close: C.record_auth_failed },
    run: (ctx) =>
      session(ctx, async (s) => {
        s.send(sealRecord(s.suite, s.keys.serverSecret, 0, 0, encodeFrame(ping())));
      }),
  },
  {
    name: "record truncated below 27 bytes",
    area: "record",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send(s.sealFrames([ping()]).slice(0, 26))),
  },
  {
    name: "record truncated by one byte (tag cut)",
    area: "record",
    expect: { close: C.record_auth_failed },
    run: (ctx) =>
      session(ctx, (s) => {
        const r = s.sealFrames([ping()]);
        s.send(r.slice(0, r.length - 1));
      }),
  },
  {
    name: "record longer than 16,410 bytes",
    area: "record",
    expect: { close: C.protocol_error },
    atFrameHeader: { close: 1009 },
    run: (ctx) =>
      session(ctx, (s) => s.send(concat(new Uint8Array([0x04, 0]), new Uint8Array(16_409)))),
  },
  {
    name: "text message after the handshake",
    area: "record",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send("x")),
  },
  {
    name: "ClientHello after the handshake",
    area: "record",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send(hello(ctx))),
  },
  {
    name: "records after the key-usage limit (seq 2^23 - 1 accepted, 2^23 refused)",
    area: "record",
    expect: { close: C.rehandshake_required },
    run: (ctx) =>
      session(ctx, async (s) => {
        const data = crypto.getRandomValues(new Uint8Array(8));
        s.send(s.seal(encodeFrame({ type: "ping", data }), { seq: 2 ** 23 - 1 }));
        const pong = await s.readUntil(
          (f) => f.type === "pong" && f.data[0] === data[0] && f.data[7] === data[7],
          3000,
        );
        if (!pong) throw new Error("the last allowed seq was not accepted");
        s.send(s.seal(encodeFrame(ping()), { seq: 2 ** 23 }));
      }),
  },
  {
    name: "record with seq ≥ 2^53",
    area: "record",
    expect: { close: C.rehandshake_required },
    run: (ctx) =>
      session(ctx, (s) => {
        const r = s.sealFrames([ping()]);
        r.set([0x00, 0x20, 0, 0, 0, 0, 0, 0], 2); // seq = 2^53 (tag no longer matters: refused first)
        s.send(r);
      }),
  },
  {
    name: "KeyUpdate past epoch 255",
    area: "record",
    expect: { close: C.rehandshake_required },
    run: (ctx) =>
      session(ctx, (s) => {
        for (let i = 0; i < 256; i++) {
          s.sendFrames([{ type: "key_update", updateRequested: false }]);
        }
      }),
  },
  {
    name: "KeyUpdate with update_requested is answered",
    area: "record",
    expect: { answered: true },
    run: (ctx) =>
      session(ctx, async (s) => {
        s.sendFrames([{ type: "key_update", updateRequested: true }]);
        const ku = await s.readUntil((f) => f.type === "key_update", 3000);
        if (!ku) throw new Error("no KEY_UPDATE from the gateway");
      }),
  },

  // ---- frames (§6.1, §6.2) ----
  {
    name: "unknown frame type 0x0a",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x0a, 0, 0, new Uint8Array(0))))),
  },
  {
    name: "PING with an undefined flag",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x01, 0x01, 0, new Uint8Array(8))))),
  },
  {
    name: "PING of 4 bytes",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x01, 0, 0, new Uint8Array(4))))),
  },
  {
    name: "frame length runs past the record",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x01, 0, 0, new Uint8Array(8), 16)))),
  },
  {
    name: "SESSION_INFO from the client",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, (s) =>
        s.sendFrames([{
          type: "session_info",
          info: {
            maxStreams: 1,
            maxHeaderBytes: 1,
            maxBodyBytes: 0,
            idleTimeoutMs: 1,
            sessionLifetimeS: 1,
            sessionId: new Uint8Array(16),
            maxWindow: 65536,
          },
        }])),
  },
  {
    name: "a frame after KEY_UPDATE in the same record",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(
        ctx,
        (s) =>
          s.send(
            s.sealRaw(
              concat(
                encodeFrame({ type: "key_update", updateRequested: false }),
                encodeFrame(ping()),
              ),
            ),
          ),
      ),
  },
  {
    name: "KEY_UPDATE with update_requested = 2",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x08, 0, 0, new Uint8Array([2]))))),
  },
  {
    name: "WINDOW_UPDATE with increment 0",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) => session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x07, 0, 1, u32(0))))),
  },
  {
    name: "CLOSE with a reason that is not UTF-8",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(
        ctx,
        (s) => s.send(s.sealRaw(rawFrame(0x09, 0, 0, new Uint8Array([0x03, 0xe8, 0xff, 0xfe])))),
      ),
  },
  {
    name: "HEADERS on stream 0",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, (s) => s.send(s.sealRaw(rawFrame(0x04, 0x01, 0, new Uint8Array(4))))),
  },
  {
    name: "HEADERS on an even stream id",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, (s) => {
        s.sendFrames([{
          type: "headers",
          stream: 2,
          endStream: true,
          payload: encodeRequestHead({ method: "GET", scheme: "https", ...getHello, headers: [] }),
        }]);
      }),
  },
  {
    name: "stream id decreasing (5 then 3)",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, async (s) => {
        const p = encodeRequestHead({ method: "GET", scheme: "https", ...getHello, headers: [] });
        s.sendFrames([{ type: "headers", stream: 5, endStream: true, payload: p }]);
        s.sendFrames([{ type: "headers", stream: 3, endStream: true, payload: p }]);
      }),
  },
  {
    name: "DATA on a stream never opened",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(
        ctx,
        (s) =>
          void s.sendFrames([{
            type: "data",
            stream: 99,
            endStream: true,
            payload: new Uint8Array(3),
          }]),
      ),
  },
  {
    name: "a second HEADERS on an open stream",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, async (s) => {
        const p = encodeRequestHead({
          method: "POST",
          scheme: "https",
          authority: H.hold,
          path: "/",
          headers: [],
        });
        s.sendFrames([{ type: "headers", stream: 1, endStream: false, payload: p }, {
          type: "headers",
          stream: 1,
          endStream: false,
          payload: p,
        }]);
      }),
  },
  {
    name: "DATA after END_STREAM",
    area: "frame",
    expect: { close: C.protocol_error },
    run: (ctx) =>
      session(ctx, async (s) => {
        const p = encodeRequestHead({
          method: "POST",
          scheme: "https",
          authority: H.hold,
          path: "/",
          headers: [],
        });
        s.sendFrames([
          { type: "headers", stream: 1, endStream: false, payload: p },
          { type: "data", stream: 1, endStream: true, payload: new Uint8Array(10) },
          { type: "data", stream: 1, endStream: false, payload: new Uint8Array(10) },
        ]);
      }),
  },
  {
    // hold.test never reads the body, so the gateway grants (almost) no window beyond 65,536.
    name: "DATA beyond the stream's flow-control window",
    area: "frame",
    needs: "unread-request-body",
    expect: { close: C.limit_exceeded },
    run: (ctx) =>
      session(ctx, async (s) => {
        const id = s.request({ method: "POST", authority: H.hold, path: "/" }, undefined, {
          endStream: false,
        });
        // One record at a time, so the gateway has read everything when it closes (closing a
        // TCP socket with unread data sends RST, and the client would see 1006, not 4013).
        const chunk = new Uint8Array(16376);
        for (let i = 0; i < 20 && s.conn.isOpen; i++) {
          s.sendFrames([{ type: "data", stream: id, endStream: false, payload: chunk }]);
          await sleep(20);
        }
      }),
  },

  // ---- per-request limits: HTTP status or RESET_STREAM, never a close (§6.4, §9) ----
  {
    name: `request headers over max_header_bytes (${L.maxHeaderBytes}) → 431`,
    area: "stream",
    expect: { status: 431 },
    run: (ctx) =>
      sessionStream(ctx, (s) => s.request({ ...getHello, headers: [["x-big", "a".repeat(3000)]] })),
  },
  {
    name: "more than 256 header fields → 431",
    area: "stream",
    expect: { status: 431 },
    run: (ctx) =>
      sessionStream(
        ctx,
        (s) =>
          s.request({
            ...getHello,
            headers: Array.from({ length: 300 }, () => ["a", "b"] as [string, string]),
          }),
      ),
  },
  {
    name: `content-length over max_body_bytes (${L.maxBodyBytes}) → 413`,
    area: "stream",
    expect: { status: 413 },
    run: (ctx) =>
      sessionStream(
        ctx,
        (s) =>
          s.request(
            {
              method: "POST",
              authority: H.origin,
              path: "/echo",
              headers: [["content-length", String(L.maxBodyBytes + 1)]],
            },
            undefined,
            { endStream: false },
          ),
      ),
  },
  {
    name: "body over max_body_bytes without content-length → 413",
    area: "stream",
    expect: { status: 413 },
    run: (ctx) =>
      sessionStream(ctx, (s) => {
        const id = s.request({ method: "POST", authority: H.origin, path: "/echo" }, undefined, {
          endStream: false,
        });
        void s.sendBodyFlow(id, new Uint8Array(L.maxBodyBytes + 20_000));
        return id;
      }),
  },
  {
    name: "malformed Binary HTTP head → 400",
    area: "stream",
    expect: { status: 400 },
    run: (ctx) =>
      sessionStream(ctx, (s) => {
        const id = s.nextStreamId();
        s.sendFrames([{
          type: "headers",
          stream: id,
          endStream: true,
          payload: new Uint8Array([0x00, 0x05, 0x47, 0x45]),
        }]);
        return id;
      }),
  },
  {
    name: "uppercase field name → 400",
    area: "stream",
    expect: { status: 400 },
    run: (ctx) =>
      sessionStream(ctx, (s) => {
        const id = s.nextStreamId();
        const payload = rawRequestHead({
          method: "GET",
          scheme: "https",
          authority: H.origin,
          path: "/hello",
          headers: [["X-Upper", "1"]],
        });
        s.sendFrames([{ type: "headers", stream: id, endStream: true, payload }]);
        return id;
      }),
  },
  {
    name: "GET with a request body → 400",
    area: "stream",
    expect: { status: 400 },
    run: (ctx) =>
      sessionStream(
        ctx,
        (s) => s.request({ method: "GET", authority: H.origin, path: "/hello" }, new Uint8Array(5)),
      ),
  },
  {
    name: `more than max_streams (${L.maxStreams}) open streams → RESET_STREAM REFUSED`,
    area: "stream",
    expect: { reset: 1 },
    run: (ctx) =>
      sessionStream(ctx, (s) => {
        for (let i = 0; i < L.maxStreams; i++) {
          s.request({ method: "POST", authority: H.hold, path: "/" }, undefined, {
            endStream: false,
          });
        }
        return s.request(getHello);
      }),
  },

  // ---- floods ----
  {
    name:
      `PING flood (1,024 PINGs in one record): the burst (${L.controlFrameBurst}) is answered, then 4009`,
    area: "flood",
    expect: { close: C.rate_limited },
    run: (ctx) =>
      session(ctx, async (s) => {
        const frames: Frame[] = [];
        for (let i = 0; i < 1024; i++) {
          frames.push({
            type: "ping",
            data: new Uint8Array([0xf1, 0, i >> 8, i & 0xff, 0, 0, 0, 0]),
          });
        }
        s.sendFrames(frames);
        await s.readUntil((f) => f.type === "close", 5000);
        const pongs = s.received.filter((f) => f.type === "pong" && f.data[0] === 0xf1).length;
        // Every PING up to the burst was answered before the authenticated CLOSE.
        if (pongs !== L.controlFrameBurst) {
          throw new Error(`${pongs} PONGs before the close, expected ${L.controlFrameBurst}`);
        }
        const close = s.received.find((f) => f.type === "close");
        if (!close || close.type !== "close" || close.code !== C.rate_limited) {
          throw new Error("no authenticated CLOSE 4009");
        }
      }),
  },
  {
    name:
      `PINGs within the rate (${L.maxControlFramesPerSecond}/s after a burst of ${L.controlFrameBurst}) are all answered`,
    area: "flood",
    expect: { answered: true },
    run: (ctx) =>
      session(ctx, async (s) => {
        const burst = L.controlFrameBurst - 10;
        const second = Math.floor(L.maxControlFramesPerSecond * 0.9);
        s.sendFrames(pings(burst, 0xf2));
        await sleep(1000);
        s.sendFrames(pings(second, 0xf3));
        let n = 0;
        await s.readUntil(
          (f) =>
            f.type === "pong" && (f.data[0] === 0xf2 || f.data[0] === 0xf3) &&
            ++n === burst + second,
          5000,
        );
        if (n !== burst + second) throw new Error(`only ${n} of ${burst + second} PINGs answered`);
      }),
  },
  {
    name: "PADDING flood (1,024 empty PADDING frames in one record) → 4009",
    area: "flood",
    expect: { close: C.rate_limited },
    run: (ctx) =>
      session(
        ctx,
        (s) =>
          s.sendFrames(
            Array.from({ length: 1024 }, () => ({ type: "padding", length: 0 }) as Frame),
          ),
      ),
  },
  {
    name: "WINDOW_UPDATE on stream 0 flood (1,000 in one record) → 4009",
    area: "flood",
    expect: { close: C.rate_limited },
    run: (ctx) =>
      session(
        ctx,
        (s) =>
          s.sendFrames(Array.from({ length: 1000 }, () =>
            ({ type: "window_update", stream: 0, increment: 1 }) as Frame)),
      ),
  },
  {
    name:
      "WINDOW_UPDATE flood on a live stream (1,000 in one record; one per record is free) → 4009",
    area: "flood",
    expect: { close: C.rate_limited },
    run: (ctx) =>
      session(ctx, (s) => {
        const id = s.request({ authority: H.hold, path: "/" });
        s.sendFrames(Array.from({ length: 1000 }, () =>
          ({ type: "window_update", stream: id, increment: 1 }) as Frame));
      }),
  },
  {
    name: "WINDOW_UPDATE past the announced max_window (16 MiB) → 4013",
    area: "flood",
    expect: { close: C.limit_exceeded },
    run: (ctx) =>
      session(ctx, (s) => {
        const id = s.request({ authority: H.hold, path: "/" });
        s.sendFrames([{
          type: "window_update",
          stream: id,
          increment: 16 * 1024 * 1024 - 65536 + 1,
        }]);
      }),
  },
  {
    name: "RESET_STREAM flood on a finished stream (1,000 in one record) → 4009",
    area: "flood",
    expect: { close: C.rate_limited },
    run: (ctx) =>
      session(ctx, async (s) => {
        const id = s.request(getHello);
        await s.bodyOn(id, 5000);
        s.sendFrames(Array.from({ length: 1000 }, () =>
          ({ type: "reset_stream", stream: id, errorCode: 0 }) as Frame));
      }),
  },

  // ---- per-client-address limits (Deno transport) ----
  {
    name:
      `more than maxChannelsPerAddress (${A.maxChannelsPerAddress}) open sockets from one address → HTTP 429 before the upgrade; freed when they close`,
    area: "address",
    needs: "address-limits",
    expect: { status: 429 },
    run: async (ctx) => {
      const from = { ...ctx.target, localAddress: "127.0.0.2" };
      const held: RawConn[] = [];
      let outcome: Outcome;
      try {
        // Open sockets count from the upgrade on, handshake done or not.
        for (let i = 0; i < A.maxChannelsPerAddress - 1; i++) {
          held.push(await RawConn.open(from.wsUrl, 5000, from.localAddress));
        }
        held.push((await RawSession.connect(from, ctx.book)).conn);
        // Refused before the upgrade: no WebSocket at all.
        const refused = await RawConn.open(from.wsUrl, 5000, from.localAddress).then(async (c) => {
          await c.close();
          return null;
        }, (e: Error) => e.message);
        const m = refused === null ? null : /upgrade refused: HTTP (\d{3})/.exec(refused);
        if (!m) throw new Error(`over the limit: ${refused ?? "upgraded"}`);
        outcome = { status: Number(m[1]) };
        // The sockets already open are not affected.
        if (held.some((h) => !h.isOpen)) throw new Error("an accepted socket was closed");
      } finally {
        for (const h of held) await h.close();
      }
      // Once they closed, the address may open channels again.
      const end = Date.now() + 3000;
      for (;;) {
        const s = await RawSession.connect(from, ctx.book).catch(() => null);
        const ok = s !== null && await s.ping(2000);
        await s?.conn.close();
        if (ok) break;
        if (Date.now() > end) {
          throw new Error("the address was not served again after its channels closed");
        }
        await sleep(50);
      }
      return outcome;
    },
  },
  {
    name:
      `more than maxHandshakesPerAddressPerMinute (${A.maxHandshakesPerAddressPerMinute}) new channels from one address → HTTP 429 before the upgrade; the client library gets ConnectError with status 429`,
    area: "address",
    needs: "address-limits",
    expect: { status: 429 },
    run: async (ctx) => {
      const from = "127.0.0.3";
      for (let i = 0; i < A.maxHandshakesPerAddressPerMinute; i++) {
        const c = await RawConn.open(ctx.target.wsUrl, 5000, from);
        await c.close();
      }
      try {
        const ch = await connect(ctx.target.wsUrl, {
          pin: ctx.target.pin,
          WebSocket: wsFrom(from),
          handshakeTimeoutMs: 5000,
        });
        try {
          await ch.fetch(`https://${H.origin}/hello`);
        } finally {
          ch.close();
        }
        return { answered: true };
      } catch (e) {
        if (!(e instanceof ConnectError) || e.status === undefined) throw e;
        if (!/upgrade refused: HTTP 429 \(rate limited\)/.test(e.message)) {
          throw new Error(`unclear message: ${e.message}`);
        }
        return { status: e.status };
      }
    },
  },
];

function pings(n: number, tag: number): Frame[] {
  return Array.from(
    { length: n },
    (_, i) =>
      ({ type: "ping", data: new Uint8Array([tag, 0, i >> 8, i & 0xff, 0, 0, 0, 0]) }) as Frame,
  );
}

/** A record under epoch 0 with the old secret and a seq above anything used: only the epoch is wrong. */
function sealOld(s: RawSession, oldSecret: Uint8Array): Uint8Array {
  return sealRecord(s.suite, oldSecret, 0, 1000, encodeFrame(ping()));
}

/** Handshake, open one stream with `open`, report that stream's outcome. */
async function sessionStream(ctx: CaseContext, open: (s: RawSession) => number): Promise<Outcome> {
  const s = await RawSession.connect(ctx.target, ctx.book);
  try {
    const id = open(s);
    return await streamOutcome(s, id);
  } finally {
    await s.conn.close();
  }
}

/** Runs one case with its time bound; exceptions become `{ close: -3 }` plus the error. */
export async function runCase(
  c: BadInputCase,
  ctx: CaseContext,
): Promise<{ outcome: Outcome; error?: unknown }> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    const outcome = await Promise.race([
      c.run(ctx),
      new Promise<never>((
        _,
        rej,
      ) => (t = setTimeout(
        () => rej(new Error(`case timed out after ${c.timeoutMs ?? 10_000} ms`)),
        c.timeoutMs ?? 10_000,
      ))),
    ]);
    return { outcome };
  } catch (error) {
    return { outcome: { close: -3 }, error };
  } finally {
    clearTimeout(t);
  }
}

/** A healthy client (the real client library) still gets a correct response. */
export async function healthyCheck(target: HardeningTarget): Promise<void> {
  const ch = await connect(target.wsUrl, {
    pin: target.pin,
    WebSocket: WS,
    handshakeTimeoutMs: 5000,
  });
  try {
    const r = await ch.fetch(`https://${H.origin}/hello`);
    const body = await r.text();
    if (r.status !== 200 || body !== JSON.stringify({ hello: "world" })) {
      throw new Error(`healthy client got ${r.status} ${body.slice(0, 100)}`);
    }
  } finally {
    ch.close();
  }
}

export { sleep };
