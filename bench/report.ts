/** Renders bench/main.ts's result object as Markdown tables (what `npm run bench` prints). */
// deno-lint-ignore-file no-explicit-any

import { targetsFrom, targetsTable } from "./targets.ts";
import { profileMarkdown } from "./channel-profile.ts";
import { renderRequestProfile } from "./request-profile.ts";
import { saturationTable } from "./saturation.ts";

type S = { n: number; median: number; p99: number };
const f = (x: number | null | undefined, d = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", {
    maximumFractionDigits: d,
    minimumFractionDigits: d,
  });
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const sep = (n: number) => `|${"---|".repeat(n)}`;
const ms = (s: S | undefined, d = 2) => (s ? `${f(s.median, d)} | ${f(s.p99, d)}` : "– | –");

export function printReport(r: any): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `machine: ${m.cpu}, ${m.cores} cores, ${m.os}; Deno ${m.deno} (V8 ${m.v8}), Node ${m.node}; load avg at start ${
      m.loadavg.join(" ")
    }; ${m.date}${r.quick ? "  (--quick)" : ""}`,
  );

  const hsTable = (title: string, x: any) => {
    if (!x) return;
    if (x.error) {
      out.push(`\n${title}: ERROR ${x.error}`);
      return;
    }
    out.push(`\n### ${title} — ${x.runtime}, n=${x.n} (warm-up ${x.warmup})`);
    out.push(row(["backend", "median µs", "p99 µs", "CPU µs (mean)"]), sep(4));
    for (const h of x.handshakes) out.push(row([h.backend, f(h.medianUs), f(h.p99Us), f(h.cpuUs)]));
  };
  out.push(
    "\n## Gateway CPU per pinned-key handshake (prepare + receiveClientHello + receiveClientFinished), warm",
  );
  hsTable("Deno", r.deno);
  hsTable("Node", r.node);

  if (r.profile?.rows) {
    out.push(
      `\n### Where a prepared gateway handshake goes (${r.profile.runtime}; each step timed alone, median µs)`,
    );
    out.push(row(["step", "µs"]), sep(2));
    for (const x of r.profile.rows) out.push(row([x.step, f(x.us, 1)]));
  }

  if (r.cold) {
    out.push(
      `\n## Cold: first gateway handshake in a fresh Deno ${m.deno} process (backends selected first, as at gateway start)`,
    );
    out.push(
      row([
        "backend",
        "n",
        "first µs median",
        "first µs p99",
        "first CPU µs median",
        "second µs median",
        "selection ms median",
      ]),
      sep(7),
    );
    for (const [b, c] of Object.entries<any>(r.cold)) {
      out.push(
        row([
          b === "auto" ? "auto (prepared native)" : "all-noble",
          c.firstUs.n,
          f(c.firstUs.median),
          f(c.firstUs.p99),
          f(c.firstCpuUs.median),
          f(c.secondUs.median),
          f(c.selectMs.median, 1),
        ]),
      );
    }
  }

  const lat = r.gateway_auto?.latency;
  if (lat) {
    out.push(
      `\n## Latency over loopback (client: Deno + ws npm; gateway: serveDeno subprocess, ${r.gateway_auto.crypto})`,
    );
    out.push(row(["what", "median ms", "p99 ms"]), sep(3));
    out.push(
      row([
        "new WebSocket → handshake → first response (1 KiB) through the channel" +
        (lat.clientKem ? ` (client default: ${lat.clientKem})` : ""),
        ms(lat.openToFirstResponseMs),
      ]),
    );
    if (lat.openToFirstResponseSyncKemMs) {
      out.push(
        row([
          `… same, client with the sync \`kem\` option (${lat.syncKem}), as measured before`,
          ms(lat.openToFirstResponseSyncKemMs),
        ]),
      );
    }
    out.push(
      row([
        "plain WebSocket: new WebSocket → one 1 KiB echo (same Deno server)",
        ms(lat.plainWsEchoMs),
      ]),
    );
    out.push(
      row([
        "no PQ layer: the same request as a direct fetch to the origin (keep-alive)",
        ms(lat.directFetchMs),
      ]),
    );
    out.push(
      row(["request on an established channel (1 KiB response)", ms(lat.requestThroughChannelMs)]),
    );
    out.push(
      row(["same request, direct fetch to the origin (keep-alive)", ms(lat.requestDirectMs)]),
    );
    out.push(
      `\nopen-to-first-response / plain WS echo = **${lat.ratioOpenVsPlainWs}x** (target ≤ 2x)` +
        (lat.ratioSyncKemVsPlainWs ? ` (sync-kem client: ${lat.ratioSyncKemVsPlainWs}x)` : "") +
        `; request through channel / direct = ${lat.ratioRequestVsDirect}x`,
    );
  }

  const ph = r.gateway_auto?.phases;
  if (ph) {
    out.push(
      `\n### Where open-to-first-response goes: one handshake by hand over \`ws\` (client crypto: ${
        r.clientKem ?? "selected sync X-Wing"
      })`,
    );
    out.push(row(["phase", "median ms", "p99 ms"]), sep(3));
    out.push(row(["socket open (TCP + WebSocket upgrade)", ms(ph.socketOpen)]));
    out.push(
      row([
        "client builds the ClientHello (ML-KEM keygen + encaps to the static key)",
        ms(ph.clientHello),
      ]),
    );
    out.push(
      row([
        "ClientHello → ServerHello (gateway prepare + receiveClientHello + loopback)",
        ms(ph.helloRoundTrip),
      ]),
    );
    out.push(
      row(["client processes the ServerHello (X-Wing decaps + key schedule)", ms(ph.clientFinish)]),
    );
    out.push(row(["ClientFinished → first record (SESSION_INFO)", ms(ph.finishedRoundTrip)]));
    out.push(row(["total handshake from new WebSocket", ms(ph.total)]));
  }

  for (const mode of ["auto", "noble"]) {
    const g = r[`gateway_${mode}`];
    if (!g?.load) continue;
    out.push(
      `\n## Handshakes per second, N concurrent clients, loopback — gateway crypto ${mode}: ${g.crypto}`,
    );
    out.push(
      row([
        "clients",
        "handshakes/s",
        "handshake ms median",
        "p99",
        "gateway CPU µs / handshake",
        "errors",
      ]),
      sep(6),
    );
    for (const l of g.load) {
      out.push(
        row([
          l.clients,
          f(l.perSecond),
          f(l.handshakeMs.median, 2),
          f(l.handshakeMs.p99, 2),
          f(l.gatewayCpuUsPerHandshake),
          l.errors,
        ]),
      );
    }
  }

  const tp = r.deno?.throughput;
  if (tp) {
    out.push(
      `\n## Record layer vs raw AEAD (seal + open), ${r.deno.runtime}, MB/s of plaintext (best of 5 alternating 60 ms trials each)`,
    );
    out.push(
      row(["suite", "AEAD", "record", "record layer MB/s", "raw AEAD MB/s", "layer / raw"]),
      sep(6),
    );
    for (const t of tp) {
      out.push(
        row([
          t.suite,
          t.aead,
          t.size === 1024 ? "1 KiB" : "16 KiB",
          f(t.recordMBs, 1),
          f(t.rawMBs, 1),
          `${f(t.ratioPct, 1)}%`,
        ]),
      );
    }
  }

  const mem = r.memory;
  if (mem) {
    out.push(
      `\n## Memory per idle channel (gateway RSS after GC, once idle; ulimit -n ${
        mem.ulimitHard ?? "?"
      })`,
      "",
      "Each figure once V8 gave back the young generation grown by the burst of handshakes",
      "(bench/idle-client.ts); the RSS 1 s after the burst, before that, in its own column.",
      "",
    );
    if (mem.error) out.push(`ERROR: ${mem.error}`);
    else {
      out.push(
        row([
          "open idle channels",
          "gateway sessions",
          "RSS MB",
          "JS heap MB",
          "KB per channel (RSS − baseline)",
          "RSS MB 1 s after the burst",
          "idle wait s",
        ]),
        sep(7),
      );
      out.push(row([0, 0, f(mem.baselineRssMB, 1), "", "", f(mem.baselineBurstRssMB, 1), ""]));
      for (const s of mem.steps) {
        out.push(
          row([
            f(s.channels),
            f(s.sessions),
            f(s.rssMB, 1),
            f(s.heapMB, 1),
            f(s.kbPerChannel, 1),
            f(s.burstRssMB, 1),
            f(s.settleSeconds),
          ]),
        );
      }
      if (mem.failed) out.push(`\n${mem.failed} channels failed to open: ${mem.error}`);
    }
  }
  out.push(...workerSection(r.worker));
  out.push(...requestSection(r.request, r.channelCost));
  out.push(...stageSection(r.requestStages, r.request?.cpu?.pqgateUs?.median));
  out.push(...saturationSection(r.saturation));
  out.push(...observeSection(r.observeCost));
  out.push(...targetsTable(targetsFrom(r)));
  out.push(`\n(bench took ${r.seconds} s)`);
  return out.join("\n");
}

