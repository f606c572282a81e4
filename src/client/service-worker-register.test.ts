import assert from "node:assert/strict";
import { registerPqgate, ServiceWorkerUnavailableError } from "./service-worker-register.ts";

const OK = {
  gateway: "wss://gw.example/pqgate",
  pin: "sha256:" + "A".repeat(43),
  match: [{ origin: "https://api.example" }],
};

Deno.test("registerPqgate: an invalid configuration rejects before anything is registered", async () => {
  await assert.rejects(() => registerPqgate({ ...OK, match: [] }), TypeError);
  await assert.rejects(() => registerPqgate({ ...OK, timeoutMs: 0 }), /timeoutMs/);
});

Deno.test("registerPqgate: without Service Worker support it rejects, saying calls are unprotected", async () => {
  // Deno has no navigator.serviceWorker.
  await assert.rejects(() => registerPqgate(OK), (e: Error) => {
    assert.ok(e instanceof ServiceWorkerUnavailableError);
    assert.match(e.message, /NOT routed through the channel/);
    return true;
  });
});
