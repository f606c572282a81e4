/**
 * Replays the committed conformance vectors (handshake.json, records.json, negative.json)
 * against the implementation, and proves the generator is deterministic and the committed files
 * are exactly what it produces.
 *
 * Replay uses ONLY the recorded bytes: each party's random source hands out the recorded draws
 * in order and fails the test if asked for more, for a different length, or if a draw is left.
 */
import assert from "node:assert/strict";
import {
  aeadForSuite,
  clientFinishedKey,
  ClientHandshake,
  CLOSE_CODES,
  concat,
  decodeFrames,
  deriveSecret,
  EMPTY_HASH,
  type ErrorCode,
  exportKeyingMaterial,
  finishedMac,
  fromHex,
  generateStaticKey,
  hkdfExtract,
  initialChainingKey,
  keyIdFor,
  nextTrafficSecret,
  pinFor,
  PqgateError,
  PROTOCOL_NAMES,
  type RandomSource,
  RecordLayer,
  serverFinishedKey,
  ServerHandshake,
  sessionIdFrom,
  type SessionKeys,
  type SuiteId,
  toHex,
  trafficKeys,
  transcriptHash,
  xwingNoble,
} from "../../src/protocol/mod.ts";
import { frameSummary, generateVectors, VECTOR_FILES, writeVectors } from "./generate.ts";
import { helloFromUpgrade, MAX_HELLO_PARAM_LEN } from "../../src/tunnel/client-hello.ts";

const DIR = new URL("./", import.meta.url);
// deno-lint-ignore no-explicit-any
type Json = any;
const load = (name: string): Json => JSON.parse(Deno.readTextFileSync(new URL(name, DIR)));
const HS: Json = load("handshake.json");
const REC: Json = load("records.json");
const NEG: Json = load("negative.json");
const NOW = 1_700_000_000_000;

const suiteOf = (s: string): SuiteId => parseInt(s, 16) as SuiteId;

/** A RandomSource that returns the recorded draws in order and checks it was used exactly. */
function replay(draws: { purpose: string; hex: string }[]) {
  let i = 0;
  const problems: string[] = [];
  const random: RandomSource = (n) => {
    const d = draws[i++];
    if (d === undefined) {
      problems.push(`random source exhausted (draw #${i - 1} of ${n} bytes)`);
      throw new Error("exhausted");
    }
    if (d.hex.length !== 2 * n) {
      problems.push(
        `draw #${i - 1} (${d.purpose}): asked ${n} bytes, recorded ${d.hex.length / 2}`,
      );
    }
    return fromHex(d.hex);
  };
  return {
    random,
    done(): void {
      assert.deepEqual(problems, []);
      assert.equal(i, draws.length, "every recorded random draw is consumed");
    },
    get used(): number {
      return i;
    },
  };
}

function errorOf(fn: () => unknown): ErrorCode | "none" {
  try {
    fn();
    return "none";
  } catch (e) {
    if (!(e instanceof PqgateError)) throw new Error(`non-PqgateError escaped: ${e}`);
    return e.code;
  }
}

const STATIC = generateStaticKey(fromHex(HS.static_key.seed));

// ------------------------------------------------------------------------------------------
// handshake.json

Deno.test("vectors: static key (seed → public key, key id, pin §8)", () => {
  assert.equal(toHex(STATIC.publicKey), HS.static_key.public_key);
  assert.equal(toHex(STATIC.keyId), HS.static_key.key_id);
  assert.equal(toHex(keyIdFor(STATIC.publicKey)), HS.static_key.key_id);
  assert.equal(pinFor(STATIC.publicKey), HS.static_key.pin);
});

Deno.test("vectors: handshake.json has both suites × both modes", () => {
  const combos = new Set(HS.vectors.map((v: Json) => `${v.suite} ${v.auth_mode}`));
  for (const s of ["0x0001", "0x0002"]) {
    for (const m of ["pinned", "anonymous"]) assert.ok(combos.has(`${s} ${m}`));
  }
});

