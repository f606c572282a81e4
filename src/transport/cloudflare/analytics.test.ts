/**
 * The Analytics Engine sink (analytics.ts) with a recording binding double (miniflare's local
 * binding accepts data points and drops them, so what is written is checked here; the Worker
 * with a real local binding runs in tests/cloudflare/workers-observe.test.ts): a session's
 * handshake, channel open, requests and close become data points of the documented schema,
 * with no path, address or session id in them.
 */
import assert from "node:assert/strict";
import { startPair, waitFor } from "../../tunnel/testing.ts";
import { type AnalyticsEngineDataset, analyticsLog } from "./analytics.ts";

type Point = Parameters<AnalyticsEngineDataset["writeDataPoint"]>[0];

function recordingDataset(): AnalyticsEngineDataset & { points: Point[] } {
  const points: Point[] = [];
  return { points, writeDataPoint: (p) => void points.push(structuredClone(p)) };
}

Deno.test("analytics: a session's events as data points of the documented schema", async () => {
  const ds = recordingDataset();
  const log = analyticsLog(ds)!;
  const p = startPair({
    server: { log },
    handler: (req, _c, access) => {
      if (access) access.route = "1";
      return Promise.resolve(
        new Response("nope", { status: new URL(req.url).pathname === "/x" ? 404 : 200 }),
      );
    },
  });
  await p.client.ready;
  await waitFor(() => p.server.state === "established", 2000, "established");
  const keyId = p.server.channelInfo!.keyId!;
  const sessionId = p.server.channelInfo!.sessionId;
  await (await p.client.fetch(new Request("https://api.example/x?q=secret"))).text();
  await waitFor(() => ds.points.some((d) => d.indexes?.[0] === "request"), 2000, "request");
  p.client.close();
  await waitFor(() => ds.points.some((d) => d.indexes?.[0] === "channel_close"), 2000, "close");

  const byEvent = (e: string) => ds.points.filter((d) => d.indexes?.[0] === e);
  const [hs] = byEvent("handshake");
  assert.deepEqual(hs.blobs, ["handshake", "ok", "0", keyId, ""]);
  assert.equal(hs.doubles?.length, 3);
  assert.equal(hs.doubles?.[1], 0);
  assert.deepEqual(byEvent("channel_open")[0].blobs, ["channel_open", keyId, "pinned"]);
  const [req] = byEvent("request");
  assert.deepEqual(req.blobs, ["request", "1", "4xx", "GET", ""]);
  assert.equal(req.doubles?.[0], 404);
  assert.equal(req.doubles?.[2], -1, "no origin time: the handler noted none");
  assert.equal(req.doubles?.[4], 4, "bytes out");
  const [close] = byEvent("channel_close");
  assert.deepEqual(close.blobs, ["channel_close", "1000", "client", "client_close", keyId]);
  assert.equal(close.doubles?.[3], 1, "requests");
  const all = JSON.stringify(ds.points);
  for (const s of ["secret", "/x", sessionId, "192.0.2.1"]) assert.ok(!all.includes(s), s);
  // Only the events of the schema are written.
  assert.deepEqual(
    [...new Set(ds.points.map((d) => d.indexes?.[0]))].sort(),
    ["channel_close", "channel_open", "handshake", "request"],
  );
});

Deno.test("analytics: refusals and the crypto backend; no binding, no sink", () => {
  const ds = recordingDataset();
  const log = analyticsLog(ds)!;
  log("refused", { reason: "origin_not_allowed", status: 403 });
  log("pong_dropped", { sessionId: "s", reason: "r" }); // not in the schema: not written
  log("crypto", {
    mode: "auto",
    mlkem: "noble",
    x25519: "node:crypto",
    sha3: "noble",
    aead: { "AES-256-GCM": "node:crypto", "ChaCha20-Poly1305": "noble" },
    summary: "",
    fallbacks: [],
    ms: 12,
  });
  assert.deepEqual(ds.points, [
    { indexes: ["refused"], blobs: ["refused", "origin_not_allowed"], doubles: [403] },
    {
      indexes: ["crypto"],
      blobs: ["crypto", "noble", "node:crypto", "node:crypto", "noble"],
      doubles: [12],
    },
  ]);
  assert.equal(log.wants!("pong_dropped"), false);
  assert.equal(log.wants!("request"), true);
  assert.equal(analyticsLog(undefined), undefined);
  assert.equal(analyticsLog({}), undefined);
});
