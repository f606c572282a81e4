import assert from "node:assert/strict";
import { oneAtATime, reloadAnswer, restartOnlyChanges } from "./reload.ts";
import { parseStartFlags, resolveStartSettings, type StartFlags } from "./start-config.ts";

Deno.test("oneAtATime: one runs, at most one waits, every caller gets an answer", async () => {
  let runs = 0, inFlight = 0, most = 0;
  const release: (() => void)[] = [];
  const reload = oneAtATime(async () => {
    const n = ++runs;
    most = Math.max(most, ++inFlight);
    await new Promise<void>((r) => release.push(r));
    inFlight--;
    return n;
  });
  const first = reload();
  const later = Array.from({ length: 100 }, () => reload());
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(runs, 1, "the waiting ones do not run while the first runs");
  release.shift()!();
  assert.equal(await first, 1);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(runs, 2, "100 callers during one reload share one more run");
  release.shift()!();
  for (const p of later) assert.equal(await p, 2);
  assert.equal(most, 1);
  // Idle again: the next call runs at once; a failed run does not wedge the queue.
  const failing = oneAtATime(() => Promise.reject(new Error("boom")));
  await assert.rejects(failing(), /boom/);
  await assert.rejects(Promise.all([failing(), failing()]), /boom/);
});

Deno.test("restartOnlyChanges names the listener, transport caps and log settings only", () => {
  const flags = parseStartFlags(["--config", "/x/pqgate.json"]) as StartFlags;
  const a = resolveStartSettings(flags, JSON.stringify({ routes: [] }));
  const b = resolveStartSettings(
    flags,
    JSON.stringify({
      routes: [{ match: { authority: "a" }, origin: "http://127.0.0.1:1" }],
      port: 9,
      maxSockets: 5,
      logFormat: "text",
      limits: { maxStreams: 3 },
    }),
  );
  assert.deepEqual(restartOnlyChanges(a, b), ["port", "maxSockets", "observe.logFormat"]);
  assert.deepEqual(restartOnlyChanges(a, a), []);
});

Deno.test("reloadAnswer: 200 with the live key ids, else the status and the reason", () => {
  assert.deepEqual(
    reloadAnswer({ ok: true, keyIds: ["ab"], added: ["ab"], removed: [], restartOnly: [] }),
    {
      status: 200,
      body: { reloaded: true, keyIds: ["ab"], added: ["ab"], removed: [], restartOnly: [] },
    },
  );
  assert.deepEqual(
    reloadAnswer({
      ok: false,
      status: 422,
      error: "c.json: routes[0]",
      file: "c.json",
      setting: "routes[0]",
    }),
    {
      status: 422,
      body: { reloaded: false, error: "c.json: routes[0]", file: "c.json", setting: "routes[0]" },
    },
  );
});