for (const v of HS.vectors as Json[]) {
  Deno.test(`vectors: handshake ${v.name} replays byte for byte`, () => {
    const suite = suiteOf(v.suite);
    const pinned = v.auth_mode === "pinned";
    const crng = replay(v.client_random_draws);
    const srng = replay(v.gateway_random_draws);
    const ext = (list: Json[]) =>
      list.map((e) => ({ type: parseInt(e.type, 16), data: fromHex(e.data) }));
    const client = new ClientHandshake({
      random: crng.random,
      suites: v.client_config.suites.map(suiteOf),
      extensions: ext(v.client_config.extensions),
      ...(pinned
        ? { server: { keyId: fromHex(v.client_config.pinned_key_id), publicKey: STATIC.publicKey } }
        : {}),
    });
    const server = new ServerHandshake({
      keys: [STATIC],
      suites: v.gateway_config.suites.map(suiteOf),
      allowAnonymous: v.gateway_config.allow_anonymous,
      random: srng.random,
      extensions: ext(v.gateway_config.extensions),
    });
    const ch = client.start();
    assert.equal(toHex(ch), v.messages.client_hello);
    assert.equal(ch.length, v.messages.client_hello_len);
    const sh = server.receiveClientHello(ch);
    assert.equal(toHex(sh), v.messages.server_hello);
    assert.equal(sh.length, v.messages.server_hello_len);
    assert.equal(server.suite, suite);
    assert.equal(server.mode, v.auth_mode);
    const { clientFinished, keys: ck } = client.receiveServerHello(sh);
    assert.equal(toHex(clientFinished), v.messages.client_finished);
    assert.equal(clientFinished.length, v.messages.client_finished_len);
    const sk = server.receiveClientFinished(clientFinished);
    crng.done();
    srng.done();

    const ks = v.key_schedule;
    for (const k of [ck, sk] as SessionKeys[]) {
      assert.equal(k.suite, suite);
      assert.equal(toHex(k.clientSecret), ks.c_ap_0);
      assert.equal(toHex(k.serverSecret), ks.s_ap_0);
      assert.equal(toHex(k.exporterSecret), ks.exp);
      assert.equal(toHex(k.sessionId), ks.session_id);
      assert.equal(toHex(k.transcriptHash), ks.th2);
    }

    // Field offsets of §3.1 / §3.2.
    const n = ch[3];
    const f = v.fields;
    assert.equal(toHex(ch.subarray(4 + 2 * n, 36 + 2 * n)), f.client_random);
    assert.equal(toHex(ch.subarray(36 + 2 * n, 44 + 2 * n)), f.key_id);
    assert.equal(toHex(ch.subarray(44 + 2 * n, 1260 + 2 * n)), f.ek_C);
    if (pinned) assert.equal(toHex(ch.subarray(1260 + 2 * n, 2380 + 2 * n)), f.ct_S);
    else assert.equal(f.ct_S, null);
    assert.equal(toHex(sh.subarray(4, 36)), f.server_random);
    assert.equal(toHex(sh.subarray(36, 1156)), f.ct_E);
    assert.equal(toHex(sh.subarray(sh.length - 32)), f.server_finished);
    assert.equal(toHex(clientFinished.subarray(1)), f.client_finished);

    // Every intermediate, recomputed step by step from the recorded inputs (§4.2).
    const ekSeed = fromHex(v.client_random_draws[1].hex);
    assert.equal(toHex(xwingNoble.keygen(ekSeed).publicKey), f.ek_C);
    const ssS = pinned
      ? xwingNoble.decapsulate(fromHex(f.ct_S), STATIC.secretKey)
      : new Uint8Array(32);
    if (pinned) {
      const enc = xwingNoble.encapsulate(STATIC.publicKey, fromHex(v.client_random_draws[2].hex));
      assert.equal(toHex(enc.cipherText), f.ct_S);
      assert.equal(toHex(enc.sharedSecret), ks.ss_S);
    }
    assert.equal(toHex(ssS), ks.ss_S);
    const ssE = xwingNoble.decapsulate(fromHex(f.ct_E), ekSeed);
    assert.equal(toHex(ssE), ks.ss_E);
    assert.equal(v.protocol_name, PROTOCOL_NAMES[suite]);
    const ck0 = initialChainingKey(suite);
    assert.equal(toHex(ck0), ks.ck0);
    const hs1 = hkdfExtract(ck0, ssS);
    assert.equal(toHex(hs1), ks.hs1);
    const d1 = deriveSecret(hs1, "derived", EMPTY_HASH);
    assert.equal(toHex(d1), ks.hs1_derived);
    const hs2 = hkdfExtract(d1, ssE);
    assert.equal(toHex(hs2), ks.hs2);
    const th1 = transcriptHash(ch, sh.subarray(0, sh.length - 32));
    const th2 = transcriptHash(ch, sh);
    assert.equal(toHex(th1), ks.th1);
    assert.equal(toHex(th2), ks.th2);
    const sFin = serverFinishedKey(hs2, th1);
    const cFin = clientFinishedKey(hs2, th2);
    assert.equal(toHex(sFin), ks.s_fin);
    assert.equal(toHex(cFin), ks.c_fin);
    assert.equal(toHex(finishedMac(sFin, th1)), f.server_finished);
    assert.equal(toHex(finishedMac(cFin, th2)), f.client_finished);
    const d2 = deriveSecret(hs2, "derived", EMPTY_HASH);
    assert.equal(toHex(d2), ks.hs2_derived);
    const ms = hkdfExtract(d2, new Uint8Array(32));
    assert.equal(toHex(ms), ks.ms);
    assert.equal(toHex(deriveSecret(ms, "c ap traffic", th2)), ks.c_ap_0);
    assert.equal(toHex(deriveSecret(ms, "s ap traffic", th2)), ks.s_ap_0);
    assert.equal(toHex(deriveSecret(ms, "exp master", th2)), ks.exp);
    assert.equal(toHex(sessionIdFrom(fromHex(ks.exp))), ks.session_id);
    for (
      const [dir, secret] of [["client_to_gateway", ks.c_ap_0], [
        "gateway_to_client",
        ks.s_ap_0,
      ]] as const
    ) {
      const t = trafficKeys(fromHex(secret));
      assert.equal(v.traffic[dir].secret, secret);
      assert.equal(toHex(t.key), v.traffic[dir].key);
      assert.equal(toHex(t.iv), v.traffic[dir].iv);
    }
    const x = v.exporter;
    assert.equal(
      toHex(exportKeyingMaterial(fromHex(ks.exp), x.label, fromHex(x.context), x.length)),
      x.output,
    );
  });
}