/** bench/observe-cost.ts: per-request CPU with logs and metrics on vs off, and the sinks alone. */
function observeSection(o: any): string[] {
  if (!o) return [];
  if (o.error) return [`\n## Observation cost: ERROR ${o.error}`];
  const out = [
    `\n## Observation cost per request (issue 14) — ${o.runtime}, ${o.n} GETs × ${o.rounds} rounds, alternating`,
    "\nGateway process CPU per proxied 1 KiB request, µs (two gateway processes, off and logs+metrics); added = on − off, per round:",
    row(["runtime", "implementation", "median", "p99", "added median", "added p99"]),
    sep(6),
  ];
  for (const x of o.rows) {
    out.push(
      row([
        o.runtime,
        x.implementation,
        f(x.us.median, 1),
        f(x.us.p99, 1),
        x.addedUs ? f(x.addedUs.median, 1) : "baseline",
        x.addedUs ? f(x.addedUs.p99, 1) : "",
      ]),
    );
  }
  out.push("\nThe sinks alone: one request's events (stream_open + request), µs per request:");
  out.push(row(["runtime", "implementation", "median", "p99"]), sep(4));
  for (const x of o.sinkRows) {
    out.push(row([o.runtime, x.implementation, f(x.us.median, 2), f(x.us.p99, 2)]));
  }
  return out;
}

