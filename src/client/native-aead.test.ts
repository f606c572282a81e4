/**
 * The client's AEAD selection on Deno (node:crypto there): both suites get a backend that
 * interoperates with noble byte for byte, once per process; a channel reports what it uses, and
 * `crypto: "noble"` keeps noble.
 */
import assert from "node:assert/strict";
import { aes256gcm, chacha20poly1305 } from "../protocol/aead.ts";
import { SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305 } from "../protocol/constants.ts";
import { createGateway } from "../gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import { serveDeno } from "../transport/deno/serve.ts";
import { connect } from "./channel.ts";
import { clientAeads } from "./native-aead.ts";

Deno.test("client aead: node:crypto on Deno, after its self-test; the same bytes as noble", async () => {
  const sel = await clientAeads();
  assert.equal(await clientAeads(), sel, "selected once per process");
  for (
    const [suite, noble, alg] of [
      [SUITE_XWING_AES256GCM, aes256gcm, "aes-256-gcm"],
      [SUITE_XWING_CHACHA20POLY1305, chacha20poly1305, "chacha20-poly1305"],
    ] as const
  ) {
    const a = sel.aead(suite);
    assert.match(sel.report[alg], /^(node:crypto|noble)/);
    // Deno has both in node:crypto, several times faster than noble (docs/benchmarks.md).
    assert.match(a.name, /node:crypto/, `${alg}: ${sel.report[alg]}`);
    const key = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const aad = new Uint8Array([1, 2, 3]);
    const pt = crypto.getRandomValues(new Uint8Array(16_000));
    const ct = a.seal(key, nonce, aad, pt);
    assert.deepEqual(ct, noble.seal(key, nonce, aad, pt));
    assert.deepEqual(noble.open(key, nonce, aad, ct), pt);
    ct[5] ^= 1;
    assert.equal(a.open(key, nonce, aad, ct), null);
  }
});

Deno.test("client aead: a channel uses the selected backend; crypto: noble keeps noble", async () => {
  const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
  const server = serveDeno({
    gateway: createGateway({ keys: key }),
    port: 0,
    hostname: "127.0.0.1",
  });
  const url = server.url.replace(/^http/, "ws") + "/pqgate";
  try {
    for (
      const [mode, expect] of [["auto", /node:crypto/], ["noble", /^(?!.*node:crypto)/]] as const
    ) {
      const ch = await connect(url, { pin: pinFor(key.publicKey), crypto: mode });
      try {
        const big = "x".repeat(200_000);
        const r = await ch.fetch("https://demo/api/echo", { method: "POST", body: big });
        assert.equal(r.status, 200);
        assert.ok((await r.text()).includes(big.slice(0, 1000)));
        assert.match(ch.aeadBackend ?? "", expect, `${mode}: ${ch.aeadBackend}`);
      } finally {
        ch.close();
      }
    }
  } finally {
    await server.shutdown();
  }
});
