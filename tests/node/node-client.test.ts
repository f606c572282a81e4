/**
 * The client library on Node 20: src/client/mod.ts is bundled for Node (esbuild, platform
 * "node", ESM) into a temporary directory, a small Node script imports that bundle and the `ws`
 * package (from this repository's node_modules) and talks to a real Deno gateway on loopback
 * (createGateway + serveDeno in this process, with the e2e recording origin behind it):
 *
 *   - GET JSON, POST JSON echo
 *   - 10 concurrent requests, each response matched to its request
 *   - a streamed 4 MiB response, checked byte for byte (and that it came in several chunks)
 *   - a streamed 1 MiB request body (ReadableStream + duplex: "half", Node's fetch rules)
 *   - a wrong pin → PinMismatchError (by err.name: the bundle has its own classes)
 *   - no WebSocket option on a Node without a global WebSocket → ConnectError
 *
 * The script prints one JSON line; this test asserts on it. Nothing is written into the
 * repository (the bundle and the script live in a temporary directory, removed afterwards).
 */
import assert from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { serveDeno } from "../../src/transport/deno/serve.ts";
import { SUITE_HOSTS, SUITE_LIMITS, suiteRoutes } from "../e2e/gateway-suite.ts";
import { channelUrl, deadOriginUrl } from "../e2e/loopback.ts";
import { checksumUpdate, patternByte, startRecordingOrigin } from "../e2e/recording-origin.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WS_MODULE = pathToFileURL(REPO_ROOT + "node_modules/ws/wrapper.mjs").href;
const STREAM_BYTES = 4 * 1024 * 1024;
const UPLOAD_BYTES = 1024 * 1024;
const WRONG_PIN = "sha256:" + "A".repeat(43); // well-formed, matches no key

/** Bundles the client library for Node (not the browser build: platform "node"). */
async function bundleForNode(outfile: string): Promise<{ inputs: string[] }> {
  const esbuild = await import("esbuild");
  try {
    const result = await esbuild.build({
      entryPoints: [REPO_ROOT + "src/client/mod.ts"],
      absWorkingDir: REPO_ROOT,
      bundle: true,
      outfile,
      format: "esm",
      platform: "node",
      target: ["node20"],
      metafile: true,
      logLevel: "silent",
    });
    return { inputs: Object.keys(result.metafile.inputs) };
  } finally {
    await esbuild.stop();
  }
}

/** The Node side. argv[2]: JSON config. Prints exactly one JSON line on stdout. */
const NODE_SCRIPT = String.raw`
import { connect } from "./pqgate-client.mjs";
import WebSocket from ${JSON.stringify(WS_MODULE)};

const cfg = JSON.parse(process.argv[2]);
const out = { node: process.version, globalWebSocket: typeof globalThis.WebSocket, errors: [] };
const patternByte = (i) => (i * 31 + (i >>> 13)) & 0xff;
const url = (host, path) => "https://" + host + path;

async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = null;
    out.errors.push({ step: name, name: e?.name, message: String(e?.message ?? e) });
  }
}

const ch = await connect(cfg.wsUrl, { pin: cfg.pin, WebSocket });
out.connected = ch.connected;
out.suite = ch.suite;
try {
  await step("get", async () => {
    const r = await ch.fetch(url(cfg.hosts.origin, "/hello"));
    return { status: r.status, contentType: r.headers.get("content-type"), json: await r.json() };
  });
  await step("post", async () => {
    const r = await ch.fetch(url(cfg.hosts.origin, "/echo"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ from: "node", n: 42, list: [1, 2, 3] }),
    });
    return { status: r.status, json: await r.json() };
  });
  await step("concurrent", async () => {
    const ns = Array.from({ length: 10 }, (_, i) => i + 1);
    const results = await Promise.all(ns.map(async (n) => {
      const r = await ch.fetch(url(cfg.hosts.origin, "/item/" + n));
      const body = await r.json();
      return { asked: n, status: r.status, header: Number(r.headers.get("x-item")), got: body.n };
    }));
    return results;
  });
  await step("stream", async () => {
    const r = await ch.fetch(url(cfg.hosts.bulk, "/download?bytes=" + cfg.streamBytes));
    const reader = r.body.getReader();
    let bytes = 0, chunks = 0, firstMismatch = -1;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      for (let i = 0; i < value.length; i++) {
        if (firstMismatch < 0 && value[i] !== patternByte(bytes + i)) firstMismatch = bytes + i;
      }
      bytes += value.length;
    }
    return { status: r.status, contentLength: r.headers.get("content-length"), bytes, chunks, firstMismatch };
  });
  await step("upload", async () => {
    let sent = 0;
    const body = new ReadableStream({
      pull(c) {
        if (sent >= cfg.uploadBytes) return c.close();
        const n = Math.min(64 * 1024, cfg.uploadBytes - sent);
        const chunk = new Uint8Array(n);
        for (let i = 0; i < n; i++) chunk[i] = patternByte(sent + i);
        sent += n;
        c.enqueue(chunk);
      },
    });
    const r = await ch.fetch(url(cfg.hosts.origin, "/upload"), { method: "POST", body, duplex: "half" });
    return { status: r.status, json: await r.json() };
  });
} finally {
  ch.close();
}

await step("wrongPin", async () => {
  try {
    const bad = await connect(cfg.wsUrl, { pin: cfg.wrongPin, WebSocket });
    bad.close();
    return { rejected: false };
  } catch (e) {
    return { rejected: true, name: e?.name, message: String(e?.message ?? e) };
  }
});

await step("noWebSocket", async () => {
  if (typeof globalThis.WebSocket !== "undefined") return { skipped: "Node has a global WebSocket" };
  try {
    const c = await connect(cfg.wsUrl, { pin: cfg.pin });
    c.close();
    return { rejected: false };
  } catch (e) {
    return { rejected: true, name: e?.name, message: String(e?.message ?? e) };
  }
});

process.stdout.write(JSON.stringify(out) + "\n");
`;

