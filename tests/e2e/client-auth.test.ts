/**
 * Client authentication end to end, against the gateway as users start it: `start.ts --config`
 * in a temp directory (a users file made with the gateway's own Argon2id, a PSK file, an HS256
 * secret file, a JWKS served by an origin of the route table), the real client library and the
 * recording origin. What the origin saw, what the client was told, what the log holds:
 *
 * - password: right → the origin sees pqgate-auth-method/-subject; wrong and unknown user →
 *   the same bad_credentials; brute force → rate_limited with a retry-after;
 * - token: EdDSA through the JWKS (with issuer), HS256; expired → token_expired, another
 *   audience → token_invalid;
 * - psk: right → subject = identity; wrong key → psk_rejected (the handshake's uniform 4004);
 * - policy: a required route without identity → 401 auth_required, and the same channel keeps
 *   serving; a method the route does not accept → 403; client-forged identity headers never
 *   reach the origin, on any route;
 * - a flood of password attempts: the verification bound answers busy at once (never a queue),
 *   while a PSK client on another channel is served;
 * - the access log: auth lines and authMethod on request lines, and no credential anywhere.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { AuthError, connect } from "../../src/client/mod.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { hashPassword, loadArgon2Module, wasmArgon2 } from "../../src/auth/mod.ts";
import { type RecordingOrigin, startRecordingOrigin } from "./recording-origin.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;
const START = `${ROOT}src/cli/start.ts`;
const dec = new TextDecoder();
const enc = new TextEncoder();

const PASSWORD = "correct horse battery staple";
const HS_SECRET = "hs256-shared-secret-of-at-least-32-bytes!";
const PSK = crypto.getRandomValues(new Uint8Array(32));
const ISSUER = "https://id.test";

interface Gateway {
  channel: string;
  pin: string;
  child: Deno.ChildProcess;
  stderr: () => string;
  stop: () => Promise<void>;
}

async function startGateway(dir: string, config: unknown): Promise<Gateway> {
  await Deno.writeTextFile(`${dir}/pqgate.json`, JSON.stringify(config));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, START, "--config", "pqgate.json", "--port", "0"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", INIT_CWD: dir },
  }).spawn();
  let err = "";
  const errDone = (async () => {
    for await (const c of child.stderr) err += dec.decode(c);
  })();
  let out = "";
  const reader = child.stdout.getReader();
  const deadline = Date.now() + 20_000;
  while (!out.includes("Try:")) {
    if (Date.now() > deadline) throw new Error(`no banner:\n${out}\n${err}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`gateway exited:\n${out}\n${err}`);
    out += dec.decode(value);
  }
  reader.releaseLock();
  const channel = /channel\s+(ws:\/\/\S+)/.exec(out)![1];
  const pin = /pin\s+(sha256:[A-Za-z0-9_-]{43})/.exec(out)![1];
  assert.match(out, /auth\s+(password|token|psk)(, (token|psk))* \(client authentication\)/);
  return {
    channel,
    pin,
    child,
    stderr: () => err,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await errDone;
    },
  };
}

/** A JWKS origin (a second URL route of the table: the only place keys may come from). */
function startJwks(jwks: unknown): { url: string; close: () => Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/jwks.json"
        ? Response.json(jwks)
        : new Response("no", { status: 404 }),
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function authError(p: Promise<unknown>): Promise<AuthError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AuthError, `not an AuthError: ${e}`);
    return e;
  }
  assert.fail("connected");
}

const FORGED = {
  "pqgate-auth-method": "password",
  "pqgate-auth-subject": "admin",
  "pqgate-auth-issuer": "https://evil.test",
};

