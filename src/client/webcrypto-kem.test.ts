/**
 * The client's native WebCrypto X-Wing (webcrypto-kem.ts: src/crypto's WebCryptoXWing in the
 * client role, PreparedClientXWing) through the client's handshake, session and Channel. Deno 2.9
 * has WebCrypto ML-KEM-768 and X25519, so the native path really runs here. The self-test and
 * the X-Wing itself: src/crypto/xwing-webcrypto.test.ts and self-test.test.ts.
 */
import { fakeWebSocket, gatewayEnd } from "./testing.ts";
import assert from "node:assert/strict";
import { fromHex, toHex } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import { ServerHandshake } from "../protocol/handshake-server.ts";
import { decodeClientHello, decodeServerHello } from "../protocol/hello.ts";
import { xwingNoble } from "../protocol/kem.ts";
import { seededRandom } from "../protocol/testing.ts";
import type { HybridKem, SessionKeys } from "../protocol/types.ts";
import { selectBackends } from "../crypto/select.ts";
import {
  ClientSession,
  prepareClientHello,
  prepareClientHelloAsync,
} from "../tunnel/client-session.ts";
import { memorySocketPair } from "../tunnel/memory-socket.ts";
import { ManualClock, settle, startPair, TEST_KEY, testEnv } from "../tunnel/testing.ts";
import { connect, type ConnectOptions } from "./channel.ts";
import { PreparedClientXWing } from "../crypto/xwing-webcrypto-client.ts";
import { nativeClientXWing, nativeClientXWingFallbackReason } from "./webcrypto-kem.ts";

const VECTORS: { seed: string; pk: string; eseed: string; ct: string; ss: string }[] = JSON.parse(
  await Deno.readTextFile(new URL("../../tests/vectors/xwing-draft.json", import.meta.url)),
).vectors;
const SERVER = { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey };

async function native(): Promise<PreparedClientXWing> {
  const k = await nativeClientXWing();
  assert.ok(k, `native client X-Wing unavailable: ${nativeClientXWingFallbackReason()}`);
  return k;
}

function sameKeys(a: SessionKeys, b: SessionKeys): void {
  assert.equal(a.suite, b.suite);
  for (
    const f of [
      "clientSecret",
      "serverSecret",
      "exporterSecret",
      "sessionId",
      "transcriptHash",
    ] as const
  ) {
    assert.equal(toHex(a[f]), toHex(b[f]), f);
  }
}

/** One whole handshake: the client through the prepared (async) path when its kem can. */
async function handshake(
  clientKem: HybridKem | PreparedClientXWing,
  serverKem: HybridKem & { prepareServer?(ch: Uint8Array): Promise<void> },
  label: string,
) {
  const random = seededRandom(`client ${label}`);
  const p = clientKem instanceof PreparedClientXWing
    ? await prepareClientHelloAsync({ server: SERVER, kem: clientKem, random })
    : prepareClientHello({ server: SERVER, kem: clientKem, random });
  const server = new ServerHandshake({
    kem: serverKem,
    keys: [TEST_KEY],
    random: seededRandom(`server ${label}`),
  });
  await serverKem.prepareServer?.(p.clientHello);
  const sh = server.receiveClientHello(p.clientHello);
  if (clientKem instanceof PreparedClientXWing) await clientKem.prepareServerHello(sh);
  const c = p.handshake.receiveServerHello(sh);
  const s = server.receiveClientFinished(c.clientFinished);
  sameKeys(c.keys, s);
  return { clientHello: p.clientHello, serverHello: sh, keys: c.keys };
}

Deno.test("Deno: the self-test picks native ML-KEM and native X25519, once per process", async () => {
  const a = await native(), b = await native();
  assert.equal(a.name, "X-Wing (ML-KEM WebCrypto, X25519 WebCrypto)");
  assert.equal(nativeClientXWingFallbackReason(), null);
  assert.notEqual(a, b, "a fresh KEM per connection");
});

