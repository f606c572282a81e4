/**
 * The Workers connector under Deno, with a fake `fetch` and a fake workerd socket (Deno's Response
 * refuses status 101). In real workerd: tests/cloudflare/workers-websocket.test.ts.
 */
import assert from "node:assert/strict";
import { OriginWebSocketError } from "../../proxy/origin-websocket.ts";
import {
  upgradeUrl,
  workerdCloseCode,
  workerdOriginWebSocket,
  type WorkerdWebSocket,
} from "./origin-websocket.ts";

class FakeSocket implements WorkerdWebSocket {
  accepted = false;
  binaryType = "blob";
  sent: unknown[] = [];
  closes: [number | undefined, string | undefined][] = [];
  private listeners = new Map<string, ((e: never) => void)[]>();
  accept() {
    this.accepted = true;
  }
  send(m: unknown) {
    this.sent.push(m);
  }
  close(code?: number, reason?: string) {
    this.closes.push([code, reason]);
    if (code === 1005) throw new TypeError("Invalid WebSocket close code: 1005.");
  }
  addEventListener(type: string, l: (e: never) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  fire(type: string, e: unknown) {
    for (const l of this.listeners.get(type) ?? []) l(e as never);
  }
}

function answer(status: number, ws: FakeSocket | null, headers: HeadersInit = {}) {
  let cancelled = false;
  const body = new ReadableStream({
    cancel() {
      cancelled = true;
    },
  });
  const res = { status, headers: new Headers(headers), body, webSocket: ws };
  return { res: res as unknown as Response, cancelled: () => cancelled };
}

const req = (over: Partial<Parameters<ReturnType<typeof workerdOriginWebSocket>>[0]> = {}) => ({
  url: "wss://origin.test/chat?room=1",
  protocols: [] as string[],
  headers: new Headers({ "x-app": "1" }),
  signal: new AbortController().signal,
  maxMessage: 1 << 20,
  ...over,
});

async function rejects(p: Promise<unknown>): Promise<OriginWebSocketError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OriginWebSocketError, String(e));
    return e;
  }
  throw new Error("did not reject");
}

Deno.test("cf origin websocket: the upgrade request (scheme, Upgrade, subprotocols, manual redirect, signal)", async () => {
  const ws = new FakeSocket();
  let seen: Request | null = null;
  const ac = new AbortController();
  const connect = workerdOriginWebSocket((r) => {
    seen = r;
    return Promise.resolve(answer(101, ws, { "sec-websocket-protocol": "b" }).res);
  });
  const s = await connect(req({ protocols: ["a", "b"], signal: ac.signal }));
  const r = seen as unknown as Request;
  assert.equal(r.url, "https://origin.test/chat?room=1");
  assert.equal(r.method, "GET");
  assert.equal(r.headers.get("upgrade"), "websocket");
  assert.equal(r.headers.get("sec-websocket-protocol"), "a, b");
  assert.equal(r.headers.get("x-app"), "1");
  assert.equal(r.redirect, "manual");
  ac.abort();
  assert.equal(r.signal.aborted, true, "the request follows the relay's signal");
  assert.equal(ws.accepted, true);
  assert.equal(ws.binaryType, "arraybuffer", "binary messages as ArrayBuffer, not Blob");
  assert.equal(s.protocol, "b");
  assert.equal(s.bufferedAmount, null);
  assert.equal(upgradeUrl("ws://o.test:8080/x"), "http://o.test:8080/x");
  assert.throws(() => upgradeUrl("ftp://o.test/"), OriginWebSocketError);
});

Deno.test("cf origin websocket: any answer but 101 is refused with its status (redirects not followed)", async () => {
  for (const status of [200, 302, 403, 502]) {
    const a = answer(status, null, { location: "https://elsewhere.test/" });
    const e = await rejects(workerdOriginWebSocket(() => Promise.resolve(a.res))(req()));
    assert.equal(e.kind, "refused");
    assert.equal(e.status, status);
    assert.equal(a.cancelled(), true, "body cancelled");
  }
  // A 101 without a socket is no WebSocket either.
  const e = await rejects(
    workerdOriginWebSocket(() => Promise.resolve(answer(101, null).res))(req()),
  );
  assert.equal(e.kind, "refused");
});

