/**
 * Fuzz targets shared by tests/hardening/fuzz.test.ts (bounded runs in CI) and
 * scripts/fuzz/run.ts (≥ 100,000 iterations each). Every decoder a peer can reach, plus the
 * session state machines, fed random and mutated inputs.
 *
 * `check(input)` throws only on a BUG: an exception of a type the API does not document
 * (anything but its own error class / codes), a PqgateError `internal_error` caused by peer
 * input, an exception escaping `receive()`, or a hang (a pending request or body that never
 * settles after the channel closed).
 *
 * The session targets use a cheap deterministic stand-in KEM (`FAKE_KEM`): the state machines
 * under test are the same, and a handshake then costs microseconds instead of milliseconds.
 */
import fc from "fast-check";
import { setImmediate } from "node:timers";
import { ConnectError, PinMismatchError, selectPinnedKey } from "../../src/client/mod.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { keyConfiguration } from "../../src/gateway/key-config.ts";
import { type ErrorCode, PqgateError } from "../../src/protocol/errors.ts";
import { decodeExtensions, encodeExtensions } from "../../src/protocol/extensions.ts";
import {
  authBinding,
  clientAuthExtension,
  decodeAuthPayload,
  decodeAuthResultPayload,
  decodeClientAuthExtension,
  decodePskExtension,
  encodeAuthPayload,
  encodeAuthResultPayload,
  pskExtension,
} from "../../src/protocol/client-auth.ts";
import { fakeVerifier } from "../../src/tunnel/auth-testing.ts";
import {
  decodeFrames,
  decodeSessionInfo,
  encodeFrame,
  encodeFrames,
  encodeSessionInfo,
  type Frame,
} from "../../src/protocol/frames.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import { ServerHandshake } from "../../src/protocol/handshake-server.ts";
import {
  decodeClientFinished,
  decodeClientHello,
  decodeServerHello,
} from "../../src/protocol/hello.ts";
import { hash } from "../../src/protocol/key-schedule.ts";
import { RecordLayer } from "../../src/protocol/record-layer.ts";
import { seededRandom } from "../../src/protocol/testing.ts";
import type { HybridKem, SessionKeys, StaticKey } from "../../src/protocol/types.ts";
import {
  BhttpError,
  decodeRequestHead,
  decodeResponseHead,
  encodeRequestHead,
  encodeResponseHead,
} from "../../src/tunnel/bhttp.ts";
import { ClientSession } from "../../src/tunnel/client-session.ts";
import { ServerSession } from "../../src/tunnel/server-session.ts";
import type { RequestHandler, Socket } from "../../src/tunnel/types.ts";

export interface FuzzTarget<T = unknown> {
  name: string;
  arb: fc.Arbitrary<T>;
  /** Throws on a bug. May be async. */
  check(input: T): void | Promise<void>;
  /** Runs in CI (keep the whole fuzz file < 30 s). */
  ciRuns: number;
}

// ------------------------------------------------------------------------------ helpers

class Bug extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FuzzBug";
  }
}

/** Runs `fn`; an exception is fine only if `allowed(e)`. */
function only(fn: () => unknown, allowed: (e: unknown) => boolean, what: string): void {
  try {
    fn();
  } catch (e) {
    if (!allowed(e)) {
      throw new Bug(
        `${what} threw an undocumented error: ${(e as Error)?.name}: ${(e as Error)?.message}`,
        { cause: e },
      );
    }
  }
}

const pq = (...codes: ErrorCode[]) => (e: unknown) =>
  e instanceof PqgateError && codes.includes(e.code);
const peerCodes: ErrorCode[] = [
  "protocol_error",
  "unsupported_version",
  "unsupported_extension",
  "no_common_suite",
  "unknown_key_id",
  "handshake_failed",
  "unauthorized",
  "sequence_error",
  "record_auth_failed",
  "rehandshake_required",
  "limit_exceeded",
];

