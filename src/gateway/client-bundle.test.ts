import assert from "node:assert/strict";
import { buildClient, forbiddenInputs, gzipSize } from "./client-bundle.ts";

Deno.test("client bundle: one ESM file with the client API and no server code", async () => {
  const b = await buildClient();
  assert.equal(b.entry, "src/client/mod.ts");
  assert.deepEqual(forbiddenInputs(b.inputs), []);
  assert.ok(b.inputs.some((i) => i.startsWith("src/client/")));
  assert.ok(
    !b.inputs.some((i) => /hono|src\/(proxy|transport|gateway|cli)\//.test(i)),
    b.inputs.join("\n"),
  );
  // A size budget: a regression that pulls in a server framework or a second crypto library
  // shows up here. (Today: ~123 KiB raw, ~45 KiB gzipped.)
  const gz = await gzipSize(b.code);
  assert.ok(b.code.length < 200 * 1024, `bundle is ${b.code.length} bytes`);
  assert.ok(gz < 70 * 1024, `bundle is ${gz} bytes gzipped`);

  // It loads as a module and exports the public API.
  const file = await Deno.makeTempFile({ suffix: ".mjs" });
  try {
    await Deno.writeFile(file, b.code);
    const mod = await import(`file://${file}`);
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
    // A v3 source map ships with it: sources are the repository's files, with their contents.
    const map = JSON.parse(new TextDecoder().decode(b.map));
    assert.equal(map.version, 3);
    const i = map.sources.findIndex((s: string) => s.endsWith("src/client/channel.ts"));
    assert.ok(i >= 0, map.sources.join("\n"));
    assert.match(map.sourcesContent[i], /export class Channel/);
    assert.ok(map.mappings.length > 1000);
    assert.ok(
      !new TextDecoder().decode(b.code).includes("sourceMappingURL"),
      "the server names the map",
    );
  } finally {
    await Deno.remove(file);
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
    "src/proxy/forward.ts",
    "src/transport/deno/serve.ts",
    "src/gateway/create-gateway.ts",
    "src/tunnel/server-session.ts",
    "src/protocol/handshake-server.ts",
    "src/protocol/testing.ts",
    "node:crypto",
  ]);
  assert.equal(bad.length, 8);
});
