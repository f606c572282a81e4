import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { demoPageRoutes, readDemoPageAssets } from "./page.ts";

const get = (app: { fetch(r: Request): Response | Promise<Response> }, path: string) =>
  Promise.resolve(app.fetch(new Request(`http://gw.test${path}`)));

Deno.test("demo page: serves the page with its config, the script and the bundle", async () => {
  let loads = 0;
  const app = demoPageRoutes({
    clientBundle: () => {
      loads++;
      return Promise.resolve(new TextEncoder().encode("export const x = 1;"));
    },
    channelPath: "/pqgate",
  });
  const page = await get(app, "/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  const csp = page.headers.get("content-security-policy")!;
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  const html = await page.text();
  assert.ok(!html.includes("__PQGATE_CONFIG__"));
  const json = /<script type="application\/json" id="pqgate-config">(.*?)<\/script>/.exec(html)
    ?.[1];
  assert.deepEqual(JSON.parse(json!), {
    channelPath: "/pqgate",
    keyConfigPath: "/.well-known/pqgate",
    targetOrigin: "https://demo",
  });
  assert.match(html, /src="\.\/demo\.js"/);

  const script = await get(app, "/demo.js");
  assert.equal(script.status, 200);
  assert.match(script.headers.get("content-type")!, /^text\/javascript/);
  assert.match(await script.text(), /new URL\("\.\/client\.js", import\.meta\.url\)/);

  for (let i = 0; i < 2; i++) {
    const js = await get(app, "/client.js");
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type")!, /^text\/javascript/);
    assert.equal(await js.text(), "export const x = 1;");
  }
  assert.equal(loads, 1, "the bundle is loaded once and cached");
});

Deno.test("demo page: a bundle with a source map names it and serves it; without one, 404", async () => {
  const map = JSON.stringify({ version: 3, sources: ["src/client/channel.ts"], mappings: "" });
  const withMap = demoPageRoutes({
    clientBundle: () => ({ code: "export const x = 1;", map }),
    channelPath: "/pqgate",
    assets: () => ({ html: "__PQGATE_CONFIG__", script: "" }),
  });
  const js = await (await withMap.request("/client.js")).text();
  assert.ok(js.startsWith("export const x = 1;"));
  assert.match(js, /\n\/\/# sourceMappingURL=client\.js\.map\n$/);
  const m = await withMap.request("/client.js.map");
  assert.equal(m.status, 200);
  assert.equal(m.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(await m.text(), map);
  const bare = demoPageRoutes({ clientBundle: () => "export {};", channelPath: "/pqgate" });
  assert.equal(await (await bare.request("/client.js")).text(), "export {};");
  const none = await bare.request("/client.js.map");
  assert.equal(none.status, 404);
  await none.body?.cancel();
});

Deno.test("demo page: a failing bundle is a 503, reported, and retried on the next request", async () => {
  let calls = 0;
  const errors: string[] = [];
  const app = demoPageRoutes({
    clientBundle: () => {
      calls++;
      if (calls === 1) throw new Error("bundle missing");
      return "export {};";
    },
    channelPath: "/pq",
    onError: (what, e) => errors.push(`${what}: ${(e as Error).message}`),
  });
  const first = await get(app, "/client.js");
  assert.equal(first.status, 503);
  assert.match(await first.text(), /not available/);
  assert.deepEqual(errors, ["client.js: bundle missing"]);
  const second = await get(app, "/client.js");
  assert.equal(second.status, 200);
  assert.equal(await second.text(), "export {};");
});

Deno.test("demo page: config JSON cannot break out of its script element", async () => {
  const app = demoPageRoutes({
    clientBundle: () => "",
    channelPath: "/pqgate",
    targetOrigin: "https://x/</script><script>alert(1)</script>",
    assets: () => ({ html: "<script id=c>__PQGATE_CONFIG__</script>", script: "" }),
  });
  const html = await (await get(app, "/")).text();
  assert.equal(html.match(/<\/script>/g)?.length, 1);
  assert.match(html, /\\u003c\/script\\u003e/);
});

Deno.test("demo page: options are checked", () => {
  assert.throws(() => demoPageRoutes({} as never), /clientBundle/);
  assert.throws(
    () => demoPageRoutes({ clientBundle: () => "", channelPath: "pqgate" }),
    /channelPath/,
  );
});

Deno.test("demo page: the shipped assets have the placeholder and load the client relatively", async () => {
  const a = await readDemoPageAssets();
  assert.ok(a.html.includes("__PQGATE_CONFIG__"));
  assert.match(a.html, /<script type="module" src="\.\/demo\.js">/);
  assert.doesNotMatch(a.html, /<script>(?!<)/, "no inline scripts (the CSP forbids them)");
  assert.match(a.script, /await import\(CLIENT_URL\)/);
});

Deno.test("demo page: readDemoPageAssets reads through the reader it is given (Node: node:fs)", async () => {
  const seen: string[] = [];
  const viaFs = await readDemoPageAssets((f) => {
    seen.push(f.pathname.slice(f.pathname.lastIndexOf("/") + 1));
    return readFile(f, "utf8");
  });
  assert.deepEqual(seen.sort(), ["demo.js", "index.html"]);
  assert.deepEqual(viaFs, await readDemoPageAssets());
});

Deno.test("demo page: demo.js parses as an ES module (checked even without a browser)", async () => {
  const { script } = await readDemoPageAssets();
  const esbuild = await import("esbuild");
  try {
    const out = await esbuild.transform(script, { loader: "js", format: "esm", target: "es2022" });
    assert.ok(out.code.length > 0);
  } finally {
    await esbuild.stop();
  }
});

Deno.test("demo page: serves the Service Worker at /pqgate-sw.js with its own CSP; none without it", async () => {
  let loads = 0;
  const app = demoPageRoutes({
    clientBundle: () => "export {};",
    serviceWorker: () => {
      loads++;
      return { code: "/* sw */", map: '{"version":3}' };
    },
    channelPath: "/pqgate",
    assets: () => ({ html: "__PQGATE_CONFIG__", script: "" }),
  });
  const sw = await app.request("/pqgate-sw.js?config=abc");
  assert.equal(sw.status, 200);
  assert.match(sw.headers.get("content-type")!, /^text\/javascript/);
  assert.equal(
    sw.headers.get("content-security-policy"),
    "default-src 'none'; connect-src 'self'; base-uri 'none'",
  );
  assert.match(await sw.text(), /^\/\* sw \*\/\n\/\/# sourceMappingURL=pqgate-sw\.js\.map\n$/);
  assert.equal((await app.request("/pqgate-sw.js.map")).status, 200);
  assert.equal(loads, 1);
  // The page may fetch the target origin (the worker answers) and register a same-origin worker.
  const csp = (await app.request("/")).headers.get("content-security-policy")!;
  assert.match(csp, /connect-src 'self' https:\/\/demo;/);
  assert.match(csp, /worker-src 'self'/);

  const without = demoPageRoutes({ clientBundle: () => "export {};", channelPath: "/pqgate" });
  assert.equal((await without.request("/pqgate-sw.js")).status, 404);
  assert.throws(
    () =>
      demoPageRoutes({
        clientBundle: () => "",
        channelPath: "/pqgate",
        serviceWorker: "x" as unknown as () => string,
      }),
    /serviceWorker must be a function/,
  );
  const failing = demoPageRoutes({
    clientBundle: () => "",
    channelPath: "/pqgate",
    serviceWorker: () => Promise.reject(new Error("missing")),
    onError: (what) => assert.equal(what, "pqgate-sw.js"),
  });
  assert.equal((await failing.request("/pqgate-sw.js")).status, 503);
});
