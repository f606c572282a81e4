import assert from "node:assert/strict";
import { GATEWAY_ERRORS, gatewayError, type GatewayErrorCode, isGatewayError } from "./errors.ts";

Deno.test("gateway errors: JSON body, pqgate-error, no-store and nosniff on every code", async () => {
  for (const code of Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[]) {
    const res = gatewayError(code);
    assert.equal(res.status, GATEWAY_ERRORS[code]);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", code);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.ok(isGatewayError(res));
    assert.deepEqual(await res.json(), { error: code, status: GATEWAY_ERRORS[code] });
  }
});
