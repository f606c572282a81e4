/**
 * Test helpers shared by the configuration tests (config, auth-config, auth-options): the
 * ConfigError a call throws, and a minimal route.
 */
import assert from "node:assert/strict";
import { ConfigError } from "./config-error.ts";

/** The ConfigError `f` throws (fails the test when it throws something else or nothing). */
export function configErrorOf(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    return e;
  }
  assert.fail("no ConfigError");
}

/** A route to https://api.example for every path, with `o` merged in. */
export const route = (o: Record<string, unknown> = {}) => ({
  match: { pathPrefix: "/" },
  origin: "https://api.example",
  ...o,
});
