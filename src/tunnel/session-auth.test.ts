/**
 * Client authentication in the gateway session (PROTOCOL.md §3.4.1, §3.4.2, §6.7, §6.8;
 * docs/client-auth.md), with a fake AuthVerifier (auth-testing.ts): AUTH answered and bound to
 * the channel, requests held behind it and bounded, identity per request, PSK in the handshake,
 * the auth event, and the identity across a hibernation restore.
 */
import assert from "node:assert/strict";
import {
  authBinding,
  type AuthResultPayload,
  type FrameAuthMethod,
} from "../protocol/client-auth.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import type { Frame } from "../protocol/frames.ts";
import { seededRandom } from "../protocol/testing.ts";
import { FAKE_PSK, fakeVerifier } from "./auth-testing.ts";
import { encodeRequestHead } from "./bhttp.ts";
import { memorySocketPair } from "./memory-socket.ts";
import { ServerSession } from "./server-session.ts";
import { AUTH_TIMEOUT_MS } from "./server-auth.ts";
import { decodeSessionSnapshot } from "./session-snapshot.ts";
import {
  ManualClock,
  type RawClient,
  rawClient,
  settle,
  TEST_KEY,
  TEST_LIMITS,
  testEnv,
  waitFor,
  wireServer,
} from "./testing.ts";
import type { AuthVerifier, ClientIdentity, RequestHandler } from "./types.ts";

/** Records the identity each request was dispatched with, by path. */
function recorder() {
  const seen: Record<string, ClientIdentity | null> = {};
  const handler: RequestHandler = (req, info) => {
    seen[new URL(req.url).pathname] = info.identity ?? null;
    return Promise.resolve(new Response("ok"));
  };
  return { seen, handler };
}

function get(stream: number, path: string): Frame {
  return {
    type: "headers",
    stream,
    endStream: true,
    payload: encodeRequestHead({
      method: "GET",
      scheme: "https",
      authority: "a.example",
      path,
      headers: [],
    }),
  };
}

function passwordAuth(c: RawClient, username: string, password: string): Frame {
  return {
    type: "auth",
    auth: {
      method: "password",
      binding: authBinding(c.layer.exporterSecret, "password"),
      username,
      password: new TextEncoder().encode(password),
    },
  };
}

function tokenAuth(c: RawClient, token: string): Frame {
  return {
    type: "auth",
    auth: { method: "token", binding: authBinding(c.layer.exporterSecret, "token"), token },
  };
}

function results(c: RawClient): AuthResultPayload[] {
  return c.frames().flatMap((f) => (f.type === "auth_result" ? [f.result] : []));
}

/** The AUTH_RESULTs once `n` arrived (they are sealed in a microtask, delivered on a macrotask). */
async function resultsN(c: RawClient, n: number): Promise<AuthResultPayload[]> {
  await waitFor(() => results(c).length >= n, 2000, `${n} AUTH_RESULT`);
  return results(c);
}

function statuses(c: RawClient, stream: number): number[] {
  return c.frames().flatMap((f) =>
    f.type === "headers" && f.stream === stream
      ? [f.payload[1]]
      : f.type === "reset_stream" && f.stream === stream
      ? [-f.errorCode]
      : []
  );
}

async function authClient(
  method: FrameAuthMethod,
  verifier: AuthVerifier | undefined,
  handler: RequestHandler,
  extra: Parameters<typeof rawClient>[0] = {},
): Promise<RawClient> {
  return await rawClient({
    handler,
    hello: { auth: { method } },
    ...extra,
    server: { auth: verifier, ...extra.server },
  });
}

