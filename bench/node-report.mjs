/**
 * Markdown tables of `npm run bench:node` (bench/handshake-node.mjs): every runtime side by
 * side, with the backends each one's gateway selected. Plain JavaScript, so the driver runs it
 * on Node 20 unbundled; tests/bench/node-report.test.ts checks it on a fixed result.
 */

/**
 * @typedef {{ n: number, median: number, p99: number }} Stat
 * @typedef {{ mode: string, mlkem: string, x25519: string, sha3: string,
 *   aead: Record<string, string>, summary: string, fallbacks: string[], ms: number }} CryptoReport
 * @typedef {{ label: string, source: string, node: string, v8: string,
 *   webcryptoMlKem: boolean, crypto: Record<string, CryptoReport> }} Runtime
 * @typedef {{ runtime: string, mode: string, total: Stat, hello: Stat, finished: Stat,
 *   cpuMeanUs: number }} AcceptRow
 * @typedef {{ runtime: string, kind: string, ms: Stat, cpuUsPerChannel: number | null }} LoopRow
 */

/** Sorted-sample quantiles as bench/common.ts computes them (p99 = sorted[floor(0.99 n)]). */
export function stat(/** @type {number[]} */ xs, digits = 1) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (/** @type {number} */ p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const r = (/** @type {number} */ x) =>
    x === undefined ? NaN : Math.round(x * 10 ** digits) / 10 ** digits;
  return { n: s.length, median: r(q(0.5)), p99: r(q(0.99)) };
}

const f = (/** @type {number | null | undefined} */ x, d = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", {
    maximumFractionDigits: d,
    minimumFractionDigits: d,
  });
const row = (/** @type {(string | number)[]} */ cells) => `| ${cells.join(" | ")} |`;
const sep = (/** @type {string[]} */ align) =>
  `|${align.map((a) => (a === "r" ? "---:|" : "---|")).join("")}`;

/** "ML-KEM noble, X25519 node:crypto, …": a gateway's backends in a few words. */
export function backendWords(/** @type {CryptoReport | undefined} */ c) {
  if (!c) return "–";
  if (c.mode === "noble") return 'noble (pure JS, `crypto: "noble"`)';
  const aeads = [...new Set(Object.values(c.aead))];
  return `ML-KEM ${c.mlkem}, X25519 ${c.x25519}, AEAD ${aeads.join(" / ")}`;
}

/** The whole report: machine line, backends per runtime, accept table, loopback table. */
export function formatNodeBench(/** @type {any} */ r) {
  const out = [];
  const m = r.machine ?? {};
  out.push(
    `machine: ${m.cpu}, ${m.cores} cores, ${m.os}; load avg at start ${
      (m.loadavg ?? []).join(" ")
    }; ${m.date}; driver and loopback client: ${r.driver}`,
  );
  /** @type {Runtime[]} */
  const runtimes = r.runtimes ?? [];
  for (const u of r.unavailable ?? []) out.push(`not measured: ${u.label}: ${u.reason}`);

  out.push(
    '\n## Backends the gateway selected (createGateway crypto "auto": cryptoReport(), self-tested against noble)',
  );
  out.push(
    row([
      "runtime",
      "from",
      "WebCrypto ML-KEM",
      "ML-KEM",
      "X25519",
      "SHA3",
      "AES-256-GCM",
      "ChaCha20-Poly1305",
      "selection ms",
    ]),
    sep(["l", "l", "l", "l", "l", "l", "l", "l", "r"]),
  );
  for (const rt of runtimes) {
    const c = rt.crypto.auto;
    out.push(
      row([
        rt.label,
        rt.source,
        rt.webcryptoMlKem ? "yes" : "no",
        c.mlkem,
        c.x25519,
        c.sha3,
        c.aead["AES-256-GCM"] ?? "–",
        c.aead["ChaCha20-Poly1305"] ?? "–",
        f(c.ms, 1),
      ]),
    );
  }
  for (const rt of runtimes) {
    const fb = rt.crypto.auto.fallbacks;
    if (fb.length) out.push(`\n${rt.label} fallbacks: ${fb.join("; ")}`);
  }

  const a = r.accept;
  if (a?.rows?.length) {
    out.push(
      `\n## Gateway per-connection handshake, in process, warm (createSession → ClientHello → ServerHello sent, ClientFinished → SESSION_INFO sent; client work untimed), n=${a.n} per row (${a.rounds} alternating processes per runtime, warm-up ${a.warmup} each)`,
    );
    out.push(
      row([
        "runtime",
        "gateway crypto",
        "median µs",
        "p99 µs",
        "CPU µs (mean)",
        "hello → ServerHello median µs",
        "ClientFinished → SESSION_INFO median µs",
        "noble / this (median)",
      ]),
      sep(["l", "l", "r", "r", "r", "r", "r", "r"]),
    );
    /** @type {AcceptRow[]} */
    const rows = a.rows;
    for (const x of rows) {
      const noble = rows.find((y) => y.runtime === x.runtime && y.mode === "noble");
      const rt = runtimes.find((y) => y.label === x.runtime);
      out.push(
        row([
          x.runtime,
          `${x.mode}: ${backendWords(rt?.crypto[x.mode])}`,
          f(x.total.median),
          f(x.total.p99),
          f(x.cpuMeanUs),
          f(x.hello.median),
          f(x.finished.median),
          noble && x.mode !== "noble"
            ? `${f(noble.total.median / x.total.median, 1)}x`
            : "(baseline)",
        ]),
      );
    }
  }

  const l = r.loopback;
  if (l?.rows?.length) {
    out.push(
      `\n## One channel over loopback through pqgate/node's serveNode (client: ${l.client}), ${l.channels} per row (${l.rounds} interleaved rounds)`,
    );
    out.push(
      row(["server runtime", "what", "median ms", "p99 ms", "server process CPU µs / channel"]),
      sep(["l", "l", "r", "r", "r"]),
    );
    const what = /** @type {Record<string, string>} */ ({
      auto: "serveNode, crypto auto: open → handshake → 1 KiB response",
      noble: "serveNode, crypto noble: the same",
      plain: "plain `ws` WebSocket: open → one 1 KiB echo",
    });
    /** @type {LoopRow[]} */
    const rows = l.rows;
    for (const x of rows) {
      out.push(
        row([
          x.runtime,
          what[x.kind] ?? x.kind,
          f(x.ms.median, 2),
          f(x.ms.p99, 2),
          f(x.cpuUsPerChannel),
        ]),
      );
    }
  }
  return out.join("\n");
}