Deno.test("vectors: a replay source that runs dry fails the handshake (internal_error) and is detected", () => {
  const v = HS.vectors[0];
  const rng = replay(v.client_random_draws.slice(0, 2)); // eseed_S missing
  const c = new ClientHandshake({
    random: rng.random,
    server: { keyId: STATIC.keyId, publicKey: STATIC.publicKey },
  });
  assert.equal(errorOf(() => c.start()), "internal_error");
  assert.throws(() => rng.done());
});

// ------------------------------------------------------------------------------------------
// records.json

function keysFor(suite: SuiteId, clientSecret: Uint8Array, serverSecret: Uint8Array): SessionKeys {
  return {
    suite,
    clientSecret,
    serverSecret,
    exporterSecret: new Uint8Array(32),
    sessionId: new Uint8Array(16),
    transcriptHash: new Uint8Array(32),
  };
}

function nonceOf(iv: Uint8Array, seq: number): Uint8Array {
  const n = Uint8Array.from(iv);
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, BigInt(seq));
  for (let i = 0; i < 8; i++) n[4 + i] ^= s[i];
  return n;
}

Deno.test("vectors: records.json covers both suites and directions, KeyUpdate and a seq gap", () => {
  const names = REC.vectors.map((v: Json) => `${v.suite} ${v.direction}`);
  for (const s of ["0x0001", "0x0002"]) {
    for (const d of ["client_to_gateway", "gateway_to_client"]) {
      assert.ok(names.includes(`${s} ${d}`));
    }
  }
  for (const v of REC.vectors as Json[]) {
    const rs = v.records as Json[];
    assert.ok(
      rs.some((r) => r.epoch === 0) && rs.some((r) => r.epoch === 1),
      "before and after KeyUpdate",
    );
    assert.ok(
      rs.some((r, i) => i > 0 && r.epoch === rs[i - 1].epoch && r.seq > rs[i - 1].seq + 1),
      "a seq gap",
    );
  }
});

