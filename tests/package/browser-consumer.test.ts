/**
 * Consumer 4: a browser page importing the built client (Debian's Chromium, headless, through
 * playwright-core: tests/browser/chromium.ts), as a consumer gets it: the packed tarball
 * (helpers.ts buildAndPack, shared) installed into a fresh project. Two pages:
 *
 *   (a) no build step: a <script type="module"> imports the prebuilt browser file the package
 *       ships, straight from node_modules/pqgate/dist/pkg/browser/pqgate-client.js;
 *   (b) the user's bundler: esbuild (the repository's devDependency) run in the project on a
 *       script that does `import { connect } from "pqgate/client"` (resolved through the
 *       package's exports, for the browser: no Node built-in, no ws).
 *
 * Both load a shared round-trip.js from the project that connects with the pin and sends
 * GET /api/hello and POST /api/echo with a body through the channel, then writes what it got
 * into the page, where the test reads it. The gateway runs in this process (createGateway +
 * serveDeno, the demo origin's routes); the pages come from a tiny static server of the
 * project on another port, which the gateway's `allowedOrigins` lists. The same page from a
 * second static server, not listed, is refused: with the pin, the key configuration is not
 * readable there (CORS); with the public key (no key configuration request), the upgrade is.
 *
 * Needs /usr/bin/chromium, like tests/browser/browser.test.ts: FAILS under CI=true without it,
 * ignored otherwise. Writes only dist/pkg/ in the repository.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { toBase64Url } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { launchChromium } from "../browser/chromium.ts";
import { chromiumTest } from "../browser/testing.ts";
import { BIN, buildAndPack, installConsumer, ok } from "./helpers.ts";

const SHIPPED = "node_modules/pqgate/dist/pkg/browser/pqgate-client.js";

/** What both pages run: `pq` is the client module (the shipped file, or the user's bundle). */
const ROUND_TRIP = String.raw`
export async function roundTrip(pq, how) {
  const out = document.getElementById("out");
  const result = { how, errors: [] };
  try {
    const cfg = JSON.parse(new URLSearchParams(location.search).get("cfg"));
    const ch = await pq.connect(
      cfg.wsUrl,
      cfg.publicKey ? { publicKey: cfg.publicKey } : { pin: cfg.pin },
    );
    result.mode = ch.mode;
    try {
      const get = await ch.fetch("https://demo/api/hello");
      result.get = { status: get.status, message: (await get.json()).message };
      const sent = JSON.stringify({ from: how, n: 42, text: "grüße ✓" });
      const post = await ch.fetch("https://demo/api/echo", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: sent,
      });
      const back = await post.text();
      result.post = {
        status: post.status,
        method: post.headers.get("x-echo-method"),
        contentType: post.headers.get("content-type"),
        same: back === sent,
      };
    } finally {
      ch.close();
    }
    const closed = new pq.ChannelClosedError(4008, "idle_timeout");
    result.errorClass = {
      pinMismatch: typeof pq.PinMismatchError === "function",
      name: closed.name,
      code: closed.code,
      // The shipped file keeps class names through minification (esbuild keepNames); a
      // user's minified bundle need not.
      constructorName: closed.constructor.name,
    };
  } catch (e) {
    result.errors.push(String(e && e.name) + ": " + String(e && e.message));
  }
  out.textContent = JSON.stringify(result);
  out.dataset.done = "true";
}
`;

const page = (title: string, script: string) =>
  `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,">
<pre id="out">running</pre>
${script}
</html>
`;

/** (a): the shipped file, imported by path. */
const PAGE_A = page(
  "pqgate: the shipped browser file",
  `<script type="module">
import * as pq from "/${SHIPPED}";
import { roundTrip } from "/round-trip.js";
await roundTrip(pq, "shipped");
</script>`,
);

/** (b): the user's own bundle. */
const PAGE_B = page(
  "pqgate: bundled by the user",
  `<script type="module" src="/dist/app.js"></script>`,
);
const APP = `import * as pq from "pqgate/client";
import { roundTrip } from "./round-trip.js";
await roundTrip(pq, "bundled");
`;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  map: "application/json",
};

