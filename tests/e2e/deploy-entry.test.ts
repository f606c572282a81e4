/**
 * The Deno Deploy entry (src/transport/deno/deploy.ts) as a separate process with only
 * --allow-net --allow-env, configured by PQGATE_* environment variables exactly like the
 * Worker: the client connects with the pin of the key in PQGATE_KEYS and fetches through it.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";

const ENTRY = new URL("../../src/transport/deno/deploy.ts", import.meta.url).pathname;

function spawnEntry(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--no-prompt", ENTRY],
    env: { PORT: "0", HOSTNAME: "127.0.0.1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Reads stdout until the `gateway.listening` event; returns its URL. */
async function listeningUrl(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
    const line = text.split("\n").find((l) => l.includes('"gateway.listening"'));
    if (line) {
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return JSON.parse(line).url;
    }
  }
  throw new Error(`the entry did not start: ${text}`);
}

Deno.test({
  name: "deploy entry: --allow-net --allow-env only, configured by PQGATE_* like the Worker",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const key = generateStaticKey(seed);
    const child = spawnEntry({
      PQGATE_KEYS: JSON.stringify([toBase64Url(seed)]),
      PQGATE_LIMITS: JSON.stringify({ maxStreams: 7 }),
      PQGATE_LOG: "off",
    });
    try {
      const url = await listeningUrl(child);
      const cfg = await (await fetch(`${url}/.well-known/pqgate`)).json();
      assert.equal(cfg.keys[0].pin, pinFor(key.publicKey));
      const ch = await connect(url.replace(/^http/, "ws") + "/pqgate", {
        pin: pinFor(key.publicKey),
      });
      try {
        const hello = await ch.fetch("https://demo/api/hello");
        assert.equal(hello.status, 200);
        assert.equal((await hello.json()).message.length > 0, true);
        const echo = await ch.fetch("https://demo/api/echo", {
          method: "POST",
          body: "round trip",
        });
        assert.equal(await echo.text(), "round trip");
        assert.equal(ch.sessionInfo?.maxStreams, 7, "PQGATE_LIMITS applied");
      } finally {
        ch.close();
      }
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stderr.cancel().catch(() => {});
    }
  },
});

Deno.test("deploy entry: a missing or bad variable exits 2 naming it, never echoing a secret", async () => {
  for (
    const [env, pattern] of [
      [{}, /PQGATE_KEYS is not set/],
      [{ PQGATE_KEYS: '["secret-but-not-a-seed"]' }, /PQGATE_KEYS\[0\]: seed is neither/],
      [
        { PQGATE_KEYS: '["' + "a".repeat(64) + '"]', PQGATE_ROUTES: "{}" },
        /PQGATE_ROUTES must be a JSON array/,
      ],
    ] as [Record<string, string>, RegExp][]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--no-prompt", ENTRY],
      env: { PORT: "0", HOSTNAME: "127.0.0.1", ...env },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, pattern);
    assert.ok(!stderr.includes("secret-but-not-a-seed"), "the secret is not echoed");
  }
});