function requestSection(q: any, c: any): string[] {
  const out: string[] = [];
  if (q?.error) out.push(`\n## Per-request cost: ERROR ${q.error}`);
  else if (q?.cpu) {
    out.push(
      `\n## Per proxied 1 KiB request, established channel vs a plain Deno reverse proxy (same run; batches of ${q.n}, /proc CPU)`,
    );
    out.push(row(["what", "median", "p99"]), sep(3));
    out.push(
      row([
        "pqgate gateway CPU µs (process − origin)",
        f(q.cpu.pqgateUs.median),
        f(q.cpu.pqgateUs.p99),
      ]),
    );
    out.push(
      row([
        "pqgate process CPU µs (gateway + origin)",
        f(q.cpu.pqgateProcessUs.median),
        f(q.cpu.pqgateProcessUs.p99),
      ]),
    );
    out.push(
      row([
        "origin alone CPU µs (direct requests)",
        f(q.cpu.originUs.median),
        f(q.cpu.originUs.p99),
      ]),
    );
    out.push(
      row(["plain Deno proxy CPU µs", f(q.cpu.plainProxyUs.median), f(q.cpu.plainProxyUs.p99)]),
    );
    const l = q.latency;
    out.push(row(["request through the channel, ms", ms(l.pqgateMs, 3)]));
    out.push(row(["request through the plain Deno proxy, ms", ms(l.plainProxyMs, 3)]));
    out.push(row(["request direct to the origin (keep-alive), ms", ms(l.directMs, 3)]));
    out.push(
      `\nadded over direct: pqgate +${l.pqgateAddedP50Ms} ms p50 (+${l.pqgateAddedP99Ms} p99), plain proxy +${l.plainProxyAddedP50Ms} ms p50 (+${l.plainProxyAddedP99Ms} p99)`,
    );
    if (q.rtt) {
      out.push(
        `\nRound trips (relay adds ${q.rtt.delayMsPerDirection} ms per direction, TCP SYN not delayed): new channel → first response ${q.rtt.newChannelFirstResponseMs.median} ms = ${q.rtt.newChannelRtts} RTT; plain GET on a new connection ${q.rtt.plainNewConnectionMs.median} ms = ${q.rtt.plainRtts} RTT; channel = plain + ${q.rtt.extraRttsOverPlain} RTT`,
      );
    }
  }
  if (c?.error) out.push(`\n## Gateway CPU per new channel: ERROR ${c.error}`);
  else if (c?.cpu) {
    out.push(
      `\n## Gateway CPU per new channel (open, handshake, GET /, close; ${c.cpu.batches} batches of ${c.cpu.batch}): median ${
        f(c.cpu.medianUs)
      } µs, p99 ${f(c.cpu.p99Us)} µs`,
    );
    if (c.profile?.stages) out.push("", profileMarkdown(c.profile));
  }
  return out;
}

