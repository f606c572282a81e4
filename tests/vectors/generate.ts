/**
 * pqgate/1 conformance vectors (PROTOCOL.md §3-§6, appendix "Worked example").
 *
 *   deno task vectors                 # rewrites tests/vectors/{handshake,records,negative}.json
 *   deno run -A tests/vectors/generate.ts --out DIR   # writes them to DIR instead
 *
 * Everything comes from FIXED seeds (`seededRandom` with fixed labels), so the output is
 * byte-for-byte reproducible; `vectors.test.ts` regenerates and compares. The random bytes each
 * party consumed are recorded explicitly, in order and with their purpose, so another
 * implementation can replay a handshake without our RNG. Every intermediate secret is
 * recomputed from the key-schedule functions and asserted equal to what the state machines
 * produced before it is written.
 *
 * The JSON is `JSON.stringify(value, null, 2)` plus a trailing newline; key order is the
 * insertion order below; all byte strings are lowercase hex.
 */
import assert from "node:assert/strict";
import {
  aeadForSuite,
  authBinding,
  clientFinishedKey,
  ClientHandshake,
  CLOSE_CODES,
  concat,
  decodeClientHello,
  decodeFrames,
  decodeServerHello,
  deriveSecret,
  EMPTY_HASH,
  encodeFrame,
  encodeFrames,
  type ErrorCode,
  exportKeyingMaterial,
  type Extension,
  finishedMac,
  type Frame,
  generateStaticKey,
  handshakeSecret,
  hkdfExtract,
  initialChainingKey,
  nextTrafficSecret,
  paddingExtension,
  pinFor,
  PqgateError,
  PROTOCOL_NAMES,
  type RandomSource,
  RecordLayer,
  serverFinishedKey,
  ServerHandshake,
  sessionIdFrom,
  type SessionKeys,
  type StaticKey,
  SUITE_XWING_AES256GCM as AES,
  SUITE_XWING_CHACHA20POLY1305 as CHACHA,
  type SuiteId,
  toHex,
  trafficKeys,
  transcriptHash,
  xwingNoble,
} from "../../src/protocol/mod.ts";
import { seededRandom } from "../../src/protocol/testing.ts";
import { helloUpgrade } from "../../src/tunnel/client-hello.ts";

// ------------------------------------------------------------------------------------------
// Fixed inputs

export const VECTOR_FILES = [
  "handshake.json",
  "records.json",
  "negative.json",
  "client-auth.json",
] as const;
export type VectorFile = typeof VECTOR_FILES[number];

const STATIC_KEY_LABEL = "pqgate/1 vectors: gateway static key";
const EXPORTER_LABEL = "EXPORTER-pqgate-vectors";
const EXPORTER_CONTEXT = "pqgate vectors context";
/** Record-layer clock for the vectors (ms). Records do not depend on it. */
const NOW = 1_700_000_000_000;
const Z32 = new Uint8Array(32);

const GENERATOR = "tests/vectors/generate.ts (deno task vectors)";
const RNG_TEXT =
  'seededRandom(label) (src/protocol/testing.ts): seed = SHA-256("pqgate test rng" || label); ' +
  "each call of n bytes consumes ceil(n/32) blocks SHA-256(seed || u32 counter), counter " +
  "starting at 0 and never reused, truncated to n bytes. Replayers do not need it: the bytes " +
  "each party drew are recorded in order.";

interface HandshakeSpec {
  name: string;
  suite: SuiteId;
  mode: "pinned" | "anonymous";
  clientSuites: SuiteId[];
  serverSuites: SuiteId[];
  clientExtensions: Extension[];
  serverExtensions: Extension[];
  note: string;
  /** Client authentication (PROTOCOL.md §3.4.1, §3.4.2): a PSK, or the announced AUTH method. */
  auth?: { psk: Uint8Array; identity: string } | { method: "password" | "token" };
  /** The gateway's PSK for the identity when it differs from the client's (negative vectors). */
  gatewayPsk?: Uint8Array | null;
}

