/**
 * Builds the browser client (src/client) into dist/pqgate-client.js: one minified ESM file with
 * no server code in it (the build fails if Hono, the proxy, a transport or gateway code gets
 * bundled), and its source map beside it (<outfile>.map). Prints raw and gzipped sizes.
 *
 *   deno task build:client [--entry src/client/mod.ts] [--outfile dist/pqgate-client.js]
 *                          [--no-minify] [--if-missing]
 *
 * --if-missing: do nothing when the output file already exists.
 */
import {
  buildClient,
  CLIENT_BUNDLE_FILE,
  ClientBundleError,
  gzipSize,
  REPO_ROOT,
  sourceMapComment,
} from "../src/gateway/client-bundle.ts";

function arg(flag: string): string | undefined {
  const i = Deno.args.indexOf(flag);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const outRel = arg("--outfile") ?? CLIENT_BUNDLE_FILE;
const outfile = outRel.startsWith("/") ? outRel : REPO_ROOT + outRel;

if (Deno.args.includes("--if-missing")) {
  try {
    await Deno.stat(outfile);
    console.log(`build:client: ${outRel} exists, not rebuilding`);
    Deno.exit(0);
  } catch { /* build it */ }
}

try {
  const b = await buildClient({
    entry: arg("--entry"),
    minify: !Deno.args.includes("--no-minify"),
  });
  await Deno.mkdir(outfile.slice(0, outfile.lastIndexOf("/")), { recursive: true });
  const mapName = outfile.slice(outfile.lastIndexOf("/") + 1) + ".map";
  const comment = new TextEncoder().encode(sourceMapComment(mapName));
  await Deno.writeFile(outfile, new Uint8Array([...b.code, ...comment]));
  await Deno.writeFile(outfile + ".map", b.map);
  const gz = await gzipSize(b.code);
  const kib = (n: number) => (n / 1024).toFixed(1);
  console.log(
    `build:client: ${outRel} from ${b.entry} (${b.inputs.length} inputs, no server code) in ${
      b.ms.toFixed(0)
    } ms\n` +
      `  raw   ${b.code.length} bytes (${kib(b.code.length)} KiB)\n` +
      `  gzip  ${gz} bytes (${kib(gz)} KiB)\n` +
      `  map   ${outRel}.map (${kib(b.map.length)} KiB)`,
  );
} catch (e) {
  if (e instanceof ClientBundleError) {
    console.error(`build:client: ${e.message}`);
    Deno.exit(1);
  }
  throw e;
}