for (const v of REC.vectors as Json[]) {
  Deno.test(`vectors: records ${v.name}: per-record AEAD seal, RecordLayer seal (with gap) and open`, () => {
    const suite = suiteOf(v.suite);
    const hs = HS.vectors.find((h: Json) => h.name === v.from_handshake);
    const c2s = v.direction === "client_to_gateway";
    assert.equal(v.initial_secret, c2s ? hs.key_schedule.c_ap_0 : hs.key_schedule.s_ap_0);
    const aead = aeadForSuite(suite);

    // 1. Each record from its own fields, with the bare AEAD: §4.4 key schedule, §5.1 layout.
    let secret = fromHex(v.initial_secret);
    let epoch = 0;
    for (const r of v.records as Json[]) {
      while (epoch < r.epoch) {
        secret = nextTrafficSecret(secret);
        epoch++;
      }
      assert.equal(toHex(secret), r.secret);
      const { key, iv } = trafficKeys(secret);
      assert.equal(toHex(key), r.key);
      assert.equal(toHex(iv), r.iv);
      assert.equal(toHex(nonceOf(iv, r.seq)), r.nonce);
      const header = new Uint8Array(10);
      header[0] = 0x04;
      header[1] = r.epoch;
      new DataView(header.buffer).setBigUint64(2, BigInt(r.seq));
      const pt = fromHex(r.plaintext);
      assert.equal(toHex(concat(header, aead.seal(key, fromHex(r.nonce), header, pt))), r.record);
      assert.deepEqual(decodeFrames(pt).map(frameSummary), r.frames);
    }

    // 2. The RecordLayer as a sender: seq gaps are reached by reserve → snapshot → restore (§5.5).
    const secrets = [fromHex(hs.key_schedule.c_ap_0), fromHex(hs.key_schedule.s_ap_0)] as const;
    const keys = keysFor(suite, secrets[0], secrets[1]);
    let tx = new RecordLayer({
      role: c2s ? "client" : "server",
      keys,
      now: NOW,
      reservation: true,
    });
    for (const r of v.records as Json[]) {
      assert.equal(tx.txEpoch, r.epoch);
      if (r.seq > tx.txSeq) tx = RecordLayer.restore(tx.reserve(r.seq - tx.txSeq));
      if (tx.needsReservation()) tx.reserve(8);
      assert.equal(tx.txSeq, r.seq);
      const pt = fromHex(r.plaintext);
      assert.equal(toHex(tx.seal(pt, NOW)), r.record);
      const frames = decodeFrames(pt);
      if (frames[frames.length - 1].type === "key_update") tx.updateTx(NOW);
    }

    // 3. The RecordLayer as the receiver: opens every record in order and follows the KeyUpdate.
    const rx = new RecordLayer({ role: c2s ? "server" : "client", keys, now: NOW });
    for (const r of v.records as Json[]) {
      assert.equal(rx.rxEpoch, r.epoch);
      const pt = rx.open(fromHex(r.record), NOW);
      assert.equal(toHex(pt), r.plaintext);
      const frames = decodeFrames(pt);
      if (frames[frames.length - 1].type === "key_update") rx.updateRx();
    }
  });
}

// ------------------------------------------------------------------------------------------
// negative.json

Deno.test("vectors: negative.json has every required case", () => {
  const have = new Map(NEG.vectors.map((v: Json) => [v.name, v.error]));
  const required: [string, ErrorCode][] = [
    ["bad-tag", "record_auth_failed"],
    ["replay", "sequence_error"],
    ["truncated-record", "protocol_error"],
    ["truncated-client-hello", "protocol_error"],
    ["wrong-epoch", "sequence_error"],
    ["bad-version", "unsupported_version"],
    ["unknown-key-id", "unknown_key_id"],
    ["oversize-record", "protocol_error"],
    ["no-common-suite", "no_common_suite"],
    ["unknown-critical-extension", "unsupported_extension"],
    ["bad-client-finished", "handshake_failed"],
    ["bad-server-finished", "handshake_failed"],
  ];
  for (const [name, code] of required) assert.equal(have.get(name), code, name);
  for (const v of NEG.vectors as Json[]) {
    assert.equal(v.close_code, CLOSE_CODES[v.error as ErrorCode], v.name);
  }
});