Deno.test("AUTH password right: AUTH_RESULT ok + subject; a request in the same record sees the identity", async () => {
  const { seen, handler } = recorder();
  const v = fakeVerifier();
  const c = await authClient("password", v, handler);
  c.send([passwordAuth(c, "ann", "right"), get(1, "/same-record")]);
  await waitFor(() => "/same-record" in seen, 2000, "request");
  assert.deepEqual(await resultsN(c, 1), [{ status: "ok", retryAfterMs: 0, subject: "ann" }]);
  assert.deepEqual(seen["/same-record"], { method: "password", subject: "ann" });
  const ev = c.serverLog.filter((l) => l.event === "auth");
  assert.equal(ev.length, 1);
  assert.equal(ev[0].fields.method, "password");
  assert.equal(ev[0].fields.result, "ok");
  assert.equal(ev[0].fields.subject, "ann");
  assert.ok(!JSON.stringify(c.serverLog).includes("right"), "no credential in any event");
  assert.equal(v.calls.password, 1);
  assert.equal(c.closed(), null);
});

for (
  const [user, status, retry] of [
    ["ann-wrong", "bad_credentials", 0],
    ["busy", "busy", 2000],
    ["limited", "rate_limited", 5000],
  ] as const
) {
  Deno.test(`AUTH password → ${status}: requests go on without an identity, the channel stays up`, async () => {
    const { seen, handler } = recorder();
    const c = await authClient("password", fakeVerifier(), handler);
    c.send([passwordAuth(c, user, "nope"), get(1, "/after")]);
    await waitFor(() => "/after" in seen, 2000, "request");
    assert.deepEqual(await resultsN(c, 1), [{ status, retryAfterMs: retry, subject: null }]);
    assert.equal(seen["/after"], null);
    const ev = c.serverLog.find((l) => l.event === "auth")!;
    assert.equal(ev.fields.result, status);
    assert.equal(ev.fields.subject, null);
    c.send([get(3, "/later")]);
    await waitFor(() => "/later" in seen, 2000, "later request");
    assert.equal(c.closed(), null);
  });
}

Deno.test("AUTH method not enabled (or no verifier): method_not_enabled, channel usable", async () => {
  for (const v of [fakeVerifier({ methods: ["token"] }), undefined]) {
    const { seen, handler } = recorder();
    const c = await authClient("password", v, handler);
    c.send([passwordAuth(c, "ann", "right"), get(1, "/x")]);
    await waitFor(() => "/x" in seen, 2000, "request");
    assert.deepEqual(await resultsN(c, 1), [{
      status: "method_not_enabled",
      retryAfterMs: 0,
      subject: null,
    }]);
    assert.equal(seen["/x"], null);
    if (v) assert.equal((v as ReturnType<typeof fakeVerifier>).calls.password, 0);
    assert.equal(c.closed(), null);
  }
});

Deno.test("AUTH replayed from another channel: bad_credentials, the verifier is never asked", async () => {
  const { handler } = recorder();
  const v = fakeVerifier();
  const a = await authClient("password", v, handler, { label: "channel A" });
  const b = await authClient("password", v, handler, { label: "channel B" });
  const fromA = passwordAuth(a, "ann", "right"); // plaintext of A's AUTH, bound to A
  b.send([fromA]);
  await waitFor(() => results(b).length === 1, 2000, "result");
  assert.deepEqual(results(b), [{ status: "bad_credentials", retryAfterMs: 0, subject: null }]);
  assert.equal(v.calls.password, 0);
  // On its own channel the same credentials work.
  a.send([passwordAuth(a, "ann", "right")]);
  await waitFor(() => results(a).length === 1, 2000, "result on A");
  assert.equal(results(a)[0].status, "ok");
});

