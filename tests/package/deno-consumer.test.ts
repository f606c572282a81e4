/**
 * The npm package's Deno audiences, as a consumer gets them: the packed tarball (helpers.ts
 * buildAndPack, shared with package.test.ts) installed with npm into a fresh directory, run
 * with this test's own Deno (`Deno.execPath()`) from that node_modules (deno.json
 * `"nodeModulesDir": "manual"`: no npm resolution by Deno itself).
 *
 *   1. `deno check` of both apps against the installed .d.ts (Deno's types, hono peer).
 *   2. A Deno app with its own Hono app, routes and key (seed via PQGATE_KEYS →
 *      gatewayOptionsFromEnv): imports pqgate/hono and pqgate/deno, mounts the gateway under
 *      /pq, serves it with serveDeno, and calls it with pqgate/client (keyConfigUrl for the
 *      mount): a GET and a POST through to the app's own `service:api` origin.
 *   3. The Deno Deploy entry: a one-line main.ts (`serveFromEnv(Deno.env.toObject(), ...)` from
 *      pqgate/deno) run with only `--allow-net --allow-env`; this process (the repository's
 *      client) opens a channel through it (GET, POST to the demo origin), then SIGTERM stops it
 *      gracefully.
 *
 * Writes only dist/pkg/ (git-ignored) in the repository; the rest is in a temporary directory.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { buildAndPack, installConsumer, ok, VERSIONS } from "./helpers.ts";

const DENO = Deno.execPath();

/** The consumer's Deno app. Env: PQGATE_KEYS (a seed). Prints one JSON line on stdout. */
const APP_TS = `
import { Hono } from "hono";
import { createGateway, gatewayOptionsFromEnv, parseUsersFile, pinFor, type RouteConfig } from "pqgate/hono";
import { type DenoServer, serveDeno } from "pqgate/deno";
import { connect } from "pqgate/client";

// The demo user's public entry (src/demo/demo-user.ts): password "pqgate-demo".
const USERS = "demo:$argon2id$v=19$m=19456,t=2,p=1$4VWK60X8ryo+uRBDs1PTfQ$GVy47UiKi+aIxxlG7kC/lGUqNxyNkDlh10SAVzeNsS8\\n";

const out: Record<string, unknown> = { deno: Deno.version.deno };
out.resolved = ["pqgate/hono", "pqgate/deno", "pqgate/client", "hono"].map((s) => import.meta.resolve(s));

// The app's own service: the gateway's origin, in process.
const api = new Hono();
api.get("/me", (c) => c.json({ subject: c.req.header("pqgate-auth-subject") ?? null }));
api.get("/hello", (c) => c.json({ hello: "from the consumer's service", path: c.req.path }));
api.post("/echo", async (c) =>
  new Response(await c.req.text(), {
    headers: { "content-type": c.req.header("content-type") ?? "", "x-echo-method": c.req.method },
  }));

const { logOff: _, ...fromEnv } = gatewayOptionsFromEnv({ PQGATE_KEYS: Deno.env.get("PQGATE_KEYS") });
const routes: RouteConfig[] = [
  { match: { authority: "api", pathPrefix: "/me" }, origin: "service:api", auth: "required" },
  { match: { authority: "api" }, origin: "service:api" },
];
// Passwords verify in the package's Argon2id worker pool (argon2-worker.js beside argon2-pool.js).
const auth = { password: { users: parseUsersFile(USERS) } };
const gateway = createGateway({ ...fromEnv, routes, services: { api }, auth });

const app = new Hono();
app.get("/", (c) => c.text("my deno app"));
app.route("/pq", gateway.app); // channel /pq/pqgate, key configuration /pq/.well-known/pqgate

const server: DenoServer = serveDeno({ gateway, fetch: (req, env) => app.fetch(req, env), port: 0, hostname: "127.0.0.1" });
try {
  const base = server.url;
  out.pin = pinFor(fromEnv.keys[0].publicKey);
  out.root = await (await fetch(base + "/")).text();
  out.rootKeyConfig = (await fetch(base + "/.well-known/pqgate")).status;
  const ch = await connect(base.replace(/^http/, "ws") + "/pq/pqgate", {
    pin: out.pin as string,
    keyConfigUrl: base + "/pq/.well-known/pqgate",
  });
  try {
    out.mode = ch.mode;
    const g = await ch.fetch("https://api/hello");
    out.get = { status: g.status, json: await g.json() };
    const sent = JSON.stringify({ from: "deno consumer", n: 6 });
    const p = await ch.fetch("https://api/echo", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: sent,
    });
    out.post = { status: p.status, method: p.headers.get("x-echo-method"), same: (await p.text()) === sent };
    out.unrouted = (await ch.fetch("https://elsewhere/")).status;
    out.meAnonymous = (await ch.fetch("https://api/me")).status;
  } finally {
    ch.close();
  }
  const authed = await connect(base.replace(/^http/, "ws") + "/pq/pqgate", {
    pin: out.pin as string,
    keyConfigUrl: base + "/pq/.well-known/pqgate",
    auth: { username: "demo", password: "pqgate-demo" },
  });
  try {
    out.me = await (await authed.fetch("https://api/me")).json();
  } finally {
    authed.close();
  }
} finally {
  await server.shutdown();
}
console.log(JSON.stringify(out));
`;