/** Random bytes, or one of `bases` with random edits (flips, cuts, inserts, overwrites). */
export function mutated(bases: readonly Uint8Array[], maxRandom = 64): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({
      k: fc.constant("set" as const),
      at: fc.nat(),
      v: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ k: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({
      k: fc.constant("insert" as const),
      at: fc.nat(),
      v: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      k: fc.constant("drop" as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 16 }),
    }),
  );
  const fromBase = fc.record({
    i: fc.nat(bases.length - 1),
    edits: fc.array(edit, { minLength: 0, maxLength: 4 }),
  }).map(({ i, edits }) => {
    let b = bases[i].slice();
    for (const e of edits) {
      const at = b.length === 0 ? 0 : e.at % (b.length + (e.k === "insert" ? 1 : 0));
      if (e.k === "flip" && b.length) b[at] ^= 1 << e.bit;
      else if (e.k === "set" && b.length) b[at] = e.v;
      else if (e.k === "cut") b = b.slice(0, at);
      else if (e.k === "insert") b = concat(b.subarray(0, at), e.v, b.subarray(at));
      else if (e.k === "drop") b = concat(b.subarray(0, at), b.subarray(at + e.n));
    }
    return b as Uint8Array;
  });
  return fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }) }, {
    weight: 4,
    arbitrary: fromBase,
  });
}

// ------------------------------------------------------------------------------ a cheap KEM

function expand(seed: Uint8Array, label: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0, c = 0; o < n; o += 32, c++) {
    out.set(
      hash(concat(new Uint8Array([label, c & 0xff, c >> 8]), seed)).subarray(
        0,
        Math.min(32, n - o),
      ),
      o,
    );
  }
  return out;
}

/** NOT a KEM: a deterministic stand-in with the X-Wing sizes, so fuzzed handshakes are cheap. */
export const FAKE_KEM: HybridKem = {
  name: "fake (fuzzing only)",
  keygen: (seed) => ({ publicKey: expand(seed, 1, 1216), secretKey: seed.slice() }),
  encapsulate: (pk, eseed) => {
    if (pk.length !== 1216) throw new PqgateError("handshake_failed");
    const ct = expand(eseed, 2, 1120);
    return { cipherText: ct, sharedSecret: hash(concat(ct, pk)) };
  },
  decapsulate: (ct, sk) => {
    if (ct.length !== 1120) throw new PqgateError("handshake_failed");
    return hash(concat(ct, expand(sk, 1, 1216)));
  },
};

// ------------------------------------------------------------------------------ valid bases

const rnd = seededRandom("hardening fuzz bases");
const REAL_KEY: StaticKey = generateStaticKey(rnd(32));
const FAKE_KEY: StaticKey = generateStaticKey(rnd(32), { kem: FAKE_KEM });

function handshakeBases(): {
  ch: Uint8Array[];
  sh: Uint8Array[];
  cf: Uint8Array[];
  keys: SessionKeys;
} {
  const ch: Uint8Array[] = [], sh: Uint8Array[] = [], cf: Uint8Array[] = [];
  let keys!: SessionKeys;
  for (
    const ext of [[], [{ type: 1, data: new Uint8Array(5) }, {
      type: 0x4242,
      data: new Uint8Array(2),
    }]]
  ) {
    const c = new ClientHandshake({
      server: { keyId: REAL_KEY.keyId, publicKey: REAL_KEY.publicKey },
      random: rnd,
      extensions: ext,
    });
    const s = new ServerHandshake({ keys: [REAL_KEY], random: rnd });
    const h = c.start();
    const sHello = s.receiveClientHello(h);
    const done = c.receiveServerHello(sHello);
    s.receiveClientFinished(done.clientFinished);
    ch.push(h);
    sh.push(sHello);
    cf.push(done.clientFinished);
    keys = done.keys;
  }
  const anon = new ClientHandshake({ random: rnd });
  ch.push(anon.start());
  return { ch, sh, cf, keys };
}

const HS = handshakeBases();

