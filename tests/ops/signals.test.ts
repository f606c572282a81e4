/**
 * Signals reach the gateway through every wrapper a user runs it with (docs/operations.md
 * 'Signals'): `npm start` (npm → node scripts/start.mjs → deno task start → deno run) and an
 * npm script that goes through npm's shell (`npm run deno -- task start`: the shell dies of the
 * SIGTERM npm passes on, and the orphaned wrapper passes SIGTERM on itself). SIGTERM to the
 * outermost pid only, as `docker stop` sends it to `CMD npm start`; then every process of the
 * tree must be gone within the bound and the gateway must have stopped cleanly. The packaged
 * `npx pqgate serve` is tests/package/bin-signals.test.ts. Linux (/proc).
 */
import assert from "node:assert/strict";
import { allGone, descendants, startGateway } from "./process-tree.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** From SIGTERM to the last process of the tree gone (no channel open: nothing to drain). */
const BOUND_MS = 10_000;

async function sigtermTree(args: string[], wantCode: number) {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-signals-" });
  try {
    const g = await startGateway("npm", [...args, "--port", "0", "--key-file", `${dir}/k.json`], {
      cwd: ROOT,
      env: { npm_config_update_notifier: "false" },
    });
    const tree = descendants(g.child.pid);
    const names = tree.map((p) =>
      Deno.readTextFileSync(`/proc/${p}/cmdline`).replaceAll("\0", " ")
    );
    assert.ok(names.some((n) => n.includes("src/cli/start.ts")), names.join("\n"));
    const t0 = performance.now();
    g.child.kill("SIGTERM");
    const status = await g.child.status;
    const exitedMs = performance.now() - t0;
    const goneMs = await allGone(tree, BOUND_MS);
    assert.equal(status.code, wantCode, await g.stderr);
    assert.match(await g.rest, /pqgate stopped/);
    return { tree: names, exitedMs, goneMs };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "ops: SIGTERM to `npm start` reaches the gateway; it stops, npm exits 0, no process left",
  ignore: Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await sigtermTree(["start", "--"], 0);
    // npm → node scripts/start.mjs (npm's shell exec'd it) → deno task → deno run.
    assert.equal(r.tree.length, 3, r.tree.join("\n"));
    assert.ok(r.exitedMs < BOUND_MS);
  },
});

Deno.test({
  name: "ops: an npm script through npm's shell: the orphaned wrapper passes SIGTERM on",
  ignore: Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // npm reports the shell's death by SIGTERM (143); the gateway still stops cleanly.
    const r = await sigtermTree(["run", "deno", "--", "task", "start"], 143);
    assert.ok(r.tree[0].startsWith("sh "), r.tree.join("\n"));
  },
});