function saturationSection(s: any): string[] {
  if (!s) return [];
  if (s.error) return [`\n## Requests/s at saturation: ERROR ${s.error}`];
  const out = [
    `\n## Requests/s at saturation (${s.windowMs} ms windows; clients on the same 2 cores; bench/saturation.ts)`,
  ];
  if (s.deno) out.push("", saturationTable("Deno (serveDeno)", s.deno));
  if (s.workerd) out.push("", saturationTable("workerd (one DO per channel)", s.workerd));
  return out;
}

function stageSection(p: any, totalUs: number | undefined): string[] {
  if (!p) return [];
  if (p.error) return [`\n## Per-request stages: ERROR ${p.error}`];
  return [
    `\n## Where a proxied 1 KiB request's gateway CPU goes (each stage alone, warm; suite ${p.suite}; bench/request-profile.ts)`,
    "",
    renderRequestProfile(p, totalUs),
  ];
}

function workerSection(w: any): string[] {
  const out = ["\n## Workers (workerd, Miniflare)"];
  if (!w || w.skipped || w.error) return [...out, w?.skipped ?? w?.error ?? "not run"];
  const rt = (r: string) => `${r} (${w.runtimes[r]})`;
  const n0 = (x: number) => Math.round(x).toLocaleString("en-US");
  out.push(`\nMethod: ${w.method}. Runtimes: ${Object.keys(w.runtimes).map(rt).join(", ")}.`);
  out.push("\n### Gateway CPU per pinned-key handshake, warm isolate (µs; batches of 20)\n");
  out.push(
    "| runtime | PQGATE_CRYPTO | selected | CPU median | CPU p99 | wall median | start-up CPU ms |",
  );
  out.push("|---|---|---|---:|---:|---:|---:|");
  for (const x of w.warm) {
    out.push(
      `| ${rt(x.runtime)} | ${x.backend} | ${x.crypto} | ${n0(x.cpuUs.median)} | ${
        n0(x.cpuUs.p99)
      } | ${n0(x.wallUs.median)} | ${x.startupCpuMs} |`,
    );
  }
  out.push("\n### Cold: first handshake in a fresh isolate (fresh Miniflare per sample)\n");
  out.push(
    "| runtime | PQGATE_CRYPTO | n | first handshake CPU µs median | p99 (worst) | wall µs median | isolate start-up CPU ms | first request CPU ms |",
  );
  out.push("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const x of w.cold) {
    out.push(
      `| ${rt(x.runtime)} | ${x.backend} | ${x.n} | ${n0(x.firstCpuUs.median)} | ${
        n0(x.firstCpuUs.p99)
      } | ${n0(x.firstWallUs.median)} | ${x.startupCpuMs.median} | ${x.firstRequestCpuMs.median} |`,
    );
  }
  out.push(
    "\n### Handshakes per second through the Worker (Durable Object per channel), N clients\n",
  );
  out.push(
    "| runtime | PQGATE_CRYPTO | clients | handshakes/s | handshake ms median | p99 | workerd CPU µs / handshake | errors |",
  );
  out.push("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const x of w.load) {
    out.push(
      `| ${
        rt(x.runtime)
      } | ${x.backend} | ${x.clients} | ${x.perSecond} | ${x.handshakeMs.median} | ${x.handshakeMs.p99} | ${
        x.workerdCpuUsPerHandshake === null ? "—" : n0(x.workerdCpuUsPerHandshake)
      } | ${x.errors} |`,
    );
  }
  out.push(`\n(Workers section took ${w.seconds} s)`);
  return out;
}

// `deno run -A bench/report.ts result.json` re-renders a saved `--json` result.
if (import.meta.main) {
  const file = Deno.args[0];
  if (!file) {
    console.error("usage: deno run -A bench/report.ts <result.json>");
    Deno.exit(2);
  }
  console.log(printReport(JSON.parse(await Deno.readTextFile(file))));
}
