/**
 * `npx pqgate serve` from the packed tarball, as a consumer runs it, gets SIGTERM at npx's pid
 * only (what `docker stop` sends to `CMD npx pqgate serve`): npm passes it on to its shell
 * (`sh -c pqgate serve`), which dies of it; bin/pqgate.mjs, reparented, stops the gateway as
 * if it had been sent SIGTERM. Every process of the tree must be gone within the bound and the
 * gateway must have stopped cleanly ("pqgate stopped", exit 0). Linux (/proc).
 */
import assert from "node:assert/strict";
import { allGone, descendants, startGateway } from "../ops/process-tree.ts";
import { buildAndPack, installConsumer, QUIET_ENV, VERSIONS } from "./helpers.ts";

/** From SIGTERM to the last process gone: the orphan check (250 ms) plus a shutdown. */
const BOUND_MS = 10_000;

Deno.test({
  name: "package: SIGTERM to `npx pqgate serve` stops the gateway, no process left",
  ignore: Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-bin-signals-" });
    const keys = await Deno.makeTempDir({ prefix: "pqgate-bin-signals-keys-" });
    try {
      const { tarball } = await buildAndPack();
      await installConsumer(tmp, [tarball, `hono@${VERSIONS.hono}`]);
      const g = await startGateway(
        "npx",
        ["--no-install", "pqgate", "serve", "--port", "0", "--key-file", `${keys}/k.json`],
        { cwd: tmp, env: { ...QUIET_ENV, npm_config_yes: "false" } },
      );
      const tree = descendants(g.child.pid);
      const names = tree.map((p) =>
        Deno.readTextFileSync(`/proc/${p}/cmdline`).replaceAll("\0", " ")
      );
      assert.ok(names.some((n) => n.includes("pqgate serve")), names.join("\n"));
      g.child.kill("SIGTERM");
      await g.child.status;
      await allGone(tree, BOUND_MS);
      assert.match(await g.rest, /pqgate stopped/);
      assert.doesNotMatch(await g.stderr, /Error/);
    } finally {
      await Deno.remove(tmp, { recursive: true });
      await Deno.remove(keys, { recursive: true });
    }
  },
});
