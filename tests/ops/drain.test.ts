/**
 * Drain through the command (docs/operations.md "Drain"): SIGTERM to the running gateway
 * (src/cli/start.ts, what `npm start` runs at the end of its chain) while a response streams:
 * the response completes, the process exits 0, and the log's `transport.drained` line says no
 * channel was cut. The process-tree side (every wrapper forwards the signal) is signals.test.ts.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createKeyFile } from "../../src/cli/key-file.ts";
import { startGateway } from "./process-tree.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "ops: SIGTERM drains: a streaming response finishes, exit 0, the log says nothing was cut",
  ignore: Deno.build.os === "windows",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-drain-" });
    const origin = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
      let n = 0;
      let t: ReturnType<typeof setInterval> | undefined;
      return new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            t = setInterval(() => {
              c.enqueue(new TextEncoder().encode(`${n}\n`));
              if (++n === 6) {
                clearInterval(t);
                c.close();
              }
            }, 100);
          },
          cancel() {
            clearInterval(t);
          },
        }),
      );
    });
    let gateway: Deno.ChildProcess | null = null;
    try {
      const k = await createKeyFile(`${dir}/k.json`, {});
      const cfg = `${dir}/pqgate.json`;
      await Deno.writeTextFile(
        cfg,
        JSON.stringify({
          port: 0,
          keyFile: "k.json",
          routes: [{ match: { authority: "api" }, origin: `http://127.0.0.1:${origin.addr.port}` }],
        }),
      );
      const g = await startGateway(
        Deno.execPath(),
        ["run", "-A", "src/cli/start.ts", "--config", cfg, "--drain-timeout", "5s"],
        { cwd: ROOT },
      );
      gateway = g.child;
      const ws = /channel\s+(ws:\S+)/.exec(g.banner)![1];
      const ch = await connect(ws, { pin: k.pin });
      const res = await ch.fetch("https://api/stream");
      const body = res.text();
      g.child.kill("SIGTERM");
      assert.equal(await body, "0\n1\n2\n3\n4\n5\n");
      assert.equal((await g.child.status).code, 0);
      gateway = null;
      ch.close();
      const err = await g.stderr;
      const drained = err.split("\n").filter((l) => l.includes('"transport.drained"'));
      assert.equal(drained.length, 1, err);
      const line = JSON.parse(drained[0]);
      assert.equal(line.channels, 1);
      assert.equal(line.cut, 0);
      assert.ok(line.ms < 5_000, drained[0]);
      assert.match(await g.rest, /pqgate stopped/);
    } finally {
      gateway?.kill("SIGKILL");
      await origin.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