Deno.test({
  name: "node: the client library bundled for Node 20 (ws) against a Deno gateway",
  // Sockets of the gateway and the origin wind down asynchronously after shutdown.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pqgate-node-client-" });
    const origin = await startRecordingOrigin();
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const gateway = createGateway({
      keys: key,
      routes: suiteRoutes(origin, deadOriginUrl()),
      limits: SUITE_LIMITS,
    });
    const server = serveDeno({ gateway, port: 0 });
    try {
      const { inputs } = await bundleForNode(dir + "/pqgate-client.mjs");
      assert.ok(inputs.some((i) => i.startsWith("src/client/")), "bundle holds the client");
      assert.ok(!inputs.some((i) => i.includes("node_modules/ws/")), "ws is not bundled in");
      await Deno.writeTextFile(dir + "/run.mjs", NODE_SCRIPT);

      const cfg = {
        wsUrl: channelUrl(server.url),
        pin: pinFor(key.publicKey),
        wrongPin: WRONG_PIN,
        hosts: SUITE_HOSTS,
        streamBytes: STREAM_BYTES,
        uploadBytes: UPLOAD_BYTES,
      };
      const t0 = performance.now();
      const child = new Deno.Command("node", {
        args: [dir + "/run.mjs", JSON.stringify(cfg)],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        env: { NODE_NO_WARNINGS: "1" },
      }).spawn();
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 30_000);
      const done = await child.output();
      clearTimeout(killer);
      const stdout = new TextDecoder().decode(done.stdout);
      const stderr = new TextDecoder().decode(done.stderr);
      assert.equal(
        done.code,
        0,
        `node exited with ${done.code}\nstdout: ${stdout}\nstderr: ${stderr}`,
      );
      const line = stdout.trim().split("\n").at(-1) ?? "";
      const r = JSON.parse(line);
      console.log(
        `node ${r.node} (global WebSocket: ${r.globalWebSocket}), suite ${r.suite}, ` +
          `script ${(performance.now() - t0).toFixed(0)} ms, ${r.stream?.chunks} stream chunks`,
      );

      assert.deepEqual(r.errors, [], `steps failed on Node: ${JSON.stringify(r.errors)}`);
      assert.match(r.node, /^v\d+\./);
      assert.ok(Number(r.node.slice(1).split(".")[0]) >= 20, `Node ${r.node} is older than 20`);
      assert.equal(r.connected, true);

      assert.equal(r.get.status, 200);
      assert.match(r.get.contentType, /^application\/json/);
      assert.deepEqual(r.get.json, { hello: "world" });

      assert.equal(r.post.status, 200);
      assert.deepEqual(r.post.json, {
        method: "POST",
        contentType: "application/json",
        json: { from: "node", n: 42, list: [1, 2, 3] },
      });

      assert.equal(r.concurrent.length, 10);
      for (const c of r.concurrent) {
        assert.deepEqual(c, { asked: c.asked, status: 200, header: c.asked, got: c.asked });
      }

      assert.equal(r.stream.status, 200);
      assert.equal(r.stream.contentLength, String(STREAM_BYTES));
      assert.equal(r.stream.bytes, STREAM_BYTES);
      assert.equal(r.stream.firstMismatch, -1, "streamed bytes differ from the origin's");
      assert.ok(r.stream.chunks > 1, "the response was streamed, not delivered in one piece");

      assert.equal(r.upload.status, 200);
      assert.equal(r.upload.json.bytes, UPLOAD_BYTES);
      const sent = new Uint8Array(UPLOAD_BYTES).map((_, i) => patternByte(i));
      assert.equal(r.upload.json.checksum, checksumUpdate(0, sent, 0), "uploaded bytes differ");

      assert.equal(r.wrongPin.rejected, true);
      assert.equal(r.wrongPin.name, "PinMismatchError", r.wrongPin.message);

      if (r.globalWebSocket === "undefined") {
        assert.equal(r.noWebSocket.rejected, true);
        assert.equal(r.noWebSocket.name, "ConnectError");
        assert.match(r.noWebSocket.message, /ws/);
      }

      // Everything went through the gateway to the origin: one request per fetch above.
      const paths = origin.requests.map((q) => q.path);
      assert.ok(paths.includes("/hello") && paths.includes("/echo") && paths.includes("/upload"));
      assert.equal(paths.filter((p) => p.startsWith("/item/")).length, 10);
    } finally {
      await server.shutdown();
      await origin.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
