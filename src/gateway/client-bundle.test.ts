import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import {
  BANNER,
  buildClient,
  CLIENT_BUNDLE_FILE,
  forbiddenInputs,
  SW_BANNER,
  SW_BUILD,
  upToDate,
  writeClientBundle,
} from "../../scripts/build-client.mjs";
import {
  CLIENT_BUNDLE_BANNER,
  CLIENT_BUNDLE_NAME,
  ClientBundleError,
  loadClientBundle,
  SW_BUNDLE_BANNER,
  SW_BUNDLE_NAME,
  withoutSourceMapComment,
} from "./client-bundle.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const read = (f: URL) => readFile(f);

Deno.test("client bundle: the build script writes one ESM file with the client API and no server code; the gateway reads it back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-client-bundle-" });
  try {
    const outfile = `${dir}/${CLIENT_BUNDLE_NAME}`;
    const b = await writeClientBundle({ outfile });
    assert.equal(b.entry, "src/client/mod.ts");
    assert.equal(CLIENT_BUNDLE_FILE, `dist/${CLIENT_BUNDLE_NAME}`);
    assert.ok(BANNER.startsWith(CLIENT_BUNDLE_BANNER));
    assert.deepEqual(forbiddenInputs(b.inputs), []);
    assert.ok(b.inputs.some((i) => i.startsWith("src/client/")));
    assert.ok(
      !b.inputs.some((i) => /hono|src\/(proxy|transport|gateway|cli|demo)\//.test(i)),
      b.inputs.join("\n"),
    );
    // A size budget: a regression that pulls in a server framework or a second crypto library
    // shows up here. (Today: ~179 KiB raw, ~66 KiB gzipped.)
    assert.ok(b.code.length < 200 * 1024, `bundle is ${b.code.length} bytes`);
    assert.ok(b.gzipBytes < 70 * 1024, `bundle is ${b.gzipBytes} bytes gzipped`);
    assert.equal(b.gzipBytes, gzipSync(b.code).length);

    // On disk: the bundle names its map, the map sits beside it.
    const written = await Deno.readFile(outfile);
    assert.deepEqual(written, b.code);
    assert.ok(dec.decode(written).endsWith(`\n//# sourceMappingURL=${CLIENT_BUNDLE_NAME}.map\n`));
    assert.deepEqual(await Deno.readFile(outfile + ".map"), b.map);

    // What the gateway serves: the same code without the sourceMappingURL line (the demo page
    // names the map by the path it serves it under), and the map.
    const served = await loadClientBundle({ file: new URL(`file://${outfile}`), readFile: read });
    const text = dec.decode(served.code);
    assert.ok(!text.includes("sourceMappingURL"), "the server names the map");
    assert.ok(dec.decode(written).startsWith(text));
    assert.ok(text.startsWith(CLIENT_BUNDLE_BANNER));
    assert.deepEqual(new Uint8Array(served.map!), b.map);

    // It loads as a module and exports the public API.
    const mod = await import(`file://${outfile}`);
    for (
      const name of [
        "connect",
        "Channel",
        "PinMismatchError",
        "VersionRefusedError",
        "ChannelClosedError",
        "HandshakeTimeoutError",
      ]
    ) {
      assert.equal(typeof mod[name], "function", `the bundle exports ${name}`);
    }
    const e = new mod.ChannelClosedError(4008, "idle_timeout");
    assert.equal(e.name, "ChannelClosedError");
    assert.equal(e.code, 4008);
    // Class names survive minification (esbuild keepNames).
    assert.equal(e.constructor.name, "ChannelClosedError");
    assert.equal(mod.ConnectError.name, "ConnectError");

    // A v3 source map: sources relative to the map (so they resolve to the repository's files
    // from dist/), with their contents.
    const map = JSON.parse(dec.decode(b.map));
    assert.equal(map.version, 3);
    const i = map.sources.findIndex((s: string) => s.endsWith("src/client/channel.ts"));
    assert.ok(i >= 0, map.sources.join("\n"));
    assert.match(map.sourcesContent[i], /export class Channel/);
    assert.ok(map.mappings.length > 1000);
    const noble = map.sources.findIndex((s: string) => s.includes("node_modules/@noble/"));
    assert.ok(noble >= 0 && typeof map.sourcesContent[noble] === "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client bundle: the package's copy maps pqgate's own sources only (noble's are installed)", async () => {
  const full = await buildClient();
  const lean = await buildClient({
    outfile: "dist/pkg/browser/pqgate-client.js",
    packageSources: false,
  });
  assert.deepEqual(lean.code.length, full.code.length);
  assert.ok(dec.decode(lean.code).endsWith("\n//# sourceMappingURL=pqgate-client.js.map\n"));
  const map = JSON.parse(dec.decode(lean.map));
  for (const [i, s] of (map.sources as string[]).entries()) {
    if (s.includes("node_modules/")) assert.equal(map.sourcesContent[i], null, s);
    else assert.equal(typeof map.sourcesContent[i], "string", s);
  }
  assert.ok(map.sources.some((s: string) => s === "../../../src/client/channel.ts"), map.sources);
  assert.ok(lean.map.length < full.map.length / 1.5, `${lean.map.length} vs ${full.map.length}`);
});

Deno.test("client bundle: --if-changed keeps a bundle only while every input file and the build are the same", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-client-bundle-" });
  try {
    const outfile = `${dir}/${CLIENT_BUNDLE_NAME}`;
    assert.equal(upToDate({ outfile }), null, "no bundle yet");
    const b = await writeClientBundle({ outfile });
    const checked = upToDate({ outfile });
    // Every file esbuild read (also those that contribute no code, which the map's sources
    // leave out) and the packages' package.json files.
    assert.ok(checked !== null && checked > b.inputs.length, `${checked} vs ${b.inputs.length}`);
    assert.equal(upToDate({ outfile, minify: false }), null, "other options: another build");
    const mapText = await Deno.readTextFile(outfile + ".map");
    const map = JSON.parse(mapText);
    assert.deepEqual(
      Object.keys(map.x_pqgate_build.inputs).filter((i) => !i.endsWith("/package.json")),
      b.inputs,
    );
    // A source whose contents differ from the build's (as if edited since).
    const edited = structuredClone(map);
    edited.x_pqgate_build.inputs["src/client/channel.ts"] = "changed";
    await Deno.writeTextFile(outfile + ".map", JSON.stringify(edited));
    assert.equal(upToDate({ outfile }), null);
    // An input that no longer exists.
    const gone = structuredClone(map);
    gone.x_pqgate_build.inputs["src/client/gone.ts"] = "x";
    await Deno.writeTextFile(outfile + ".map", JSON.stringify(gone));
    assert.equal(upToDate({ outfile }), null);
    await Deno.writeTextFile(outfile + ".map", mapText);
    assert.equal(upToDate({ outfile }), checked);
    // A bundle that is not the one the map describes.
    await Deno.writeTextFile(outfile, "export {};\n");
    assert.equal(upToDate({ outfile }), null);
    await Deno.remove(outfile + ".map");
    assert.equal(upToDate({ outfile }), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client bundle: the command line (node scripts/build-client.mjs), as npm start runs it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-client-bundle-" });
  const node = async (...args: string[]) => {
    const out = await new Deno.Command("node", {
      args: [new URL("../../scripts/build-client.mjs", import.meta.url).pathname, ...args],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  try {
    const first = await node("--outfile", "out/b.js", "--if-changed");
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /^build:client: out\/b\.js from src\/client\/mod\.ts \(\d+ inputs, no server code\)/,
    );
    const builtAt = (await Deno.stat(`${dir}/out/b.js`)).mtime!.getTime();
    await Deno.utime(`${dir}/out/b.js`, new Date(builtAt - 60_000), new Date(builtAt - 60_000));
    const second = await node("--outfile", "out/b.js", "--if-changed");
    assert.equal(second.code, 0, second.stderr);
    assert.match(
      second.stdout,
      /^build:client: out\/b\.js is up to date \(\d+ input files unchanged\)\n$/,
    );
    // Kept, and as new as a build: start.ts's by-time warning agrees.
    assert.ok((await Deno.stat(`${dir}/out/b.js`)).mtime!.getTime() >= builtAt);
    const again = await node("--outfile", "out/b.js");
    assert.match(again.stdout, / from src\/client\/mod\.ts /, "without --if-changed: a build");
    const bad = await node("--outfile");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--outfile needs a value/);
    const unknown = await node("--watch");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown argument --watch/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client bundle: server code in the inputs is refused", () => {
  assert.deepEqual(
    forbiddenInputs([
      "src/client/connect.ts",
      "src/protocol/handshake-client.ts",
      "src/tunnel/client-session.ts",
      "node_modules/@noble/post-quantum/hybrid.js",
    ]),
    [],
  );
  const bad = forbiddenInputs([
    "node_modules/hono/dist/index.js",
    "node_modules/ws/index.js",
    "node_modules/@hono/node-server/dist/index.mjs",
    "src/proxy/forward.ts",
    "src/transport/deno/serve.ts",
    "src/gateway/create-gateway.ts",
    "src/demo/origin.ts",
    "src/tunnel/server-session.ts",
    "src/protocol/handshake-server.ts",
    "src/protocol/testing.ts",
    "node:crypto",
  ]);
  assert.equal(bad.length, 11, bad.join("\n"));
});

Deno.test("client bundle: a missing file or one that is not a bundle is refused with the hint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-client-bundle-" });
  try {
    const file = new URL(`file://${dir}/${CLIENT_BUNDLE_NAME}`);
    await assert.rejects(
      loadClientBundle({ file, readFile: read, buildHint: "run `npm run build:client`" }),
      (e: Error) =>
        e instanceof ClientBundleError && /cannot be read/.test(e.message) &&
        e.message.endsWith(": run `npm run build:client`"),
    );
    await Deno.writeTextFile(file, "export const notOurs = 1;\n");
    await assert.rejects(
      loadClientBundle({ file, readFile: read, buildHint: "rebuild" }),
      /is not a pqgate browser client bundle: rebuild/,
    );
    // A bundle without its map: served without one.
    await Deno.writeTextFile(
      file,
      `${BANNER}\nexport const x = "ü";\n//# sourceMappingURL=${CLIENT_BUNDLE_NAME}.map\n`,
    );
    const b = await loadClientBundle({ file, readFile: read });
    assert.equal(b.map, null);
    assert.equal(dec.decode(b.code), `${BANNER}\nexport const x = "ü";`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client bundle: withoutSourceMapComment cuts only a trailing sourceMappingURL line", () => {
  const cut = (s: string) => dec.decode(withoutSourceMapComment(enc.encode(s)));
  assert.equal(cut("a\n//# sourceMappingURL=x.js.map\n"), "a");
  assert.equal(cut("a\n//# sourceMappingURL=x.js.map"), "a");
  assert.equal(cut("a;"), "a;");
  assert.equal(cut("//# sourceMappingURL=x.js.map\nb"), "//# sourceMappingURL=x.js.map\nb");
  assert.equal(cut("€".repeat(600) + "\n//# sourceMappingURL=m\n"), "€".repeat(600));
});

Deno.test("client bundle: the Service Worker build is one classic script, no server code, read with its banner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-sw-bundle-" });
  try {
    const outfile = `${dir}/${SW_BUNDLE_NAME}`;
    const b = await writeClientBundle({ ...SW_BUILD, outfile });
    assert.equal(b.entry, "src/client/service-worker-entry.ts");
    assert.deepEqual(forbiddenInputs(b.inputs), []);
    const text = dec.decode(b.code);
    assert.ok(text.startsWith(SW_BANNER) && SW_BANNER.startsWith(SW_BUNDLE_BANNER));
    // A classic script (an IIFE): no import/export statement at the top level.
    assert.match(text.slice(SW_BANNER.length), /^\n\(\(\)=>\{/);
    assert.doesNotMatch(text, /^(import|export)\b/m);
    // Today ~167 KiB, ~61 KiB gzipped: nearly all of it is the client (X-Wing, the session).
    assert.ok(b.code.length < 200 * 1024, `worker is ${b.code.length} bytes`);
    assert.ok(b.gzipBytes < 70 * 1024, `worker is ${b.gzipBytes} bytes gzipped`);
    const served = await loadClientBundle({
      file: new URL(`file://${outfile}`),
      readFile: read,
      banner: SW_BUNDLE_BANNER,
    });
    assert.ok(dec.decode(served.code).startsWith(SW_BANNER));
    // The client bundle is not a worker, nor the worker a client bundle.
    await assert.rejects(
      () => loadClientBundle({ file: new URL(`file://${outfile}`), readFile: read }),
      /is not a pqgate browser client bundle/,
    );
    const client = `${dir}/${CLIENT_BUNDLE_NAME}`;
    await writeClientBundle({ outfile: client });
    await assert.rejects(
      () =>
        loadClientBundle({
          file: new URL(`file://${client}`),
          readFile: read,
          banner: SW_BUNDLE_BANNER,
        }),
      /is not a pqgate browser service worker/,
    );
    // --if-changed keeps it (its own banner and options are part of the build).
    assert.ok((upToDate({ ...SW_BUILD, outfile }) ?? 0) > 0);
    assert.equal(upToDate({ outfile }), null, "not the client build");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
