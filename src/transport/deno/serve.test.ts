import assert from "node:assert/strict";
import { connect } from "../../client/mod.ts";
import { createGateway } from "../../gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../protocol/static-keys.ts";
import { addressKey, serveDeno } from "./serve.ts";
import { rawUpgrade, waitFor } from "./testing.ts";

const key = generateStaticKey(new Uint8Array(32).fill(3));

Deno.test({
  name: "serveDeno: aborting the signal closes every channel with 1001, then the server stops",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ac = new AbortController();
    const gateway = createGateway({ keys: key });
    const server = serveDeno({ gateway, port: 0, signal: ac.signal });
    const ws = `${server.url.replace(/^http/, "ws")}/pqgate`;
    const ch = await connect(ws, { pin: pinFor(key.publicKey) });
    assert.equal((await ch.fetch("https://demo/api/hello")).status, 200);
    assert.equal(server.transport.sessionCount, 1);

    // A second, raw socket still in its handshake.
    const raw = new WebSocket(ws);
    await new Promise((r) => (raw.onopen = r));
    const rawClosed = new Promise<number>((r) => (raw.onclose = (e) => r(e.code)));
    assert.equal(server.transport.sessionCount, 2);

    ac.abort();
    await server.finished;
    assert.equal(await rawClosed, 1001);
    assert.equal(ch.connected, false);
    assert.equal(server.transport.sessionCount, 0);
    await assert.rejects(fetch(`${server.url}/healthz`));
    ch.close();
  },
});

Deno.test({
  name: "serveDeno: validates its gateway option and reports the bound address",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.throws(() => serveDeno({ gateway: {} as never }), /options\.gateway must be a gateway/);
    const server = serveDeno({ gateway: createGateway({ keys: key }), port: 0 });
    try {
      assert.equal(server.addr.hostname, "127.0.0.1");
      assert.ok(server.addr.port > 0);
      assert.equal(server.url, `http://127.0.0.1:${server.addr.port}`);
      const kc = await (await fetch(`${server.url}/.well-known/pqgate`)).json();
      assert.equal(kc.keys[0].pin, pinFor(key.publicKey));
    } finally {
      await server.shutdown();
      await server.shutdown(); // idempotent
    }
  },
});

Deno.test("addressKey: IPv4 as is, IPv6 per /64, IPv4-mapped as IPv4", () => {
  assert.equal(addressKey("192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:DB8:1:2::9"), "2001:db8:1:2::/64");
  assert.equal(addressKey("[2001:db8:1:2::9]"), "2001:db8:1:2::/64");
  assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(addressKey("::ffff:198.51.100.4"), "198.51.100.4");
  assert.equal(addressKey("0:0:0:0:0:ffff:198.51.100.4"), "198.51.100.4");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(addressKey(null), null);
  assert.equal(addressKey(""), null);
});

Deno.test("serveDeno: per-address limit options are validated, naming the option", () => {
  const gateway = createGateway({ keys: key });
  for (
    const [opt, v] of [["maxChannelsPerAddress", -1], ["maxHandshakesPerAddressPerMinute", 1.5], [
      "maxChannelsPerAddress",
      "10",
    ]] as const
  ) {
    assert.throws(
      () => serveDeno({ gateway, port: 0, [opt]: v } as never),
      new RegExp(
        `serveDeno: options\\.${opt} must be an integer from 0 \\(no limit\\) to 4294967295`,
      ),
    );
  }
});

/**
 * Opens a WebSocket and reports how it went: "open" (still open after `ms`) or, for an upgrade
 * refused before the upgrade, "HTTP <status> retry-after <s>".
 */
async function probe(
  url: string,
  ms = 1000,
): Promise<{ ws: WebSocket | null; result: Promise<string> }> {
  const r = await rawUpgrade(url);
  if (r.status !== 101) {
    r.conn.close();
    return {
      ws: null,
      result: Promise.resolve(`HTTP ${r.status} retry-after ${r.headers.get("retry-after")}`),
    };
  }
  r.conn.close();
  const ws = new WebSocket(url);
  const result = new Promise<string>((resolve) => {
    let t: ReturnType<typeof setTimeout> | undefined;
    ws.onopen = () => (t = setTimeout(() => resolve("open"), ms));
    ws.onerror = () => {};
    ws.onclose = (e) => {
      clearTimeout(t);
      resolve(`closed ${e.code}`);
    };
  });
  return { ws, result };
}

Deno.test({
  name:
    "serveDeno: per-address limits answer HTTP 429 before the upgrade; the bucket refills on the gateway clock",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let now = 1_700_000_000_000;
    const logs: string[] = [];
    const gateway = createGateway({
      keys: key,
      env: { now: () => now, random: (n) => crypto.getRandomValues(new Uint8Array(n)) },
      log: (event) => logs.push(event),
    });
    // Each probe takes two handshake tokens of the bucket when admitted (the raw status check,
    // then the WebSocket): a bucket of 6 is 3 probes.
    const server = serveDeno({
      gateway,
      port: 0,
      maxChannelsPerAddress: 2,
      maxHandshakesPerAddressPerMinute: 6,
    });
    const ws = `${server.url.replace(/^http/, "ws")}/pqgate`;
    const settle = () => waitFor(() => server.transport.sessionCount === 0, 3000);
    const closeAll = async (list: (WebSocket | null)[]) => {
      const open = list.filter((w): w is WebSocket =>
        w !== null && w.readyState !== WebSocket.CLOSED
      );
      const closed = open.map((w) =>
        new Promise((r) => w.addEventListener("close", r, { once: true }))
      );
      for (const w of open) w.close();
      await Promise.all(closed);
      await settle();
    };
    try {
      const a = await probe(ws, 300);
      assert.equal(await a.result, "open");
      await settle(); // a's raw status check is gone
      const b = await probe(ws, 300);
      assert.equal(await b.result, "open");
      // Two open: the third is refused by the channel limit, before any upgrade.
      const c = await probe(ws);
      assert.equal(await c.result, "HTTP 429 retry-after 5");
      await closeAll([a.ws, b.ws]);
      // Two tokens left of 6: one more probe.
      const d = await probe(ws, 200);
      assert.equal(await d.result, "open");
      await closeAll([d.ws]);
      const e = await probe(ws);
      assert.equal(await e.result, "HTTP 429 retry-after 10"); // bucket empty: one token per 10 s
      // 20 s on the gateway clock = two tokens (6 per minute).
      now += 20_000;
      const f = await probe(ws, 200);
      assert.equal(await f.result, "open");
      await closeAll([f.ws]);
      const g = await probe(ws);
      assert.equal(await g.result, "HTTP 429 retry-after 10");
      assert.equal(logs.filter((l) => l === "transport.rate_limited").length, 1);
      now += 60_000;
      const h = await probe(ws, 200);
      assert.equal(await h.result, "open");
      await closeAll([h.ws]);
      assert.equal(server.transport.trackedAddresses, 1); // its bucket is not full yet
      now += 60_000;
      assert.equal(server.transport.sessionCount, 0);
      assert.equal(server.transport.trackedAddresses, 0);
    } finally {
      await server.shutdown();
    }
  },
});
