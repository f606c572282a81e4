import assert from "node:assert/strict";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { AuthConfigError } from "./options.ts";
import { TokenVerifier } from "./token.ts";

const NOW = 1_800_000_000_000;
const now = () => NOW;
const sec = NOW / 1000;
const ed = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
const es = await generateKeyPair("ES256", { extractable: true });
const hsSecret = crypto.getRandomValues(new Uint8Array(32));
const edJwk = await exportJWK(ed.publicKey);
const esPem = await exportSPKI(es.publicKey);

function jwt(
  alg: string,
  key: CryptoKey | Uint8Array,
  claims: Record<string, unknown> = {},
  kid?: string,
) {
  return new SignJWT({
    sub: "svc-1",
    iss: "https://issuer.example",
    aud: "pqgate",
    exp: sec + 60,
    ...claims,
  })
    .setProtectedHeader(kid ? { alg, kid } : { alg })
    .sign(key);
}

function verifier(extra: Record<string, unknown> = {}) {
  return new TokenVerifier({
    keys: [{ jwk: edJwk }, { pem: esPem, alg: "ES256" }, { secret: hsSecret }],
    issuer: "https://issuer.example",
    audience: "pqgate",
    ...extra,
  }, { now });
}

Deno.test("token: EdDSA, ES256 and HS256 tokens verify; identity carries sub, iss, exp", async () => {
  const v = verifier();
  await v.ready();
  for (
    const [alg, key] of [["EdDSA", ed.privateKey], ["ES256", es.privateKey], [
      "HS256",
      hsSecret,
    ]] as const
  ) {
    const r = await v.verify(await jwt(alg, key), "198.51.100.1");
    assert.deepEqual(r, {
      ok: true,
      identity: {
        method: "token",
        subject: "svc-1",
        issuer: "https://issuer.example",
        expiresAt: (sec + 60) * 1000,
      },
    }, alg);
  }
});

Deno.test("token: exp, nbf, aud, iss, sub checked; clock tolerance is small", async () => {
  const v = verifier();
  const k = ed.privateKey;
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { exp: sec - 10 }), null), {
    ok: false,
    reason: "token_expired",
  });
  assert.equal((await v.verify(await jwt("EdDSA", k, { exp: sec - 3 }), null)).ok, true); // within 5 s
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { nbf: sec + 30 }), null), {
    ok: false,
    reason: "token_invalid",
  });
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { aud: "other" }), null), {
    ok: false,
    reason: "token_invalid",
  });
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { iss: "https://evil.example" }), null), {
    ok: false,
    reason: "token_invalid",
  });
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { iss: undefined }), null), {
    ok: false,
    reason: "token_invalid",
  });
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { sub: undefined }), null), {
    ok: false,
    reason: "token_invalid",
  });
  assert.deepEqual(await v.verify(await jwt("EdDSA", k, { exp: undefined }), null), {
    ok: false,
    reason: "token_invalid",
  });
  const strict = verifier({ clockToleranceSec: 0 });
  assert.deepEqual(await strict.verify(await jwt("EdDSA", k, { exp: sec - 3 }), null), {
    ok: false,
    reason: "token_expired",
  });
});

