/**
 * The observation seam (events.ts) as the gateway session emits it: a handshake, channel_open,
 * one `request` line per stream with its bytes and status, channel_close with the session id,
 * the close code and the bytes, failed handshakes, and no access record when the sink does not
 * want "request".
 */
import assert from "node:assert/strict";
import type { EventLog, EventName } from "./events.ts";
import { settle, startPair, waitFor } from "./testing.ts";

type Seen = { event: EventName; fields: Record<string, unknown> };

function recorder(wantsRequest = true): { log: EventLog; seen: Seen[] } {
  const seen: Seen[] = [];
  const log: EventLog = (event, fields) => seen.push({ event, fields });
  log.wants = (e) => wantsRequest || e !== "request";
  return { log, seen };
}

Deno.test("events: handshake, channel_open, request lines, channel_close with session id and code", async () => {
  const { log, seen } = recorder();
  let noted: unknown = "unset";
  const p = startPair({
    server: { log },
    handler: async (req, _channel, access) => {
      noted = access;
      if (access) access.route = "3";
      const body = req.body ? await req.text() : "";
      return new Response(body === "" ? "hello" : `got ${body}`, { status: 201 });
    },
  });
  await p.client.ready;
  const r1 = await p.client.fetch(new Request("https://api.example/a?secret=1"));
  assert.equal(await r1.text(), "hello");
  const r2 = await p.client.fetch(
    new Request("https://api.example/b", { method: "POST", body: "12345" }),
  );
  assert.equal(await r2.text(), "got 12345");
  await waitFor(() => seen.filter((s) => s.event === "request").length === 2, 2000, "2 lines");
  assert.ok(noted && typeof noted === "object", "the handler got an access note");

  const sessionId = p.server.channelInfo!.sessionId;
  const hs = seen.find((s) => s.event === "handshake")!;
  assert.equal(hs.fields.result, "ok");
  assert.equal(hs.fields.closeCode, 0);
  assert.equal(hs.fields.keyId, p.server.channelInfo!.keyId);
  const open = seen.find((s) => s.event === "channel_open")!;
  assert.deepEqual(open.fields, {
    sessionId,
    keyId: p.server.channelInfo!.keyId,
    suite: p.server.channelInfo!.suite,
    mode: "pinned",
    resumed: false,
    clientAddress: "192.0.2.1",
  });
  const [a, b] = seen.filter((s) => s.event === "request").map((s) => s.fields);
  assert.equal(a.sessionId, sessionId);
  assert.equal(a.stream, 1);
  assert.equal(a.method, "GET");
  assert.equal(a.route, "3");
  assert.equal(a.status, 201);
  assert.equal(a.bytesIn, 0);
  assert.equal(a.bytesOut, 5);
  assert.equal(a.outcome, "complete");
  assert.equal(typeof a.ms, "number");
  assert.equal(b.stream, 3);
  assert.equal(b.method, "POST");
  assert.equal(b.bytesIn, 5);
  assert.equal(b.bytesOut, 9);

  p.client.close();
  await waitFor(() => seen.some((s) => s.event === "channel_close"), 2000, "channel_close");
  const close = seen.find((s) => s.event === "channel_close")!.fields;
  assert.equal(close.sessionId, sessionId);
  assert.equal(close.closeCode, 1000);
  assert.equal(close.reason, "client_close");
  assert.equal(close.by, "client");
  assert.equal(close.requests, 2);
  assert.ok((close.bytesIn as number) > 0 && (close.bytesOut as number) > 0);
  // Nothing private or secret in any field: no path, no query, no body.
  const text = JSON.stringify(seen);
  assert.ok(!text.includes("secret=1") && !text.includes("12345"), text);
});

Deno.test("events: a socket gone without a close frame is channel_close 1006 with the session id", async () => {
  const { log, seen } = recorder();
  const p = startPair({ server: { log } });
  await p.client.ready;
  await waitFor(() => p.server.state === "established", 2000, "established");
  const sessionId = p.server.channelInfo!.sessionId;
  p.server.onSocketClose(0, "");
  const close = seen.find((s) => s.event === "channel_close")!.fields;
  assert.equal(close.sessionId, sessionId);
  assert.equal(close.closeCode, 1006);
  assert.equal(close.socketCode, 1006);
  assert.equal(close.reason, "socket_closed");
});

Deno.test("events: a failed handshake is one handshake event with its close code", async () => {
  const { log, seen } = recorder();
  const p = startPair({ server: { log, keys: [] } }); // unknown key id
  await p.client.ready.catch(() => {});
  await settle();
  const hs = seen.filter((s) => s.event === "handshake");
  assert.equal(hs.length, 1);
  assert.equal(hs[0].fields.result, "failed");
  assert.equal(hs[0].fields.closeCode, 4003);
  assert.equal(hs[0].fields.error, "unknown_key_id");
  assert.ok(!seen.some((s) => s.event === "channel_open" || s.event === "channel_close"));
});

Deno.test("events: a sink that does not want request lines gets none and the handler no note", async () => {
  const { log, seen } = recorder(false);
  let noted: unknown = "unset";
  const p = startPair({
    server: { log },
    handler: (_req, _channel, access) => {
      noted = access;
      return Promise.resolve(new Response("x"));
    },
  });
  await p.client.ready;
  assert.equal(await (await p.client.fetch(new Request("https://api.example/"))).text(), "x");
  await settle();
  assert.equal(noted, undefined);
  assert.ok(!seen.some((s) => s.event === "request"));
  assert.ok(seen.some((s) => s.event === "channel_open"));
});