const sampleInfo = {
  maxStreams: 7,
  maxHeaderBytes: 2048,
  maxBodyBytes: 99,
  idleTimeoutMs: 1000,
  sessionLifetimeS: 60,
  sessionId: rnd(16),
  maxWindow: 1 << 20,
};
const reqHead = encodeRequestHead({
  method: "POST",
  scheme: "https",
  authority: "a.example",
  path: "/x?y=1",
  headers: [["content-type", "text/plain"], ["x-a", "b c"]],
});
const resHead = encodeResponseHead({
  status: 200,
  headers: [["content-type", "application/json"], ["set-cookie", "a=b"]],
});
const SAMPLE_FRAMES: Frame[][] = [
  [{ type: "session_info", info: sampleInfo }, { type: "ping", data: rnd(8) }],
  [{ type: "headers", stream: 1, endStream: false, payload: reqHead }, {
    type: "data",
    stream: 1,
    endStream: true,
    payload: rnd(20),
  }],
  [{ type: "reset_stream", stream: 3, errorCode: 2 }, {
    type: "window_update",
    stream: 3,
    increment: 100,
  }, { type: "padding", length: 5 }],
  [{ type: "close", code: 4011, reason: "protocol error ü" }],
  [{ type: "pong", data: rnd(8) }, { type: "key_update", updateRequested: true }],
  [{
    type: "auth",
    auth: { method: "password", binding: rnd(32), username: "ann", password: rnd(9) },
  }, { type: "auth_result", result: { status: "ok", retryAfterMs: 0, subject: "ann" } }],
  [{ type: "auth", auth: { method: "token", binding: rnd(32), token: "eyJ.e30.sig" } }, {
    type: "auth_result",
    result: { status: "busy", retryAfterMs: 1500, subject: null },
  }],
];
/** ClientHellos announcing psk or client_auth (PROTOCOL.md §3.4.1, §3.4.2). */
const AUTH_HELLOS = [
  { psk: rnd(32), identity: "dev-1" },
  { method: "password" as const },
  { method: "token" as const },
].map((auth) =>
  new ClientHandshake({
    server: { keyId: REAL_KEY.keyId, publicKey: REAL_KEY.publicKey },
    random: rnd,
    auth,
  }).start()
);
const AUTH_PAYLOADS = [
  encodeAuthPayload({ method: "password", binding: rnd(32), username: "ann", password: rnd(12) }),
  encodeAuthPayload({ method: "token", binding: rnd(32), token: "eyJhbGciOi.e30.c2ln" }),
];
const AUTH_RESULTS = [
  encodeAuthResultPayload({ status: "ok", retryAfterMs: 0, subject: "ann é" }),
  encodeAuthResultPayload({ status: "rate_limited", retryAfterMs: 60_000, subject: null }),
];
const FRAME_BASES = SAMPLE_FRAMES.map((fs) => encodeFrames(fs));

function recordBases(): { layer: () => RecordLayer; records: Uint8Array[] } {
  const t0 = 1_700_000_000_000;
  const tx = new RecordLayer({ role: "client", keys: HS.keys, now: t0 });
  const records = FRAME_BASES.slice(0, 4).map((pt) => tx.seal(pt, t0));
  return { layer: () => new RecordLayer({ role: "server", keys: HS.keys, now: t0 }), records };
}
const REC = recordBases();

function snapshotBases(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const role of ["client", "server"] as const) {
    const l = new RecordLayer({ role, keys: HS.keys, now: 1_700_000_000_000, reservation: true });
    out.push(l.reserve(10));
    l.seal(new Uint8Array(10), 1_700_000_000_500);
    l.updateTx(1_700_000_000_600);
    out.push(l.reserve(300));
  }
  return out;
}
const SNAP = snapshotBases();

const KEY_CONFIG = keyConfiguration([REAL_KEY, generateStaticKey(rnd(32))], [1, 2]);
const PIN = pinFor(REAL_KEY.publicKey);

/** Random JSON-ish values and mutated key configurations. */
const keyConfigArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.record({ keys: fc.array(fc.jsonValue(), { maxLength: 4 }) }),
  fc.record({
    keys: fc.array(
      fc.record({
        key_id: fc.oneof(fc.constant(KEY_CONFIG.keys[0].key_id), fc.string(), fc.jsonValue()),
        kem: fc.oneof(fc.constant("X-Wing"), fc.string()),
        public_key: fc.oneof(
          fc.constant(KEY_CONFIG.keys[0].public_key),
          fc.constant(KEY_CONFIG.keys[1].public_key),
          fc.string(),
          fc.jsonValue(),
        ),
      }, { requiredKeys: [] }),
      { maxLength: 4 },
    ),
  }),
  mutated([new TextEncoder().encode(JSON.stringify(KEY_CONFIG))], 200).map((b) => {
    try {
      return JSON.parse(new TextDecoder().decode(b));
    } catch {
      return null;
    }
  }),
);

