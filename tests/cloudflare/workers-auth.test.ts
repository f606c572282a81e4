/**
 * Client authentication on Cloudflare Workers, in real workerd (Miniflare): the Worker as users
 * deploy it, configured with `wrangler secret put`-style bindings (PQGATE_PSKS,
 * PQGATE_TOKEN_SECRET) and PQGATE_AUTH, sessions in the Durable Object. The Free-plan methods
 * (docs/configuration.md §6): PSK and HS256 tokens; the origin sees the identity, forged
 * identity headers are dropped, a required route answers 401 and the channel goes on.
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
