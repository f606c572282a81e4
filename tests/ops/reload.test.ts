/**
 * Reload (docs/operations.md "Reload" and "Key rotation"): SIGHUP to the running gateway
 * (`deno task start`'s process, src/cli/start.ts) re-reads its config file and key files. The
 * rotation runs step by step while one channel stays open: add the new key (both pins work),
 * a broken config and a missing key file are refused with one line naming the file and
 * setting (the running configuration is kept), retire the old key (new channels with the old
 * pin fail, the open channel keeps working). Then SIGTERM: exit 0.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/client/mod.ts";
import { createKeyFile } from "../../src/cli/key-file.ts";
import { startGateway } from "./process-tree.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "ops: SIGHUP reloads keys and routes without dropping channels; a bad config is refused",
  ignore: Deno.build.os === "windows",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-reload-" });
    const origin = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      (req) => new Response(`origin ${new URL(req.url).pathname}`),
    );
    const originUrl = `http://127.0.0.1:${origin.addr.port}`;
    const cfg = `${dir}/pqgate.json`;
    const write = (o: unknown) => Deno.writeTextFile(cfg, JSON.stringify(o));
    const route = (prefix: string) => ({
      match: { authority: "api", pathPrefix: prefix },
      origin: originUrl,
    });
    let gateway: Deno.ChildProcess | null = null;
    try {
      const k1 = await createKeyFile(`${dir}/k1.json`, {});
      const k2 = await createKeyFile(`${dir}/k2.json`, {});
      await write({ port: 0, keys: ["k1.json"], routes: [route("/a")] });
      const g = await startGateway(
        Deno.execPath(),
        ["run", "-A", "src/cli/start.ts", "--config", cfg],
        { cwd: ROOT },
      );
      gateway = g.child;
      const ws = /channel\s+(ws:\S+)/.exec(g.banner)![1];
      const base = ws.replace(/^ws/, "http").replace(/\/pqgate$/, "");
      const keyIds = async () =>
        ((await (await fetch(`${base}/.well-known/pqgate`)).json()).keys as { key_id: string }[])
          .map((k) => k.key_id).sort().join(",");
      const hup = async (want: string | null) => {
        const before = await keyIds();
        g.child.kill("SIGHUP");
        const end = Date.now() + 10_000;
        for (;;) {
          await new Promise((r) => setTimeout(r, 50));
          const now = await keyIds();
          if (want !== null && now === want) return;
          if (want === null && Date.now() > end - 9_000) return assert.equal(now, before);
          assert.ok(Date.now() < end, `no reload: key ids ${now}`);
        }
      };
      const text = async (ch: Awaited<ReturnType<typeof connect>>, path: string) => {
        const r = await ch.fetch(`https://api${path}`);
        return `${r.status} ${await r.text()}`;
      };

      const open = await connect(ws, { pin: k1.pin });
      assert.equal(await text(open, "/a/x"), "200 origin /a/x");
      const session = open.sessionId;
      const ids1 = [k1.keyIdHex].sort().join(",");
      assert.equal(await keyIds(), ids1);

      // 1. Add the new key (and a route): both pins work, the open channel stays.
      await write({ port: 0, keys: ["k1.json", "k2.json"], routes: [route("/a"), route("/b")] });
      const both = [k1.keyIdHex, k2.keyIdHex].sort().join(",");
      await hup(both);
      assert.equal(await text(open, "/a/y"), "200 origin /a/y");
      assert.equal(open.sessionId, session, "the open channel was not dropped");
      const byNew = await connect(ws, { pin: k2.pin });
      assert.equal(await text(byNew, "/b/z"), "200 origin /b/z");
      const byOld = await connect(ws, { pin: k1.pin });
      assert.equal(await text(byOld, "/b/z"), "200 origin /b/z");
      byOld.close();

      // 2. Broken configs are refused; the running one is kept.
      await write({ port: 0, keys: ["k1.json", "k2.json"], routes: [{ match: {}, origin: 7 }] });
      await hup(null);
      await write({ port: 0, keys: ["k2.json", "missing.json"], routes: [route("/a")] });
      await hup(null);
      await Deno.writeTextFile(cfg, "{ not json");
      await hup(null);
      assert.equal(await keyIds(), both);
      assert.equal(await text(byNew, "/b/again"), "200 origin /b/again");

      // 3. Retire the old key: new channels with its pin fail; the open one keeps working.
      await write({ port: 0, keys: ["k2.json"], routes: [route("/a"), route("/b")] });
      await hup(k2.keyIdHex);
      await assert.rejects(
        connect(ws, { pin: k1.pin, fetchConfig: (i, init) => fetch(i, init) }),
      );
      // An open channel keeps the configuration it was opened with (no /b route there).
      assert.equal(await text(open, "/a/still"), "200 origin /a/still");
      assert.equal((await open.fetch("https://api/b/x")).status, 403);
      assert.equal(open.sessionId, session);
      open.close();
      byNew.close();

      g.child.kill("SIGTERM");
      assert.equal((await g.child.status).code, 0);
      gateway = null;
      const err = await g.stderr;
      const refused = err.split("\n").filter((l) => l.startsWith("pqgate: reload refused"));
      assert.equal(refused.length, 3, err);
      assert.match(refused[0], /pqgate\.json: routes\[0\]/);
      assert.match(refused[1], /missing\.json/);
      assert.match(refused[2], /pqgate\.json/);
      assert.equal(err.split("\n").filter((l) => l.startsWith("pqgate: reloaded")).length, 2, err);
      assert.match(await g.rest, /pqgate stopped/);
    } finally {
      gateway?.kill("SIGKILL");
      await origin.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
