/**
 * The Cloudflare Durable Object's event mapping, attachment path and alarm logic, under Deno
 * with doubles of workerd (fakes.ts) and a scripted session. The real runtime, the real
 * ServerSession and real hibernation restores are covered in workers.test.ts.
 */
import assert from "node:assert/strict";
import { serialize } from "node:v8";
import {
  ATTACHMENT_MAX_BYTES,
  attachmentSizeBound,
  establishedAttachment,
  handshakeAttachment,
  MAX_CLIENT_ADDRESS,
  MAX_SNAPSHOT_BYTES,
  parseAttachment,
} from "../../src/transport/cloudflare/attachment.ts";
import {
  definePqgateSession,
  type SessionObjectConfig,
} from "../../src/transport/cloudflare/session-object.ts";
import type { SessionOptions } from "../../src/tunnel/session-seam.ts";
import { FakeContext, type FakeWebSocket, installPlatformDoubles } from "./fakes.ts";
import { withTestHooks } from "./test-hooks.ts";

// ---- a scripted session: reserves "sequence numbers" in blocks of 4 before sending ----------

const calls: string[] = [];

class ScriptedSession {
  state: "start" | "established" | "closed" = "start";
  next = 0;
  reserved = 0;
  lastActivity: number;
  created: number;
  constructor(readonly opts: SessionOptions) {
    this.created = this.lastActivity = opts.env.now();
    calls.push(`new ${opts.clientAddress ?? "-"}`);
  }
  static resume(snapshot: Uint8Array, opts: SessionOptions): ScriptedSession {
    const text = new TextDecoder().decode(snapshot);
    const m = /^snap:(\d+):(\d+)$/.exec(text);
    if (!m) throw new Error("bad snapshot");
    const s = new ScriptedSession(opts);
    s.state = "established";
    s.next = s.reserved = Number(m[1]);
    s.lastActivity = Number(m[2]); // the idle clock survives the wake, as in ServerSession
    calls.push(`resume ${s.next}`);
    return s;
  }
  private sendSeq(): void {
    if (this.next >= this.reserved) {
      this.reserved = this.next + 4;
      this.opts.persist!(new TextEncoder().encode(`snap:${this.reserved}:${this.lastActivity}`));
    }
    this.opts.socket.send(new TextEncoder().encode(`rec:${this.next++}`));
  }
  receive(msg: Uint8Array | string): void {
    this.lastActivity = this.opts.env.now();
    if (typeof msg === "string") return this.opts.socket.close(4011, "protocol error");
    const t = new TextDecoder().decode(msg);
    calls.push(`recv ${t}`);
    if (t === "throw") throw new Error("boom");
    if (this.state === "start") {
      if (t === "hello") this.opts.socket.send(new TextEncoder().encode("server-hello"));
      if (t === "finished") {
        this.state = "established";
        this.sendSeq();
      }
      return;
    }
    if (t === "bye") {
      this.state = "closed";
      return this.opts.socket.close(1000, "bye");
    }
    this.sendSeq();
  }
  onSocketClose(code: number, reason: string): void {
    calls.push(`socketClose ${code} ${reason}`);
    this.state = "closed";
  }
  nextDeadline(): number | null {
    if (this.state === "closed") return null;
    return this.state === "start"
      ? this.created + this.opts.limits.handshakeTimeoutMs
      : this.lastActivity + this.opts.limits.idleTimeoutMs;
  }
  onTimer(now: number): void {
    calls.push(`timer`);
    const d = this.nextDeadline();
    if (d !== null && now >= d) {
      this.opts.socket.close(this.state === "start" ? 4000 : 4008, "timeout");
    }
  }
  shutdown(): void {
    calls.push("shutdown");
  }
}

const config: SessionObjectConfig = {
  Session: ScriptedSession,
  keys: [],
  limits: {
    maxStreams: 10,
    maxHeaderBytes: 16_000,
    maxBodyBytes: 0,
    handshakeTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    sessionLifetimeMs: 86_400_000,
  },
  handler: () => Promise.resolve(new Response("unused")),
};
const Obj = definePqgateSession(() => config);
const enc = (s: string) => new TextEncoder().encode(s).buffer as ArrayBuffer;
const dec = (b: Uint8Array | string) => typeof b === "string" ? b : new TextDecoder().decode(b);