Deno.test("draft vectors: native keygen = pk; native decapsulation of the vector ct = ss; prepared encapsulation decapsulates to its ss", async () => {
  for (const v of VECTORS) {
    const seed = fromHex(v.seed), pk = fromHex(v.pk), eseed = fromHex(v.eseed), ct = fromHex(v.ct);
    const k = await native();
    await k.prepareClient({ seed, serverPublicKey: pk, eseed });
    const kp = k.keygen(seed);
    assert.equal(toHex(kp.publicKey), v.pk);
    assert.equal(toHex(kp.secretKey), v.seed);
    const enc = k.encapsulate(pk, eseed);
    // WebCrypto draws the ML-KEM message itself: only the X25519 half of ct follows eseed.
    assert.equal(toHex(enc.cipherText.subarray(1088)), v.ct.slice(1088 * 2));
    assert.equal(toHex(xwingNoble.decapsulate(enc.cipherText, seed)), toHex(enc.sharedSecret));
    // Decapsulation of the vector ciphertext (through a ServerHello carrying it).
    const sh = fakeServerHello(ct);
    await k.prepareServerHello(sh);
    assert.equal(toHex(k.decapsulate(ct, seed)), v.ss);
    assert.deepEqual(k.used, { keygen: 1, encapsulate: 1, decapsulate: 1 });
  }
});

/** A ServerHello-shaped message carrying `ctE` (only decoded, never verified, by prepareServerHello). */
function fakeServerHello(ctE: Uint8Array): Uint8Array {
  const real = new ServerHandshake({ keys: [TEST_KEY], random: seededRandom("fake sh") })
    .receiveClientHello(
      prepareClientHello({ server: SERVER, random: seededRandom("fake ch") }).clientHello,
    );
  const sh = new Uint8Array(real);
  sh.set(ctE, 4 + 32); // type, version, suite, server_random
  assert.equal(toHex(decodeServerHello(sh).ctE), toHex(ctE));
  return sh;
}

Deno.test("native decapsulation = noble's for a tampered ciphertext (implicit rejection); low-order ct_X → same error as noble", async () => {
  const seed = seededRandom("tamper")(32);
  const { publicKey } = xwingNoble.keygen(seed);
  const { cipherText } = xwingNoble.encapsulate(publicKey, seededRandom("tamper e")(64));
  for (const i of [0, 500, 1087]) {
    const bad = new Uint8Array(cipherText);
    bad[i] ^= 1;
    const k = await native();
    await k.prepareClient({ seed, serverPublicKey: null, eseed: null });
    assert.equal(toHex(k.keygen(seed).publicKey), toHex(publicKey));
    await k.prepareServerHello(fakeServerHello(bad));
    assert.equal(toHex(k.decapsulate(bad, seed)), toHex(xwingNoble.decapsulate(bad, seed)));
    assert.equal(k.used.decapsulate, 1);
  }
  const low = new Uint8Array(cipherText);
  low.fill(0, 1088); // ct_X = 0: low order
  const k = await native();
  await k.prepareClient({ seed, serverPublicKey: null, eseed: null });
  await k.prepareServerHello(fakeServerHello(low)); // prepares nothing
  assert.throws(
    () => k.decapsulate(low, seed),
    (e) => e instanceof PqgateError && e.code === "handshake_failed",
  );
  assert.throws(
    () => xwingNoble.decapsulate(low, seed),
    (e) => e instanceof PqgateError && e.code === "handshake_failed",
  );
  assert.equal(k.used.decapsulate, 0);
});

Deno.test("invalid server keys: nothing prepared, the same PqgateError as noble", async () => {
  const eseed = seededRandom("bad pk e")(64);
  const modulus = new Uint8Array(TEST_KEY.publicKey);
  modulus[0] = 0xff;
  modulus[1] |= 0x0f; // first coefficient 4095 ≥ q
  const lowX = new Uint8Array(TEST_KEY.publicKey);
  lowX.fill(0, 1184); // pk_X = 0
  for (const pk of [modulus, lowX]) {
    const k = await native();
    await k.prepareClient({ seed: seededRandom("bad pk")(32), serverPublicKey: pk, eseed });
    let nobleErr: unknown, nativeErr: unknown;
    try {
      xwingNoble.encapsulate(pk, eseed);
    } catch (e) {
      nobleErr = e;
    }
    try {
      k.encapsulate(pk, eseed);
    } catch (e) {
      nativeErr = e;
    }
    assert.ok(nobleErr instanceof PqgateError && nativeErr instanceof PqgateError);
    assert.equal(nativeErr.code, nobleErr.code);
    assert.equal(nativeErr.message, nobleErr.message);
    assert.equal(k.used.encapsulate, 0);
  }
});

