import assert from "node:assert/strict";
const assertEquals = (a: unknown, b: unknown) => assert.deepStrictEqual(a, b);
import { evaluate, targetsFrom, targetsTable } from "../../bench/targets.ts";

const t = { target: "x", unit: "µs" } as const;

Deno.test("targets: met / missed by N per comparison", () => {
  assertEquals(evaluate({ ...t, cmp: "<=", limit: 150, median: 150 }).verdict, "met");
  assertEquals(evaluate({ ...t, cmp: "<=", limit: 150, median: 567 }).verdict, "missed by 417 µs");
  assertEquals(evaluate({ ...t, cmp: "<", limit: 5000, median: 5000 }).verdict, "missed by 0 µs");
  assertEquals(evaluate({ ...t, cmp: "<", limit: 5000, median: 4999 }).met, true);
  assertEquals(evaluate({ ...t, cmp: ">=", limit: 70, median: 65.5 }).verdict, "missed by 4.5 µs");
  assertEquals(evaluate({ ...t, cmp: ">=", limit: 70, median: 70 }).met, true);
  assertEquals(
    evaluate({ ...t, cmp: "<=", limit: 0.3, median: 0.588 }).verdict,
    "missed by 0.288 µs",
  );
  assertEquals(evaluate({ ...t, cmp: "<=", limit: 1, median: null }).verdict, "not measured");
  assertEquals(evaluate({ ...t, cmp: "report", limit: null, median: 3 }).verdict, "reported");
});

Deno.test("targets: picked from a result object; missing sections are not measured", () => {
  const v = targetsFrom({
    request: {
      cpu: {
        pqgateUs: { median: 100, p99: 200 },
        pqgateProcessUs: { median: 125 },
        plainProxyUs: { median: 170, p99: 200 },
      },
      latency: {
        pqgateAddedP50Ms: 0.5,
        pqgateAddedP99Ms: 1,
        plainProxyAddedP50Ms: 0.2,
        plainProxyAddedP99Ms: 0.5,
      },
    },
    memory: { ulimitHard: 20000, steps: [{ channels: 10000, rssMB: 240 }] },
  });
  const by = (s: string) => v.find((x) => x.target.startsWith(s))!;
  assertEquals(by("gateway CPU per proxied").verdict, "met");
  assertEquals(by("added latency").verdict, "missed by 0.2 ms");
  assertEquals(by("gateway RSS with 10,000").verdict, "met");
  assertEquals(by("gateway CPU per new channel").verdict, "not measured");
  assertEquals(by("requests/s per core").median, 8000);
  assertEquals(targetsTable(v).length, v.length + 4);
});

Deno.test("targets: saturation rows pick the best measured configuration", () => {
  const row = (channels: number, inFlight: number, reqPerS: number, busy: number) => ({
    channels,
    inFlight,
    reqPerS,
    busy,
    cpuUsPerReq: 200,
    reqPerBusyCore: Math.round(reqPerS / busy),
    errors: 0,
  });
  const v = targetsFrom({
    saturation: {
      deno: [row(1, 8, 2000, 0.5), row(4, 32, 3000, 1)],
      workerd: [row(1, 8, 600, 0.5), row(1, 32, 900, 0.7), row(4, 32, 1200, 0.9)],
    },
  });
  const by = (s: string) => v.find((x) => x.target.startsWith(s))!;
  assertEquals(by("requests/s per core at saturation, Deno, measured").median, 4000);
  assertEquals(by("requests/s per core at saturation, Deno, measured").verdict, "reported");
  // one channel = one Durable Object: the 4-channel row is not a per-DO figure
  assertEquals(by("requests/s per Durable Object").median, 900);
  assertEquals(
    targetsFrom({}).find((x) => x.target.startsWith("requests/s per Durable"))!.verdict,
    "not measured",
  );
});