/** What the runtime does when the alarm is due: clear it, then call alarm(). */
function fire(ctx: FakeContext, obj: InstanceType<typeof Obj>): Promise<void> {
  ctx.storage.alarm = null;
  return obj.alarm();
}

async function open(_ctx: FakeContext, obj: InstanceType<typeof Obj>, address = "203.0.113.9") {
  const doubles = installPlatformDoubles();
  try {
    const res = await obj.fetch(
      new Request("https://do/pqgate", {
        headers: {
          upgrade: "websocket",
          "x-pqgate-client-address": address,
          "sec-websocket-protocol": "pqgate.1",
        },
      }),
    );
    assert.equal(res.headers.get("x-fake-upgrade"), "101");
    assert.equal(res.headers.get("sec-websocket-protocol"), "pqgate.1");
    return doubles.last();
  } finally {
    doubles.restore();
  }
}

async function established(
  ctx: FakeContext,
  obj: InstanceType<typeof Obj>,
): Promise<FakeWebSocket> {
  const ws = await open(ctx, obj);
  await obj.webSocketMessage(ws, enc("hello"));
  await obj.webSocketMessage(ws, enc("finished"));
  return ws;
}

Deno.test("cf object: upgrade accepts with the hibernation API and stores a handshake attachment", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const before = Date.now();
  const ws = await open(ctx, obj);
  assert.deepEqual(ctx.sockets, [ws]);
  const a = parseAttachment(ws.deserializeAttachment());
  assert.equal(a.st, "h");
  assert.equal(a.ca, "203.0.113.9");
  // The handshake deadline is armed on the DO alarm, not on a timer.
  assert.ok(ctx.storage.alarm! >= before + 10_000 && ctx.storage.alarm! <= Date.now() + 10_000);
  const plain = await obj.fetch(new Request("https://do/pqgate"));
  assert.equal(plain.status, 426);
});

Deno.test("cf object: persist writes the snapshot before the send; a wake resumes from it", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  for (let i = 0; i < 5; i++) await obj.webSocketMessage(ws, enc("req"));
  assert.deepEqual(ws.sent.map(dec), [
    "server-hello",
    "rec:0",
    "rec:1",
    "rec:2",
    "rec:3",
    "rec:4",
    "rec:5",
  ]);
  const a = parseAttachment(ws.deserializeAttachment());
  assert.equal(a.st, "e");
  assert.match(dec((a as { ss: Uint8Array }).ss), /^snap:8:\d+$/);

  // Hibernation: a new instance over the same context (constructor runs again, map empty).
  calls.length = 0;
  const woke = new Obj(ctx, {});
  assert.equal(woke.sessions.size, 0);
  await woke.webSocketMessage(ws, enc("req"));
  // The rebuilt session runs its deadlines (nothing due here) before the message.
  assert.deepEqual(calls, ["new 203.0.113.9", "resume 8", "timer", "recv req"]);
  // Continues from the reservation: rec:6 and rec:7 were never sent, and are never reused.
  const seqs = ws.sent.map(dec).filter((s) => s.startsWith("rec:")).map((s) => Number(s.slice(4)));
  assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5, 8]);
  assert.equal(new Set(seqs).size, seqs.length);
  assert.equal(woke.sessions.size, 1);
});

Deno.test("cf object: a wake mid-handshake closes with 4000 and erases state", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await open(ctx, obj);
  await obj.webSocketMessage(ws, enc("hello"));
  const woke = new Obj(ctx, {});
  calls.length = 0;
  await woke.webSocketMessage(ws, enc("finished"));
  assert.deepEqual(ws.closed, { code: 4000, reason: "handshake timeout" });
  assert.deepEqual(calls, []);
  assert.equal(parseAttachment(ws.deserializeAttachment()).st, "c");
});

