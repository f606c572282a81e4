/**
 * Client authentication on Cloudflare Workers, in real workerd (Miniflare): the Worker as users
 * deploy it, configured with `wrangler secret put`-style bindings (PQGATE_PSKS,
 * PQGATE_TOKEN_SECRET) and PQGATE_AUTH, sessions in the Durable Object. The Free-plan methods
 * (docs/configuration.md §6): PSK and HS256 tokens; the origin sees the identity, forged
 * identity headers are dropped, a required route answers 401 and the channel goes on. Then
 * passwords (PQGATE_USERS): refused as a configuration error without the Argon2id module, and
 * verified with it (imported as a CompiledWasm module, as wrangler bundles it).
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { AuthError, connect } from "../../src/client/mod.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { channelUrl } from "../e2e/loopback.ts";
import { startRecordingOrigin } from "../e2e/recording-origin.ts";
import { startWorker } from "./miniflare.ts";

const SEED = new Uint8Array(32).map((_, i) => (i * 53 + 11) & 0xff);
const PIN = pinFor(generateStaticKey(SEED).publicKey);
const PSK = crypto.getRandomValues(new Uint8Array(32));
const SECRET = "workers-hs256-secret-at-least-32-bytes-long";

async function authError(p: Promise<unknown>): Promise<AuthError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AuthError, `not an AuthError: ${e}`);
    return e;
  }
  assert.fail("connected");
}

Deno.test({
  name: "cf workers: PSK and token client authentication from secrets; 401, identity headers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const origin = await startRecordingOrigin();
    const w = await startWorker({
      keys: JSON.stringify([toBase64Url(SEED)]),
      routes: [
        {
          match: { authority: "api.test", pathPrefix: "/open" },
          origin: origin.url,
          stripPrefix: true,
        },
        {
          match: { authority: "api.test", pathPrefix: "/private" },
          origin: origin.url,
          stripPrefix: true,
          auth: "required",
        },
      ],
      vars: {
        PQGATE_PSKS: `# fleet\nsensor-17:${toBase64Url(PSK)}\n`,
        PQGATE_TOKEN_SECRET: SECRET + "\n",
        PQGATE_AUTH: JSON.stringify({ token: { issuer: "https://id.test", audience: "api" } }),
      },
    });
    const url = channelUrl(w.url.replace(/\/$/, ""));
    const forged = { "pqgate-auth-method": "psk", "pqgate-auth-subject": "admin" };
    try {
      // No identity: 401 on the required route, the channel goes on; forged headers dropped.
      const anon = await connect(url, { pin: PIN });
      const r = await anon.fetch("https://api.test/private/hello");
      assert.equal(r.status, 401);
      assert.equal(r.headers.get("pqgate-error"), "auth_required");
      assert.equal(r.headers.get("www-authenticate"), 'PQGate methods="token psk"');
      await r.body?.cancel();
      const seenOpen =
        await (await anon.fetch("https://api.test/open/headers", { headers: forged }))
          .json();
      assert.equal(seenOpen["pqgate-auth-subject"], undefined);
      anon.close();

      const psk = await connect(url, { pin: PIN, auth: { psk: PSK, pskId: "sensor-17" } });
      const seen = await (await psk.fetch("https://api.test/private/headers", { headers: forged }))
        .json();
      assert.equal(seen["pqgate-auth-method"], "psk");
      assert.equal(seen["pqgate-auth-subject"], "sensor-17");
      psk.close();
      const wrong = PSK.slice();
      wrong[31] ^= 0x80;
      assert.equal(
        (await authError(connect(url, { pin: PIN, auth: { psk: wrong, pskId: "sensor-17" } })))
          .reason,
        "psk_rejected",
      );

      const now = Math.floor(Date.now() / 1000);
      const token = (exp: number) =>
        new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setIssuer("https://id.test")
          .setAudience("api")
          .setSubject("user-42")
          .setExpirationTime(exp)
          .sign(new TextEncoder().encode(SECRET));
      const tok = await connect(url, { pin: PIN, auth: { token: await token(now + 300) } });
      const seenTok = await (await tok.fetch("https://api.test/private/headers")).json();
      assert.equal(seenTok["pqgate-auth-method"], "token");
      assert.equal(seenTok["pqgate-auth-subject"], "user-42");
      assert.equal(seenTok["pqgate-auth-issuer"], "https://id.test");
      tok.close();
      assert.equal(
        (await authError(connect(url, { pin: PIN, auth: { token: await token(now - 600) } })))
          .reason,
        "token_expired",
      );
      // Password is not enabled (no PQGATE_USERS): refused as such.
      assert.equal(
        (await authError(
          connect(url, { pin: PIN, auth: { username: "a", password: "password1" } }),
        ))
          .reason,
        "method_not_enabled",
      );
    } finally {
      await w.close();
      await origin.close();
    }
  },
});

Deno.test({
  name:
    "cf workers: password authentication needs the Argon2id module; with it, right and wrong passwords",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { hashPassword, loadArgon2Module, wasmArgon2 } = await import("../../src/auth/mod.ts");
    const argon2 = await wasmArgon2(await loadArgon2Module());
    const phc = await hashPassword(
      new TextEncoder().encode("workers password"),
      argon2,
      (n) => crypto.getRandomValues(new Uint8Array(n)),
    );
    const origin = await startRecordingOrigin();
    const config = {
      keys: JSON.stringify([toBase64Url(SEED)]),
      routes: [{ match: { authority: "api.test" }, origin: origin.url, auth: "required" }],
      vars: { PQGATE_USERS: `alice:${phc}\n` },
    };
    // Without the module: 503 naming the variable, never a sign-in that always fails.
    const without = await startWorker(config);
    try {
      const r = await fetch(`${without.url.replace(/\/$/, "")}/.well-known/pqgate`);
      assert.equal(r.status, 503);
      const body = await r.json();
      assert.match(body.message, /^PQGATE_USERS is set, but the Worker has no Argon2id module/);
    } finally {
      await without.close();
    }
    // The Worker bundle with the module imported as wrangler would (CompiledWasm).
    const out = new URL("../../dist/auth-worker/index.js", import.meta.url);
    const { buildWorker } = await import("../../scripts/build-worker.mjs");
    await buildWorker({ entry: "tests/cloudflare/auth-entry.ts", outfile: out.pathname });
    const w = await startWorker({
      ...config,
      bundle: out,
      modules: [
        {
          type: "ESModule",
          path: new URL("entry.js", out).pathname,
          contents: 'import wasm from "./simd.wasm"; globalThis.pqgateArgon2Wasm = wasm;\n' +
            'export { default, PqgateSession } from "./index.js";\n',
        },
        { type: "ESModule", path: out.pathname, contents: Deno.readTextFileSync(out) },
        {
          type: "CompiledWasm",
          path: new URL("simd.wasm", out).pathname,
          contents: Deno.readFileSync(
            new URL("../../node_modules/argon2id/dist/simd.wasm", import.meta.url),
          ),
        },
      ],
    });
    try {
      const url = channelUrl(w.url.replace(/\/$/, ""));
      const t0 = performance.now();
      const ch = await connect(url, {
        pin: PIN,
        auth: { username: "alice", password: "workers password" },
      });
      const ms = performance.now() - t0;
      const seen = await (await ch.fetch("https://api.test/headers")).json();
      assert.equal(seen["pqgate-auth-method"], "password");
      assert.equal(seen["pqgate-auth-subject"], "alice");
      ch.close();
      console.log(`workerd: connect with a password verification took ${ms.toFixed(0)} ms (wall)`);
      assert.equal(
        (await authError(
          connect(url, { pin: PIN, auth: { username: "alice", password: "wrong password" } }),
        )).reason,
        "bad_credentials",
      );
    } finally {
      await w.close();
      await origin.close();
    }
  },
});