Deno.test("an input other than the prepared one runs noble (same result as xwingNoble)", async () => {
  const k = await native();
  const seed = seededRandom("other")(32);
  await k.prepareClient({
    seed,
    serverPublicKey: TEST_KEY.publicKey,
    eseed: seededRandom("other e")(64),
  });
  const other = seededRandom("other 2")(32), e2 = seededRandom("other e2")(64);
  assert.equal(toHex(k.keygen(other).publicKey), toHex(xwingNoble.keygen(other).publicKey));
  const a = k.encapsulate(TEST_KEY.publicKey, e2),
    b = xwingNoble.encapsulate(TEST_KEY.publicKey, e2);
  assert.equal(toHex(a.cipherText), toHex(b.cipherText));
  assert.equal(toHex(a.sharedSecret), toHex(b.sharedSecret));
  assert.deepEqual(k.used, { keygen: 0, encapsulate: 0, decapsulate: 0 });
});

Deno.test("interop: native client ↔ noble server, native client ↔ native server, noble client ↔ native server: same keys on both sides", async () => {
  const b = await selectBackends({ timeAead: false, staticKeys: [TEST_KEY] });
  const nativeServer = () => b.forConnection();
  assert.ok(b.report.prepared, "the server side has no native ML-KEM here");

  const k1 = await native();
  await handshake(k1, xwingNoble, "n-noble");
  assert.deepEqual(k1.used, { keygen: 1, encapsulate: 1, decapsulate: 1 });

  const k2 = await native();
  const sk = nativeServer();
  await handshake(k2, sk, "n-n");
  assert.deepEqual(k2.used, { keygen: 1, encapsulate: 1, decapsulate: 1 });
  assert.deepEqual((sk as unknown as { used: object }).used, { decapsulate: 1, encapsulate: 1 });

  await handshake(xwingNoble, nativeServer(), "noble-n");
});

Deno.test("prepared ClientHello = the all-noble one for the same seeded random, except the ML-KEM part of ct_S", async () => {
  const k = await native();
  const a = await prepareClientHelloAsync({ server: SERVER, kem: k, random: seededRandom("same") });
  const b = prepareClientHello({ server: SERVER, random: seededRandom("same") });
  assert.equal(a.clientHello.length, b.clientHello.length);
  const x = decodeClientHello(a.clientHello), y = decodeClientHello(b.clientHello);
  assert.equal(toHex(x.clientRandom), toHex(y.clientRandom));
  assert.equal(toHex(x.ekC), toHex(y.ekC)); // deterministic keygen
  assert.equal(toHex(x.keyId), toHex(y.keyId));
  assert.equal(toHex(x.ctS!.subarray(1088)), toHex(y.ctS!.subarray(1088))); // ct_X from eseed[32:64]
  assert.deepEqual(x.suites, y.suites);
  assert.deepEqual(k.used, { keygen: 1, encapsulate: 1, decapsulate: 0 });
  a.handshake.close();
  b.handshake.close();
});

Deno.test("anonymous mode: keygen prepared, no encapsulation", async () => {
  const k = await native();
  const p = await prepareClientHelloAsync({ kem: k, random: seededRandom("anon") });
  assert.equal(decodeClientHello(p.clientHello).ctS, null);
  assert.deepEqual(k.used, { keygen: 1, encapsulate: 0, decapsulate: 0 });
  p.handshake.close();
});

Deno.test("a failing random source fails exactly like the sync path", async () => {
  const k = await native();
  const bad = () => {
    throw new Error("no entropy");
  };
  const err = (f: () => unknown): unknown => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return null;
  };
  const syncErr = err(() => prepareClientHello({ server: SERVER, random: bad })) as PqgateError;
  await assert.rejects(
    prepareClientHelloAsync({ server: SERVER, kem: k, random: bad }),
    (e) => e instanceof PqgateError && e.code === syncErr.code && e.message === syncErr.message,
  );
  // Bad options are reported before anything async runs.
  await assert.rejects(
    prepareClientHelloAsync({
      server: { keyId: new Uint8Array(3), publicKey: TEST_KEY.publicKey },
      kem: k,
      random: seededRandom("x"),
    }),
    (e) => e instanceof PqgateError && e.code === "internal_error",
  );
  void ClientHandshake;
});