Deno.test("cf object: malformed or unknown-version attachments close with 4014", async () => {
  for (
    const bad of [null, { v: 2, st: "e", at: 1, ca: null, ss: new Uint8Array(4) }, {
      v: 1,
      st: "e",
      at: 1,
      ca: null,
    }, "x"]
  ) {
    const ctx = new FakeContext();
    const obj = new Obj(ctx, {});
    const ws = await established(ctx, obj);
    ws.rawAttachment(bad);
    const woke = new Obj(ctx, {});
    await woke.webSocketMessage(ws, enc("req"));
    assert.deepEqual(ws.closed, { code: 4014, reason: "internal error" }, JSON.stringify(bad));
  }
  // A snapshot the session refuses is an internal error too.
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  ws.serializeAttachment(
    establishedAttachment(handshakeAttachment(1, null), new TextEncoder().encode("junk")),
  );
  await new Obj(ctx, {}).webSocketMessage(ws, enc("req"));
  assert.equal(ws.closed?.code, 4014);
});

Deno.test("cf object: a session that closes its socket leaves a closed attachment; late events are ignored", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  await obj.webSocketMessage(ws, enc("bye"));
  assert.deepEqual(ws.closed, { code: 1000, reason: "bye" });
  const a = parseAttachment(ws.deserializeAttachment());
  assert.equal(a.st, "c");
  assert.equal(Object.hasOwn(a, "ss"), false);
  ws.readyState = 1; // pretend a message raced the close
  calls.length = 0;
  await new Obj(ctx, {}).webSocketMessage(ws, enc("req"));
  assert.deepEqual(calls, []);
});

Deno.test("cf object: webSocketClose informs the session and reciprocates (reserved codes → 1000)", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  calls.length = 0;
  await obj.webSocketClose(ws, 1005, "", true);
  assert.deepEqual(calls, ["socketClose 1005 "]);
  assert.deepEqual(ws.closed, { code: 1000, reason: "" });
  const ws2 = await established(ctx, obj);
  await obj.webSocketClose(ws2, 4321, "client bye", true);
  assert.deepEqual(ws2.closed, { code: 4321, reason: "client bye" });
  assert.equal(obj.sessions.size, 0);
});

Deno.test("cf object: a throwing session is shut down and closed with 4014", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  calls.length = 0;
  await obj.webSocketMessage(ws, enc("throw"));
  assert.deepEqual(calls, ["recv throw", "shutdown"]);
  assert.equal(ws.closed?.code, 4014);
});

Deno.test("cf object: alarm drives onTimer; a later idle deadline costs no storage write", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  const writes = ctx.storage.writes;
  const armed = ctx.storage.alarm!;
  for (let i = 0; i < 3; i++) await obj.webSocketMessage(ws, enc("req"));
  assert.equal(ctx.storage.writes, writes, "no setAlarm per message");
  assert.equal(ctx.storage.alarm, armed);
  // The handshake deadline was replaced by the idle deadline when the handshake completed.
  assert.ok(armed >= Date.now() + 59_000, "alarm moved from the handshake to the idle deadline");
  // An alarm that fires early finds nothing due and re-arms.
  calls.length = 0;
  await fire(ctx, obj);
  assert.deepEqual(calls, ["timer"]);
  assert.equal(ws.closed, null);
  assert.ok(ctx.storage.alarm! >= armed);
  // After a wake the alarm rebuilds every socket from its attachment, then calls onTimer.
  const woke = new Obj(ctx, {});
  calls.length = 0;
  await fire(ctx, woke);
  assert.deepEqual(calls, ["new 203.0.113.9", "resume 4", "timer", "timer"]);
});

/** Runs `fn` with Date.now() moved `ms` ahead. */
async function later<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + ms;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

