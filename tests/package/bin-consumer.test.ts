/**
 * Consumer 5: the package's command line (`bin: pqgate`, bin/pqgate.mjs → dist/pkg/cli/main.js)
 * through npx on Node 20, as a consumer gets it: the packed tarball (helpers.ts buildAndPack,
 * shared) installed into a fresh project that is a git work tree (to exercise the key safety).
 * `npx pqgate keygen` (in a key directory: created with its .gitignore; at the project root:
 * refused, git would pick it up), `pin` of the key file, `serve --config` in front of the
 * test's own origin, the banner's Try line run verbatim, and `pin` of the channel URL. Stays
 * offline (`npx --no-install`; the verbatim line with npm_config_yes=false). Writes only
 * dist/pkg/ in the repository.
 */
import assert from "node:assert/strict";
import { buildAndPack, exists, installConsumer, ok, QUIET_ENV, run, VERSIONS } from "./helpers.ts";

Deno.test({
  name: "package: consumer 5, `npx pqgate` keygen / pin / serve / fetch on Node 20",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-bin-consumer-" });
    const origin = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      (req) => Response.json({ from: "origin", path: new URL(req.url).pathname }),
    );
    let gateway: Deno.ChildProcess | null = null;
    try {
      const { tarball } = await buildAndPack();
      await installConsumer(tmp, [tarball, `hono@${VERSIONS.hono}`]);
      await ok("git", ["init", "-q", "."], { cwd: tmp });
      const env = { npm_config_yes: "false" };
      const npx = (args: string[]) =>
        run("npx", ["--no-install", "pqgate", ...args], { cwd: tmp, env, timeoutMs: 20_000 });

      const gen = await npx(["keygen", "keys/k.json"]);
      assert.equal(gen.code, 0, gen.stderr);
      const pin = /pin\s+(sha256:\S+)/.exec(gen.stdout)?.[1];
      assert.ok(pin && /key id\s+[0-9a-f]{16}/.test(gen.stdout), gen.stdout);
      assert.ok(await exists(`${tmp}/keys/.gitignore`));
      const seed = JSON.parse(await Deno.readTextFile(`${tmp}/keys/k.json`)).seed;
      assert.ok(!gen.stdout.includes(seed) && !gen.stderr.includes(seed), "the seed was printed");
      assert.equal((await Deno.stat(`${tmp}/keys/k.json`)).mode! & 0o777, 0o600);

      const refused = await npx(["keygen", "k2.json"]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /git work tree/);
      assert.ok(!(await exists(`${tmp}/k2.json`)));

      const pinned = await npx(["pin", "keys/k.json"]);
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.equal(pinned.stdout.trim(), pin);

      await Deno.writeTextFile(
        `${tmp}/cfg.json`,
        JSON.stringify({
          port: 0,
          keyFile: "keys/k.json",
          routes: [{ match: { authority: "api" }, origin: `http://127.0.0.1:${origin.addr.port}` }],
        }),
      );
      gateway = new Deno.Command(`${tmp}/node_modules/.bin/pqgate`, {
        args: ["serve", "--config", "cfg.json"],
        cwd: tmp,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: QUIET_ENV,
      }).spawn();
      const stderr = new Response(gateway.stderr).text();
      const reader = gateway.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let banner = "";
      const deadline = Date.now() + 15_000;
      while (!/Try:\n\s+.*\n/.test(banner)) {
        assert.ok(Date.now() < deadline, `no banner: ${banner}`);
        const r = await reader.read();
        if (r.done) assert.fail(`serve exited: ${banner}\n${await stderr}`);
        banner += r.value;
      }
      const channel = /channel\s+(ws:\S+)/.exec(banner)?.[1];
      assert.ok(channel, banner);
      assert.match(banner, new RegExp(`pin\\s+${pin}`));
      const tryLine = /Try:\n\s+(npx pqgate fetch .*)\n/.exec(banner)?.[1];
      assert.equal(tryLine, `npx pqgate fetch --pin ${pin} ${channel} https://api/`, banner);
      const [cmd, ...args] = tryLine!.split(/\s+/);
      const fetched = await run(cmd, args, { cwd: tmp, env, timeoutMs: 20_000 });
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.deepEqual(JSON.parse(fetched.stdout), { from: "origin", path: "/" });

      const remote = await npx(["pin", channel!]);
      assert.equal(remote.code, 0, remote.stderr);
      assert.equal(remote.stdout.trim(), pin);

      gateway.kill("SIGTERM");
      let rest = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
      assert.match(rest, /pqgate stopped/);
      assert.equal((await gateway.status).code, 0, await stderr);
      gateway = null;
    } finally {
      if (gateway) {
        try {
          gateway.kill("SIGKILL");
        } catch { /* exited */ }
        await gateway.status;
      }
      await origin.shutdown();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