// ------------------------------------------------------------------------------ frame arbitraries

const streamId = fc.oneof(
  fc.constantFrom(1, 2, 3, 5, 7, 9, 11, 0x7fffffff, 0xffffffff),
  fc.integer({ min: 1, max: 0xffffffff }),
);
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const paths = fc.constantFrom("/", "/x", "/throw", "/bad", "/big", "/slow", "/%2e%2e/", "//evil");
const headsArb = fc.oneof(
  fc.record({
    method: fc.constantFrom("GET", "POST", "PUT", "HEAD", "DELETE", "CONNECT"),
    scheme: fc.constantFrom("https", "http", "ftp"),
    authority: fc.constantFrom("a.example", "", "b.example:8443", "[::1]"),
    path: paths,
    headers: fc.array(
      fc.tuple(
        fc.constantFrom("x-a", "content-length", "host", "connection", "te"),
        fc.constantFrom("1", "0", "a.example", "close", "99999"),
      ),
      { maxLength: 4 },
    ),
  }).map((h) => {
    try {
      return encodeRequestHead(h);
    } catch {
      return reqHead;
    }
  }),
  mutated([reqHead], 40),
);
const respHeadsArb = fc.oneof(
  fc.record({
    status: fc.constantFrom(200, 204, 304, 404, 500, 599),
    headers: fc.array(
      fc.tuple(
        fc.constantFrom("x-a", "content-length", "set-cookie"),
        fc.constantFrom("1", "0", "v"),
      ),
      { maxLength: 3 },
    ),
  }).map((h) => encodeResponseHead(h)),
  mutated([resHead], 40),
);

function frameArb(side: "toServer" | "toClient"): fc.Arbitrary<Frame> {
  return fc.oneof(
    fc.record({ type: fc.constant("padding" as const), length: fc.nat(30) }),
    fc.record({
      type: fc.constant("ping" as const),
      data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    }),
    fc.record({
      type: fc.constant("pong" as const),
      data: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    }),
    fc.constant({ type: "session_info" as const, info: sampleInfo }),
    fc.record({
      type: fc.constant("headers" as const),
      stream: streamId,
      endStream: fc.boolean(),
      payload: side === "toServer" ? headsArb : respHeadsArb,
    }),
    fc.record({
      type: fc.constant("data" as const),
      stream: streamId,
      endStream: fc.boolean(),
      payload: bytes(3000),
    }).filter((f) => f.payload.length > 0 || f.endStream),
    fc.record({
      type: fc.constant("reset_stream" as const),
      stream: streamId,
      errorCode: fc.nat(6),
    }),
    fc.record({
      type: fc.constant("window_update" as const),
      stream: fc.oneof(fc.constant(0), streamId),
      increment: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    }),
    fc.record({ type: fc.constant("key_update" as const), updateRequested: fc.boolean() }),
    fc.record({
      type: fc.constant("close" as const),
      code: fc.constantFrom(1000, 1001, 4011, 4013),
      reason: fc.string({ maxLength: 10 }),
    }),
  );
}

/** One step fed to a session: a sealed record of frames, sealed raw bytes, unsealed bytes, text, or a clock jump. */
type Step =
  | { k: "frames"; fs: Frame[] }
  | { k: "sealedRaw"; raw: Uint8Array }
  | { k: "unsealed"; raw: Uint8Array }
  | { k: "text" }
  | { k: "time"; ms: number };

function stepsArb(side: "toServer" | "toClient"): fc.Arbitrary<Step[]> {
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 12,
      arbitrary: fc.array(frameArb(side), { minLength: 1, maxLength: 4 }).map((fs) => ({
        k: "frames" as const,
        fs,
      })),
    },
    {
      weight: 2,
      arbitrary: mutated(FRAME_BASES, 60).filter((b) => b.length > 0 && b.length <= 16384).map((
        raw,
      ) => ({ k: "sealedRaw" as const, raw })),
    },
    {
      weight: 1,
      arbitrary: mutated(REC.records, 60).map((raw) => ({ k: "unsealed" as const, raw })),
    },
    { weight: 1, arbitrary: fc.constant({ k: "text" as const }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: 120_000 }).map((ms) => ({ k: "time" as const, ms })),
    },
  );
  return fc.array(step, { minLength: 1, maxLength: 10 });
}

