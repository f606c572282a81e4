import assert from "node:assert/strict";
import { createGateway } from "../gateway/create-gateway.ts";
import { CLIENT_BUNDLE_BANNER, CLIENT_BUNDLE_NAME } from "../gateway/client-bundle.ts";
import { generateStaticKey } from "../protocol/static-keys.ts";
import { addDemoPage } from "./demo-page.ts";
import { REPO_BUNDLE, staleSources } from "./start.ts";

const key = generateStaticKey(new Uint8Array(32).fill(7));

async function tempBundle(code: string, map?: string) {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-demo-page-" });
  const file = new URL(`file://${dir}/${CLIENT_BUNDLE_NAME}`);
  await Deno.writeTextFile(file, code);
  if (map !== undefined) await Deno.writeTextFile(new URL(file.href + ".map"), map);
  return { dir, file };
}

Deno.test("cli demo page: serves the page files and the prebuilt bundle, read once at start-up", async () => {
  const code =
    `${CLIENT_BUNDLE_BANNER} */\nexport const x = 1;\n//# sourceMappingURL=${CLIENT_BUNDLE_NAME}.map\n`;
  const map = JSON.stringify({ version: 3, sources: [], mappings: "" });
  const { dir, file } = await tempBundle(code, map);
  const said: string[] = [];
  try {
    const gateway = createGateway({ keys: key });
    addDemoPage(gateway, { bundle: file, buildHint: "build it", log: (m) => said.push(m) });
    // Read at start-up: the bytes are in memory before the first request.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(said, [
      `demo page: serving the browser client ${file.pathname} (${code.indexOf("\n//#")} bytes)`,
    ]);
    await Deno.remove(file); // served from memory from now on

    const page = await gateway.app.request("/");
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /"channelPath":"\/pqgate"/);
    assert.match(html, /<script type="module" src="\.\/demo\.js">/);
    const script = await gateway.app.request("/demo.js");
    assert.match(await script.text(), /new URL\("\.\/client\.js", import\.meta\.url\)/);
    const js = await gateway.app.request("/client.js");
    assert.equal(js.status, 200);
    assert.equal(
      await js.text(),
      `${CLIENT_BUNDLE_BANNER} */\nexport const x = 1;\n//# sourceMappingURL=client.js.map\n`,
    );
    assert.equal(await (await gateway.app.request("/client.js.map")).text(), map);
    // The gateway's own routes are still there.
    assert.equal((await gateway.app.request("/.well-known/pqgate")).status, 200);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli demo page: a missing bundle is said at start-up, answered with 503, and read once it exists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-demo-page-" });
  const file = new URL(`file://${dir}/${CLIENT_BUNDLE_NAME}`);
  const said: string[] = [];
  try {
    const gateway = createGateway({ keys: key });
    addDemoPage(gateway, {
      bundle: file,
      buildHint: "run `npm run build:client`",
      log: (m) => said.push(m),
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(said.length, 1);
    assert.match(said[0], /^demo page: the browser client bundle .* cannot be read/);
    assert.match(said[0], /: run `npm run build:client`$/);

    const missing = await gateway.app.request("/client.js");
    assert.equal(missing.status, 503);
    await missing.body?.cancel();
    assert.equal(said.length, 2);
    assert.match(said[1], /^demo page: client\.js: .*run `npm run build:client`$/);
    assert.equal((await gateway.app.request("/")).status, 200, "the page itself still loads");

    await Deno.writeTextFile(file, `${CLIENT_BUNDLE_BANNER} */\nexport {};\n`);
    const js = await gateway.app.request("/client.js");
    assert.equal(js.status, 200);
    assert.equal(await js.text(), `${CLIENT_BUNDLE_BANNER} */\nexport {};\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli start: the repository bundle is dist/pqgate-client.js; a source newer than it is named", async () => {
  assert.ok(REPO_BUNDLE.href.endsWith(`/dist/${CLIENT_BUNDLE_NAME}`));
  assert.equal(new URL("../", REPO_BUNDLE).href, new URL("../../", import.meta.url).href);
  const { dir, file } = await tempBundle(`${CLIENT_BUNDLE_BANNER} */\n`);
  try {
    await Deno.mkdir(`${dir}/src`);
    await Deno.writeTextFile(`${dir}/src/a.ts`, "a");
    await Deno.writeTextFile(`${dir}/src/b.ts`, "b");
    const map = { version: 3, sources: ["src/a.ts", "src/b.ts", "node_modules/x/y.js"] };
    await Deno.writeTextFile(new URL(file.href + ".map"), JSON.stringify(map));
    const past = new Date(Date.now() - 60_000);
    await Deno.utime(`${dir}/src/a.ts`, past, past);
    const future = new Date(Date.now() + 60_000);
    await Deno.utime(`${dir}/src/b.ts`, future, future);
    // b.ts changed after the build; a.ts did not; node_modules is not looked at.
    assert.deepEqual(await staleSources(file), [`${dir}/src/b.ts`]);
    await Deno.remove(`${dir}/src/a.ts`);
    assert.deepEqual(await staleSources(file), [`${dir}/src/a.ts`, `${dir}/src/b.ts`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
