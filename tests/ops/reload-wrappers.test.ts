/**
 * SIGHUP through `npm start`'s wrappers (docs/operations.md "Reload"): npm → `node
 * scripts/start.mjs` → `deno task start` → `deno run src/cli/start.ts`. SIGHUP sent to the
 * node wrapper (the process a container runs as `CMD ["node", "scripts/start.mjs"]`) reaches
 * the gateway, which re-reads its key file and keeps running. npm itself does not pass SIGHUP
 * on (it forwards SIGINT and SIGTERM only) and dies of it, which stops the gateway: so the
 * signal goes to a wrapper or the gateway, never to npm's pid. Linux (/proc).
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createKeyFile } from "../../src/cli/key-file.ts";
import { descendants, startGateway } from "./process-tree.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "ops: SIGHUP to npm start's node wrapper reloads the gateway's key file; it keeps running",
  ignore: Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-reload-wrappers-" });
    let g: Awaited<ReturnType<typeof startGateway>> | null = null;
    try {
      g = await startGateway("npm", ["start", "--", "--port", "0", "--key-file", `${dir}/k.json`], {
        cwd: ROOT,
        env: { npm_config_update_notifier: "false" },
      });
      const ws = /channel\s+(ws:\S+)/.exec(g.banner)![1];
      const pin1 = /pin\s+(sha256:\S+)/.exec(g.banner)![1];
      const config = ws.replace(/^ws/, "http").replace(/\/pqgate$/, "/.well-known/pqgate");
      const keyIds = async () =>
        ((await (await fetch(config)).json()).keys as { key_id: string }[]).map((k) => k.key_id);
      const open = await connect(ws, { pin: pin1 });
      assert.equal((await open.fetch("https://demo/api/hello")).status, 200);

      // A new key in the same file (the gateway never writes it again once created).
      const k2 = await createKeyFile(`${dir}/k2.json`);
      await Deno.copyFile(`${dir}/k2.json`, `${dir}/k.json`);
      const wrapper = descendants(g.child.pid).find((p) =>
        Deno.readTextFileSync(`/proc/${p}/cmdline`).replaceAll("\0", " ").includes(
          "scripts/start.mjs",
        )
      );
      assert.ok(wrapper, "no node scripts/start.mjs under npm");
      Deno.kill(wrapper, "SIGHUP");
      const end = Date.now() + 15_000;
      while ((await keyIds()).join() !== k2.keyIdHex) {
        assert.ok(Date.now() < end, `no reload: ${await keyIds()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const fresh = await connect(ws, { pin: k2.pin });
      assert.equal((await fresh.fetch("https://demo/api/hello")).status, 200);
      assert.equal((await open.fetch("https://demo/api/hello")).status, 200, "channel dropped");
      fresh.close();
      open.close();

      g.child.kill("SIGTERM");
      assert.equal((await g.child.status).code, 0);
      const err = await g.stderr;
      assert.match(err, new RegExp(`pqgate: reloaded: keys ${k2.keyIdHex}; demo origin`));
      assert.match(await g.rest, /pqgate stopped/);
      g = null;
    } finally {
      if (g) {
        for (const p of descendants(g.child.pid)) {
          try {
            Deno.kill(p, "SIGKILL");
          } catch { /* gone */ }
        }
        g.child.kill("SIGKILL");
        await g.child.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