Deno.test("cf object: a deadline that passed while hibernated fires at the wake, before the message", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await established(ctx, obj);
  await obj.webSocketMessage(ws, enc("req"));
  // Hibernated past the idle deadline (the alarm is late); a message wakes the object.
  const woke = new Obj(ctx, {});
  calls.length = 0;
  await later(60_001, () => woke.webSocketMessage(ws, enc("req")));
  assert.deepEqual(calls, ["new 203.0.113.9", "resume 4", "timer"], "the message is not processed");
  assert.deepEqual(ws.closed, { code: 4008, reason: "timeout" });
  assert.equal(parseAttachment(ws.deserializeAttachment()).st, "c");
  assert.equal(woke.sessions.size, 0);
});

Deno.test("cf object: after a wake, the alarm never moves later than a socket not yet rebuilt needs", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const a = await established(ctx, obj); // idle deadline ≈ now + 60 s
  const armed = ctx.storage.alarm!;
  const b = await later(40_000, () => established(ctx, obj)); // ≈ now + 100 s
  assert.ok(ctx.storage.alarm! <= armed, "an alarm no later than a's deadline is armed");
  // Wake at +40 s by a message on b only: a is still hibernated and needs the +60 s alarm.
  const woke = new Obj(ctx, {});
  await later(40_000, () => woke.webSocketMessage(b, enc("req")));
  assert.equal(woke.sessions.size, 1);
  assert.ok(ctx.storage.alarm! <= armed, `alarm moved from ${armed} to ${ctx.storage.alarm}`);
  // The alarm then rebuilds a and closes it on time.
  await later(60_001, () => fire(ctx, woke));
  assert.equal(a.closed?.code, 4008);
  assert.equal(b.closed, null);
});

Deno.test("cf object: handshake deadline closes a silent socket with 4000 via the alarm", async () => {
  const ctx = new FakeContext();
  const obj = new Obj(ctx, {});
  const ws = await open(ctx, obj);
  const realNow = Date.now;
  Date.now = () => realNow() + 10_001;
  try {
    await fire(ctx, obj);
  } finally {
    Date.now = realNow;
  }
  assert.equal(ws.closed?.code, 4000);
  assert.equal(ctx.storage.alarm, null, "no socket left: alarm deleted");
});

Deno.test("cf object: no test hooks in the production class; withTestHooks adds them", async () => {
  const res = await new Obj(new FakeContext(), {}).fetch(
    new Request("https://do/__pqgate_test/evict"),
  );
  assert.equal(res.status, 426, "a hook path is just a non-upgrade request");
  const ctx = new FakeContext();
  const on = new (withTestHooks(Obj))(ctx, {});
  await established(ctx, on as InstanceType<typeof Obj>);
  const r = await on.fetch(new Request("https://do/__pqgate_test/evict"));
  assert.deepEqual(await r.json(), { evicted: 1 });
  assert.equal(on.sessions.size, 0);
});

Deno.test("cf attachment: schema validation and the 2 KB budget (real V8 serialization)", () => {
  const h = handshakeAttachment(Date.now(), "x".repeat(200));
  assert.equal(h.ca!.length, MAX_CLIENT_ADDRESS);
  const full = establishedAttachment(h, new Uint8Array(MAX_SNAPSHOT_BYTES).fill(0xff));
  const size = serialize(full).length;
  assert.ok(size <= ATTACHMENT_MAX_BYTES, `serialized ${size} B`);
  assert.ok(attachmentSizeBound(full) >= size);
  assert.throws(() => establishedAttachment(h, new Uint8Array(MAX_SNAPSHOT_BYTES + 1)), /exceeds/);
  assert.throws(() => establishedAttachment(h, new Uint8Array(0)), /non-empty/);
  const ok = parseAttachment(structuredClone(full));
  assert.equal(ok.st, "e");
  for (
    const bad of [
      undefined,
      [],
      { ...full, extra: 1 },
      { ...full, v: "1" },
      { ...full, at: -1 },
      { ...full, at: 1.5 },
      { ...full, ca: 5 },
      { ...full, st: "x" },
      { ...full, ss: [1, 2] },
      { ...full, ss: new Uint8Array(MAX_SNAPSHOT_BYTES + 1) },
      { v: 1, st: "h", at: 1 },
    ]
  ) {
    assert.throws(() => parseAttachment(bad), /attachment:/, JSON.stringify(bad));
  }
});