Deno.test("cf origin websocket: a subprotocol not offered fails the upgrade and closes the socket", async () => {
  const ws = new FakeSocket();
  const a = answer(101, ws, { "sec-websocket-protocol": "evil" });
  const e = await rejects(
    workerdOriginWebSocket(() => Promise.resolve(a.res))(req({ protocols: ["a"] })),
  );
  assert.equal(e.kind, "failed");
  assert.deepEqual(ws.closes, [[1002, ""]]);
  // None offered, one selected: also refused.
  const ws2 = new FakeSocket();
  const b = answer(101, ws2, { "sec-websocket-protocol": "a" });
  assert.equal(
    (await rejects(workerdOriginWebSocket(() => Promise.resolve(b.res))(req()))).kind,
    "failed",
  );
});

Deno.test("cf origin websocket: abort → timeout for a TimeoutError reason, failed otherwise; no fetch once aborted", async () => {
  let calls = 0;
  const hang = workerdOriginWebSocket((r) => {
    calls++;
    return new Promise((_, reject) =>
      r.signal.addEventListener("abort", () => reject(r.signal.reason))
    );
  });
  const t = new AbortController();
  const p = hang(req({ signal: t.signal }));
  t.abort(new DOMException("route timeout", "TimeoutError"));
  assert.equal((await rejects(p)).kind, "timeout");
  const c = new AbortController();
  const q = hang(req({ signal: c.signal }));
  c.abort();
  assert.equal((await rejects(q)).kind, "failed");
  assert.equal(calls, 2);
  const gone = new AbortController();
  gone.abort();
  assert.equal((await rejects(hang(req({ signal: gone.signal })))).kind, "failed");
  assert.equal(calls, 2, "nothing fetched for an aborted request");
  const net = workerdOriginWebSocket(() => Promise.reject(new TypeError("connect ECONNREFUSED")));
  const e = await rejects(net(req()));
  assert.equal(e.kind, "failed");
  assert.doesNotMatch(e.message, /ECONNREFUSED|origin\.test/, "no detail of the network error");
});

Deno.test("cf origin websocket: messages, close mapping and exactly one onclose", async () => {
  const ws = new FakeSocket();
  const s = await workerdOriginWebSocket(() => Promise.resolve(answer(101, ws).res))(req());
  const got: unknown[] = [];
  const closes: [number, string, boolean][] = [];
  s.onmessage = (d) => got.push(d);
  s.onclose = (...a) => closes.push(a);
  ws.fire("message", { data: "hi" });
  ws.fire("message", { data: new Uint8Array([1, 2, 3]).buffer });
  assert.equal(got[0], "hi");
  assert.deepEqual(got[1], new Uint8Array([1, 2, 3]));
  const bytes = new Uint8Array([9]);
  s.send("t");
  s.send(bytes);
  assert.deepEqual(ws.sent, ["t", bytes]);
  s.close(4001, "bye");
  s.close(1005, "");
  s.close(1006, "");
  s.close(1015, "");
  s.close(2999, "");
  assert.deepEqual(ws.closes, [[4001, "bye"], [1000, ""], [1000, ""], [1000, ""], [1000, ""]]);
  ws.fire("close", { code: 4001, reason: "bye", wasClean: true });
  ws.fire("error", {});
  ws.fire("close", { code: 1006, reason: "", wasClean: false });
  ws.fire("message", { data: "late" });
  assert.deepEqual(closes, [[4001, "bye", true]]);
  assert.equal(got.length, 2, "nothing after the close");
  // A Blob (binaryType not honoured) is not forwarded: the socket fails.
  const ws3 = new FakeSocket();
  const s3 = await workerdOriginWebSocket(() => Promise.resolve(answer(101, ws3).res))(req());
  const c3: unknown[] = [];
  s3.onmessage = () => c3.push("message");
  s3.onclose = (...a) => c3.push(a);
  ws3.fire("message", { data: new Blob([new Uint8Array(4)]) });
  assert.deepEqual(c3, [[1006, "", false]]);
  assert.deepEqual(ws3.closes, [[1011, ""]]);
  // An error without a closing handshake reports 1006, not clean, once.
  const ws2 = new FakeSocket();
  const s2 = await workerdOriginWebSocket(() => Promise.resolve(answer(101, ws2).res))(req());
  const c2: unknown[] = [];
  s2.onclose = (...a) => c2.push(a);
  ws2.fire("error", {});
  ws2.fire("close", { code: 1006, reason: "", wasClean: false });
  assert.deepEqual(c2, [[1006, "", false]]);
});

Deno.test("cf origin websocket: workerdCloseCode keeps exactly the RFC 6455 §7.4 sendable codes", () => {
  for (const c of [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999]) {
    assert.equal(workerdCloseCode(c), c);
  }
  for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
    assert.equal(workerdCloseCode(c), 1000);
  }
});
