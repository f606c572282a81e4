/**
 * The start command and the CLI client as a user runs them: the start command in an empty
 * directory (no set-up), a call through the channel with the fetch command (also exactly as
 * the banner prints it, `npm run fetch -- ...`, without Deno on PATH), then SIGTERM and a clean
 * exit. Real processes, real sockets.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CONFIG = `${ROOT}deno.json`;
const START = `${ROOT}src/cli/start.ts`;
const FETCH = `${ROOT}src/cli/fetch.ts`;
const dec = new TextDecoder();

function deno(args: string[], cwd: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", INIT_CWD: cwd }, // npm test sets INIT_CWD to the repo
  });
}

async function runFetch(args: string[], cwd: string) {
  const out = await deno([FETCH, ...args], cwd).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Reads the child's stdout until `done(text)` holds (or 15 s pass). */
async function readUntil(
  r: ReadableStreamDefaultReader<Uint8Array>,
  done: (s: string) => boolean,
  sofar = "",
) {
  let text = sofar;
  const deadline = Date.now() + 15_000;
  while (!done(text)) {
    if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${text}`);
    const { value, done: eof } = await r.read();
    if (eof) throw new Error(`process ended; output:\n${text}`);
    text += dec.decode(value);
  }
  return text;
}

Deno.test({
  name: "e2e: start command — zero set-up, fetch CLI through the channel, SIGTERM exits cleanly",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-start-" });
    const child = deno([START, "--port", "0"], dir).spawn();
    const reader = child.stdout.getReader();
    try {
      const banner = await readUntil(
        reader,
        (s) => s.includes("Try:") && s.trimEnd().endsWith("hello"),
      );
      const channel = /channel\s+(ws:\/\/\S+)/.exec(banner)?.[1];
      const pin = /pin\s+(sha256:[A-Za-z0-9_-]{43})/.exec(banner)?.[1];
      const keyId = /key id\s+([0-9a-f]{16})\s+\(created \.pqgate\/gateway-key\.json\)/.exec(banner)
        ?.[1];
      assert.ok(channel && pin && keyId, banner);
      assert.match(
        banner,
        new RegExp(`npm run fetch -- --pin ${pin} ${channel} https://demo/api/hello`),
      );

      // The key file: created on first run, mode 0600, its seed never printed.
      const keyPath = `${dir}/.pqgate/gateway-key.json`;
      const keyFile = JSON.parse(await Deno.readTextFile(keyPath));
      assert.equal(keyFile.pin, pin);
      assert.ok(!banner.includes(keyFile.seed), "the seed was printed");
      if (Deno.build.os !== "windows") {
        assert.equal((await Deno.stat(keyPath)).mode! & 0o777, 0o600);
      }

      // The printed example, verbatim.
      const r1 = await runFetch(["--pin", pin!, channel!, "https://demo/api/hello"], dir);
      assert.equal(r1.code, 0, r1.stderr);
      assert.match(JSON.parse(r1.stdout).message, /hello from the pqgate demo origin/);

      // ... and as printed: `npm run fetch -- ...`, with no Deno on PATH (the npm script runs
      // the Deno from node_modules), from the directory the gateway runs in.
      const noDenoPath = (Deno.env.get("PATH") ?? "").split(":").filter((d) => {
        try {
          Deno.statSync(`${d}/deno`);
          return false;
        } catch {
          return true;
        }
      }).join(":");
      const printed = /Try:\n\s+(npm run fetch -- .*)\n/.exec(banner)?.[1];
      assert.ok(printed, banner);
      const viaNpm = await new Deno.Command("npm", {
        args: ["--prefix", ROOT, "run", "--silent", ...printed!.split(/\s+/).slice(2)],
        cwd: dir,
        env: { PATH: noDenoPath, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(viaNpm.code, 0, dec.decode(viaNpm.stderr));
      assert.match(
        JSON.parse(dec.decode(viaNpm.stdout)).message,
        /hello from the pqgate demo origin/,
      );

      // No pin on localhost: taken from the local key file, and -v says so.
      const r2 = await runFetch(
        ["--gateway", channel!, "https://demo/api/items/2", "-i", "-v"],
        dir,
      );
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stdout, /^HTTP 200\r\n/);
      assert.match(r2.stdout, /"name":"curve"/);
      assert.match(r2.stderr, /pin from\s+local key file \.pqgate\/gateway-key\.json/);
      assert.match(r2.stderr, new RegExp(`key id\\s+${keyId}`));
      assert.match(r2.stderr, /suite\s+0x000[12] X-Wing/);
      assert.match(r2.stderr, /ClientHello \d+ B, ServerHello \d+ B, ClientFinished 33 B/);

      // Channel errors: wrong pin → exit 1 with the typed error's message; 403 with --fail → 22.
      const r3 = await runFetch([
        "--pin",
        "sha256:" + "A".repeat(43),
        channel!,
        "https://demo/api/hello",
      ], dir);
      assert.equal(r3.code, 1);
      assert.match(r3.stderr, /no key of the gateway .* matches the pin/);
      const r4 = await runFetch(
        ["--gateway", channel!, "--fail", "https://not-routed.example/"],
        dir,
      );
      assert.equal(r4.code, 22);
      assert.equal(JSON.parse(r4.stdout).error, "forbidden");

      // An open channel sees 1001 when the gateway is stopped.
      const ch = await connect(channel!, { pin: pin! });
      assert.equal((await ch.fetch("https://demo/api/hello")).status, 200);
      const closes: number[] = [];
      const probe = new WebSocket(channel!);
      await new Promise((r) => (probe.onopen = r));
      probe.onclose = (e) => closes.push(e.code);

      child.kill("SIGTERM");
      const rest = await readUntil(reader, (s) => s.includes("pqgate stopped"), banner);
      assert.match(rest, /pqgate stopped/);
      const status = await child.status;
      assert.equal(status.code, 0);
      assert.equal(status.success, true);
      assert.deepEqual(closes, [1001]);
      assert.equal(ch.connected, false);
      ch.close();
    } finally {
      reader.releaseLock();
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await child.stderr.cancel().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "e2e: start command — `deno task start` wiring, --generate-key, config errors",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-cfg-" });
    try {
      const task = await new Deno.Command("node", {
        args: [`${ROOT}scripts/deno.mjs`, "task", "--config", CONFIG, "start", "--help"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(task.code, 0, dec.decode(task.stderr));
      assert.match(dec.decode(task.stdout), /Usage: npm start -- \[options\]/);

      const gen = await deno([START, "--generate-key", "keys/a.json"], dir).output();
      assert.equal(gen.code, 0, dec.decode(gen.stderr));
      assert.match(dec.decode(gen.stdout), /pin\s+sha256:/);

      await Deno.writeTextFile(
        `${dir}/bad.json`,
        JSON.stringify({
          keys: ["keys/a.json"],
          routes: [{ match: { authority: "api.example" }, origin: "ftp://10.0.0.1" }],
        }),
      );
      const bad = await deno([START, "--config", "bad.json", "--port", "0"], dir).output();
      assert.equal(bad.code, 2);
      assert.match(
        dec.decode(bad.stderr),
        /bad\.json: routes\[0\]\.origin: scheme must be http or https/,
      );

      await Deno.writeTextFile(
        `${dir}/missing.json`,
        JSON.stringify({ keys: ["keys/nope.json"], routes: [] }),
      );
      const missing = await deno([START, "--config", "missing.json", "--port", "0"], dir).output();
      assert.equal(missing.code, 2);
      assert.match(dec.decode(missing.stderr), /key file .*keys\/nope\.json: not found/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