Deno.test("token: wrong key, alg none, algorithm outside the allowlist, oversize: token_invalid", async () => {
  const v = verifier();
  const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  assert.deepEqual(await v.verify(await jwt("EdDSA", other.privateKey), null), {
    ok: false,
    reason: "token_invalid",
  });
  const b64 = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const none = `${b64({ alg: "none" })}.${
    b64({ sub: "x", exp: sec + 60, aud: "pqgate", iss: "https://issuer.example" })
  }.`;
  assert.deepEqual(await v.verify(none, null), { ok: false, reason: "token_invalid" });
  const edOnly = verifier({ algorithms: ["EdDSA"], keys: [{ jwk: edJwk }] });
  assert.deepEqual(await edOnly.verify(await jwt("HS256", hsSecret), null), {
    ok: false,
    reason: "token_invalid",
  });
  const hs512 = await generateKeyPair("ES384");
  assert.deepEqual(await v.verify(await jwt("ES384", hs512.privateKey), null), {
    ok: false,
    reason: "token_invalid",
  });
  const long = await jwt("EdDSA", ed.privateKey, { pad: "x".repeat(8200) });
  assert.deepEqual(await v.verify(long, null), { ok: false, reason: "token_invalid" });
  assert.deepEqual(await v.verify("", null), { ok: false, reason: "token_invalid" });
  assert.deepEqual(await v.verify("a.b.c", null), { ok: false, reason: "token_invalid" });
});

Deno.test("token: configuration errors", async () => {
  assert.throws(() => new TokenVerifier({}, { now }), AuthConfigError);
  assert.throws(
    () => new TokenVerifier({ keys: [{ secret: "short" }] }, { now }),
    /at least 32 bytes/,
  );
  assert.throws(
    () => new TokenVerifier({ keys: [{ jwk: edJwk }], algorithms: ["RS256" as "EdDSA"] }, { now }),
    AuthConfigError,
  );
  const priv = await exportJWK(ed.privateKey);
  assert.throws(() => new TokenVerifier({ keys: [{ jwk: priv }] }, { now }), /private JWK/);
  assert.throws(
    () => new TokenVerifier({ jwksUrl: "https://issuer.example/jwks" }, { now }),
    /JWKS fetch/,
  );
  assert.throws(
    () => new TokenVerifier({ keys: [{ jwk: edJwk }], clockToleranceSec: 3600 }, { now }),
    /clockToleranceSec/,
  );
  const broken = new TokenVerifier({
    keys: [{ pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", alg: "EdDSA" }],
  }, { now });
  await assert.rejects(broken.ready(), AuthConfigError);
  assert.deepEqual(await broken.verify(await jwt("EdDSA", ed.privateKey), null), {
    ok: false,
    reason: "token_invalid",
  });
});

Deno.test("token: JWKS through the injected fetch, kid selection, bounded refetch", async () => {
  const jwks = { keys: [{ ...edJwk, kid: "k1", alg: "EdDSA" }] };
  const fetched: string[] = [];
  const v = new TokenVerifier({ jwksUrl: "https://issuer.example/jwks", jwksCooldownMs: 30_000 }, {
    now,
    fetchJwks: (u) => {
      fetched.push(String(u));
      return Promise.resolve(Response.json(jwks));
    },
  });
  const ok = await v.verify(await jwt("EdDSA", ed.privateKey, {}, "k1"), null);
  assert.equal(ok.ok, true);
  assert.deepEqual(fetched, ["https://issuer.example/jwks"]);
  // Unknown kids: at most one refetch per cooldown, however many tokens ask.
  for (let i = 0; i < 5; i++) {
    const r = await v.verify(await jwt("EdDSA", ed.privateKey, {}, `unknown${i}`), null);
    assert.deepEqual(r, { ok: false, reason: "token_invalid" });
  }
  assert.ok(fetched.length <= 2, String(fetched.length));
  // HS256 never comes from a JWKS.
  assert.deepEqual(await v.verify(await jwt("HS256", hsSecret, {}, "k1"), null), {
    ok: false,
    reason: "token_invalid",
  });
});

Deno.test("token: a JWKS fetch that times out is busy, not a client error", async () => {
  const v = new TokenVerifier({ jwksUrl: "https://issuer.example/jwks", jwksTimeoutMs: 100 }, {
    now,
    fetchJwks: (_u, init) =>
      new Promise((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
      ),
  });
  const r = await v.verify(await jwt("EdDSA", ed.privateKey, {}, "k1"), null);
  assert.deepEqual(r, { ok: false, reason: "busy", retryAfterMs: 1000 });
});