Deno.test("ClientSession with a prepared native hello: fetch works; messages during the async ServerHello step are held and replayed in order; receive never throws", async () => {
  const k = await native();
  const prepared = await prepareClientHelloAsync({
    server: SERVER,
    kem: k,
    random: seededRandom("session"),
  });
  const { client, server } = startPair({ client: { prepared }, label: "native session" });
  const r = await client.fetch(
    new Request("https://api.example/x", { method: "POST", body: "hi" }),
  );
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.deepEqual(k.used, { keygen: 1, encapsulate: 1, decapsulate: 1 });
  client.close();
  server.shutdown();
  await settle();

  // Hand-fed: the ServerHello and, right behind it, a text message (a protocol error). The text
  // message must be processed after the ServerHello, i.e. the handshake completes first.
  const k2 = await native();
  const p2 = await prepareClientHelloAsync({
    server: SERVER,
    kem: k2,
    random: seededRandom("held"),
  });
  const [cs] = memorySocketPair();
  const sent: Uint8Array[] = [];
  const origSend = cs.send.bind(cs);
  cs.send = (d: Uint8Array<ArrayBuffer>) => {
    sent.push(new Uint8Array(d));
    origSend(d);
  };
  const c = new ClientSession({
    socket: cs,
    prepared: p2,
    env: testEnv("held", new ManualClock()),
    server: SERVER,
  });
  c.start();
  const sh = new ServerHandshake({
    kem: xwingNoble,
    keys: [TEST_KEY],
    random: seededRandom("held s"),
  })
    .receiveClientHello(sent[0]);
  const pending = c.receive(sh);
  assert.ok(pending instanceof Promise);
  assert.equal(c.receive("oops"), undefined); // held
  assert.equal(c.state, "clientHelloSent");
  await pending;
  await c.ready; // the handshake completed first …
  assert.equal(c.state, "closed"); // … then the held text message closed it
  // ClientHello, ClientFinished, then a record with the CLOSE frame (established phase).
  assert.deepEqual(sent.map((m) => m[0]), [1, 3, 4]);
  assert.equal(c.closeInfo?.phase, "established");
  assert.deepEqual(k2.used, { keygen: 1, encapsulate: 1, decapsulate: 1 });
});

Deno.test("Channel: native by default on Deno, { crypto: 'noble' } forces noble, { kem } is used as is", async () => {
  const mk = (o: Partial<ConnectOptions>) =>
    connect("wss://gw.example/pqgate", {
      publicKey: TEST_KEY.publicKey,
      WebSocket: memoryWebSocket(),
      ...o,
    });
  const a = await mk({});
  assert.equal(a.kemBackend, "X-Wing (ML-KEM WebCrypto, X25519 WebCrypto)");
  assert.equal(await (await a.fetch("https://api.example/a")).text(), "GET https://api.example/a");
  a.close();
  const b = await mk({ crypto: "noble" });
  assert.equal(b.kemBackend, "X-Wing (noble)");
  assert.equal(await (await b.fetch("https://api.example/b")).text(), "GET https://api.example/b");
  b.close();
  const c = await mk({ kem: xwingNoble });
  assert.equal(c.kemBackend, "X-Wing (noble)");
  c.close();
  await settle();
});

/** A WebSocket class connected to an in-memory gateway session per instance. */
function memoryWebSocket() {
  return fakeWebSocket(
    gatewayEnd((req) => Promise.resolve(new Response(`${req.method} ${req.url}`))),
  )
    .WebSocket;
}

Deno.test("the client reaches only src/crypto's platform-neutral modules (no node:crypto, no gateway role)", async () => {
  const { importsOf } = await import("../../scripts/check-imports.ts");
  const root = new URL("../../", import.meta.url);
  const seen = new Set<string>();
  const pending = ["src/client/mod.ts"];
  while (pending.length) {
    const path = pending.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const source = await Deno.readTextFile(new URL(path, root));
    for (const spec of importsOf(source)) {
      if (spec.startsWith(".")) {
        pending.push(new URL(spec, new URL(path, root)).href.slice(root.href.length));
      } else assert.ok(!spec.startsWith("node:"), `${path} imports ${spec}`);
    }
  }
  assert.deepEqual([...seen].filter((p) => p.startsWith("src/crypto/")).sort(), [
    "src/crypto/primitives.ts",
    "src/crypto/self-test.ts",
    "src/crypto/xwing-webcrypto-client.ts",
    "src/crypto/xwing-webcrypto.ts",
  ]);
});
