import assert from "node:assert/strict";
import { GATEWAY_ERRORS } from "../proxy/errors.ts";
import { SESSION_ERRORS } from "../tunnel/error-response.ts";
import { GATEWAY_ERROR_HINTS } from "./error-hints.ts";

Deno.test("cli: every pqgate-error code the gateway can send has a hint, and no hint is for a code it never sends", () => {
  const codes = new Set([...Object.keys(GATEWAY_ERRORS), ...Object.keys(SESSION_ERRORS)]);
  assert.deepEqual(Object.keys(GATEWAY_ERROR_HINTS).sort(), [...codes].sort());
});