/** The Deno Deploy entry from the package: PQGATE_KEYS, PORT, HOSTNAME from the environment. */
const MAIN_TS = `import { serveFromEnv } from "pqgate/deno";
serveFromEnv(Deno.env.toObject(), ({ url }) => console.log(JSON.stringify({ event: "listening", url })));
`;

/** Reads JSON lines from `stream` until one satisfies `want` (rejects after timeoutMs). */
async function waitForLine(
  lines: ReadableStreamDefaultReader<string>,
  want: (j: Record<string, unknown>) => boolean,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let buf = "";
  while (Date.now() < deadline) {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error("timed out waiting for the deploy entry")),
        deadline - Date.now(),
      )
    );
    const { done, value } = await Promise.race([lines.read(), timer]);
    if (done) throw new Error("the deploy entry exited before listening: " + buf);
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const j = JSON.parse(line);
        if (want(j)) return j;
      } catch { /* not JSON */ }
    }
  }
  throw new Error("timed out waiting for the deploy entry");
}

Deno.test({
  name:
    "package: Deno consumers of pqgate/hono + pqgate/deno (own Hono app under /pq; the Deploy entry)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-deno-consumer-" });
    const app = tmp + "/consumer";
    const times: string[] = [];
    const timed = async (name: string, fn: () => Promise<void>) => {
      const t0 = performance.now();
      const passed = await t.step(name, fn);
      times.push(`${name} ${(performance.now() - t0).toFixed(0)} ms`);
      if (!passed) throw new Error(`step failed: ${name}`);
    };
    const denoEnv = { DENO_NO_UPDATE_CHECK: "1" };
    try {
      await timed("build + pack (shared), npm install the tarball and hono", async () => {
        const { tarball } = await buildAndPack();
        await installConsumer(app, [tarball, `hono@${VERSIONS.hono}`]);
        await Deno.writeTextFile(app + "/deno.json", JSON.stringify({ nodeModulesDir: "manual" }));
        await Deno.writeTextFile(app + "/app.ts", APP_TS);
        await Deno.writeTextFile(app + "/main.ts", MAIN_TS);
      });

      await timed("deno check app.ts main.ts (installed .d.ts)", async () => {
        await ok(DENO, ["check", "app.ts", "main.ts"], {
          cwd: app,
          env: denoEnv,
          timeoutMs: 60_000,
        });
      });

      await timed(
        "own Hono app: pqgate/hono mounted under /pq, serveDeno, pqgate/client",
        async () => {
          const seed = crypto.getRandomValues(new Uint8Array(32));
          const pin = pinFor(generateStaticKey(seed.slice()).publicKey);
          // --allow-read: password verification reads the argon2id package's .wasm file
          // (README "Client authentication"); nothing else in the app reads files.
          const r = await ok(
            DENO,
            ["run", "--allow-net", "--allow-env", "--allow-read", "app.ts"],
            {
              cwd: app,
              env: { ...denoEnv, PQGATE_KEYS: toBase64Url(seed) },
              timeoutMs: 30_000,
            },
          );
          const out = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "");
          const nm = "file://" + app + "/node_modules/";
          assert.deepEqual(out.resolved, [
            nm + "pqgate/dist/pkg/hono.js",
            nm + "pqgate/dist/pkg/deno.js",
            nm + "pqgate/dist/pkg/client/mod.js",
            nm + "hono/dist/index.js",
          ]);
          assert.equal(out.pin, pin, "gatewayOptionsFromEnv built the key from the seed");
          assert.equal(out.root, "my deno app");
          assert.equal(out.rootKeyConfig, 404, "mounted: the key configuration is under /pq only");
          assert.equal(out.mode, "pinned");
          assert.deepEqual(out.get, {
            status: 200,
            json: { hello: "from the consumer's service", path: "/hello" },
          });
          assert.deepEqual(out.post, { status: 200, method: "POST", same: true });
          assert.equal(out.unrouted, 403, "no route, no connection");
          assert.equal(out.meAnonymous, 401, "a required route on a channel without an identity");
          assert.deepEqual(
            out.me,
            { subject: "demo" },
            "the password verified through the package's Argon2id worker thread",
          );
          console.log(`deno ${out.deno}: ${r.ms.toFixed(0)} ms`);
        },
      );

      await timed("Deploy entry (serveFromEnv) with --allow-net --allow-env only", async () => {
        const seed = crypto.getRandomValues(new Uint8Array(32));
        const pin = pinFor(generateStaticKey(seed.slice()).publicKey);
        const child = new Deno.Command(DENO, {
          args: ["run", "--allow-net", "--allow-env", "main.ts"],
          cwd: app,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          env: { ...denoEnv, PQGATE_KEYS: toBase64Url(seed), PORT: "0", HOSTNAME: "127.0.0.1" },
        }).spawn();
        const stderr = new Response(child.stderr).text();
        const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let exited = false;
        try {
          const { url } = await waitForLine(lines, (j) => j.event === "listening", 20_000) as {
            url: string;
          };
          const ch = await connect(url.replace(/^http/, "ws") + "/pqgate", { pin });
          try {
            const g = await ch.fetch("https://demo/api/hello");
            assert.equal(g.status, 200);
            assert.equal((await g.json()).message, "hello from the pqgate demo origin");
            const sent = "through the deploy entry";
            const p = await ch.fetch("https://demo/api/echo", { method: "POST", body: sent });
            assert.equal(p.status, 200);
            assert.equal(await p.text(), sent);
          } finally {
            ch.close();
          }
          child.kill("SIGTERM"); // handleSignals: graceful shutdown, then the process ends
          const status = await Promise.race([
            child.status,
            new Promise<null>((res) => setTimeout(() => res(null), 10_000)),
          ]);
          assert.ok(status, "the deploy entry did not exit within 10 s of SIGTERM");
          exited = true;
          assert.ok(
            status.success || status.signal === "SIGTERM",
            `exit: ${JSON.stringify(status)}`,
          );
        } catch (e) {
          throw new Error(
            `${(e as Error).message}\nstderr: ${exited ? await stderr : "(running)"}`,
            { cause: e },
          );
        } finally {
          if (!exited) {
            try {
              child.kill("SIGKILL");
            } catch { /* exited */ }
            await child.status;
          }
          lines.cancel().catch(() => {});
        }
      });
    } finally {
      console.log("deno consumer test: " + times.join(", "));
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