Deno.test("AUTH rules: first frame of the first record, announced method, one outstanding → 4011", async () => {
  const { handler } = recorder();
  const cases: [string, FrameAuthMethod | null, (c: RawClient) => Frame[][]][] = [
    ["request before AUTH", "password", (c) => [[get(1, "/"), passwordAuth(c, "ann", "right")]]],
    [
      "PING first",
      "password",
      (c) => [[{ type: "ping", data: new Uint8Array(8) }, passwordAuth(c, "a", "b")]],
    ],
    ["other method", "password", (c) => [[tokenAuth(c, "good")]]],
    ["AUTH without client_auth", null, (c) => [[passwordAuth(c, "ann", "right")]]],
    [
      "second while outstanding",
      "password",
      (c) => [[passwordAuth(c, "ann", "right"), passwordAuth(c, "ann", "right")]],
    ],
    [
      "AUTH_RESULT from the client",
      "password",
      (
        c,
      ) => [[passwordAuth(c, "a", "b"), {
        type: "auth_result",
        result: { status: "ok", retryAfterMs: 0, subject: "x" },
      }]],
    ],
  ];
  for (const [what, method, records] of cases) {
    const v = fakeVerifier({ gate: true });
    const c = await rawClient({
      handler,
      label: what,
      hello: method ? { auth: { method } } : {},
      server: { auth: v },
    });
    for (const r of records(c)) c.send(r);
    await waitFor(() => c.closed() !== null, 2000, what);
    assert.equal(c.closed()!.code, 4011, what);
    v.release();
    await settle();
  }
});

Deno.test("held requests: bounded by max_streams; dispatched in order after the result", async () => {
  const order: string[] = [];
  const handler: RequestHandler = (req, info) => {
    order.push(`${new URL(req.url).pathname}:${info.identity?.subject ?? "-"}`);
    return Promise.resolve(new Response("ok"));
  };
  const v = fakeVerifier({ gate: true });
  const c = await authClient("password", v, handler, { limits: { maxStreams: 4 } });
  c.send([
    passwordAuth(c, "ann", "right"),
    get(1, "/1"),
    get(3, "/3"),
    get(5, "/5"),
    get(7, "/7"),
    get(9, "/9"),
    get(11, "/11"),
  ]);
  await waitFor(() => v.waiting() === 1, 2000, "verification");
  await settle();
  assert.deepEqual(order, [], "nothing dispatched before the result");
  assert.equal(c.server.openStreams, 4, "held streams hold their max_streams slots");
  assert.deepEqual(statuses(c, 9), [-1], "past max_streams: REFUSED");
  assert.deepEqual(statuses(c, 11), [-1]);
  v.release();
  await waitFor(() => order.length === 4, 2000, "dispatch");
  assert.deepEqual(order, ["/1:ann", "/3:ann", "/5:ann", "/7:ann"]);
});

Deno.test("a refresh AUTH: earlier requests keep the old identity, later ones wait for the new one; charged", async () => {
  const order: string[] = [];
  const handler: RequestHandler = (req, info) => {
    order.push(`${new URL(req.url).pathname}:${info.identity?.subject ?? "-"}`);
    return Promise.resolve(new Response("ok"));
  };
  const v = fakeVerifier();
  const c = await authClient("token", v, handler, {
    limits: { controlFrameBurst: 2, maxControlFramesPerSecond: 1 },
  });
  c.send([tokenAuth(c, "good"), get(1, "/a")]);
  await waitFor(() => order.length === 1, 2000, "first");
  c.send([get(3, "/b"), tokenAuth(c, "bad"), get(5, "/c")]);
  await waitFor(() => order.length === 3, 2000, "after refresh");
  // A failed refresh keeps the identity proven before.
  assert.deepEqual(order, ["/a:svc", "/b:svc", "/c:svc"]);
  assert.deepEqual((await resultsN(c, 2)).map((r) => r.status), ["ok", "token_invalid"]);
  // Refreshes cost control-frame tokens: burst 2, so the fourth AUTH empties the bucket.
  c.send([tokenAuth(c, "good")]);
  await waitFor(() => results(c).length === 3, 2000, "third");
  c.send([tokenAuth(c, "good")]);
  await waitFor(() => c.closed() !== null, 2000, "rate limited");
  assert.equal(c.closed()!.code, 4009);
});

