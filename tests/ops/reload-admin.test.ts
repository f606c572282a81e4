/**
 * The admin reload on a real gateway process (docs/operations.md "Reload", "Key rotation"):
 * `src/cli/start.ts --config` and `pqgate serve --config` (src/cli/main.ts) on an ephemeral
 * port with the metrics listener, rotated through POST /-/reload and once by SIGHUP (both
 * commands). The endpoint answers 200 with the live key ids or 422 with the reason, file and setting; after the old key is removed a client
 * that still sends its key id is refused with 4003 (unknown_key_id) while a channel opened with
 * it keeps working; each kind of broken config (bad JSON, a missing key file, a bad route, a bad
 * limit) is refused with the old key set kept; concurrent requests are serialized; a changed
 * restart-only setting is named; the key-id metric shows the keys in use; no key material in
 * any output.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createKeyFile } from "../../src/cli/key-file.ts";
import { ChannelClosedError } from "../../src/client/errors.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const dec = new TextDecoder();

/** Reads `stream` into `out.text` as it arrives. */
function collect(stream: ReadableStream<Uint8Array>, out: { text: string }): Promise<void> {
  return (async () => {
    for await (const c of stream) out.text += dec.decode(c);
  })();
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The `reload` lines of the JSON log, parsed. */
function reloadLines(stderr: string): Record<string, unknown>[] {
  return stderr.split("\n").filter((l) => l.includes('"event":"gateway.reload"'))
    .map((l) => JSON.parse(l));
}

/**
 * The two commands: `deno task start`'s (src/cli/start.ts) and `pqgate serve`'s (src/cli/main.ts
 * `run`, serveNode: what bin/pqgate.mjs runs on Node), started by a runner in the temp dir.
 */
const COMMANDS: [string, (dir: string) => Promise<string[]>][] = [
  ["src/cli/start.ts", () => Promise.resolve([`${ROOT}src/cli/start.ts`])],
  ["pqgate serve (src/cli/main.ts)", async (dir) => {
    const runner = `${dir}/serve.ts`;
    await Deno.writeTextFile(
      runner,
      `import { run } from "${new URL("../../src/cli/main.ts", import.meta.url).href}";\n` +
        "Deno.exit(await run(Deno.args));\n",
    );
    return [runner, "serve"];
  }],
];

for (const [label, command] of COMMANDS) {
  Deno.test({
    name:
      `ops: POST /-/reload rotates keys without dropping a channel and answers each refusal: ${label}`,
    ignore: Deno.build.os === "windows",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "pqgate-reload-" });
      const origin = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        (req) => new Response(`hello ${new URL(req.url).pathname}`),
      );
      const route = {
        match: { authority: "api.test" },
        origin: `http://127.0.0.1:${origin.addr.port}`,
      };
      const writeConfig = (c: unknown) =>
        Deno.writeTextFile(`${dir}/c.json`, typeof c === "string" ? c : JSON.stringify(c));
      const k1 = await createKeyFile(`${dir}/k1.json`);
      const k2 = await createKeyFile(`${dir}/k2.json`);
      await writeConfig({ keys: ["k1.json"], routes: [route] });

      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          `${ROOT}deno.json`,
          ...await command(dir),
          "--config",
          `${dir}/c.json`,
          "--port",
          "0",
          "--metrics-listen",
          "127.0.0.1:0",
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", INIT_CWD: dir },
      }).spawn();
      const out = { text: "" }, err = { text: "" };
      const reading = Promise.all([collect(child.stdout, out), collect(child.stderr, err)]);
      const channels: { close(): void }[] = [];
      try {
        await until("the banner", () => out.text.includes("Try:"));
        const channel = /channel\s+(ws:\/\/\S+)/.exec(out.text)![1];
        const metrics = /metrics\s+(http:\/\/\S+)\/metrics/.exec(out.text)![1];
        const reload = async () => {
          const r = await fetch(`${metrics}/-/reload`, { method: "POST" });
          return { status: r.status, body: await r.json() };
        };
        const call = async (pin: string) => {
          const ch = await connect(channel, { pin });
          channels.push(ch);
          const r = await ch.fetch("https://api.test/x");
          assert.equal(await r.text(), "hello /x");
          return ch;
        };

        // Open with the old key; it stays open through every reload below.
        const old = await call(k1.pin);

        // Add the new key: both pins work.
        await writeConfig({ keys: ["k1.json", "k2.json"], routes: [route] });
        const added = await reload();
        assert.equal(added.status, 200, JSON.stringify(added.body));
        assert.deepEqual(added.body, {
          reloaded: true,
          keyIds: [k1.keyIdHex, k2.keyIdHex],
          added: [k2.keyIdHex],
          removed: [],
          restartOnly: [],
        });
        const line = reloadLines(err.text).at(-1)!;
        assert.equal(line.ok, true);
        assert.deepEqual(line.keyIds, [k1.keyIdHex, k2.keyIdHex]);
        const cfg = await (await fetch(
          channel.replace("ws:", "http:").replace(/\/pqgate$/, "/.well-known/pqgate"),
        )).json();
        assert.deepEqual(cfg.keys.map((k: { key_id: string }) => k.key_id), [
          k1.keyIdHex,
          k2.keyIdHex,
        ]);
        await call(k2.pin);
        await call(k1.pin);

        // Remove the old key through the admin endpoint.
        await writeConfig({ keys: ["k2.json"], routes: [route] });
        const r = await reload();
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.deepEqual(r.body.keyIds, [k2.keyIdHex]);
        assert.deepEqual(r.body.removed, [k1.keyIdHex]);
        // The old pin: refused by the gateway with 4003 while the client's cached key
        // configuration still lists the old key; the next attempt fetches the configuration
        // again and the client refuses before a handshake.
        await assert.rejects(connect(channel, { pin: k1.pin }), /code 4003 \(unknown key id\)/);
        await assert.rejects(connect(channel, { pin: k1.pin }), /matches the pin/);
        // A client that still sends the old key id is refused by the gateway: 4003 unknown_key_id.
        await assert.rejects(
          connect(channel, { keyId: k1.keyIdHex, publicKey: k1.key.publicKey }),
          (e: unknown) => e instanceof ChannelClosedError && e.code === 4003 && e.byGateway,
        );
        await call(k2.pin);
        // The channel opened with the removed key keeps the configuration it started with.
        assert.equal(await (await old.fetch("https://api.test/still")).text(), "hello /still");

        // Broken configurations: each refused (422, the file and setting named), the old one kept.
        const broken: [unknown, RegExp, string | null, string][] = [
          ["{ not json", /c\.json/, null, `${dir}/c.json`],
          [
            { keys: ["k2.json", "missing.json"], routes: [route] },
            /missing\.json: not found/,
            "keys",
            `${dir}/missing.json`,
          ],
          [
            {
              keys: ["k2.json"],
              routes: [{ match: { authority: "api.test" }, origin: "ftp://x" }],
            },
            /routes\[0\]\.origin/,
            "routes[0].origin",
            `${dir}/c.json`,
          ],
          [
            { keys: ["k2.json"], routes: [route], limits: { maxStreams: -1 } },
            /limits\.maxStreams/,
            "limits.maxStreams",
            `${dir}/c.json`,
          ],
        ];
        for (const [config, why, setting, file] of broken) {
          await writeConfig(config);
          const b = await reload();
          assert.equal(b.status, 422, JSON.stringify(b.body));
          assert.equal(b.body.reloaded, false);
          assert.match(b.body.error, why);
          assert.equal(b.body.setting, setting);
          assert.equal(b.body.file, file);
          const refused = reloadLines(err.text).at(-1)!;
          assert.equal(refused.ok, false);
          assert.equal(refused.file, file);
          assert.deepEqual(refused.keyIds, [k2.keyIdHex], "the old key set stays live");
          await call(k2.pin);
          await assert.rejects(connect(channel, { pin: k1.pin }), /matches the pin|code 4003/);
        }
        assert.equal(await (await old.fetch("https://api.test/end")).text(), "hello /end");

        // Concurrent requests are serialized: every one answers, none half-applied.
        await writeConfig({ keys: ["k2.json", "k1.json"], routes: [route] });
        const all = await Promise.all([reload(), reload(), reload()]);
        for (const a of all) assert.deepEqual(a.body.keyIds, [k2.keyIdHex, k1.keyIdHex]);

        // A restart-only setting is read, named, and not applied.
        await writeConfig({ keys: ["k2.json"], routes: [route], maxSockets: 5, logLevel: "debug" });
        const ro = await reload();
        assert.equal(ro.status, 200, JSON.stringify(ro.body));
        assert.deepEqual(ro.body.restartOnly, ["maxSockets", "observe.logLevel"]);
        assert.match(
          err.text,
          /maxSockets, observe\.logLevel changed: applied at the next restart/,
        );
        assert.ok(!err.text.includes('"event":"stream_open"'), "logLevel debug was applied");

        // SIGHUP runs the same reload.
        await writeConfig({ keys: ["k2.json"], routes: [route] });
        const lines = reloadLines(err.text).length;
        child.kill("SIGHUP");
        await until("the SIGHUP reload", () => reloadLines(err.text).length > lines);
        assert.deepEqual(reloadLines(err.text).at(-1)!.keyIds, [k2.keyIdHex]);
        await call(k2.pin);

        // The key-id metric shows which keys are used.
        const text = await (await fetch(`${metrics}/metrics`)).text();
        assert.match(
          text,
          new RegExp(`pqgate_key_last_used_timestamp_seconds\\{key_id="${k2.keyIdHex}"\\}`),
        );

        // No key material in any log line.
        for (const path of ["k1.json", "k2.json"]) {
          const seed = JSON.parse(await Deno.readTextFile(`${dir}/${path}`)).seed as string;
          assert.ok(!err.text.includes(seed) && !out.text.includes(seed), "a seed in the output");
        }
      } finally {
        for (const c of channels) c.close();
        child.kill("SIGTERM");
        await child.status;
        await reading;
        await origin.shutdown();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
