/**
 * JSR readiness (deno.json `name`, `version`, `exports`, `publish`): `deno publish --dry-run`
 * runs offline (JSR itself is not reachable here, so the real publish is not tried). It must
 * pass the slow-types check for every entry and list only sources and the documents, never a
 * test, test helper, bench, key or config.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("jsr: deno publish --dry-run passes and publishes only sources and documents", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /Success Dry run complete/);
  const files = [...text.matchAll(/^\s+file:\/\/(\S+) \(/gm)].map((m) => m[1].slice(ROOT.length));
  assert.ok(files.length > 50, text);
  for (
    const f of [
      "src/client/mod.ts",
      "src/hono.ts",
      "src/deno.ts",
      "src/node.ts",
      "src/cloudflare.ts",
      "PROTOCOL.md",
      "LICENSE",
    ]
  ) {
    assert.ok(files.includes(f), `${f} is published`);
  }
  const bad = files.filter((f) =>
    /\.test\.ts$|(^|\/)testing\.ts$|^(tests|bench|scripts|worker|keys|examples|docs)\/|\.pqgate|\.json$/
      .test(f) &&
    f !== "deno.json"
  );
  assert.deepEqual(bad, []);
});