Deno.test("token identity: expiresAt in the past counts as none at dispatch", async () => {
  const clock = new ManualClock();
  const { seen, handler } = recorder();
  const c = await authClient("token", fakeVerifier({ now: clock.now }), handler, { clock });
  c.send([tokenAuth(c, "good"), get(1, "/fresh")]);
  await waitFor(() => "/fresh" in seen, 2000, "fresh");
  assert.equal(seen["/fresh"]?.subject, "svc");
  assert.equal(seen["/fresh"]?.issuer, "iss");
  clock.advance(60_000);
  c.send([get(3, "/expired")]);
  await waitFor(() => "/expired" in seen, 2000, "expired");
  assert.equal(seen["/expired"], null);
  const s = await authClient("token", fakeVerifier({ now: clock.now }), handler, {
    clock,
    label: "stale",
  });
  s.send([tokenAuth(s, "stale"), get(1, "/stale")]);
  await waitFor(() => "/stale" in seen, 2000, "stale");
  assert.equal(seen["/stale"], null);
});

Deno.test("a channel that closes during a verification drops its result; held requests never run", async () => {
  const { seen, handler } = recorder();
  const v = fakeVerifier({ gate: true });
  const c = await authClient("password", v, handler);
  c.send([passwordAuth(c, "ann", "right"), get(1, "/held")]);
  await waitFor(() => v.waiting() === 1, 2000, "verification");
  c.cs.close(1000, "");
  await waitFor(() => c.server.state === "closed", 2000, "closed");
  const sent = c.ss.log?.length ?? 0;
  v.release();
  await settle();
  assert.equal("/held" in seen, false);
  assert.equal(c.ss.log?.length ?? 0, sent, "nothing sent after the close");
});

Deno.test("a verification past AUTH_TIMEOUT_MS is answered busy; held requests go on", async () => {
  const clock = new ManualClock();
  const { seen, handler } = recorder();
  const v = fakeVerifier({ gate: true });
  const c = await authClient("password", v, handler, { clock });
  c.send([passwordAuth(c, "ann", "right"), get(1, "/held")]);
  await waitFor(() => v.waiting() === 1, 2000, "verification");
  assert.equal(c.server.nextDeadline(), clock.now() + AUTH_TIMEOUT_MS);
  c.server.onTimer(clock.advance(AUTH_TIMEOUT_MS));
  await waitFor(() => "/held" in seen, 2000, "held request");
  assert.deepEqual(await resultsN(c, 1), [{ status: "busy", retryAfterMs: 1000, subject: null }]);
  assert.equal(seen["/held"], null);
  v.release(); // the late answer is dropped
  await settle();
  assert.equal(results(c).length, 1);
});

// ---- PSK (§3.4.1) --------------------------------------------------------------------------

Deno.test("PSK right: the handshake authenticates; every request sees the psk identity", async () => {
  const { seen, handler } = recorder();
  const c = await rawClient({
    handler,
    hello: { auth: { psk: FAKE_PSK, identity: "dev-1" } },
    server: { auth: fakeVerifier() },
  });
  c.send([get(1, "/p")]);
  await waitFor(() => "/p" in seen, 2000, "request");
  assert.deepEqual(seen["/p"], { method: "psk", subject: "dev-1" });
  const ev = c.serverLog.find((l) => l.event === "auth")!;
  assert.deepEqual([ev.fields.method, ev.fields.result, ev.fields.subject], ["psk", "ok", "dev-1"]);
  // AUTH on a psk channel is a protocol error.
  c.send([passwordAuth(c, "ann", "right")]);
  await waitFor(() => c.closed() !== null, 2000, "close");
  assert.equal(c.closed()!.code, 4011);
});

