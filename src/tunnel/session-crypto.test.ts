/**
 * ServerSession with the fast crypto backends (src/crypto): the per-connection KEM's async
 * `prepareServer` hop before the sync core, messages held during the hop and replayed in
 * order, and the `aead` option reaching the record layer (also after `resume`).
 */
import assert from "node:assert/strict";
import { selectBackends } from "../crypto/select.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import { xwingNoble } from "../protocol/kem.ts";
import { seededRandom } from "../protocol/testing.ts";
import type { Aead, HybridKem } from "../protocol/types.ts";
import { aeadForSuite } from "../protocol/aead.ts";
import { memorySocketPair } from "./memory-socket.ts";
import { ServerSession } from "./server-session.ts";
import {
  echoHandler,
  ManualClock,
  readAll,
  startPair,
  TEST_KEY,
  TEST_LIMITS,
  testEnv,
  waitFor,
  wireServer,
} from "./testing.ts";

const never = () => new Promise<Response>(() => {});

Deno.test("prepared native KEM + selected AEADs: handshake and a request through the session", async () => {
  const b = await selectBackends({ staticKeys: [TEST_KEY], timeAead: false });
  const kem = b.forConnection() as ReturnType<typeof b.forConnection> & {
    used?: { decapsulate: number; encapsulate: number };
  };
  const suitesSeen: string[] = [];
  const aead = (s: Parameters<typeof b.aead>[0]) => {
    suitesSeen.push(b.aead(s).name);
    return b.aead(s);
  };
  const p = startPair({ server: { kem, aead } });
  await p.client.ready;
  await waitFor(() => p.server.state === "established", 2000, "established");
  if (b.report.prepared) {
    // The native halves were really used (else the sync path computed them).
    assert.deepEqual(kem.used, { decapsulate: 1, encapsulate: 1 });
  }
  assert.equal(suitesSeen.length, 1);
  const r = await p.client.fetch(
    new Request("https://a.example/x", { method: "POST", body: "hi" }),
  );
  assert.equal(r.status, 200);
  assert.equal(new TextDecoder().decode(await readAll(r.body)), "hi");
});

/** A KEM whose prepareServer waits for the test to release it (or rejects). */
function gatedKem(mode: "resolve" | "reject" | "throw") {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const calls: string[] = [];
  const kem: HybridKem & { prepareServer(ch: Uint8Array): Promise<void> } = {
    name: "gated noble",
    keygen: (s) => xwingNoble.keygen(s),
    encapsulate: (pk, e) => {
      calls.push("encapsulate");
      return xwingNoble.encapsulate(pk, e);
    },
    decapsulate: (ct, sk) => {
      calls.push("decapsulate");
      return xwingNoble.decapsulate(ct, sk);
    },
    prepareServer(_ch: Uint8Array): Promise<void> {
      calls.push("prepare");
      if (mode === "throw") throw new Error("sync failure in prepare");
      return gate.then(() => {
        if (mode === "reject") throw new Error("prepare failed");
      });
    },
  };
  return { kem, release, calls };
}

Deno.test("messages arriving during the prepare hop are held and replayed in order; never throws", async () => {
  for (const mode of ["resolve", "reject", "throw"] as const) {
    const clock = new ManualClock();
    const [cs, ss] = memorySocketPair();
    const g = gatedKem(mode);
    const server = new ServerSession({
      socket: ss,
      keys: [TEST_KEY],
      env: testEnv("prep " + mode, clock),
      limits: TEST_LIMITS,
      handler: never,
      kem: g.kem,
    });
    const got: Uint8Array[] = [];
    cs.onmessage = (m) => got.push(m as Uint8Array);
    let closed: number | null = null;
    cs.onclose = (c) => (closed = c);
    const hs = new ClientHandshake({
      server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
      random: seededRandom("prep client " + mode),
    });
    const ch = hs.start();
    const ret = server.receive(ch);
    assert.ok(ret instanceof Promise, "the ClientHello goes through the async hop");
    // A second message during the hop: held, then (after the ServerHello) processed as a
    // ClientFinished candidate, which it is not → protocol_error close after the ServerHello.
    assert.equal(server.receive(new Uint8Array([0x7f, 1, 2, 3])), undefined);
    if (mode !== "throw") {
      // (A prepareServer that throws synchronously ends the hop synchronously.)
      assert.equal(server.state, "start");
      assert.deepEqual(g.calls, ["prepare"]);
    }
    g.release();
    await ret; // never rejects
    await waitFor(() => closed !== null, 2000, "close");
    assert.equal(closed, 4011, `mode ${mode}: protocol_error close`);
    assert.ok(got.length >= 1 && got[0][0] === 0x02, "the ServerHello left before the close");
    assert.deepEqual(g.calls, ["prepare", "decapsulate", "encapsulate"]);
  }
});

Deno.test("prepare hop: a valid ClientFinished held during the hop completes the handshake", async () => {
  // Pipelining is not possible with a real client (ClientFinished needs the ServerHello), but
  // order is what matters: hold everything, replay after the ClientHello.
  const g = gatedKem("resolve");
  const p = startPair({ server: { kem: g.kem } });
  await waitFor(() => g.calls.length === 1, 2000, "prepare called");
  const extra = p.server.receive(new Uint8Array(0)); // held while the hop runs
  assert.equal(extra, undefined);
  g.release();
  // The held empty message is replayed after the ServerHello: expected ClientFinished → close.
  await waitFor(() => p.ss.closed !== null, 2000, "close");
  assert.equal(p.ss.closed!.code, 4011);
});

Deno.test("the aead option reaches the record layer, also after resume", async () => {
  let used = 0;
  const counting = (s: Parameters<typeof aeadForSuite>[0]): Aead => {
    const a = aeadForSuite(s);
    return {
      name: "counting " + a.name,
      seal: (k, n, ad, pt) => (used++, a.seal(k, n, ad, pt)),
      open: (k, n, ad, ct) => (used++, a.open(k, n, ad, ct)),
    };
  };
  let snapshot: Uint8Array | null = null;
  const p = startPair({
    server: { aead: counting, persist: (s) => (snapshot = s.slice()) },
  });
  await p.client.ready;
  const r = await p.client.fetch(new Request("https://a.example/"));
  await r.arrayBuffer();
  assert.ok(used > 0);
  assert.ok(snapshot);
  const before = used;
  const resumed = ServerSession.resume(snapshot!, {
    socket: p.ss,
    keys: [TEST_KEY],
    env: testEnv("resumed", p.clock),
    limits: TEST_LIMITS,
    handler: echoHandler,
    persist: (s) => (snapshot = s.slice()),
    aead: counting,
  });
  assert.equal(resumed.state, "established");
  wireServer(resumed, p.ss); // the old session gets nothing more
  const r2 = await p.client.fetch(new Request("https://a.example/2"));
  assert.equal(r2.status, 200);
  await r2.arrayBuffer();
  assert.ok(used > before, "the resumed session opens and seals with the given AEAD");
  resumed.shutdown();
});