for (const v of NEG.vectors as Json[]) {
  Deno.test(`vectors: negative ${v.name} → ${v.error}`, () => {
    const steps = v.steps as Json[];
    assert.equal(steps[steps.length - 1].error, v.error);
    for (const s of steps.slice(0, -1)) assert.equal(s.error, undefined);
    const last = steps[steps.length - 1];
    switch (v.target) {
      case "gateway_handshake": {
        const rng = replay(v.gateway_random_draws);
        const keys = v.gateway_config.keys.map((k: string) => {
          assert.equal(k, "static_key");
          return STATIC;
        });
        const s = new ServerHandshake({
          keys,
          suites: v.gateway_config.suites.map(suiteOf),
          allowAnonymous: v.gateway_config.allow_anonymous,
          random: rng.random,
        });
        // Step 0 is a ClientHello, step 1 (if any) a ClientFinished.
        assert.ok(steps.length <= 2);
        if (steps.length === 2) {
          assert.equal(toHex(s.receiveClientHello(fromHex(steps[0].input))), steps[0].output);
        }
        const input = fromHex(last.input);
        assert.equal(
          errorOf(() =>
            steps.length === 1 ? s.receiveClientHello(input) : s.receiveClientFinished(input)
          ),
          v.error,
        );
        rng.done();
        assert.equal(s.state, "closed");
        break;
      }
      case "client_handshake": {
        const rng = replay(v.client_random_draws);
        const c = new ClientHandshake({
          random: rng.random,
          suites: v.client_config.suites.map(suiteOf),
          server: { keyId: fromHex(v.client_config.pinned_key_id), publicKey: STATIC.publicKey },
        });
        assert.equal(steps[0].call, "start");
        assert.equal(toHex(c.start()), steps[0].output);
        assert.equal(steps.length, 2);
        assert.equal(errorOf(() => c.receiveServerHello(fromHex(last.input))), v.error);
        rng.done();
        assert.equal(c.state, "closed");
        break;
      }
      case "record_receiver": {
        const r = v.receiver;
        assert.equal(r.role, "gateway");
        const layer = new RecordLayer({
          role: "server",
          keys: keysFor(suiteOf(r.suite), fromHex(r.rx_secret_0), new Uint8Array(32).fill(1)),
          now: NOW,
        });
        for (const st of steps.slice(0, -1)) {
          const pt = layer.open(fromHex(st.input), NOW);
          assert.equal(toHex(pt), st.output);
          const frames = decodeFrames(pt);
          if (frames[frames.length - 1].type === "key_update") layer.updateRx();
        }
        assert.equal(errorOf(() => layer.open(fromHex(last.input), NOW)), v.error);
        // Fatal: the receive direction stays failed with the same code.
        assert.equal(errorOf(() => layer.open(fromHex(steps[0].input), NOW)), v.error);
        break;
      }
      default:
        assert.fail(`unknown target ${v.target}`);
    }
  });
}

// ------------------------------------------------------------------------------------------
// Determinism

