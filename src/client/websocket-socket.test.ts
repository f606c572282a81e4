/**
 * openWebSocket: a connection that fails before it opens rejects with ConnectError carrying
 * what the WebSocket implementation reported as `cause`, and the refused upgrade's status.
 */
import assert from "node:assert/strict";
import { ConnectError } from "./errors.ts";
import {
  openWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./websocket-socket.ts";

function fakeWebSocket(fire: (ws: WebSocketLike) => void): WebSocketConstructor {
  return class {
    binaryType = "blob";
    bufferedAmount = 0;
    readyState = 0;
    onopen: WebSocketLike["onopen"] = null;
    onmessage: WebSocketLike["onmessage"] = null;
    onclose: WebSocketLike["onclose"] = null;
    onerror: WebSocketLike["onerror"] = null;
    constructor() {
      setTimeout(() => fire(this as unknown as WebSocketLike), 0);
    }
    send() {}
    close() {}
  } as unknown as WebSocketConstructor;
}

const events = { message() {}, close() {} };

Deno.test("a failed upgrade rejects with ConnectError: status and the implementation's error as cause", async () => {
  const underlying = new Error("Unexpected server response: 429");
  const WS = fakeWebSocket((ws) =>
    ws.onerror?.({ error: underlying, message: underlying.message })
  );
  const e = await openWebSocket("ws://gw.test/pqgate", WS, events, 1000).then(() => null, (x) => x);
  assert.ok(e instanceof ConnectError);
  assert.equal(e.name, "ConnectError");
  assert.equal(e.status, 429);
  assert.equal(e.cause, underlying);
  assert.match(e.message, /upgrade refused: HTTP 429 \(rate limited\)/);
});

Deno.test("a close before open rejects with the close event as cause; a timeout has none", async () => {
  const closeEvent = { code: 1006, reason: "" };
  const WS = fakeWebSocket((ws) => ws.onclose?.(closeEvent));
  const e = await openWebSocket("ws://gw.test/pqgate", WS, events, 1000).then(() => null, (x) => x);
  assert.ok(e instanceof ConnectError);
  assert.equal(e.cause, closeEvent);
  assert.equal(e.status, undefined);
  const silent = fakeWebSocket(() => {});
  const t = await openWebSocket("ws://gw.test/pqgate", silent, events, 20).then(
    () => null,
    (x) => x,
  );
  assert.ok(t instanceof ConnectError);
  assert.match(t.message, /no connection within 20 ms/);
  assert.equal(t.cause, undefined);
});
