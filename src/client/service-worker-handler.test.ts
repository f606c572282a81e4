import assert from "node:assert/strict";
import { checkServiceWorkerConfig } from "./service-worker-config.ts";
import {
  MAX_ERROR_MESSAGE,
  PqgateWorkerHandler,
  type WorkerChannel,
} from "./service-worker-handler.ts";
import { isWorkerRequest } from "./service-worker-messages.ts";

const CONFIG = checkServiceWorkerConfig({
  gateway: "wss://gw.example/pqgate",
  pin: "sha256:" + "A".repeat(43),
  match: [{ origin: "https://api.example", pathPrefix: "/v1" }],
});

function fakeChannel(fetchImpl: (r: Request) => Promise<Response>): WorkerChannel & {
  calls: Request[];
} {
  const calls: Request[] = [];
  return {
    calls,
    fetch: (r: Request) => {
      calls.push(r);
      return fetchImpl(r);
    },
    ready: () => Promise.reject(new Error("gateway unreachable")),
    suite: null,
    keyId: null,
    pin: null,
    sessionId: null,
    connected: false,
    kemBackend: null,
  };
}

Deno.test("sw handler: only matching requests are taken", () => {
  const h = new PqgateWorkerHandler(CONFIG, fakeChannel(() => Promise.reject(new Error())));
  assert.equal(h.handles(new Request("https://api.example/v1/x")), true);
  assert.equal(h.handles(new Request("https://api.example/v2/x")), false);
  assert.equal(h.handles(new Request("https://other.example/v1/x")), false);
});

Deno.test("sw handler: a failing channel gives a network error, never a network fetch", async () => {
  const realFetch = globalThis.fetch;
  let networkCalls = 0;
  globalThis.fetch = () => {
    networkCalls++;
    return Promise.reject(new Error("must not be called"));
  };
  try {
    const ch = fakeChannel(() => Promise.reject(new Error("x".repeat(2 * MAX_ERROR_MESSAGE))));
    const h = new PqgateWorkerHandler(CONFIG, ch);
    const res = await h.respond(new Request("https://api.example/v1/x"));
    assert.equal(res.type, "error");
    assert.equal(res.status, 0);
    assert.equal(networkCalls, 0);
    assert.equal(ch.calls.length, 1);
    const s = await h.state();
    assert.equal(s.requests, 1);
    assert.equal(s.failed, 1);
    assert.equal(s.lastError?.name, "Error");
    assert.equal(s.lastError?.message.length, MAX_ERROR_MESSAGE + 1, "bounded");
    // A connect that fails is reported too.
    const s2 = await h.state(true);
    assert.equal(s2.lastError?.message, "gateway unreachable");
    assert.equal(s2.connected, false);
  } finally {
    globalThis.fetch = realFetch;
  }
});

Deno.test("sw handler: the page's own abort is not recorded as a channel error", async () => {
  const ac = new AbortController();
  const h = new PqgateWorkerHandler(
    CONFIG,
    fakeChannel(() => {
      ac.abort();
      return Promise.reject(new DOMException("aborted", "AbortError"));
    }),
  );
  const res = await h.respond(new Request("https://api.example/v1/x", { signal: ac.signal }));
  assert.equal(res.type, "error");
  assert.equal((await h.state()).lastError, null);
});

Deno.test("sw handler: the channel's response is passed through, its body kept alive", async () => {
  const ch = fakeChannel((r) =>
    Promise.resolve(
      new Response(`${r.method} ${new URL(r.url).pathname}`, {
        status: 201,
        headers: { "x-a": "1" },
      }),
    )
  );
  const kept: Promise<unknown>[] = [];
  const h = new PqgateWorkerHandler(CONFIG, ch);
  const res = await h.respond(
    new Request("https://api.example/v1/y", { method: "PUT", body: "b" }),
    {
      waitUntil: (p) => kept.push(p),
    },
  );
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("x-a"), "1");
  assert.equal(await res.text(), "PUT /v1/y");
  assert.equal(kept.length, 1);
  await kept[0];
  assert.equal(await ch.calls[0].text(), "b", "the request body reaches the channel");
  const s = await h.state();
  assert.equal(s.failed, 0);
  assert.match(s.instance, /^[0-9a-f]{16}$/);
  assert.deepEqual(s.match, [{ origin: "https://api.example", pathPrefix: "/v1" }]);
});

Deno.test("sw messages: only the two requests are recognized", () => {
  assert.equal(isWorkerRequest({ type: "pqgate:state" }), true);
  assert.equal(isWorkerRequest({ type: "pqgate:state", connect: true }), true);
  assert.equal(isWorkerRequest({ type: "pqgate:state", connect: "yes" }), false);
  assert.equal(isWorkerRequest({ type: "pqgate:claim" }), true);
  assert.equal(isWorkerRequest({ type: "other" }), false);
  assert.equal(isWorkerRequest(null), false);
  assert.equal(isWorkerRequest("pqgate:state"), false);
});