Deno.test("vectors: the generator is deterministic and the committed files are its exact output", async () => {
  const a = generateVectors();
  const b = generateVectors();
  assert.deepEqual(Object.keys(a).sort(), [...VECTOR_FILES].sort());
  for (const name of VECTOR_FILES) {
    assert.equal(a[name], b[name], `${name}: two in-process runs differ`);
    assert.ok(a[name].endsWith("}\n"), `${name}: trailing newline`);
  }
  // In-process writer, into a temp dir.
  const tmp = await Deno.makeTempDir({ prefix: "pqgate-vectors-" });
  try {
    writeVectors(tmp);
    // The CLI, as `deno task vectors` runs it, into another temp dir.
    const cliDir = `${tmp}/cli`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./generate.ts", import.meta.url).pathname, "--out", cliDir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    for (const name of VECTOR_FILES) {
      const committed = Deno.readFileSync(new URL(name, DIR));
      for (const file of [`${tmp}/${name}`, `${cliDir}/${name}`]) {
        const fresh = Deno.readFileSync(file);
        assert.equal(
          fresh.length,
          committed.length,
          `${file}: length differs from committed ${name}`,
        );
        assert.ok(
          fresh.every((x, i) => x === committed[i]),
          `${file}: bytes differ from committed ${name}`,
        );
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("vectors: the PROTOCOL.md worked example quotes the first handshake vector", () => {
  const doc = Deno.readTextFileSync(new URL("../../PROTOCOL.md", import.meta.url));
  const start = doc.indexOf("## Appendix A. Worked example");
  assert.ok(start >= 0, "PROTOCOL.md has the worked-example appendix");
  const appendix = doc.slice(start);
  const v = HS.vectors[0];
  assert.equal(v.name, "pinned-aes256gcm");
  const ks = v.key_schedule;
  const ch: string = v.messages.client_hello;
  const quoted = [
    HS.static_key.seed,
    HS.static_key.key_id,
    HS.static_key.pin,
    ch.slice(0, 96) + "\n" + ch.slice(96, 128), // the first 64 bytes, as printed
    ch.slice(16, 48), // client_random, first half (field-by-field listing)
    v.fields.server_random,
    v.fields.server_finished,
    v.fields.client_finished,
    ks.ss_S,
    ks.ss_E,
    ks.th1,
    ks.th2,
    ks.c_ap_0,
    ks.s_ap_0,
    ks.session_id,
    v.traffic.client_to_gateway.key,
    v.traffic.client_to_gateway.iv,
    REC.vectors[0].records[0].record.slice(0, 20),
  ];
  for (const q of quoted) assert.ok(appendix.includes(q), `appendix quotes ${q}`);
  assert.ok(appendix.includes(`(${v.messages.client_hello_len} bytes`));
  assert.ok(appendix.includes(`(${v.messages.server_hello_len} bytes`));
});

Deno.test("vectors: url_hello is the vector ClientHello in base64url in the upgrade URL (§1)", () => {
  const u = HS.url_hello;
  const v = HS.vectors.find((x: Json) => x.name === u.vector);
  // Independently of src/: standard base64 of the bytes, made URL-safe, padding dropped.
  const bytes = fromHex(v.messages.client_hello);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64url = btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  assert.equal(u.query, `pqgate_hello=${b64url}`);
  assert.equal(u.url, `${u.channel_url}?${u.query}`);
  assert.equal(u.query_length, u.query.length);
  assert.equal(u.sec_websocket_protocol, "pqgate, pqgate.hello");
  // A gateway reads back exactly the vector bytes and selects pqgate.hello.
  const r = helloFromUpgrade(u.url, u.sec_websocket_protocol);
  assert.equal(r.kind, "url");
  if (r.kind === "url") assert.equal(toHex(r.hello), v.messages.client_hello);
  assert.equal(r.kind === "url" ? r.protocol : null, u.selected_protocol);
  // Longer than any ClientHello → refused before the upgrade (414); malformed → empty message.
  const long = `${u.channel_url}?pqgate_hello=${"A".repeat(MAX_HELLO_PARAM_LEN + 1)}`;
  assert.equal(helloFromUpgrade(long, u.sec_websocket_protocol).kind, "refuse");
  const bad = helloFromUpgrade(`${u.channel_url}?pqgate_hello=${b64url}=`, "pqgate.hello");
  assert.equal(bad.kind === "url" ? bad.hello.length : -1, 0);
  assert.deepEqual(helloFromUpgrade(u.url, "pqgate"), { kind: "message", protocol: "pqgate" });
});

// ------------------------------------------------------------------------------------------
// client-auth.json (PROTOCOL.md §3.4.1, §3.4.2, §6.7, §6.8)

const CA: Json = load("client-auth.json");

const helloAuth = (v: Json) =>
  v.client_auth.method === "psk"
    ? { psk: fromHex(v.client_auth.psk), identity: v.client_auth.identity }
    : { method: v.client_auth.method };

for (const v of CA.handshakes as Json[]) {
  Deno.test(`vectors: client-auth handshake ${v.name} replays byte for byte`, () => {
    const pinned = v.auth_mode === "pinned";
    const crng = replay(v.client_random_draws);
    const srng = replay(v.gateway_random_draws);
    const auth = helloAuth(v);
    const client = new ClientHandshake({
      random: crng.random,
      suites: v.client_config.suites.map(suiteOf),
      auth,
      ...(pinned ? { server: { keyId: STATIC.keyId, publicKey: STATIC.publicKey } } : {}),
    });
    const server = new ServerHandshake({
      keys: [STATIC],
      suites: v.gateway_config.suites.map(suiteOf),
      allowAnonymous: true,
      random: srng.random,
      psk: (id) => ("psk" in auth && id === auth.identity ? auth.psk ?? null : null),
    });
    const ch = client.start();
    assert.equal(toHex(ch), v.messages.client_hello);
    const sh = server.receiveClientHello(ch);
    assert.equal(toHex(sh), v.messages.server_hello);
    const { clientFinished, keys } = client.receiveServerHello(sh);
    assert.equal(toHex(clientFinished), v.messages.client_finished);
    const skeys = server.receiveClientFinished(clientFinished);
    assert.equal(toHex(keys.exporterSecret), v.key_schedule.exp);
    assert.equal(toHex(skeys.clientSecret), v.key_schedule.c_ap_0);
    assert.deepEqual(
      server.clientAuth,
      "psk" in auth ? { method: "psk", identity: auth.identity } : { method: auth.method },
    );
    crng.done();
    srng.done();
  });
}

Deno.test("vectors: client-auth frames decode to their fields and re-encode byte for byte", () => {
  for (const f of CA.frames as Json[]) {
    const [frame] = decodeFrames(fromHex(f.frame));
    if (frame.type === "auth") {
      assert.equal(frame.auth.method, f.method);
      assert.equal(toHex(frame.auth.binding), f.binding);
    } else {
      assert.equal(frame.type, "auth_result");
      if (frame.type === "auth_result") {
        assert.deepEqual(frame.result, {
          status: f.status,
          retryAfterMs: f.retry_after_ms,
          subject: f.subject,
        });
      }
    }
  }
});

for (const n of CA.negative as Json[]) {
  Deno.test(`vectors: client-auth negative ${n.name} → ${n.error}`, () => {
    assert.equal(n.close_code, CLOSE_CODES[n.error as ErrorCode]);
    switch (n.target) {
      case "client_handshake": {
        const v = (CA.handshakes as Json[]).find((h) => h.name === n.from_handshake);
        const crng = replay(v.client_random_draws);
        const srng = replay(n.gateway_random_draws);
        const c = new ClientHandshake({
          random: crng.random,
          suites: v.client_config.suites.map(suiteOf),
          auth: helloAuth(v),
          server: { keyId: STATIC.keyId, publicKey: STATIC.publicKey },
        });
        assert.equal(toHex(c.start()), n.client_hello);
        const gatewayPsk = n.gateway_psk === null ? null : fromHex(n.gateway_psk);
        const g = new ServerHandshake({
          keys: [STATIC],
          suites: v.gateway_config.suites.map(suiteOf),
          random: srng.random,
          psk: () => gatewayPsk,
        });
        assert.equal(toHex(g.receiveClientHello(fromHex(n.client_hello))), n.server_hello);
        assert.equal(errorOf(() => c.receiveServerHello(fromHex(n.server_hello))), n.error);
        crng.done();
        srng.done();
        break;
      }
      case "client_hello_decoder":
        assert.equal(
          errorOf(() =>
            new ServerHandshake({ keys: [STATIC], random: () => new Uint8Array(0) })
              .receiveClientHello(fromHex(n.input))
          ),
          n.error,
        );
        break;
      case "frame_decoder":
        assert.equal(errorOf(() => decodeFrames(fromHex(n.input))), n.error);
        break;
      default:
        assert.fail(`unknown target ${n.target}`);
    }
  });
}