Deno.test("PSK wrong, unknown identity, psk not enabled: client fails 4004, gateway sees 4004; uniform", async () => {
  const outcomes: string[] = [];
  for (
    const [what, psk, identity, verifier] of [
      ["wrong psk", new Uint8Array(32).fill(9), "dev-1", fakeVerifier()],
      ["unknown identity", FAKE_PSK, "dev-2", fakeVerifier()],
      ["psk not enabled", FAKE_PSK, "dev-1", fakeVerifier({ methods: ["password"] })],
      ["no verifier", FAKE_PSK, "dev-1", undefined],
    ] as const
  ) {
    const clock = new ManualClock();
    const [cs, ss] = memorySocketPair();
    const log: { event: string; fields: Record<string, unknown> }[] = [];
    const server = new ServerSession({
      socket: ss,
      keys: [TEST_KEY],
      env: testEnv(`psk ${what}`, clock),
      limits: TEST_LIMITS,
      handler: () => Promise.resolve(new Response("no")),
      auth: verifier,
      log: (event, fields) => log.push({ event, fields: fields as Record<string, unknown> }),
    });
    wireServer(server, ss);
    const inbox: Uint8Array[] = [];
    cs.onmessage = (m) => void (typeof m !== "string" && inbox.push(m));
    const hs = new ClientHandshake({
      server: { keyId: TEST_KEY.keyId, publicKey: TEST_KEY.publicKey },
      random: seededRandom(`psk client ${what}`),
      auth: { psk, identity },
    });
    cs.send(hs.start());
    await waitFor(() => inbox.length > 0, 2000, "ServerHello");
    let code = "";
    try {
      hs.receiveServerHello(inbox[0]);
    } catch (e) {
      code = (e as { code: string }).code;
      cs.close(4004, "handshake failed");
    }
    await waitFor(() => server.state === "closed", 2000, "closed");
    const h = log.find((l) => l.event === "handshake")!;
    outcomes.push(`${code} ${inbox[0].length} ${h.fields.result} ${h.fields.closeCode}`);
    assert.equal(log.some((l) => l.event === "auth"), false, what);
  }
  assert.deepEqual(outcomes, Array(4).fill("handshake_failed 1190 failed 4004"));
});

// ---- hibernation --------------------------------------------------------------------------

Deno.test("the identity survives a restore; a verification lost in the old instance is answered busy", async () => {
  const { seen, handler } = recorder();
  const snapshots: Uint8Array[] = [];
  const v = fakeVerifier({ gate: true });
  const c = await authClient("password", v, handler, {
    server: { persist: (s) => snapshots.push(s.slice()) },
  });
  c.send([passwordAuth(c, "ann", "right")]);
  await waitFor(() => v.waiting() === 1, 2000, "verification");
  const pendingSnap = snapshots[snapshots.length - 1];
  assert.equal(decodeSessionSnapshot(pendingSnap).auth.pending, true);
  v.release();
  await waitFor(() => results(c).length === 1, 2000, "result");
  const snap = snapshots[snapshots.length - 1];
  assert.deepEqual(decodeSessionSnapshot(snap).auth.identity, {
    method: "password",
    subject: "ann",
  });

  const resumed = ServerSession.resume(snap, {
    socket: c.ss,
    env: testEnv("resumed", c.clock),
    limits: TEST_LIMITS,
    handler,
    auth: v,
  });
  wireServer(resumed, c.ss);
  c.send([get(1, "/after-wake")]);
  await waitFor(() => "/after-wake" in seen, 2000, "request");
  assert.deepEqual(seen["/after-wake"], { method: "password", subject: "ann" });

  // Restored from the snapshot taken while the verification ran: the client hears busy.
  const c2 = await authClient("password", fakeVerifier({ gate: true }), handler, {
    label: "lost",
    server: { persist: (s) => snapshots.push(s.slice()) },
  });
  const before = snapshots.length;
  c2.send([passwordAuth(c2, "ann", "right")]);
  await waitFor(
    () =>
      snapshots.length > before &&
      decodeSessionSnapshot(snapshots[snapshots.length - 1]).auth.pending,
    2000,
    "pending snapshot",
  );
  const woke = ServerSession.resume(snapshots[snapshots.length - 1], {
    socket: c2.ss,
    env: testEnv("woke", c2.clock),
    limits: TEST_LIMITS,
    handler,
    persist: (s) => snapshots.push(s.slice()),
  });
  wireServer(woke, c2.ss);
  await waitFor(() => results(c2).length === 1, 2000, "busy");
  assert.deepEqual(results(c2), [{ status: "busy", retryAfterMs: 0, subject: null }]);
});