const HANDSHAKES: HandshakeSpec[] = [
  {
    name: "pinned-aes256gcm",
    suite: AES,
    mode: "pinned",
    clientSuites: [AES, CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [],
    serverExtensions: [],
    note: "the worked example of PROTOCOL.md (appendix)",
  },
  {
    name: "anonymous-aes256gcm",
    suite: AES,
    mode: "anonymous",
    clientSuites: [AES, CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [],
    serverExtensions: [],
    note: "anonymous mode: key_id all zero, no ct_S, ss_S = Z",
  },
  {
    name: "pinned-chacha20poly1305",
    suite: CHACHA,
    mode: "pinned",
    clientSuites: [AES, CHACHA],
    serverSuites: [CHACHA, AES],
    clientExtensions: [],
    serverExtensions: [],
    note:
      "the gateway prefers ChaCha20-Poly1305, so it picks it although the client lists it second",
  },
  {
    name: "anonymous-chacha20poly1305",
    suite: CHACHA,
    mode: "anonymous",
    clientSuites: [CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [],
    serverExtensions: [],
    note: "the client offers one suite only",
  },
  {
    name: "pinned-aes256gcm-extensions",
    suite: AES,
    mode: "pinned",
    clientSuites: [AES, CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [paddingExtension(16), { type: 0x7a7a, data: new Uint8Array([1, 2, 3]) }],
    serverExtensions: [paddingExtension(5)],
    note: "ClientHello with a padding extension and an unknown NON-critical extension 0x7a7a " +
      "(ignored, but covered by the transcript); ServerHello with a padding extension",
  },
];

// ------------------------------------------------------------------------------------------
// Helpers

function hx(b: Uint8Array): string {
  return toHex(b);
}
function suiteHex(s: number): string {
  return "0x" + s.toString(16).padStart(4, "0");
}
function same(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(hx(a), hx(b), `generator self-check failed: ${what}`);
}

export interface RandomDraw {
  purpose: string;
  hex: string;
}

/**
 * A seeded RandomSource that records what it hands out and checks the calls against the
 * expected plan (purpose, length). A deviation is reported by `finish()` (throwing inside the
 * source would be turned into internal_error by the state machine and hide the cause).
 */
function recordingRandom(label: string, plan: readonly [string, number][]) {
  const inner = seededRandom(label);
  const draws: RandomDraw[] = [];
  let problem: string | null = null;
  const random: RandomSource = (n) => {
    const i = draws.length;
    if (i >= plan.length || plan[i][1] !== n) {
      problem ??= `unexpected random draw #${i} of ${n} bytes (plan: ${JSON.stringify(plan)})`;
    }
    const out = inner(n);
    draws.push({ purpose: plan[i]?.[0] ?? "unplanned", hex: hx(out) });
    return out;
  };
  const finish = (): RandomDraw[] => {
    if (problem) throw new Error(problem);
    if (draws.length !== plan.length) {
      throw new Error(`random plan not consumed: ${draws.length}/${plan.length}`);
    }
    return draws;
  };
  return { random, finish };
}

const CLIENT_PLAN_PINNED: [string, number][] = [
  ["client_random", 32],
  ["ek_C_seed (the client's ephemeral X-Wing secret key)", 32],
  ["eseed_S (X-Wing encapsulation seed for ct_S to the gateway static key)", 64],
];
const CLIENT_PLAN_ANON = CLIENT_PLAN_PINNED.slice(0, 2);
const SERVER_PLAN: [string, number][] = [
  ["eseed_E (X-Wing encapsulation seed for ct_E to ek_C)", 64],
  ["server_random", 32],
];

export function staticKey(): { seed: Uint8Array; key: StaticKey } {
  const seed = seededRandom(STATIC_KEY_LABEL)(32);
  return { seed, key: generateStaticKey(seed) };
}

function extJson(exts: readonly Extension[]) {
  return exts.map((e) => ({ type: suiteHex(e.type), data: hx(e.data) }));
}

// ------------------------------------------------------------------------------------------
// Handshakes

interface HandshakeResult {
  spec: HandshakeSpec;
  json: Record<string, unknown>;
  keys: SessionKeys;
  clientHello: Uint8Array;
  serverHello: Uint8Array;
  clientFinished: Uint8Array;
  clientDraws: RandomDraw[];
  serverDraws: RandomDraw[];
}

function runHandshake(spec: HandshakeSpec, st: StaticKey): HandshakeResult {
  const pinned = spec.mode === "pinned";
  const crng = recordingRandom(
    `pqgate/1 vectors: ${spec.name}: client`,
    pinned ? CLIENT_PLAN_PINNED : CLIENT_PLAN_ANON,
  );
  const srng = recordingRandom(`pqgate/1 vectors: ${spec.name}: gateway`, SERVER_PLAN);
  const client = new ClientHandshake({
    random: crng.random,
    suites: spec.clientSuites,
    extensions: spec.clientExtensions,
    auth: spec.auth,
    ...(pinned ? { server: { keyId: st.keyId, publicKey: st.publicKey } } : {}),
  });
  const psk = spec.auth && "psk" in spec.auth ? spec.auth.psk : null;
  const server = new ServerHandshake({
    keys: [st],
    suites: spec.serverSuites,
    allowAnonymous: true,
    random: srng.random,
    extensions: spec.serverExtensions,
    psk: psk ? () => psk : undefined,
  });
  const ch = client.start();
  const sh = server.receiveClientHello(ch);
  const { clientFinished: cf, keys: ckeys } = client.receiveServerHello(sh);
  const skeys = server.receiveClientFinished(cf);
  const cd = crng.finish();
  const sd = srng.finish();
  assert.equal(server.suite, spec.suite);

  // Recompute every intermediate from the inputs with the key-schedule functions.
  const bytesOf = (d: RandomDraw) =>
    Uint8Array.from(d.hex.match(/../g)!.map((x) => parseInt(x, 16)));
  const clientRandom = bytesOf(cd[0]);
  const ekSeed = bytesOf(cd[1]);
  const eseedE = bytesOf(sd[0]);
  const serverRandom = bytesOf(sd[1]);
  const chd = decodeClientHello(ch);
  const shd = decodeServerHello(sh);
  same(chd.clientRandom, clientRandom, "client_random");
  same(shd.serverRandom, serverRandom, "server_random");
  const ek = xwingNoble.keygen(ekSeed);
  same(chd.ekC, ek.publicKey, "ek_C");
  let ssS: Uint8Array | null = null;
  if (pinned) {
    const enc = xwingNoble.encapsulate(st.publicKey, bytesOf(cd[2]));
    same(chd.ctS!, enc.cipherText, "ct_S");
    same(xwingNoble.decapsulate(chd.ctS!, st.secretKey), enc.sharedSecret, "ss_S decapsulated");
    ssS = enc.sharedSecret;
  }
  const encE = xwingNoble.encapsulate(chd.ekC, eseedE);
  same(shd.ctE, encE.cipherText, "ct_E");
  const ssE = encE.sharedSecret;
  same(xwingNoble.decapsulate(shd.ctE, ekSeed), ssE, "ss_E decapsulated");

  const ck0 = initialChainingKey(spec.suite);
  const k0 = psk ? hkdfExtract(ck0, psk) : null; // §3.4.1
  const hs1 = hkdfExtract(k0 ?? ck0, ssS ?? Z32);
  const derived1 = deriveSecret(hs1, "derived", EMPTY_HASH);
  const hs2 = hkdfExtract(derived1, ssE);
  same(hs2, handshakeSecret(spec.suite, ssS, ssE, psk), "hs2");
  const shStar = sh.subarray(0, sh.length - 32);
  const th1 = transcriptHash(ch, shStar);
  const th2 = transcriptHash(ch, sh);
  const sFin = serverFinishedKey(hs2, th1);
  const cFin = clientFinishedKey(hs2, th2);
  const serverFinished = finishedMac(sFin, th1);
  const clientFinished = finishedMac(cFin, th2);
  same(shd.serverFinished, serverFinished, "server_finished");
  same(cf.subarray(1), clientFinished, "client_finished");
  const derived2 = deriveSecret(hs2, "derived", EMPTY_HASH);
  const ms = hkdfExtract(derived2, Z32);
  const cAp = deriveSecret(ms, "c ap traffic", th2);
  const sAp = deriveSecret(ms, "s ap traffic", th2);
  const exp = deriveSecret(ms, "exp master", th2);
  const sessionId = sessionIdFrom(exp);
  for (const [k, who] of [[ckeys, "client"], [skeys, "gateway"]] as const) {
    assert.equal(k.suite, spec.suite);
    same(k.clientSecret, cAp, `${who} c_ap_0`);
    same(k.serverSecret, sAp, `${who} s_ap_0`);
    same(k.exporterSecret, exp, `${who} exp`);
    same(k.sessionId, sessionId, `${who} session_id`);
    same(k.transcriptHash, th2, `${who} th2`);
  }
  const c2s = trafficKeys(cAp);
  const s2c = trafficKeys(sAp);
  const exporterContext = new TextEncoder().encode(EXPORTER_CONTEXT);
  const exported = exportKeyingMaterial(exp, EXPORTER_LABEL, exporterContext, 32);

  const json: Record<string, unknown> = {
    name: spec.name,
    note: spec.note,
    suite: suiteHex(spec.suite),
    protocol_name: PROTOCOL_NAMES[spec.suite],
    auth_mode: spec.mode,
    client_config: {
      suites: spec.clientSuites.map(suiteHex),
      extensions: extJson(spec.clientExtensions),
      pinned_key_id: pinned ? hx(st.keyId) : null,
    },
    gateway_config: {
      suites: spec.serverSuites.map(suiteHex),
      allow_anonymous: true,
      extensions: extJson(spec.serverExtensions),
    },
    rng_labels: {
      client: `pqgate/1 vectors: ${spec.name}: client`,
      gateway: `pqgate/1 vectors: ${spec.name}: gateway`,
    },
    client_random_draws: cd,
    gateway_random_draws: sd,
    messages: {
      client_hello: hx(ch),
      client_hello_len: ch.length,
      server_hello: hx(sh),
      server_hello_len: sh.length,
      client_finished: hx(cf),
      client_finished_len: cf.length,
    },
    fields: {
      client_random: hx(chd.clientRandom),
      key_id: hx(chd.keyId),
      ek_C: hx(chd.ekC),
      ct_S: chd.ctS ? hx(chd.ctS) : null,
      server_random: hx(shd.serverRandom),
      ct_E: hx(shd.ctE),
      server_finished: hx(serverFinished),
      client_finished: hx(clientFinished),
    },
    ...(spec.auth
      ? {
        client_auth: "psk" in spec.auth
          ? { method: "psk", identity: spec.auth.identity, psk: hx(spec.auth.psk) }
          : { method: spec.auth.method },
        client_hello_extensions: extJson(chd.extensions),
      }
      : {}),
    key_schedule: {
      ss_S: hx(ssS ?? Z32),
      ss_E: hx(ssE),
      ck0: hx(ck0),
      ...(k0 ? { k0: hx(k0) } : {}),
      hs1: hx(hs1),
      hs1_derived: hx(derived1),
      hs2: hx(hs2),
      th1: hx(th1),
      th2: hx(th2),
      s_fin: hx(sFin),
      c_fin: hx(cFin),
      hs2_derived: hx(derived2),
      ms: hx(ms),
      c_ap_0: hx(cAp),
      s_ap_0: hx(sAp),
      exp: hx(exp),
      session_id: hx(sessionId),
    },
    traffic: {
      client_to_gateway: { secret: hx(cAp), key: hx(c2s.key), iv: hx(c2s.iv) },
      gateway_to_client: { secret: hx(sAp), key: hx(s2c.key), iv: hx(s2c.iv) },
    },
    exporter: {
      label: EXPORTER_LABEL,
      context: hx(exporterContext),
      length: 32,
      output: hx(exported),
    },
  };
  return {
    spec,
    json,
    keys: ckeys,
    clientHello: ch,
    serverHello: sh,
    clientFinished: cf,
    clientDraws: cd,
    serverDraws: sd,
  };
}

// ------------------------------------------------------------------------------------------
// Records

/** A short, stable, human-readable description of a frame (the bytes are authoritative). */
export function frameSummary(f: Frame): string {
  const es = (e: boolean) => (e ? " END_STREAM" : "");
  switch (f.type) {
    case "padding":
      return `PADDING length=${f.length}`;
    case "ping":
      return `PING ${hx(f.data)}`;
    case "pong":
      return `PONG ${hx(f.data)}`;
    case "session_info":
      return `SESSION_INFO max_streams=${f.info.maxStreams} max_header_bytes=${f.info.maxHeaderBytes} ` +
        `max_body_bytes=${f.info.maxBodyBytes} idle_timeout_ms=${f.info.idleTimeoutMs} ` +
        `session_lifetime_s=${f.info.sessionLifetimeS} session_id=${hx(f.info.sessionId)} ` +
        `max_window=${f.info.maxWindow}`;
    case "headers":
      return `HEADERS stream=${f.stream}${es(f.endStream)} bhttp=${hx(f.payload)}`;
    case "data":
      return `DATA stream=${f.stream}${es(f.endStream)} length=${f.payload.length}`;
    case "reset_stream":
      return `RESET_STREAM stream=${f.stream} error_code=${f.errorCode}`;
    case "window_update":
      return `WINDOW_UPDATE stream=${f.stream} increment=${f.increment}`;
    case "key_update":
      return `KEY_UPDATE update_requested=${f.updateRequested ? 1 : 0}`;
    case "close":
      return `CLOSE code=${f.code} reason=${JSON.stringify(f.reason)}`;
    case "auth":
      return `AUTH method=${f.auth.method} binding=${hx(f.auth.binding)}`;
    case "auth_result":
      return `AUTH_RESULT status=${f.result.status} retry_after_ms=${f.result.retryAfterMs}` +
        (f.result.subject === null ? "" : ` subject=${JSON.stringify(f.result.subject)}`);
  }
}

/** Binary HTTP (RFC 9292) known-length heads, minimal encoder (every length < 64: 1-byte varints). */
function bhttpString(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  assert.ok(b.length < 64);
  return concat(new Uint8Array([b.length]), b);
}
function bhttpFields(fields: [string, string][]): Uint8Array {
  const body = concat(...fields.flatMap(([n, v]) => [bhttpString(n), bhttpString(v)]));
  assert.ok(body.length < 64);
  return concat(new Uint8Array([body.length]), body);
}
function bhttpRequest(
  method: string,
  authority: string,
  path: string,
  fields: [string, string][],
): Uint8Array {
  return concat(
    new Uint8Array([0]),
    bhttpString(method),
    bhttpString("https"),
    bhttpString(authority),
    bhttpString(path),
    bhttpFields(fields),
  );
}
function bhttpResponse(status: number, fields: [string, string][]): Uint8Array {
  // status 200-599 as a 2-byte QUIC varint (0x40 | high bits).
  return concat(new Uint8Array([1, 0x40 | (status >> 8), status & 0xff]), bhttpFields(fields));
}
const text = (s: string) => new TextEncoder().encode(s);

interface PlannedRecord {
  epoch: number;
  seq: number;
  frames: Frame[];
  note: string;
}

const PING_DATA = new Uint8Array([0x70, 0x71, 0x67, 0x61, 0x74, 0x65, 0x00, 0x01]);

function clientPlan(): PlannedRecord[] {
  return [
    {
      epoch: 0,
      seq: 0,
      note: "request head and the first body chunk",
      frames: [
        {
          type: "headers",
          stream: 1,
          endStream: false,
          payload: bhttpRequest("POST", "example.com", "/echo", [["content-type", "text/plain"]]),
        },
        { type: "data", stream: 1, endStream: false, payload: text("hello, ") },
      ],
    },
    {
      epoch: 0,
      seq: 1,
      note: "last body chunk with END_STREAM, plus 16 bytes of padding",
      frames: [
        { type: "data", stream: 1, endStream: true, payload: text("world") },
        { type: "padding", length: 16 },
      ],
    },
    {
      epoch: 0,
      seq: 5,
      note:
        "seq gap 2..4 (a sender restored from a snapshot whose reservation ended at 5, §5.5); a PING",
      frames: [{ type: "ping", data: PING_DATA }],
    },
    {
      epoch: 0,
      seq: 6,
      note: "KEY_UPDATE asking the gateway to update too; the next record uses epoch 1",
      frames: [{ type: "key_update", updateRequested: true }],
    },
    {
      epoch: 1,
      seq: 0,
      note: 'first record of epoch 1 (secret = ExpandLabel(c_ap_0, "traffic upd", "", 32)); a GET',
      frames: [
        {
          type: "headers",
          stream: 3,
          endStream: true,
          payload: bhttpRequest("GET", "example.com", "/", []),
        },
      ],
    },
    {
      epoch: 1,
      seq: 1,
      note: "flow-control credit for the response on stream 3",
      frames: [{ type: "window_update", stream: 3, increment: 65536 }],
    },
  ];
}

function serverPlan(sessionId: Uint8Array): PlannedRecord[] {
  return [
    {
      epoch: 0,
      seq: 0,
      note: "SESSION_INFO (first frame of the gateway's first record, §6.3) and the response head",
      frames: [
        {
          type: "session_info",
          info: {
            maxStreams: 100,
            maxHeaderBytes: 16384,
            maxBodyBytes: 10485760,
            idleTimeoutMs: 30000,
            sessionLifetimeS: 86400,
            sessionId,
            maxWindow: 16777216,
          },
        },
        {
          type: "headers",
          stream: 1,
          endStream: false,
          payload: bhttpResponse(200, [["content-type", "text/plain"]]),
        },
      ],
    },
    {
      epoch: 0,
      seq: 1,
      note: "response body",
      frames: [{ type: "data", stream: 1, endStream: true, payload: text("hello, world") }],
    },
    {
      epoch: 0,
      seq: 2,
      note:
        "PONG, then the requested KEY_UPDATE (update_requested = 0); the next record uses epoch 1",
      frames: [
        { type: "pong", data: PING_DATA },
        { type: "key_update", updateRequested: false },
      ],
    },
    {
      epoch: 1,
      seq: 0,
      note: "first record of epoch 1",
      frames: [{ type: "headers", stream: 3, endStream: true, payload: bhttpResponse(204, []) }],
    },
    {
      epoch: 1,
      seq: 7,
      note: "seq gap 1..6 (restored from a snapshot, §5.5); authenticated CLOSE",
      frames: [{ type: "close", code: 1000, reason: "bye" }],
    },
  ];
}

/** Nonce of §5.1: iv XOR (0x00000000 || u64 seq). */
function nonceOf(iv: Uint8Array, seq: number): Uint8Array {
  const n = Uint8Array.from(iv);
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, BigInt(seq));
  for (let i = 0; i < 8; i++) n[4 + i] ^= s[i];
  return n;
}

/**
 * Seals `plan` with a RecordLayer in reservation mode. A planned seq above the next one is
 * reached as a real gateway would: reserve up to it, snapshot, restore (§5.5).
 */
function sealPlan(role: "client" | "server", keys: SessionKeys, plan: PlannedRecord[]) {
  let layer = new RecordLayer({ role, keys, now: NOW, reservation: true });
  const out: { planned: PlannedRecord; plaintext: Uint8Array; record: Uint8Array }[] = [];
  for (const p of plan) {
    assert.equal(layer.txEpoch, p.epoch, "plan epoch");
    assert.ok(p.seq >= layer.txSeq, "plan seq");
    if (p.seq > layer.txSeq) {
      const snap = layer.reserve(p.seq - layer.txSeq);
      layer = RecordLayer.restore(snap);
      assert.equal(layer.txSeq, p.seq);
    }
    if (layer.needsReservation()) layer.reserve(16);
    const plaintext = encodeFrames(p.frames);
    const record = layer.seal(plaintext, NOW);
    out.push({ planned: p, plaintext, record });
    if (p.frames[p.frames.length - 1].type === "key_update") {
      layer.updateTx(NOW);
    }
  }
  return out;
}

function recordVector(
  name: string,
  hs: HandshakeResult,
  direction: "client_to_gateway" | "gateway_to_client",
) {
  const keys = hs.keys;
  const c2s = direction === "client_to_gateway";
  const plan = c2s ? clientPlan() : serverPlan(keys.sessionId);
  const sealed = sealPlan(c2s ? "client" : "server", keys, plan);
  // The peer opens them all, in order, and follows the KeyUpdate.
  const receiver = new RecordLayer({ role: c2s ? "server" : "client", keys, now: NOW });
  const aead = aeadForSuite(keys.suite);
  let secret = Uint8Array.from(c2s ? keys.clientSecret : keys.serverSecret);
  let epoch = 0;
  const records = sealed.map(({ planned, plaintext, record }) => {
    while (epoch < planned.epoch) {
      secret = nextTrafficSecret(secret);
      epoch++;
    }
    const { key, iv } = trafficKeys(secret);
    const nonce = nonceOf(iv, planned.seq);
    const header = record.subarray(0, 10);
    // Independent seal with the AEAD primitive: identical bytes.
    same(
      concat(header, aead.seal(key, nonce, header, plaintext)),
      record,
      `${name} record ${planned.epoch}/${planned.seq}`,
    );
    same(receiver.open(record, NOW), plaintext, `${name} open ${planned.epoch}/${planned.seq}`);
    const frames = decodeFrames(plaintext);
    if (frames[frames.length - 1].type === "key_update") receiver.updateRx();
    return {
      epoch: planned.epoch,
      seq: planned.seq,
      note: planned.note,
      secret: hx(secret),
      key: hx(key),
      iv: hx(iv),
      nonce: hx(nonce),
      frames: frames.map(frameSummary),
      plaintext: hx(plaintext),
      record: hx(record),
    };
  });
  return {
    name,
    suite: suiteHex(keys.suite),
    direction,
    from_handshake: hs.spec.name,
    initial_secret: hx(c2s ? keys.clientSecret : keys.serverSecret),
    records,
    _sealed: sealed.map((s) => s.record),
  };
}

// ------------------------------------------------------------------------------------------
// Negative cases

type Step = Record<string, unknown>;

function errorOf(fn: () => unknown): ErrorCode | "none" {
  try {
    fn();
    return "none";
  } catch (e) {
    if (!(e instanceof PqgateError)) throw e;
    return e.code;
  }
}

function replayRandom(draws: RandomDraw[]): RandomSource {
  let i = 0;
  return (n) => {
    const d = draws[i++];
    if (!d || d.hex.length !== 2 * n) throw new Error("replay random: exhausted or wrong length");
    return Uint8Array.from(d.hex.match(/../g)!.map((x) => parseInt(x, 16)));
  };
}

function negatives(
  st: StaticKey,
  hsByName: Map<string, HandshakeResult>,
  recs: Map<string, Uint8Array[]>,
) {
  const out: Record<string, unknown>[] = [];
  const base = hsByName.get("pinned-aes256gcm")!;
  const anon = hsByName.get("anonymous-aes256gcm")!;
  const ch = base.clientHello;
  const n = ch[3];
  const keyIdOff = 4 + 2 * n + 32;

  const gwConfig = (suites: SuiteId[], allowAnonymous: boolean) => ({
    suites: suites.map(suiteHex),
    allow_anonymous: allowAnonymous,
    keys: ["static_key"],
  });
  const gw = (
    name: string,
    description: string,
    suites: SuiteId[],
    allowAnonymous: boolean,
    input: Uint8Array,
    error: ErrorCode,
  ) => {
    const got = errorOf(() =>
      new ServerHandshake({
        keys: [st],
        suites,
        allowAnonymous,
        random: () => {
          throw new Error("no randomness expected");
        },
      }).receiveClientHello(input)
    );
    assert.equal(got, error, name);
    out.push({
      name,
      description,
      target: "gateway_handshake",
      error,
      close_code: CLOSE_CODES[error],
      gateway_config: gwConfig(suites, allowAnonymous),
      gateway_random_draws: [],
      steps: [{ input: hx(input), error }],
    });
  };

  const flip = (b: Uint8Array, i: number, mask = 0x01) => {
    const c = Uint8Array.from(b);
    c[i < 0 ? c.length + i : i] ^= mask;
    return c;
  };

  // --- gateway: ClientHello checks (§3.1 order)
  gw(
    "bad-type",
    "ClientHello whose type byte is 0x05",
    [AES, CHACHA],
    false,
    flip(ch, 0, 0x04),
    "protocol_error",
  );
  gw(
    "bad-version",
    "ClientHello of pinned-aes256gcm with version byte 0x02",
    [AES, CHACHA],
    false,
    flip(ch, 1, 0x03),
    "unsupported_version",
  );
  gw(
    "truncated-client-hello",
    "ClientHello of pinned-aes256gcm without its last byte",
    [AES, CHACHA],
    false,
    ch.subarray(0, ch.length - 1),
    "protocol_error",
  );
  gw(
    "duplicate-suite",
    "ClientHello of pinned-aes256gcm with suites [0x0001, 0x0001]",
    [AES, CHACHA],
    false,
    (() => {
      const c = Uint8Array.from(ch);
      c[7] = 0x01;
      return c;
    })(),
    "protocol_error",
  );
  {
    const c = Uint8Array.from(ch);
    c[6] = 0x00;
    c[7] = 0xff; // suites [0x0001, 0x00ff]
    gw(
      "no-common-suite",
      "ClientHello of pinned-aes256gcm with suites [0x0001, 0x00ff] (0x00ff unknown, ignored) to a gateway that enables only 0x0002",
      [CHACHA],
      false,
      c,
      "no_common_suite",
    );
  }
  gw(
    "unknown-critical-extension",
    "ClientHello of pinned-aes256gcm whose extension block is replaced by one extension of type 0x8abc (critical, unknown) with 0 data bytes",
    [AES, CHACHA],
    false,
    concat(ch.subarray(0, ch.length - 2), new Uint8Array([0x00, 0x04, 0x8a, 0xbc, 0x00, 0x00])),
    "unsupported_extension",
  );
  gw(
    "anonymous-not-allowed",
    "ClientHello of anonymous-aes256gcm to a gateway with anonymous mode disabled",
    [AES, CHACHA],
    false,
    anon.clientHello,
    "unauthorized",
  );
  gw(
    "unknown-key-id",
    `ClientHello of pinned-aes256gcm with the last byte of key_id (offset ${keyIdOff + 7}) flipped`,
    [AES, CHACHA],
    false,
    flip(ch, keyIdOff + 7),
    "unknown_key_id",
  );

  // --- gateway: bad ClientFinished (after a good ClientHello)
  {
    const badCf = flip(base.clientFinished, -1);
    const s = new ServerHandshake({
      keys: [st],
      suites: [AES, CHACHA],
      random: replayRandom(base.serverDraws),
    });
    same(s.receiveClientHello(ch), base.serverHello, "bad-client-finished SH");
    assert.equal(errorOf(() => s.receiveClientFinished(badCf)), "handshake_failed");
    out.push({
      name: "bad-client-finished",
      description:
        "handshake pinned-aes256gcm up to the ServerHello, then its ClientFinished with the last byte flipped",
      target: "gateway_handshake",
      error: "handshake_failed",
      close_code: CLOSE_CODES.handshake_failed,
      gateway_config: gwConfig([AES, CHACHA], false),
      gateway_random_draws: base.serverDraws,
      steps: [
        { input: hx(ch), output: hx(base.serverHello) },
        { input: hx(badCf), error: "handshake_failed" },
      ],
    });
  }

  // --- client: ServerHello checks
  const cl = (name: string, description: string, input: Uint8Array, error: ErrorCode) => {
    const c = new ClientHandshake({
      random: replayRandom(base.clientDraws),
      suites: [AES, CHACHA],
      server: { keyId: st.keyId, publicKey: st.publicKey },
    });
    same(c.start(), ch, `${name} CH`);
    assert.equal(errorOf(() => c.receiveServerHello(input)), error, name);
    out.push({
      name,
      description,
      target: "client_handshake",
      error,
      close_code: CLOSE_CODES[error],
      client_config: { suites: [suiteHex(AES), suiteHex(CHACHA)], pinned_key_id: hx(st.keyId) },
      client_random_draws: base.clientDraws,
      steps: [
        { call: "start", output: hx(ch) },
        { input: hx(input), error },
      ],
    });
  };
  cl(
    "bad-server-finished",
    "ServerHello of pinned-aes256gcm with the last byte of server_finished flipped",
    flip(base.serverHello, -1),
    "handshake_failed",
  );
  cl(
    "server-hello-bad-version",
    "ServerHello of pinned-aes256gcm with version byte 0x02",
    flip(base.serverHello, 1, 0x03),
    "unsupported_version",
  );
  {
    const sh = Uint8Array.from(base.serverHello);
    sh[3] = 0x03;
    cl(
      "server-hello-suite-not-offered",
      "ServerHello of pinned-aes256gcm with suite 0x0003",
      sh,
      "handshake_failed",
    );
  }
  cl(
    "server-hello-tampered-ct-E",
    "ServerHello of pinned-aes256gcm with the first byte of ct_E flipped (ML-KEM implicit rejection, so server_finished fails)",
    flip(base.serverHello, 36),
    "handshake_failed",
  );

  // --- record receiver (gateway receiving client_to_gateway records of aes256gcm)
  const r = recs.get("aes256gcm-client-to-gateway")!;
  const keys = base.keys;
  const rx = (
    name: string,
    description: string,
    accept: Uint8Array[],
    input: Uint8Array,
    error: ErrorCode,
  ) => {
    const layer = new RecordLayer({ role: "server", keys, now: NOW });
    const steps: Step[] = [];
    for (const rec of accept) {
      const pt = layer.open(rec, NOW);
      const fr = decodeFrames(pt);
      if (fr[fr.length - 1].type === "key_update") layer.updateRx();
      steps.push({ input: hx(rec), output: hx(pt) });
    }
    assert.equal(errorOf(() => layer.open(input, NOW)), error, name);
    steps.push({ input: hx(input), error });
    out.push({
      name,
      description,
      target: "record_receiver",
      error,
      close_code: CLOSE_CODES[error],
      receiver: {
        role: "gateway",
        suite: suiteHex(keys.suite),
        rx_secret_0: hx(keys.clientSecret),
        limits: "defaults of §5.4",
      },
      steps,
    });
  };
  const aesKeys = trafficKeys(keys.clientSecret);
  const sealRaw = (epoch: number, seq: number, plaintext: Uint8Array) => {
    const header = new Uint8Array(10);
    header[0] = 0x04;
    header[1] = epoch;
    new DataView(header.buffer).setBigUint64(2, BigInt(seq));
    return concat(
      header,
      aeadForSuite(AES).seal(aesKeys.key, nonceOf(aesKeys.iv, seq), header, plaintext),
    );
  };
  rx(
    "bad-tag",
    "records.json aes256gcm-client-to-gateway record 0 with the last tag byte flipped",
    [],
    flip(r[0], -1),
    "record_auth_failed",
  );
  rx(
    "tampered-ciphertext",
    "record 0 with the first ciphertext byte flipped",
    [],
    flip(r[0], 10),
    "record_auth_failed",
  );
  rx(
    "tampered-header-seq",
    "record 0 with its seq changed to 1 (the header is the AAD and feeds the nonce)",
    [],
    flip(r[0], 9),
    "record_auth_failed",
  );
  rx("replay", "record 0 accepted, then record 0 again", [r[0]], r[0], "sequence_error");
  rx(
    "reorder",
    "records 0 and 2 (seq 0 and 5) accepted, then record 1 (seq 1) arrives late",
    [r[0], r[2]],
    r[1],
    "sequence_error",
  );
  rx(
    "truncated-record",
    "record 0 cut to 26 bytes (shorter than the 27-byte minimum)",
    [],
    r[0].subarray(0, 26),
    "protocol_error",
  );
  rx(
    "truncated-tag",
    "record 0 without its last byte (still >= 27 bytes, so the tag check fails)",
    [],
    r[0].subarray(0, r[0].length - 1),
    "record_auth_failed",
  );
  rx("wrong-type", "record 0 with type byte 0x05", [], flip(r[0], 0, 0x01), "protocol_error");
  rx(
    "wrong-epoch",
    "record 0 accepted, then record 4 (epoch 1, seq 0) before the record carrying KEY_UPDATE",
    [r[0]],
    r[4],
    "sequence_error",
  );
  rx(
    "old-epoch-after-key-update",
    "records 0-3 accepted (3 carries KEY_UPDATE), then record 2 again (epoch 0 is no longer current)",
    [r[0], r[1], r[2], r[3]],
    r[2],
    "sequence_error",
  );
  {
    // A 16,385-byte plaintext (one byte over §5.1): one PADDING frame with a 16,377-byte payload.
    const over = concat(new Uint8Array([0, 0, 0, 0, 0, 0, 0x3f, 0xf9]), new Uint8Array(16377));
    assert.equal(over.length, 16385);
    rx(
      "oversize-record",
      "a 16,411-byte record (16,385-byte plaintext: one PADDING frame of 16,377 bytes) with a valid tag",
      [],
      sealRaw(0, 0, over),
      "protocol_error",
    );
  }
  rx(
    "seq-at-hard-limit",
    "a record with seq = 2^23 (the default hard limit, §5.4) and a valid tag",
    [],
    sealRaw(0, 2 ** 23, encodeFrame({ type: "ping", data: PING_DATA })),
    "rehandshake_required",
  );
  return out;
}

// ------------------------------------------------------------------------------------------
// Entry points

function stringify(v: unknown): string {
  return JSON.stringify(v, null, 2) + "\n";
}

/**
 * The ClientHello in the upgrade request (PROTOCOL.md §1, 1.2) for one vector's ClientHello: the
 * URL a client opens for the channel URL `wss://gw.example/pqgate`, its query string, and the
 * subprotocol header it offers / the one a gateway that takes the hello selects.
 */
function urlHello(h: HandshakeResult) {
  const channelUrl = "wss://gw.example/pqgate";
  const hello = h.clientHello;
  const up = helloUpgrade(channelUrl, hello);
  return {
    vector: h.spec.name,
    channel_url: channelUrl,
    url: up.url,
    query: new URL(up.url).search.slice(1),
    query_length: new URL(up.url).search.length - 1,
    sec_websocket_protocol: up.protocols.join(", "),
    selected_protocol: "pqgate.hello",
  };
}

/** Generates the three vector files; returns file name → exact file contents. */
export function generateVectors(): Record<VectorFile, string> {
  const { seed, key: st } = staticKey();
  const hs = HANDSHAKES.map((s) => runHandshake(s, st));
  const byName = new Map(hs.map((h) => [h.spec.name, h]));

  const handshake = {
    description:
      "pqgate/1 handshake vectors (PROTOCOL.md §3, §4). Replay: feed each party's recorded random " +
      "draws, in order, as its random source; every message byte and secret must match.",
    generator: GENERATOR,
    rng: RNG_TEXT,
    static_key: {
      seed_label: STATIC_KEY_LABEL,
      seed: hx(seed),
      public_key: hx(st.publicKey),
      key_id: hx(st.keyId),
      pin: pinFor(st.publicKey),
    },
    vectors: hs.map((h) => h.json),
    url_hello: urlHello(byName.get("pinned-aes256gcm")!),
  };

  const recordPairs: [string, HandshakeResult, "client_to_gateway" | "gateway_to_client"][] = [
    ["aes256gcm-client-to-gateway", byName.get("pinned-aes256gcm")!, "client_to_gateway"],
    ["aes256gcm-gateway-to-client", byName.get("pinned-aes256gcm")!, "gateway_to_client"],
    [
      "chacha20poly1305-client-to-gateway",
      byName.get("pinned-chacha20poly1305")!,
      "client_to_gateway",
    ],
    [
      "chacha20poly1305-gateway-to-client",
      byName.get("pinned-chacha20poly1305")!,
      "gateway_to_client",
    ],
  ];
  const recVecs = recordPairs.map(([name, h, d]) => recordVector(name, h, d));
  const recs = new Map(recVecs.map((v) => [v.name, v._sealed]));
  const records = {
    description:
      "pqgate/1 record vectors (PROTOCOL.md §4.4, §5, §6). Each record: header = 0x04 || epoch || u64 seq; " +
      "nonce = iv XOR (0^4 || u64 seq); record = header || AEAD-Seal(key, nonce, aad = header, plaintext). " +
      "Secrets start at c_ap_0 / s_ap_0 of the named handshake and advance with KeyUpdate (§4.4).",
    generator: GENERATOR,
    vectors: recVecs.map(({ _sealed: _, ...v }) => v),
  };

  const negative = {
    description:
      "pqgate/1 negative vectors: each input must fail with exactly `error` (close code `close_code`, " +
      "§9). Steps before the failing one must produce their `output`. Gateway static key and handshakes: " +
      "handshake.json. A `record_receiver` starts at epoch 0 with rx secret `rx_secret_0` and switches " +
      "to the next epoch after a record whose last frame is KEY_UPDATE.",
    generator: GENERATOR,
    vectors: negatives(st, byName, recs),
  };

  return {
    "handshake.json": stringify(handshake),
    "records.json": stringify(records),
    "negative.json": stringify(negative),
    "client-auth.json": stringify(clientAuthVectors(seed, st)),
  };
}

// ------------------------------------------------------------------------------------------
// Client authentication (PROTOCOL.md §3.4.1, §3.4.2, §6.7, §6.8): client-auth.json

const VECTOR_PSK = seededRandom("pqgate/1 vectors: psk")(32);
const VECTOR_PSK_IDENTITY = "device-7";

const CLIENT_AUTH_HANDSHAKES: HandshakeSpec[] = [
  {
    name: "psk-pinned-aes256gcm",
    suite: AES,
    mode: "pinned",
    clientSuites: [AES, CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [],
    serverExtensions: [],
    auth: { psk: VECTOR_PSK, identity: VECTOR_PSK_IDENTITY },
    note: "psk in pinned mode: k0 = HKDF-Extract(ck0, psk), hs1 = HKDF-Extract(k0, ss_S)",
  },
  {
    name: "psk-anonymous-chacha20poly1305",
    suite: CHACHA,
    mode: "anonymous",
    clientSuites: [CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [],
    serverExtensions: [],
    auth: { psk: VECTOR_PSK, identity: VECTOR_PSK_IDENTITY },
    note: "psk in anonymous mode: hs1 = HKDF-Extract(k0, Z)",
  },
  {
    name: "client-auth-token-pinned-aes256gcm",
    suite: AES,
    mode: "pinned",
    clientSuites: [AES, CHACHA],
    serverSuites: [AES, CHACHA],
    clientExtensions: [],
    serverExtensions: [],
    auth: { method: "token" },
    note: "client_auth announcing token; the key schedule is unchanged (the AUTH frame follows)",
  },
];

function clientAuthVectors(seed: Uint8Array, st: StaticKey) {
  const hs = CLIENT_AUTH_HANDSHAKES.map((spec) => runHandshake(spec, st));
  const token = hs[2];
  const exp = token.keys.exporterSecret;
  const bindingPassword = authBinding(exp, "password");
  const bindingToken = authBinding(exp, "token");
  same(
    bindingToken,
    exportKeyingMaterial(exp, "pqgate client auth", new Uint8Array([2]), 32),
    "token binding",
  );
  const password = new TextEncoder().encode("correct horse");
  const frames = [
    {
      name: "auth-password",
      from_handshake: token.spec.name,
      method: "password",
      binding: hx(bindingPassword),
      username: "ann",
      password: hx(password),
      frame: hx(encodeFrame({
        type: "auth",
        auth: { method: "password", binding: bindingPassword, username: "ann", password },
      })),
    },
    {
      name: "auth-token",
      from_handshake: token.spec.name,
      method: "token",
      binding: hx(bindingToken),
      token: "eyJhbGciOiJFZERTQSJ9.e30.c2ln",
      frame: hx(encodeFrame({
        type: "auth",
        auth: { method: "token", binding: bindingToken, token: "eyJhbGciOiJFZERTQSJ9.e30.c2ln" },
      })),
    },
    ...([
      ["auth-result-ok", { status: "ok", retryAfterMs: 0, subject: "ann" }],
      ["auth-result-busy", { status: "busy", retryAfterMs: 1500, subject: null }],
      ["auth-result-rate-limited", { status: "rate_limited", retryAfterMs: 60000, subject: null }],
    ] as const).map(([name, result]) => ({
      name,
      status: result.status,
      retry_after_ms: result.retryAfterMs,
      subject: result.subject,
      frame: hx(encodeFrame({ type: "auth_result", result: { ...result } })),
    })),
  ];

  // Negative: a wrong PSK and an unknown identity both fail at the client's server_finished.
  const negative: Record<string, unknown>[] = [];
  const psk = hs[0];
  for (
    const [name, gatewayPsk, description] of [
      [
        "psk-wrong-key",
        seededRandom("pqgate/1 vectors: other psk")(32),
        "the gateway holds another PSK for the identity",
      ],
      [
        "psk-unknown-identity",
        null,
        "the gateway has no PSK for the identity: it draws a dummy key (32 bytes, first draw)",
      ],
    ] as const
  ) {
    const srng = recordingRandom(
      `pqgate/1 vectors: ${name}: gateway`,
      gatewayPsk ? SERVER_PLAN : [["dummy psk", 32], ...SERVER_PLAN],
    );
    const crng = replayRandom(psk.clientDraws);
    const c = new ClientHandshake({
      random: crng,
      suites: psk.spec.clientSuites,
      auth: { psk: VECTOR_PSK, identity: VECTOR_PSK_IDENTITY },
      server: { keyId: st.keyId, publicKey: st.publicKey },
    });
    const chBytes = c.start();
    same(chBytes, psk.clientHello, `${name}: ClientHello`);
    const g = new ServerHandshake({
      keys: [st],
      suites: psk.spec.serverSuites,
      random: srng.random,
      psk: () => gatewayPsk,
    });
    const sh = g.receiveClientHello(chBytes);
    const err = errorOf(() => c.receiveServerHello(sh));
    assert.equal(err, "handshake_failed", name);
    negative.push({
      name,
      description,
      target: "client_handshake",
      from_handshake: psk.spec.name,
      error: err,
      close_code: CLOSE_CODES[err as ErrorCode],
      gateway_psk: gatewayPsk ? hx(gatewayPsk) : null,
      gateway_random_draws: srng.finish(),
      client_hello: hx(chBytes),
      server_hello: hx(sh),
    });
  }
  // Malformed extensions and frames (§3.4.1, §3.4.2, §6.7, §6.8).
  const base = hs[2].clientHello; // announces client_auth token: the last 5 bytes are its extension
  const extAt = base.length - 5;
  const withExt = (ext: Uint8Array) => {
    const head = base.subarray(0, extAt - 2);
    return concat(head, new Uint8Array([ext.length >> 8, ext.length & 0xff]), ext);
  };
  const ext = (type: number, data: number[]) =>
    new Uint8Array([type >> 8, type & 0xff, data.length >> 8, data.length & 0xff, ...data]);
  const chCases: [string, string, Uint8Array, ErrorCode][] = [
    [
      "psk-and-client-auth",
      "both psk and client_auth",
      concat(ext(0x8002, [1, 65]), ext(0x8003, [1])),
      "protocol_error",
    ],
    ["psk-identity-empty", "psk with identity_len 0", ext(0x8002, [0]), "protocol_error"],
    [
      "psk-identity-length",
      "psk identity_len 3 with 2 bytes",
      ext(0x8002, [3, 65, 65]),
      "protocol_error",
    ],
    ["psk-identity-not-utf8", "psk identity 0xff", ext(0x8002, [1, 0xff]), "protocol_error"],
    ["client-auth-length", "client_auth with 2 bytes", ext(0x8003, [1, 1]), "protocol_error"],
    [
      "client-auth-unknown-method",
      "client_auth method 0x07",
      ext(0x8003, [7]),
      "unsupported_extension",
    ],
  ];
  for (const [name, description, e, want] of chCases) {
    const input = withExt(e);
    const got = errorOf(() => decodeClientHello(input));
    assert.equal(got, want, name);
    negative.push({
      name,
      description,
      target: "client_hello_decoder",
      error: got,
      close_code: CLOSE_CODES[got as ErrorCode],
      input: hx(input),
    });
  }
  const binding = bindingToken;
  const fr = (type: number, payload: number[]) =>
    new Uint8Array([type, 0, 0, 0, 0, 0, payload.length >> 8, payload.length & 0xff, ...payload]);
  const frameCases: [string, string, Uint8Array][] = [
    ["auth-unknown-method", "AUTH method 0x03", fr(0x0a, [3, ...binding, 0, 1, 65])],
    [
      "auth-short-binding",
      "AUTH with a 31-byte binding and nothing else",
      fr(0x0a, [2, ...binding.subarray(1)]),
    ],
    ["auth-token-empty", "AUTH token_len 0", fr(0x0a, [2, ...binding, 0, 0])],
    [
      "auth-token-trailing",
      "AUTH token_len 1 with 2 token bytes",
      fr(0x0a, [2, ...binding, 0, 1, 65, 65]),
    ],
    [
      "auth-token-space",
      "AUTH token with a space (not visible ASCII)",
      fr(0x0a, [2, ...binding, 0, 1, 32]),
    ],
    [
      "auth-password-user-empty",
      "AUTH password user_len 0",
      fr(0x0a, [1, ...binding, 0, 0, 1, 65]),
    ],
    [
      "auth-password-too-long",
      "AUTH pw_len 1025",
      fr(0x0a, [1, ...binding, 1, 65, 4, 1, ...new Uint8Array(1025)]),
    ],
    [
      "auth-on-stream",
      "AUTH on stream 1",
      (() => {
        const f = fr(0x0a, [2, ...binding, 0, 1, 65]);
        f[5] = 1;
        return f;
      })(),
    ],
    ["auth-result-unknown-status", "AUTH_RESULT status 7", fr(0x0b, [7, 0, 0, 0, 0, 0])],
    [
      "auth-result-ok-no-subject",
      "AUTH_RESULT ok with subject_len 0",
      fr(0x0b, [0, 0, 0, 0, 0, 0]),
    ],
    [
      "auth-result-subject-on-failure",
      "AUTH_RESULT busy with a subject",
      fr(0x0b, [4, 0, 0, 0, 0, 1, 65]),
    ],
  ];
  for (const [name, description, input] of frameCases) {
    const got = errorOf(() => decodeFrames(input));
    assert.equal(got, "protocol_error", name);
    negative.push({
      name,
      description,
      target: "frame_decoder",
      error: got,
      close_code: CLOSE_CODES[got as ErrorCode],
      input: hx(input),
    });
  }
  return {
    description:
      "pqgate/1 client authentication vectors (PROTOCOL.md §3.4.1 psk, §3.4.2 client_auth, " +
      "§6.7 AUTH, §6.8 AUTH_RESULT). Handshakes have the fields of handshake.json plus " +
      "`client_auth` and key_schedule.k0 (psk); the static key is handshake.json's. AUTH " +
      'bindings are Export("pqgate client auth", method byte, 32) of the named handshake.',
    generator: GENERATOR,
    static_key: { seed: hx(seed), key_id: hx(st.keyId) },
    handshakes: hs.map((h) => h.json),
    frames,
    negative,
  };
}

/** Writes the vector files into `dir` (a path or file URL of a directory). */
export function writeVectors(dir: string | URL): void {
  const files = generateVectors();
  Deno.mkdirSync(dir, { recursive: true });
  const base = typeof dir === "string" ? (dir.endsWith("/") ? dir : dir + "/") : dir;
  for (const [name, content] of Object.entries(files)) {
    const target = typeof base === "string" ? base + name : new URL(name, base);
    Deno.writeTextFileSync(target, content);
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const dir = i >= 0 ? Deno.args[i + 1] : new URL("./", import.meta.url);
  if (dir === undefined) {
    console.error("usage: generate.ts [--out DIR]");
    Deno.exit(2);
  }
  writeVectors(dir);
  for (const name of VECTOR_FILES) {
    console.log(`wrote ${typeof dir === "string" ? dir + "/" : ""}${name}`);
  }
}