/** Plaintext for a frames step: frames up to (and including) a KEY_UPDATE; null if too large. */
function plaintextOf(fs: Frame[]): { pt: Uint8Array; keyUpdate: boolean } | null {
  const i = fs.findIndex((f) => f.type === "key_update");
  const used = i >= 0 ? fs.slice(0, i + 1) : fs;
  const pt = concat(...used.map(encodeFrame));
  return pt.length > 16384 ? null : { pt, keyUpdate: i >= 0 };
}

class StubSocket implements Socket {
  out: Uint8Array[] = [];
  closed: number | null = null;
  bufferedAmount = 0;
  send(b: Uint8Array): void {
    if (this.closed === null) this.out.push(b.slice());
  }
  close(code: number): void {
    if (this.closed === null) this.closed = code;
  }
}

// setImmediate, not setTimeout(0): nested timeouts are clamped to 4 ms (HTML timers), which
// would make each session iteration ~10 ms.
const macrotask = () => new Promise<void>((r) => setImmediate(r));
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await macrotask();
}

function okClose(code: number | null, what: string): void {
  if (code === null) return;
  if (code === 4014) throw new Bug(`${what} closed with internal_error (4014): a bug`);
  if (!(code === 1000 || code === 1001 || (code >= 4000 && code <= 4013))) {
    throw new Bug(`${what} closed with ${code}`);
  }
}

// ------------------------------------------------------------------------------ ServerSession

const fuzzHandler: RequestHandler = (req) => {
  const p = new URL(req.url).pathname;
  if (p === "/throw") throw new Error("handler throws");
  if (p === "/bad") return Promise.resolve("not a response" as unknown as Response);
  if (p === "/big") {
    return Promise.resolve(new Response("x", { headers: { "x-big": "a".repeat(20_000) } }));
  }
  if (p === "/slow") return new Promise((r) => setTimeout(() => r(new Response("late")), 5));
  return Promise.resolve(new Response(req.body ?? "ok", { status: 200 }));
};

/**
 * With `clientAuth` the hello announces client_auth (token), the gateway has a fake verifier
 * (src/tunnel/auth-testing.ts) and the first record is a valid AUTH: the random steps then run
 * on an authenticating channel (more AUTH frames, held requests, results).
 */