/** A static server of `root` (GET only, no directory listing, nothing above root). */
function staticServer(root: string) {
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const ext = /\.([a-z]+)$/.exec(path)?.[1] ?? "";
    if (req.method !== "GET" || path.includes("..") || !TYPES[ext]) {
      return new Response("not found", { status: 404 });
    }
    try {
      return new Response(await Deno.readFile(root + path), {
        headers: { "content-type": TYPES[ext], "cache-control": "no-store" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

interface PageResult {
  how: string;
  errors: string[];
  mode?: string;
  get?: { status: number; message: string };
  post?: { status: number; method: string; contentType: string; same: boolean };
  errorClass?: { pinMismatch: boolean; name: string; code: number; constructorName?: string };
}

async function runPage(p: Page, url: string): Promise<{ result: PageResult; problems: string[] }> {
  const problems: string[] = [];
  const onError = (e: Error) => problems.push(`page error: ${e.message}`);
  const onConsole = (m: { type(): string; text(): string }) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  };
  p.on("pageerror", onError);
  p.on("console", onConsole);
  try {
    await p.goto(url);
    await p.waitForSelector("#out[data-done='true']");
    return { result: JSON.parse((await p.textContent("#out")) ?? ""), problems };
  } finally {
    p.off("pageerror", onError);
    p.off("console", onConsole);
  }
}

chromiumTest(
  "package: consumer 4, a browser page importing the built client (Chromium: shipped file, user's bundle)",
  async () => {
    const tmp = await Deno.makeTempDir({ prefix: "pqgate-browser-consumer-" });
    const servers: { shutdown(): Promise<void> }[] = [];
    let chromium: Awaited<ReturnType<typeof launchChromium>> | null = null;
    try {
      const { tarball } = await buildAndPack();
      const app = tmp + "/app";
      await installConsumer(app, [tarball]);
      await Deno.writeTextFile(`${app}/round-trip.js`, ROUND_TRIP);
      await Deno.writeTextFile(`${app}/page-a.html`, PAGE_A);
      await Deno.writeTextFile(`${app}/page-b.html`, PAGE_B);
      await Deno.writeTextFile(`${app}/app.js`, APP);

      // The shipped file is one self-contained module: no import of anything else.
      const shipped = await Deno.readTextFile(`${app}/${SHIPPED}`);
      assert.ok(shipped.startsWith("/* pqgate client (browser build)"), shipped.slice(0, 80));
      assert.doesNotMatch(shipped, /\bfrom\s*["']|\bimport\s*\(\s*["']/, "it imports nothing");
      assert.ok(shipped.endsWith("\n//# sourceMappingURL=pqgate-client.js.map\n"));

      // (b) The user's bundler, on the installed package.
      await ok(BIN + "esbuild", [
        "app.js",
        "--bundle",
        "--format=esm",
        "--platform=browser",
        "--target=es2022",
        "--minify",
        "--outfile=dist/app.js",
        "--metafile=dist/meta.json",
        "--log-level=warning",
      ], { cwd: app });
      const meta = JSON.parse(await Deno.readTextFile(`${app}/dist/meta.json`));
      const inputs = Object.keys(meta.inputs);
      assert.ok(inputs.includes("node_modules/pqgate/dist/pkg/client/mod.js"), inputs.join("\n"));
      for (const input of inputs) {
        assert.match(
          input,
          /^(app\.js|round-trip\.js|node_modules\/pqgate\/dist\/pkg\/(client|protocol|tunnel|crypto)\/[a-z0-9-]+\.js|node_modules\/@noble\/[^/]+\/.+\.js)$/,
          "the user's bundle holds client code and noble only",
        );
      }

      const pages = staticServer(app);
      servers.push(pages);
      const pagesOrigin = `http://127.0.0.1:${pages.addr.port}`;
      const elsewhere = staticServer(app);
      servers.push(elsewhere);

      const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
      const gateway = createGateway({ keys: key, allowedOrigins: [pagesOrigin] });
      const server = serveDeno({ gateway, port: 0, hostname: "127.0.0.1" });
      servers.push(server);
      const wsUrl = `ws://127.0.0.1:${server.addr.port}/pqgate`;
      const cfg = encodeURIComponent(JSON.stringify({ wsUrl, pin: pinFor(key.publicKey) }));

      chromium = await launchChromium();
      const context = chromium.browser.contexts()[0];
      const p = await context.newPage();
      p.setDefaultTimeout(20_000);

      for (const [file, how] of [["page-a.html", "shipped"], ["page-b.html", "bundled"]]) {
        const { result, problems } = await runPage(p, `${pagesOrigin}/${file}?cfg=${cfg}`);
        assert.deepEqual(result.errors, [], `${how}: ${JSON.stringify(result)}`);
        assert.deepEqual(problems, [], how);
        if (how === "shipped") {
          assert.equal(result.errorClass?.constructorName, "ChannelClosedError");
        }
        delete result.errorClass?.constructorName;
        assert.deepEqual(result, {
          how,
          errors: [],
          mode: "pinned",
          get: { status: 200, message: "hello from the pqgate demo origin" },
          post: { status: 200, method: "POST", contentType: "application/json", same: true },
          errorClass: { pinMismatch: true, name: "ChannelClosedError", code: 4008 },
        }, how);
      }

      // The same page from an origin the gateway does not list: refused.
      const other = `http://127.0.0.1:${elsewhere.addr.port}/page-a.html`;
      const viaPin = await runPage(p, `${other}?cfg=${cfg}`);
      assert.deepEqual(viaPin.result.errors.length, 1, JSON.stringify(viaPin));
      assert.match(viaPin.result.errors[0], /^ConnectError: .*key configuration/);
      assert.ok(
        viaPin.problems.some((m) => /blocked by CORS policy/.test(m)),
        viaPin.problems.join("\n"),
      );
      const publicKey = toBase64Url(key.publicKey);
      const viaKey = await runPage(
        p,
        `${other}?cfg=${encodeURIComponent(JSON.stringify({ wsUrl, publicKey }))}`,
      );
      assert.deepEqual(viaKey.result.errors.length, 1, JSON.stringify(viaKey));
      assert.match(viaKey.result.errors[0], /^ConnectError: /);
      assert.ok(viaKey.problems.some((m) => /403/.test(m)), viaKey.problems.join("\n"));
    } finally {
      await chromium?.close();
      for (const s of servers) await s.shutdown().catch(() => {});
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
);
