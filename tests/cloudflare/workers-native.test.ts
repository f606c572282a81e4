/**
 * The Worker in a workerd WITH native ML-KEM: the pinned Miniflare driving the workerd
 * 1.20261117.1 binary of the `workerd-native-linux-64` optional dependency (see miniflare.ts),
 * with wrangler.toml's flags plus `webcrypto_modern_algorithms`. The fallback path (no WebCrypto
 * ML-KEM, noble) stays covered by every other Workers test on the pinned miniflare.
 *
 * Checks: the backend selection inside that workerd (at isolate start-up) picks WebCrypto
 * ML-KEM; a pinned-key handshake and requests through the Worker's Durable Object succeed; and
 * the output equals the noble (pinned workerd) Worker's wherever determinism allows — the same
 * response bytes for the same requests, and ServerHellos of identical shape (the ML-KEM
 * encapsulation randomness and server_random are fresh per handshake by design).
 */
import assert from "node:assert/strict";
import WS from "ws";
import { Channel } from "../../src/client/mod.ts";
import { generateStaticKey } from "../../src/protocol/static-keys.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import { seededRandom } from "../../src/protocol/testing.ts";
import { nativeWorkerdPath, startWorker, workerdVersion, type WorkerHarness } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const KEY = generateStaticKey(SEED);
const opts = { sanitizeOps: false, sanitizeResources: false };

async function exchange(w: WorkerHarness) {
  const ch = new Channel(w.url.replace(/^http/, "ws") + "pqgate", {
    publicKey: KEY.publicKey,
    keyId: KEY.keyId,
    WebSocket: WS,
  });
  try {
    const a = await ch.fetch("https://demo/api/items");
    const items = new Uint8Array(await a.arrayBuffer());
    const body = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const b = await ch.fetch("https://demo/api/echo", { method: "POST", body });
    const echo = new Uint8Array(await b.arrayBuffer());
    return { status: [a.status, b.status], items, echo, body };
  } finally {
    ch.close();
  }
}

/** ServerHello for a seeded ClientHello, read off a raw WebSocket. */
async function serverHello(w: WorkerHarness): Promise<Uint8Array> {
  const c = new ClientHandshake({ server: KEY, random: seededRandom("native shape") });
  const ws = new WS(w.url.replace(/^http/, "ws") + "pqgate");
  ws.binaryType = "arraybuffer";
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  const got = new Promise<ArrayBuffer>((
    r,
  ) => (ws.onmessage = (e: { data: ArrayBuffer }) => r(e.data)));
  ws.send(c.start());
  const sh = new Uint8Array(await got);
  c.receiveServerHello(sh); // verifies the gateway's Finished: throws if the keys disagree
  ws.close();
  return sh;
}

// The native workerd is a linux-x64 optional dependency: elsewhere this test is skipped, except
// under CI=true, where its absence is a failure.
const haveNative = nativeWorkerdPath() !== null;
Deno.test({
  name: `cf workers native ML-KEM (workerd ${
    haveNative ? workerdVersion("native") : "not installed"
  }): WebCrypto ML-KEM selected, handshake and requests match noble`,
  ...opts,
  ignore: !haveNative && Deno.env.get("CI") !== "true",
  fn: async () => {
    const keys = JSON.stringify([toBase64Url(SEED)]);
    const native = await startWorker({ keys, runtime: "native", vars: { PQGATE_CRYPTO: "auto" } });
    const noble = await startWorker({ keys, runtime: "pinned", vars: { PQGATE_CRYPTO: "noble" } });
    try {
      const h = await (await fetch(native.url + "healthz")).json() as {
        crypto?: { mlkem: string; x25519: string };
      };
      assert.equal(h.crypto?.mlkem, "WebCrypto (native)", JSON.stringify(h));
      const hn = await (await fetch(noble.url + "healthz")).json() as {
        crypto?: { mlkem: string };
      };
      assert.equal(hn.crypto?.mlkem, "noble");

      const [x, y] = [await exchange(native), await exchange(noble)];
      assert.deepEqual(x.status, [200, 200]);
      assert.deepEqual(x.status, y.status);
      assert.deepEqual(x.items, y.items);
      assert.deepEqual(x.echo, x.body);
      assert.deepEqual(x.echo, y.echo);

      const [sa, sb] = [await serverHello(native), await serverHello(noble)];
      assert.equal(sa.length, sb.length);
      assert.deepEqual(sa.subarray(0, 4), sb.subarray(0, 4)); // type, version, suite
    } finally {
      await native.close();
      await noble.close();
    }
  },
});
