/**
 * The issue-13 targets: each one's measured value from a bench/main.ts result object, and
 * "met" / "missed by N". `evaluate` is pure (tests/bench/targets.test.ts); `targetsFrom` picks
 * the figures out of the result; `targetsTable` renders Markdown.
 */
// deno-lint-ignore-file no-explicit-any

export interface Target {
  /** What is measured, with its limit, e.g. "gateway CPU per proxied 1 KiB request (µs)". */
  target: string;
  /** "<=", "<" or ">=" the limit; "report" = no limit, the figure is only reported. */
  cmp: "<=" | "<" | ">=" | "report";
  limit: number | null;
  unit: string;
  /** The compared figure (a median unless stated); null = not measured in this run. */
  median: number | null;
  p99?: number | null;
  note?: string;
}

export interface Verdict extends Target {
  verdict: string;
  met: boolean | null;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** "met", "missed by N unit" (N = how far the median is on the wrong side), or "not measured". */
export function evaluate(t: Target): Verdict {
  if (t.median === null || Number.isNaN(t.median)) {
    return { ...t, met: null, verdict: "not measured" };
  }
  if (t.cmp === "report" || t.limit === null) return { ...t, met: null, verdict: "reported" };
  const ok = t.cmp === "<="
    ? t.median <= t.limit
    : t.cmp === "<"
    ? t.median < t.limit
    : t.median >= t.limit;
  if (ok) return { ...t, met: true, verdict: "met" };
  return {
    ...t,
    met: false,
    verdict: `missed by ${round(Math.abs(t.median - t.limit))} ${t.unit}`,
  };
}

const num = (x: any): number | null => (typeof x === "number" && !Number.isNaN(x) ? x : null);
const minBy = (xs: any[], f: (x: any) => number) =>
  xs.length ? xs.reduce((a, b) => (f(b) < f(a) ? b : a)) : null;

export function targetsFrom(r: any): Verdict[] {
  const t: Target[] = [];
  const rc = r.request;
  t.push({
    target: "gateway CPU per proxied 1 KiB request, established channel, Deno",
    cmp: "<=",
    limit: 150,
    unit: "µs",
    median: num(rc?.cpu?.pqgateUs?.median),
    p99: num(rc?.cpu?.pqgateUs?.p99),
    note: rc?.cpu
      ? `yardstick plain Deno proxy same run: ${rc.cpu.plainProxyUs.median} µs (p99 ${rc.cpu.plainProxyUs.p99})`
      : undefined,
  });
  t.push({
    target:
      "added latency p50 on an established channel over a direct keep-alive request (p99 column: p99 − direct p99)",
    cmp: "<=",
    limit: 0.3,
    unit: "ms",
    median: num(rc?.latency?.pqgateAddedP50Ms),
    p99: num(rc?.latency?.pqgateAddedP99Ms),
    note: rc?.latency
      ? `plain Deno proxy: +${rc.latency.plainProxyAddedP50Ms} ms p50 (p99 +${rc.latency.plainProxyAddedP99Ms})`
      : undefined,
  });
  const cc = r.channelCost?.cpu;
  t.push({
    target: "gateway CPU per new channel (open, handshake, one small request, close), Deno",
    cmp: "<=",
    limit: 1000,
    unit: "µs",
    median: num(cc?.medianUs),
    p99: num(cc?.p99Us),
  });
  const hs = minBy(
    (r.deno?.handshakes ?? []).filter((h: any) => !String(h.backend).startsWith("floor")),
    (h) => h.medianUs,
  );
  t.push({
    target: "handshake crypto per pinned-key handshake, Deno (fastest real backend)",
    cmp: "<=",
    limit: 300,
    unit: "µs",
    median: num(hs?.medianUs),
    p99: num(hs?.p99Us),
    note: hs?.backend,
  });
  const warm = r.worker?.warm ?? [];
  for (const rt of [...new Set(warm.map((x: any) => x.runtime))]) {
    const w = minBy(warm.filter((x: any) => x.runtime === rt), (x) => x.cpuUs.median);
    t.push({
      target: `handshake crypto per pinned-key handshake, workerd ${rt} (fastest PQGATE_CRYPTO)`,
      cmp: "<=",
      limit: 300,
      unit: "µs",
      median: num(w?.cpuUs?.median),
      p99: num(w?.cpuUs?.p99),
      note: w?.backend,
    });
  }
  t.push({
    target: "round trips: new channel (key pinned) → first response, over plain HTTP",
    cmp: "<=",
    limit: 1,
    unit: "RTT",
    median: num(rc?.rtt?.extraRttsOverPlain),
    note: rc?.rtt
      ? `${rc.rtt.newChannelRtts} RTT vs plain GET ${rc.rtt.plainRtts} RTT (relay ${rc.rtt.delayMsPerDirection} ms/direction; TCP SYN not delayed); hello as first message (1.1, helloInUrl: false): plain + ${rc.rtt.helloAsFirstMessageExtraRtts}`
      : undefined,
  });
  t.push({
    target: "round trips: pin-only client, key remembered from an earlier channel → first response",
    cmp: "<=",
    limit: 1,
    unit: "RTT",
    median: num(rc?.rtt?.pinOnlyKeyRememberedExtraRtts),
    note: rc?.rtt
      ? `first channel (key configuration fetched through the relay): plain + ${rc.rtt.pinOnlyFirstChannelExtraRtts}`
      : undefined,
  });
  for (const c of (r.worker?.cold ?? []).filter((x: any) => x.backend === "noble")) {
    t.push({
      target: `cold first handshake in a fresh workerd isolate, noble, ${c.runtime}`,
      cmp: "<",
      limit: 5000,
      unit: "µs CPU",
      median: num(c.firstCpuUs?.median),
      p99: num(c.firstCpuUs?.p99),
    });
  }
  const tp = r.deno?.throughput ?? [];
  const worst = minBy(tp, (x) => x.ratioPct);
  t.push({
    target: "record layer / raw AEAD, Deno (worst suite and size)",
    cmp: ">=",
    limit: 70,
    unit: "%",
    median: num(worst?.ratioPct),
    note: worst ? `${worst.suite}, ${worst.size === 1024 ? "1 KiB" : "16 KiB"} records` : undefined,
  });
  const steps = r.memory?.steps ?? [];
  const m10 = steps.find((s: any) => s.channels >= 10000);
  const base = num(r.memory?.baselineRssMB);
  const kb = num(m10?.kbPerChannel);
  t.push({
    target: "gateway RSS with 10,000 idle channels, Deno",
    cmp: "<=",
    limit: 250,
    unit: "MB",
    median: num(m10?.rssMB),
    note: [
      m10 && base !== null && kb !== null
        ? `${base} MB before the first channel + ${kb} KB per channel`
        : null,
      m10?.burstRssMB
        ? `${m10.burstRssMB} MB 1 s after opening them, before V8's idle shrink`
        : null,
      r.memory?.ulimitHard ? `ulimit -n ${r.memory.ulimitHard}` : null,
    ].filter(Boolean).join("; ") || undefined,
  });
  const m50 = steps.find((s: any) => s.channels >= 50000);
  // Without a 50,000 step: the 10,000 step's per-channel RSS, extrapolated (stated as such).
  const extrapolated = !m50 && base !== null && kb !== null
    ? Math.round(base + 50000 * kb / 1000) // kbPerChannel is in kB (1,000 bytes)
    : null;
  t.push({
    target: "gateway RSS with 50,000 idle channels, Deno",
    cmp: "report",
    limit: null,
    unit: "MB",
    median: m50 ? num(m50.rssMB) : extrapolated,
    note: m50
      ? undefined
      : `${
        extrapolated !== null
          ? `extrapolated: ${base} MB + 50,000 × ${kb} KB (per channel at 10,000); `
          : ""
      }not run: fd hard limit ${
        r.memory?.ulimitHard ?? "?"
      } (one fd per channel in the gateway and one in the client)`,
  });
  const pqCpu = num(rc?.cpu?.pqgateProcessUs?.median);
  t.push({
    target: "requests/s per core at saturation, Deno (1 s / gateway process CPU per request)",
    cmp: "report",
    limit: null,
    unit: "req/s",
    median: pqCpu ? Math.round(1e6 / pqCpu) : null,
    note: rc?.cpu ? `plain Deno proxy: ${Math.round(1e6 / rc.cpu.plainProxyUs.median)}` : undefined,
  });
  const loads = r.gateway_auto?.load ?? [];
  const best = loads.length
    ? loads.reduce((a: any, b: any) => (b.perSecond > a.perSecond ? b : a))
    : null;
  t.push({
    target: "handshakes/s per core at saturation, Deno (1 s / gateway CPU per handshake)",
    cmp: "report",
    limit: null,
    unit: "hs/s",
    median: best?.gatewayCpuUsPerHandshake ? Math.round(1e6 / best.gatewayCpuUsPerHandshake) : null,
    note: best
      ? `measured ${best.perSecond}/s with ${best.clients} clients on 2 shared cores`
      : undefined,
  });
  const wl = r.worker?.load ?? [];
  const wbest = wl.length
    ? wl.reduce((a: any, b: any) => (b.perSecond > a.perSecond ? b : a))
    : null;
  t.push({
    target: "handshakes/s through the Worker (one Durable Object per channel), workerd",
    cmp: "report",
    limit: null,
    unit: "hs/s",
    median: num(wbest?.perSecond),
    note: wbest ? `${wbest.runtime}, ${wbest.backend}, ${wbest.clients} clients` : undefined,
  });
  const bestOf = (rows: any[] | undefined, key: string) =>
    rows?.length ? rows.reduce((a, b) => (b[key] > a[key] ? b : a)) : null;
  const sd = bestOf(r.saturation?.deno, "reqPerBusyCore");
  t.push({
    target: "requests/s per core at saturation, Deno, measured (req/s ÷ gateway cores busy)",
    cmp: "report",
    limit: null,
    unit: "req/s",
    median: num(sd?.reqPerBusyCore),
    note: sd
      ? `${sd.reqPerS} req/s with ${sd.channels} channel(s) × ${sd.inFlight} in flight, gateway ${sd.busy} cores busy, ${sd.cpuUsPerReq} µs CPU/req`
      : undefined,
  });
  const sw = bestOf(
    r.saturation?.workerd?.filter((x: { channels: number }) => x.channels === 1),
    "reqPerS",
  );
  t.push({
    target: "requests/s per Durable Object (one channel) at saturation, workerd",
    cmp: "report",
    limit: null,
    unit: "req/s",
    median: num(sw?.reqPerS),
    note: sw
      ? `${sw.inFlight} in flight; workerd event loop ${sw.busy} busy, ${sw.cpuUsPerReq} µs CPU/req (Miniflare's proxy included)`
      : undefined,
  });
  return t.map(evaluate);
}

const fmt = (x: number | null | undefined) =>
  x === null || x === undefined ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: 3 });

export function targetsTable(v: Verdict[]): string[] {
  const out = [
    "\n## Targets (issue 13)",
    "",
    "| target | limit | median | p99 | verdict | note |",
    "|---|---|---:|---:|---|---|",
  ];
  for (const x of v) {
    const lim = x.cmp === "report" ? "–" : `${x.cmp} ${fmt(x.limit)} ${x.unit}`;
    out.push(
      `| ${x.target} | ${lim} | ${fmt(x.median)} | ${fmt(x.p99)} | ${x.verdict} | ${
        x.note ?? ""
      } |`,
    );
  }
  return out;
}
