/**
 * Consumer 5: the package's command line (`bin: pqgate`, bin/pqgate.mjs → dist/pkg/cli/main.js)
 * through npx on Node 20, as a consumer gets it: the packed tarball (helpers.ts buildAndPack,
 * shared) installed into a fresh project that is a git work tree (to exercise the key safety).
 * `npx pqgate keygen` (in a key directory: created with its .gitignore; at the project root:
 * refused, git would pick it up), `pin` of the key file, `serve --config` in front of the
 * test's own origin, the banner's Try line run verbatim, a tunneled WebSocket to the test's
 * WebSocket origin (a `ws:` route: the command opens it with the `ws` connector), and `pin` of
 * the channel URL. Then
 * `serve` without a config (demo mode): the demo page at /, its script, and /client.js with its
 * map, which are the prebuilt browser client the package ships
 * (node_modules/pqgate/dist/pkg/browser/pqgate-client.js: nothing is built at run time, and
 * the package brings no esbuild), and that banner's Try line through the demo origin. Stays
 * offline (`npx --no-install`; the verbatim lines with npm_config_yes=false). Writes only
 * dist/pkg/ in the repository.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { recordWebSocket } from "../../src/client/testing.ts";
import { startWsOrigin } from "../e2e/ws-origin.ts";
import { buildAndPack, exists, installConsumer, ok, QUIET_ENV, run, VERSIONS } from "./helpers.ts";

Deno.test({
  name: "package: consumer 5, `npx pqgate` keygen / pin / serve / fetch / the demo page on Node 20",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-bin-consumer-" });
    const origin = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      (req) => Response.json({ from: "origin", path: new URL(req.url).pathname }),
    );
    const wsOrigin = startWsOrigin();
    let gateway: Deno.ChildProcess | null = null;
    let demo: Deno.ChildProcess | null = null;
    /** `pqgate serve ...` from the project, read up to the end of its banner. */
    const serve = async (args: string[]) => {
      const child = new Deno.Command(`${tmp}/node_modules/.bin/pqgate`, {
        args,
        cwd: tmp,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: QUIET_ENV,
      }).spawn();
      const stderr = new Response(child.stderr).text();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let banner = "";
      const deadline = Date.now() + 15_000;
      while (!/Try:\n\s+.*\n/.test(banner)) {
        assert.ok(Date.now() < deadline, `no banner: ${banner}`);
        const r = await reader.read();
        if (r.done) assert.fail(`serve exited: ${banner}\n${await stderr}`);
        banner += r.value;
      }
      return { child, banner, reader, stderr };
    };
    /** SIGTERM, then the rest of stdout must say it stopped and the exit code be 0. */
    const stop = async (served: Awaited<ReturnType<typeof serve>>) => {
      served.child.kill("SIGTERM");
      let rest = "";
      for (let r = await served.reader.read(); !r.done; r = await served.reader.read()) {
        rest += r.value;
      }
      assert.match(rest, /pqgate stopped/);
      const err = await served.stderr;
      assert.equal((await served.child.status).code, 0, err);
      return err;
    };
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
          routes: [
            { match: { authority: "api" }, origin: `http://127.0.0.1:${origin.addr.port}` },
            { match: { authority: "live" }, origin: wsOrigin.url },
          ],
        }),
      );
      const served = await serve(["serve", "--config", "cfg.json"]);
      gateway = served.child;
      const { banner } = served;
      const channel = /channel\s+(ws:\S+)/.exec(banner)?.[1];
      assert.ok(channel, banner);
      assert.match(banner, new RegExp(`pin\\s+${pin}`));
      const tryLine = /Try:\n\s+(npx pqgate fetch .*)\n/.exec(banner)?.[1];
      assert.equal(tryLine, `npx pqgate fetch --pin ${pin} ${channel} https://api/`, banner);
      const [cmd, ...args] = tryLine!.split(/\s+/);
      const fetched = await run(cmd, args, { cwd: tmp, env, timeoutMs: 20_000 });
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.deepEqual(JSON.parse(fetched.stdout), { from: "origin", path: "/" });

      const ch = await connect(channel!, { pin });
      try {
        const ws = ch.websocket("wss://live/echo");
        const r = recordWebSocket(ws);
        await r.opened(20_000);
        ws.send("through pqgate serve");
        const end = Date.now() + 20_000;
        while (r.messages.length === 0 && r.close === null && Date.now() < end) {
          await new Promise((res) => setTimeout(res, 10));
        }
        assert.deepEqual(r.messages, ["through pqgate serve"], r.log.join());
        assert.equal(wsOrigin.upgrades, 1);
      } finally {
        ch.close();
      }

      const remote = await npx(["pin", channel!]);
      assert.equal(remote.code, 0, remote.stderr);
      assert.equal(remote.stdout.trim(), pin);

      assert.doesNotMatch(banner, /demo\s+http/, "no demo page in front of real routes");
      await stop(served);
      gateway = null;

      // Demo mode: the demo page, with the browser client the package ships.
      const shipped = `${tmp}/node_modules/pqgate/dist/pkg/browser/pqgate-client.js`;
      assert.ok(!(await exists(`${tmp}/node_modules/esbuild`)), "the package brought esbuild");
      const demoServed = await serve(["serve", "--port", "0"]);
      demo = demoServed.child;
      const shown = /demo\s+(http:\/\/\S+\/)\s+\(open in a browser\)/.exec(demoServed.banner)?.[1];
      assert.ok(shown, demoServed.banner);
      const page = shown.replace("//localhost:", "//127.0.0.1:"); // where it listens
      const html = await fetch(page);
      assert.equal(html.status, 200);
      assert.match(html.headers.get("content-type")!, /^text\/html/);
      assert.match(html.headers.get("content-security-policy")!, /script-src 'self'/);
      const htmlText = await html.text();
      assert.match(htmlText, /<script type="module" src="\.\/demo\.js">/);
      assert.match(htmlText, /"channelPath":"\/pqgate"/);
      assert.ok(!htmlText.includes("__PQGATE_CONFIG__"));
      const script = await fetch(new URL("demo.js", page));
      assert.equal(script.status, 200);
      assert.equal(
        await script.text(),
        await Deno.readTextFile(`${tmp}/node_modules/pqgate/dist/pkg/demo/page/demo.js`),
      );
      const js = await fetch(new URL("client.js", page));
      assert.equal(js.status, 200);
      assert.match(js.headers.get("content-type")!, /^text\/javascript/);
      const shippedText = await Deno.readTextFile(shipped);
      assert.ok(shippedText.endsWith("\n//# sourceMappingURL=pqgate-client.js.map\n"));
      assert.equal(
        await js.text(),
        shippedText.replace(/pqgate-client\.js\.map\n$/, "client.js.map\n"),
        "/client.js is the shipped bundle, its map named by the path it is served under",
      );
      const map = await fetch(new URL("client.js.map", page));
      assert.equal(map.status, 200);
      assert.equal(await map.text(), await Deno.readTextFile(shipped + ".map"));
      // Its Try line, verbatim, through the embedded demo origin.
      const demoTry = /Try:\n\s+(npx pqgate fetch .*)\n/.exec(demoServed.banner)?.[1];
      assert.match(demoTry ?? "", / https:\/\/demo\/api\/hello$/, demoServed.banner);
      const [demoCmd, ...demoArgs] = demoTry!.split(/\s+/);
      const hello = await run(demoCmd, demoArgs, { cwd: tmp, env, timeoutMs: 20_000 });
      assert.equal(hello.code, 0, hello.stderr);
      assert.match(hello.stdout, /hello from the pqgate demo origin/);
      const demoErr = await stop(demoServed);
      demo = null;
      assert.match(
        demoErr,
        /demo page: serving the browser client .*node_modules\/pqgate\/dist\/pkg\/browser\/pqgate-client\.js \(\d+ bytes\)/,
      );
    } finally {
      for (const child of [gateway, demo]) {
        if (!child) continue;
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        await child.status;
      }
      await origin.shutdown();
      await wsOrigin.close();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