Deno.test({
  name:
    "e2e: client authentication through the real gateway (password, token, psk, policy, bounds, log)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-auth-" });
    const origin: RecordingOrigin = await startRecordingOrigin();
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "EdDSA", use: "sig" };
    const jwks = startJwks({ keys: [jwk] });
    let gw: Gateway | null = null;
    try {
      // The users file, hashed by the gateway's own Argon2id at its default parameters.
      const argon2 = await wasmArgon2(await loadArgon2Module());
      const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
      const phc = await hashPassword(enc.encode(PASSWORD), argon2, random);
      await Deno.writeTextFile(`${dir}/users.txt`, `# test users\nalice:${phc}\n`);
      await Deno.writeTextFile(`${dir}/psks.txt`, `robot-1:${toBase64Url(PSK)}\n`);
      await Deno.writeTextFile(`${dir}/hs256.txt`, HS_SECRET + "\n");
      const route = (prefix: string, extra: Record<string, unknown> = {}) => ({
        match: { authority: "api.test", pathPrefix: prefix },
        origin: origin.url,
        stripPrefix: true,
        ...extra,
      });
      gw = await startGateway(dir, {
        keyFile: "key.json",
        logLevel: "info",
        routes: [
          route("/open"),
          route("/maybe", { auth: "optional" }),
          route("/private", { auth: "required" }),
          route("/machines", { auth: "required", authMethods: ["psk"] }),
          { match: { authority: "keys.test" }, origin: jwks.url },
        ],
        auth: {
          usersFile: "users.txt",
          pskFile: "psks.txt",
          token: {
            issuer: ISSUER,
            audience: "api",
            jwksUrl: `${jwks.url}/jwks.json`,
            secretFile: "hs256.txt",
          },
          limits: { maxInFlight: 1, maxWaiting: 1, maxWaitMs: 300, freeFailures: 8 },
        },
      });
      const g = gw;
      const open = (auth?: Parameters<typeof connect>[1]["auth"]) =>
        connect(g.channel, { pin: g.pin, ...(auth ? { auth } : {}) });
      const headersSeen = async (ch: Awaited<ReturnType<typeof connect>>, path: string) => {
        const r = await ch.fetch(`https://api.test${path}/headers`, { headers: FORGED });
        assert.equal(r.status, 200, `${path}: ${r.status} ${r.headers.get("pqgate-error")}`);
        return await r.json() as Record<string, string>;
      };

      await t.step(
        "a required route without identity: 401 on the stream, the channel keeps working",
        async () => {
          const ch = await open();
          try {
            const r = await ch.fetch("https://api.test/private/hello");
            assert.equal(r.status, 401);
            assert.equal(r.headers.get("pqgate-error"), "auth_required");
            assert.equal(r.headers.get("www-authenticate"), 'PQGate methods="password token psk"');
            await r.body?.cancel();
            const again = await ch.fetch("https://api.test/open/hello");
            assert.deepEqual(await again.json(), { hello: "world" });
            // Forged identity headers never pass, on a route without auth...
            const seen = await headersSeen(ch, "/open");
            for (const n of Object.keys(FORGED)) assert.equal(seen[n], undefined, n);
            // ...nor on an optional one without identity.
            const maybe = await headersSeen(ch, "/maybe");
            for (const n of Object.keys(FORGED)) assert.equal(maybe[n], undefined, n);
          } finally {
            ch.close();
          }
        },
      );

      await t.step(
        "password: right → the origin sees the identity; wrong and unknown → bad_credentials",
        async () => {
          const ch = await open({ username: "alice", password: PASSWORD });
          try {
            const seen = await headersSeen(ch, "/private");
            assert.equal(seen["pqgate-auth-method"], "password");
            assert.equal(seen["pqgate-auth-subject"], "alice");
            assert.equal(seen["pqgate-auth-issuer"], undefined); // the forged one was dropped
            // auth none: the origin is not told, even on an authenticated channel.
            const plain = await headersSeen(ch, "/open");
            assert.equal(plain["pqgate-auth-subject"], undefined);
            // A method the route does not accept: 403, the channel stays.
            const m = await ch.fetch("https://api.test/machines/hello");
            assert.equal(m.status, 403);
            assert.equal(m.headers.get("pqgate-error"), "auth_method_not_allowed");
            await m.body?.cancel();
          } finally {
            ch.close();
          }
          const wrong = await authError(open({ username: "alice", password: "not the password" }));
          const unknown = await authError(open({ username: "mallory", password: PASSWORD }));
          assert.equal(wrong.reason, "bad_credentials");
          assert.equal(unknown.reason, "bad_credentials");
        },
      );

      await t.step(
        "token: EdDSA from the JWKS, HS256; expired and wrong audience refused",
        async () => {
          const now = Math.floor(Date.now() / 1000);
          const ed = (claims: Record<string, unknown>) =>
            new SignJWT({ ...claims })
              .setProtectedHeader({ alg: "EdDSA", kid: "k1" })
              .setIssuer(ISSUER)
              .setSubject("svc-7")
              .setAudience((claims.aud as string) ?? "api")
              .setIssuedAt(now - 10)
              .setExpirationTime((claims.exp as number) ?? now + 600)
              .sign(privateKey);
          const ch = await open({ token: await ed({}) });
          try {
            const seen = await headersSeen(ch, "/private");
            assert.equal(seen["pqgate-auth-method"], "token");
            assert.equal(seen["pqgate-auth-subject"], "svc-7");
            assert.equal(seen["pqgate-auth-issuer"], "https://id.test");
          } finally {
            ch.close();
          }
          const hs = await new SignJWT({})
            .setProtectedHeader({ alg: "HS256" })
            .setIssuer(ISSUER)
            .setSubject("batch job")
            .setAudience("api")
            .setExpirationTime(now + 600)
            .sign(enc.encode(HS_SECRET));
          const ch2 = await open({ token: hs });
          try {
            // A subject with a space arrives percent-encoded.
            assert.equal(
              (await headersSeen(ch2, "/private"))["pqgate-auth-subject"],
              "batch%20job",
            );
          } finally {
            ch2.close();
          }
          assert.equal(
            (await authError(open({ token: await ed({ exp: now - 3600 }) }))).reason,
            "token_expired",
          );
          assert.equal(
            (await authError(open({ token: await ed({ aud: "other-api" }) }))).reason,
            "token_invalid",
          );
        },
      );

      await t.step("psk: right key → the identity; wrong key → psk_rejected", async () => {
        const ch = await open({ psk: PSK, pskId: "robot-1" });
        try {
          const seen = await headersSeen(ch, "/machines");
          assert.equal(seen["pqgate-auth-method"], "psk");
          assert.equal(seen["pqgate-auth-subject"], "robot-1");
        } finally {
          ch.close();
        }
        const bad = PSK.slice();
        bad[0] ^= 1;
        assert.equal(
          (await authError(open({ psk: bad, pskId: "robot-1" }))).reason,
          "psk_rejected",
        );
        assert.equal(
          (await authError(open({ psk: PSK, pskId: "robot-9" }))).reason,
          "psk_rejected",
        );
      });

      await t.step(
        "a flood of password attempts is bounded (busy at once); a PSK client is served meanwhile",
        async () => {
          const healthy = await open({ psk: PSK, pskId: "robot-1" });
          try {
            const t0 = performance.now();
            const flood = Array.from(
              { length: 24 },
              (_, i) =>
                open({ username: `flood${i}`, password: "wrong password!" }).then(
                  (ch) => (ch.close(), "connected"),
                  (e) => e instanceof AuthError ? e.reason : String(e),
                ),
            );
            const served: number[] = [];
            for (let i = 0; i < 5; i++) {
              const s = performance.now();
              const r = await healthy.fetch(`https://api.test/machines/item/${i}`);
              assert.equal(r.status, 200);
              await r.body?.cancel();
              served.push(performance.now() - s);
            }
            const reasons = await Promise.all(flood);
            const busy = reasons.filter((r) => r === "busy").length;
            const bad = reasons.filter((r) => r === "bad_credentials").length;
            // maxInFlight 1 + maxWaiting 1: at most 2 verifications at once; the rest answered busy.
            assert.ok(busy >= 18, JSON.stringify(reasons));
            assert.equal(busy + bad, 24, JSON.stringify(reasons));
            console.log(
              `flood: ${busy} busy, ${bad} verified in ${
                (performance.now() - t0).toFixed(0)
              } ms; ` +
                `healthy requests ${served.map((x) => x.toFixed(0)).join("/")} ms`,
            );
            assert.ok(Math.max(...served) < 2000, `healthy client starved: ${served}`);
          } finally {
            healthy.close();
          }
        },
      );

      await t.step(
        "brute force: failures back off to rate_limited with a retry-after",
        async () => {
          let limited: AuthError | null = null;
          for (let i = 0; i < 12 && limited === null; i++) {
            const e = await authError(open({ username: "alice", password: `guess number ${i}` }));
            if (e.reason === "rate_limited") limited = e;
            else assert.equal(e.reason, "bad_credentials");
          }
          assert.ok(limited, "never rate limited");
          assert.ok((limited.retryAfterMs ?? 0) > 0);
          // Even the right password is refused inside the backoff (no verification runs).
          assert.equal(
            (await authError(open({ username: "alice", password: PASSWORD }))).reason,
            "rate_limited",
          );
          // Token and PSK clients are not affected by the password backoff.
          const ch = await open({ psk: PSK, pskId: "robot-1" });
          ch.close();
        },
      );

      await t.step("the access log: auth results and methods, never a credential", async () => {
        await g.stop();
        gw = null;
        const log = g.stderr();
        const lines = log.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
        const auth = lines.filter((l) => l.event === "auth");
        const results = new Set(auth.map((l) => `${l.method}:${l.result}`));
        for (
          const want of [
            "password:ok",
            "password:bad_credentials",
            "password:busy",
            "password:rate_limited",
            "token:ok",
            "token:token_expired",
            "token:token_invalid",
            "psk:ok",
          ]
        ) {
          assert.ok(results.has(want), `${want} missing from ${[...results]}`);
        }
        // Subjects are private: not written without --log-client-addresses.
        assert.ok(auth.every((l) => l.subject === undefined), JSON.stringify(auth[0]));
        const requests = lines.filter((l) => l.event === "request");
        const methods = new Set(requests.map((l) => l.authMethod));
        for (const m of ["password", "token", "psk", null]) assert.ok(methods.has(m), String(m));
        assert.ok(requests.some((l) => l.status === 401 && l.gatewayError === "auth_required"));
        for (const secret of [PASSWORD, "not the password", HS_SECRET, toBase64Url(PSK), "eyJ"]) {
          assert.ok(!log.includes(secret), `the log holds ${secret.slice(0, 8)}...`);
        }
      });
    } finally {
      await gw?.stop();
      await origin.close();
      await jwks.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "e2e: SIGHUP re-reads the users and PSK files; a bad line is refused and the old ones kept",
  ignore: Deno.build.os === "windows",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-auth-reload-" });
    const origin = await startRecordingOrigin();
    let gw: Gateway | null = null;
    try {
      const argon2 = await wasmArgon2(await loadArgon2Module());
      const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
      const line = async (user: string) =>
        `${user}:${await hashPassword(enc.encode(`${user} password`), argon2, random)}`;
      const psk2 = crypto.getRandomValues(new Uint8Array(32));
      const alice = await line("alice");
      await Deno.writeTextFile(`${dir}/users.txt`, `${alice}\n`);
      await Deno.writeTextFile(`${dir}/psks.txt`, `robot-1:${toBase64Url(PSK)}\n`);
      gw = await startGateway(dir, {
        keyFile: "key.json",
        routes: [{
          match: { authority: "api.test" },
          origin: origin.url,
          auth: "required",
        }],
        auth: { usersFile: "users.txt", pskFile: "psks.txt" },
      });
      const g = gw;
      const open = (auth: Parameters<typeof connect>[1]["auth"]) =>
        connect(g.channel, { pin: g.pin, auth });
      const reloads = () =>
        g.stderr().split("\n").filter((l) => /^pqgate: reload(ed|\s+refused)/.test(l));
      const hangup = async () => {
        const before = reloads().length;
        g.child.kill("SIGHUP");
        const end = Date.now() + 10_000;
        while (reloads().length === before) {
          assert.ok(Date.now() < end, `no reload line:\n${g.stderr()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        return reloads().at(-1)!;
      };
      const kept = await open({ username: "alice", password: "alice password" });
      assert.equal(await open({ psk: PSK, pskId: "robot-1" }).then((c) => (c.close(), "ok")), "ok");
      assert.equal(
        (await authError(open({ username: "bob", password: "bob password" }))).reason,
        "bad_credentials",
      );

      // Add bob, replace robot-1 by robot-2.
      await Deno.writeTextFile(`${dir}/users.txt`, `${alice}\n${await line("bob")}\n`);
      await Deno.writeTextFile(`${dir}/psks.txt`, `robot-2:${toBase64Url(psk2)}\n`);
      assert.match(await hangup(), /^pqgate: reloaded/);
      const bob = await open({ username: "bob", password: "bob password" });
      assert.equal((await bob.fetch("https://api.test/hello")).status, 200);
      bob.close();
      (await open({ psk: psk2, pskId: "robot-2" })).close();
      assert.equal((await authError(open({ psk: PSK, pskId: "robot-1" }))).reason, "psk_rejected");
      // The channel opened before the reload keeps its identity.
      assert.equal((await kept.fetch("https://api.test/hello")).status, 200);

      // A broken line: refused, naming the file and line, not its content; bob still works.
      await Deno.writeTextFile(`${dir}/users.txt`, `${alice}\nbob-has-no-hash-SECRETISH\n`);
      const refused = await hangup();
      assert.match(
        refused,
        /^pqgate: reload refused, the running configuration is kept: .*users\.txt.*line 2/,
      );
      assert.ok(!refused.includes("SECRETISH"), refused);
      (await open({ username: "bob", password: "bob password" })).close();
      kept.close();
    } finally {
      await gw?.stop();
      await origin.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "e2e: the demo gateway's demo user through `pqgate fetch --user demo --password-stdin`",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-auth-demo-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG, START, "--port", "0"],
      cwd: dir,
      stdout: "piped",
      stderr: "null",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", INIT_CWD: dir },
    }).spawn();
    try {
      let out = "";
      const reader = child.stdout.getReader();
      while (!out.includes("Try:")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`gateway exited:\n${out}`);
        out += dec.decode(value);
      }
      reader.releaseLock();
      assert.match(out, /auth\s+demo user "demo", password "pqgate-demo"/);
      const channel = /channel\s+(ws:\/\/\S+)/.exec(out)![1];
      const fetchAs = async (password: string, ...args: string[]) => {
        const p = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--config",
            CONFIG,
            `${ROOT}src/cli/fetch.ts`,
            ...args,
            channel,
            "https://demo/api/me",
          ],
          cwd: dir,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", INIT_CWD: dir },
        }).spawn();
        const w = p.stdin.getWriter();
        await w.write(enc.encode(password + "\n"));
        await w.close();
        const o = await p.output();
        return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
      };
      const ok = await fetchAs("pqgate-demo", "--user", "demo", "--password-stdin", "-v");
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), {
        authenticated: true,
        method: "password",
        subject: "demo",
        issuer: null,
      });
      assert.match(ok.stderr, /\* auth\s+password as demo/);
      assert.ok(!ok.stderr.includes("pqgate-demo") && !ok.stdout.includes("pqgate-demo"));
      const bad = await fetchAs("wrong-password", "--user", "demo", "--password-stdin");
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /client authentication failed: bad_credentials/);
      assert.ok(!bad.stderr.includes("wrong-password"));
      // Without sign-in: the 401 and its hint (exit 22 with --fail).
      const none = await fetchAs("", "-f", "-v");
      assert.equal(none.code, 22);
      assert.match(none.stderr, /gateway error auth_required/);
      assert.match(none.stderr, /the route accepts: PQGate methods="password"/);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