async function serverSessionCheck(steps: Step[], clientAuth = false): Promise<void> {
  let t = 1_700_000_000_000;
  const sock = new StubSocket();
  const server = new ServerSession({
    socket: sock,
    keys: [FAKE_KEY],
    kem: FAKE_KEM,
    env: { now: () => t, random: seededRandom("fuzz server") },
    limits: {
      maxStreams: 3,
      maxHeaderBytes: 1024,
      maxBodyBytes: 5000,
      handshakeTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      sessionLifetimeMs: 3_600_000,
    },
    handler: fuzzHandler,
    log: () => {},
    auth: clientAuth ? fakeVerifier({ now: () => t }) : undefined,
  });
  const receive = (m: Uint8Array | string) => {
    try {
      server.receive(m);
    } catch (e) {
      throw new Bug(`ServerSession.receive threw: ${(e as Error)?.message}`, { cause: e });
    }
  };
  const hs = new ClientHandshake({
    server: { keyId: FAKE_KEY.keyId, publicKey: FAKE_KEY.publicKey },
    kem: FAKE_KEM,
    random: seededRandom("fuzz client"),
    auth: clientAuth ? { method: "token" } : undefined,
  });
  receive(hs.start());
  const { clientFinished, keys } = hs.receiveServerHello(sock.out.shift()!);
  receive(clientFinished);
  const tx = new RecordLayer({ role: "client", keys, now: t });
  if (clientAuth) {
    const binding = authBinding(keys.exporterSecret, "token");
    receive(
      tx.seal(encodeFrame({ type: "auth", auth: { method: "token", binding, token: "good" } }), t),
    );
  }
  const rx = new RecordLayer({ role: "client", keys, now: t });
  for (const s of steps) {
    if (server.state === "closed") break;
    if (s.k === "text") receive("text");
    else if (s.k === "unsealed") receive(s.raw);
    else if (s.k === "time") {
      t += s.ms;
      server.onTimer(t);
    } else if (s.k === "sealedRaw") receive(tx.seal(s.raw, t));
    else {
      const p = plaintextOf(s.fs);
      if (!p) continue;
      receive(tx.seal(p.pt, t));
      if (p.keyUpdate) tx.updateTx(t);
    }
  }
  await settle();
  if (server.state !== "closed") {
    // Alive: it must answer a PING.
    const data = new Uint8Array([9, 9, 9, 9, 1, 2, 3, 4]);
    receive(tx.seal(encodeFrame({ type: "ping", data }), t));
    await settle();
    if ((server.state as string) !== "closed") {
      let pong = false;
      try {
        for (const m of sock.out) {
          const fs = decodeFrames(rx.open(m, t));
          if (fs.some((f) => f.type === "pong" && f.data[7] === 4 && f.data[0] === 9)) pong = true;
          if (fs[fs.length - 1].type === "key_update") rx.updateRx();
        }
      } catch (e) {
        throw new Bug(`the gateway sent an unreadable record: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (!pong) throw new Bug("an open ServerSession did not answer a PING");
    }
  }
  okClose(server.closeCode ?? sock.closed, "ServerSession");
  server.onSocketClose(1006, "");
  await settle();
  if (server.openStreams !== 0) throw new Bug("streams left open after the socket closed");
}

// ------------------------------------------------------------------------------ ClientSession

async function clientSessionCheck(
  input: { steps: Step[]; info: boolean; requests: number },
): Promise<void> {
  let t = 1_700_000_000_000;
  const sock = new StubSocket();
  const client = new ClientSession({
    socket: sock,
    env: { now: () => t, random: seededRandom("fuzz client session") },
    server: { keyId: FAKE_KEY.keyId, publicKey: FAKE_KEY.publicKey },
    kem: FAKE_KEM,
  });
  const receive = (m: Uint8Array | string) => {
    try {
      client.receive(m);
    } catch (e) {
      throw new Bug(`ClientSession.receive threw: ${(e as Error)?.message}`, { cause: e });
    }
  };
  client.start();
  const hs = new ServerHandshake({
    keys: [FAKE_KEY],
    kem: FAKE_KEM,
    random: seededRandom("fuzz server hs"),
  });
  const sh = hs.receiveClientHello(sock.out.shift()!);
  const settled: boolean[] = [];
  const responses: Response[] = [];
  const fetches = Array.from({ length: input.requests }, (_, i) => {
    settled[i] = false;
    const method = i % 2 ? "POST" : i % 3 ? "HEAD" : "GET";
    return client.fetch(
      new Request(`https://a.example/${i}`, {
        method,
        body: method === "POST" ? "body" : undefined,
      }),
      { contentLength: method === "POST" ? 4 : null },
    )
      .then((r) => responses.push(r), () => {})
      .finally(() => (settled[i] = true));
  });
  receive(sh);
  const keys = hs.receiveClientFinished(sock.out.shift()!);
  const tx = new RecordLayer({ role: "server", keys, now: t });
  if (input.info) receive(tx.seal(encodeFrame({ type: "session_info", info: sampleInfo }), t));
  for (const s of input.steps) {
    if (client.state === "closed") break;
    if (s.k === "text") receive("text");
    else if (s.k === "unsealed") receive(s.raw);
    else if (s.k === "time") {
      t += s.ms;
      client.onTimer(t);
    } else if (s.k === "sealedRaw") receive(tx.seal(s.raw, t));
    else {
      const p = plaintextOf(s.fs);
      if (!p) continue;
      receive(tx.seal(p.pt, t));
      if (p.keyUpdate) tx.updateTx(t);
    }
  }
  await settle();
  // An authenticated CLOSE frame from the gateway may carry any code of §6.1 (4014 included);
  // only a close the client decided on itself is held to the documented peer-error codes.
  if (client.closeInfo?.byPeer) {
    const c = client.closeInfo.code;
    if (!(c === 1000 || c === 1001 || (c >= 4000 && c <= 4999))) {
      throw new Bug(`peer CLOSE code ${c} surfaced`);
    }
  } else okClose(client.closeInfo?.code ?? sock.closed, "ClientSession");
  client.close();
  await settle();
  const pending = settled.filter((x) => !x).length;
  if (pending > 0) {
    throw new Bug(`${pending} fetch promise(s) never settled after the channel closed`);
  }
  await Promise.all(fetches);
  for (const r of responses) {
    if (!r.body) continue;
    let done = false;
    const read = r.arrayBuffer().then(() => {}, () => {}).finally(() => (done = true));
    await settle();
    if (!done) throw new Bug("a response body never settled after the channel closed");
    await read;
  }
}

