/** The layer rules of scripts/check-imports.ts hold for the repository, and catch violations. */
import assert from "node:assert/strict";
import { checkRepository, importsOf, violationsOf } from "../../scripts/check-imports.ts";

Deno.test("architecture: every production module imports only what its layer allows", async () => {
  assert.deepEqual(await checkRepository(new URL("../../", import.meta.url)), []);
});

Deno.test("architecture: the checker sees each kind of violation (it can fail)", () => {
  const cases: [string, string, RegExp][] = [
    [
      "src/protocol/x.ts",
      'import { a } from "../tunnel/types.ts";',
      /protocol must not import tunnel/,
    ],
    [
      "src/protocol/x.ts",
      'import { b } from "node:crypto";',
      /must not import the package node:crypto/,
    ],
    ["src/client/x.ts", 'import { Hono } from "hono";', /client must not import the package hono/],
    [
      "src/client/x.ts",
      'export { s } from "../gateway/create-gateway.ts";',
      /client must not import gateway/,
    ],
    [
      "src/client/x.ts",
      'import { S } from "../tunnel/server-session.ts";',
      /must not import src\/tunnel\/server-session\.ts/,
    ],
    [
      "src/proxy/x.ts",
      'import { aead } from "../protocol/aead.ts";',
      /may import only .* not src\/protocol\/aead\.ts/,
    ],
    [
      "src/tunnel/x.ts",
      'const m = await import("../proxy/forward.ts");',
      /tunnel must not import proxy/,
    ],
    [
      "worker/x.ts",
      'import {\n  connect,\n} from "../src/client/mod.ts";',
      /worker must not import client/,
    ],
  ];
  for (const [path, source, want] of cases) {
    const v = violationsOf(path, source);
    assert.equal(v.length, 1, `${path}: ${source} → ${JSON.stringify(v)}`);
    assert.match(v[0], want);
  }
  // Allowed: type-only imports, own layer, listed layers and packages.
  assert.deepEqual(
    violationsOf(
      "src/proxy/x.ts",
      'import type * as H from "node:http";\nimport { c } from "./y.ts";\nimport { MAX_PLAINTEXT } from "../protocol/constants.ts";',
    ),
    [],
  );
  assert.deepEqual(
    violationsOf(
      "src/client/x.ts",
      'import { sha256 } from "@noble/hashes/sha2.js";\nimport { C } from "../tunnel/client-session.ts";',
    ),
    [],
  );
  assert.deepEqual(importsOf('import "./side.ts";\nexport type { T } from "./t.ts";'), [
    "./side.ts",
  ]);
});
