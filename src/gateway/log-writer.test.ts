/**
 * The log sink (log-writer.ts): the access line field by field, private fields only when
 * enabled, level filtering (and `wants`, which keeps access records from being made), the text
 * format, and the bound of the batched writer.
 */
import assert from "node:assert/strict";
import type { EventFields } from "../tunnel/events.ts";
import { batchedLines, createLogWriter } from "./log-writer.ts";

const ACCESS: EventFields["request"] = {
  sessionId: "00112233445566778899aabbccddeeff",
  stream: 7,
  method: "POST",
  route: "2",
  status: 201,
  gatewayError: null,
  bytesIn: 12,
  bytesOut: 345,
  ms: 9,
  originMs: 6,
  outcome: "complete",
  authority: "api.example",
  path: "/v1/users/42?token=SECRET",
  clientAddress: "198.51.100.7",
  authMethod: "password",
};

function writer(o: Parameters<typeof createLogWriter>[0] extends infer T ? Partial<T> : never) {
  const lines: string[] = [];
  const log = createLogWriter({
    now: () => Date.UTC(2026, 0, 2, 3, 4, 5),
    ...o,
    write: (l) => lines.push(l),
  });
  return { log, lines };
}

Deno.test("log writer: the access line field by field, with no target and no address by default", () => {
  const { log, lines } = writer({});
  log!("request", ACCESS);
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]), {
    t: "2026-01-02T03:04:05.000Z",
    level: "info",
    event: "request",
    sessionId: "00112233445566778899aabbccddeeff",
    stream: 7,
    method: "POST",
    route: "2",
    status: 201,
    gatewayError: null,
    bytesIn: 12,
    bytesOut: 345,
    ms: 9,
    originMs: 6,
    outcome: "complete",
    authMethod: "password",
  });
  for (
    const s of ["SECRET", "/v1", "api.example", "198.51.100.7", "path", "clientAddress"]
  ) {
    assert.ok(!lines[0].includes(s), s);
  }
});

Deno.test("log writer: request targets and client addresses when enabled", () => {
  const { log, lines } = writer({ paths: true, addresses: true });
  log!("request", ACCESS);
  const line = JSON.parse(lines[0]);
  assert.equal(line.authority, "api.example");
  assert.equal(line.path, "/v1/users/42?token=SECRET");
  assert.equal(line.clientAddress, "198.51.100.7");
  const only = writer({ paths: true });
  only.log!("request", ACCESS);
  assert.equal(JSON.parse(only.lines[0]).clientAddress, undefined);
});

Deno.test("log writer: level filtering and wants()", () => {
  const refused = { reason: "max_streams", status: 0 } as const;
  const info = writer({});
  info.log!("refused", refused); // debug
  info.log!("handler_error", { sessionId: "s", stream: 1, error: "TypeError" }); // warn
  assert.deepEqual(info.lines.map((l) => JSON.parse(l).event), ["handler_error"]);
  assert.equal(info.log!.wants!("request"), true);
  assert.equal(info.log!.wants!("refused"), false);

  const warn = writer({ level: "warn" });
  warn.log!("request", ACCESS);
  warn.log!("channel_open", {
    sessionId: "s",
    keyId: null,
    suite: 1,
    mode: "anonymous",
    resumed: false,
    clientAddress: null,
  });
  warn.log!("transport.listen_failed", { message: "in use" });
  assert.deepEqual(warn.lines.map((l) => JSON.parse(l).event), ["transport.listen_failed"]);
  assert.equal(warn.log!.wants!("request"), false, "no access records are made at warn");

  const debug = writer({ level: "debug" });
  debug.log!("refused", refused);
  assert.equal(debug.lines.length, 1);
  const error = writer({ level: "error" });
  error.log!("handler_error", { sessionId: "s", stream: 1, error: "TypeError" });
  assert.equal(error.lines.length, 0);
  assert.equal(createLogWriter({ level: "off", write: () => {} }), undefined);
});

Deno.test("log writer: text format", () => {
  const { log, lines } = writer({ format: "text" });
  log!("request", { ...ACCESS, gatewayError: "bad gateway" });
  assert.equal(
    lines[0],
    '2026-01-02T03:04:05.000Z info request sessionId=00112233445566778899aabbccddeeff stream=7 method=POST route=2 status=201 gatewayError="bad gateway" bytesIn=12 bytesOut=345 ms=9 originMs=6 outcome=complete authMethod=password',
  );
});

Deno.test("batched lines: one write per task, bounded, drops counted", async () => {
  const chunks: string[] = [];
  const w = batchedLines((c) => chunks.push(c), 40);
  w("a".repeat(10));
  w("b".repeat(10));
  w("c".repeat(30)); // over the bound: dropped
  assert.equal(chunks.length, 0);
  await Promise.resolve();
  assert.equal(chunks.length, 1);
  assert.ok(chunks[0].startsWith("aaaaaaaaaa\nbbbbbbbbbb\n"));
  assert.match(chunks[0], /"event":"log.dropped","lines":1/);
  assert.equal(w.dropped(), 1);
  const throwing = batchedLines(() => {
    throw new Error("stderr closed");
  });
  throwing("x");
  await Promise.resolve(); // a failing sink never throws into the gateway
});

Deno.test("log writer: an auth line's subject only with subjects: true", () => {
  const fields = {
    sessionId: "s",
    method: "password",
    result: "ok",
    subject: "ann@example",
    retryAfterMs: 0,
    ms: 41,
  } as const;
  const off = writer({});
  off.log!("auth", fields);
  const line = JSON.parse(off.lines[0]);
  assert.equal(line.event, "auth");
  assert.equal(line.result, "ok");
  assert.equal(line.subject, undefined);
  assert.ok(!off.lines[0].includes("ann@example"));
  const on = writer({ subjects: true });
  on.log!("auth", fields);
  assert.equal(JSON.parse(on.lines[0]).subject, "ann@example");
});
