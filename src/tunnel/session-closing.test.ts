/**
 * PROTOCOL.md §6.6 on the gateway side: the receiver of a CLOSE frame sends no frame in answer,
 * fails its open streams (their origin requests are aborted) and closes the WebSocket with 1000
 * and an empty reason, whatever code the client's CLOSE carried.
 */
import assert from "node:assert/strict";
import { encodeRequestHead } from "./bhttp.ts";
import { rawClient, settle, waitFor } from "./testing.ts";

Deno.test("a client CLOSE 4321: no CLOSE back, open streams aborted, WebSocket close 1000 ''", async () => {
  let aborted = false;
  const raw = await rawClient({
    handler: (req) =>
      new Promise<Response>((resolve) => {
        req.signal.addEventListener("abort", () => {
          aborted = true;
          resolve(new Response("late"));
        }, { once: true });
      }),
  });
  await waitFor(() => raw.frames().length > 0, 2000, "SESSION_INFO");
  const before = raw.frames().length;
  raw.send([{
    type: "headers",
    stream: 1,
    endStream: true,
    payload: encodeRequestHead({
      method: "GET",
      scheme: "https",
      authority: "a.example",
      path: "/",
      headers: [],
    }),
  }]);
  await settle(5);
  raw.send([{ type: "close", code: 4321, reason: "client done" }]);
  await waitFor(() => raw.closed() !== null, 2000, "WebSocket close");
  assert.deepEqual(raw.closed(), { code: 1000, reason: "" });
  assert.ok(aborted, "the open stream's origin request was aborted");
  await settle(5);
  assert.equal(
    raw.frames().length,
    before,
    "no frame after the client's CLOSE (no CLOSE in answer)",
  );
  assert.equal(raw.server.state, "closed");
});