// ------------------------------------------------------------------------------ the targets

const isBhttp = (e: unknown) => e instanceof BhttpError;

// Each target has its own input type; the list is heterogeneous by design.
// deno-lint-ignore no-explicit-any
export const FUZZ_TARGETS: FuzzTarget<any>[] = [
  {
    name: "decodeClientHello",
    arb: mutated([...HS.ch, ...AUTH_HELLOS], 3000),
    check: (b: Uint8Array) =>
      only(
        () => decodeClientHello(b),
        pq("protocol_error", "unsupported_version", "unsupported_extension"),
        "decodeClientHello",
      ),
    ciRuns: 3000,
  },
  {
    name: "decodeServerHello",
    arb: mutated(HS.sh, 1500),
    check: (b: Uint8Array) =>
      only(
        () => decodeServerHello(b),
        pq("protocol_error", "unsupported_version", "unsupported_extension"),
        "decodeServerHello",
      ),
    ciRuns: 3000,
  },
  {
    name: "decodeClientFinished",
    arb: mutated(HS.cf, 40),
    check: (b: Uint8Array) =>
      only(() => decodeClientFinished(b), pq("protocol_error"), "decodeClientFinished"),
    ciRuns: 2000,
  },
  {
    name: "decodeExtensions",
    arb: mutated([
      encodeExtensions([{ type: 1, data: new Uint8Array(3) }, {
        type: 0x8001,
        data: new Uint8Array(0),
      }]),
      new Uint8Array(0),
    ], 1100),
    check: (b: Uint8Array) =>
      only(() => decodeExtensions(b), pq("protocol_error"), "decodeExtensions"),
    ciRuns: 2000,
  },
  {
    name: "decodeFrames",
    arb: mutated(FRAME_BASES, 200).filter((b) => b.length > 0),
    check: (b: Uint8Array) => only(() => decodeFrames(b), pq("protocol_error"), "decodeFrames"),
    ciRuns: 3000,
  },
  {
    name: "client-auth extensions (decodePskExtension, decodeClientAuthExtension)",
    arb: mutated([
      pskExtension("dev-1").data,
      pskExtension("é".repeat(64)).data,
      clientAuthExtension("password").data,
      clientAuthExtension("token").data,
    ], 140),
    check: (b: Uint8Array) => {
      only(() => decodePskExtension(b), pq("protocol_error"), "decodePskExtension");
      only(
        () => decodeClientAuthExtension(b),
        pq("protocol_error", "unsupported_extension"),
        "decodeClientAuthExtension",
      );
    },
    ciRuns: 2000,
  },
  {
    name: "AUTH payload (decodeAuthPayload)",
    arb: mutated(AUTH_PAYLOADS, 1400),
    check: (b: Uint8Array) =>
      only(() => decodeAuthPayload(b), pq("protocol_error"), "decodeAuthPayload"),
    ciRuns: 2000,
  },
  {
    name: "AUTH_RESULT payload (decodeAuthResultPayload)",
    arb: mutated(AUTH_RESULTS, 300),
    check: (b: Uint8Array) =>
      only(() => decodeAuthResultPayload(b), pq("protocol_error"), "decodeAuthResultPayload"),
    ciRuns: 2000,
  },
  {
    name: "decodeSessionInfo",
    arb: mutated([encodeSessionInfo(sampleInfo)], 50),
    check: (b: Uint8Array) =>
      only(() => decodeSessionInfo(b), pq("protocol_error"), "decodeSessionInfo"),
    ciRuns: 2000,
  },
  {
    name: "RecordLayer.open",
    arb: fc.array(mutated(REC.records, 100), { minLength: 1, maxLength: 4 }),
    check: (recs: Uint8Array[]) => {
      const l = REC.layer();
      for (const r of recs) {
        only(
          () => l.open(r, 1_700_000_000_000),
          pq("protocol_error", "sequence_error", "record_auth_failed", "rehandshake_required"),
          "RecordLayer.open",
        );
      }
    },
    ciRuns: 2000,
  },
  {
    name: "RecordLayer.restore",
    arb: mutated(SNAP, 250),
    check: (b: Uint8Array) => {
      let l: RecordLayer | null = null;
      only(() => (l = RecordLayer.restore(b)), pq("internal_error"), "RecordLayer.restore");
      // A restored layer must be usable or fail with a PqgateError, never anything else.
      if (l) {
        const layer = l as RecordLayer;
        only(
          () => {
            layer.reserve(1);
            layer.seal(new Uint8Array(1), Math.max(layer.createdAt, layer.txEpochStart));
          },
          (e) => e instanceof PqgateError,
          "restored RecordLayer.seal",
        );
      }
    },
    ciRuns: 2000,
  },
  {
    name: "bhttp decodeRequestHead",
    arb: fc.tuple(mutated([reqHead], 300), fc.integer({ min: 0, max: 2048 })),
    check: ([b, max]: [Uint8Array, number]) =>
      only(() => decodeRequestHead(b, { maxBytes: max }), isBhttp, "decodeRequestHead"),
    ciRuns: 3000,
  },
  {
    name: "bhttp decodeResponseHead",
    arb: fc.tuple(mutated([resHead], 300), fc.integer({ min: 0, max: 2048 })),
    check: ([b, max]: [Uint8Array, number]) =>
      only(() => decodeResponseHead(b, { maxBytes: max }), isBhttp, "decodeResponseHead"),
    ciRuns: 3000,
  },
  {
    name: "client key-config parsing (selectPinnedKey)",
    arb: keyConfigArb,
    check: (cfg: unknown) => {
      let got: { publicKey: Uint8Array } | null = null;
      only(
        () => (got = selectPinnedKey(cfg, PIN)),
        (e) => e instanceof PinMismatchError || e instanceof ConnectError,
        "selectPinnedKey",
      );
      // Whatever the document says, a returned key always matches the pin.
      if (got && pinFor((got as { publicKey: Uint8Array }).publicKey) !== PIN) {
        throw new Bug("selectPinnedKey returned a key that does not match the pin");
      }
    },
    ciRuns: 2000,
  },
  {
    name: "ServerHandshake.receiveClientHello",
    arb: mutated([...HS.ch, ...AUTH_HELLOS], 2500),
    check: (b: Uint8Array) => {
      const s = new ServerHandshake({
        keys: [REAL_KEY],
        random: rnd,
        psk: (id) => (id === "dev-1" ? new Uint8Array(32) : null),
      });
      only(() => s.receiveClientHello(b), pq(...peerCodes), "receiveClientHello");
    },
    ciRuns: 300,
  },
  {
    name: "ClientSession fed random records (response path)",
    arb: fc.record({
      steps: stepsArb("toClient"),
      info: fc.boolean(),
      requests: fc.integer({ min: 0, max: 5 }),
    }),
    check: clientSessionCheck,
    ciRuns: 800,
  },
  {
    name: "ClientHandshake.receiveServerHello",
    arb: mutated(HS.sh, 1500),
    check: (b: Uint8Array) => {
      const c = new ClientHandshake({
        server: { keyId: FAKE_KEY.keyId, publicKey: FAKE_KEY.publicKey },
        kem: FAKE_KEM,
        random: rnd,
      });
      c.start();
      only(() => c.receiveServerHello(b), pq(...peerCodes), "receiveServerHello");
    },
    ciRuns: 1000,
  },
  {
    name: "ServerSession fed random records",
    arb: stepsArb("toServer"),
    check: (steps: Step[]) => serverSessionCheck(steps),
    ciRuns: 800,
  },
  {
    name: "ServerSession with client_auth fed random records",
    arb: stepsArb("toServer"),
    check: (steps: Step[]) => serverSessionCheck(steps, true),
    ciRuns: 500,
  },
];
