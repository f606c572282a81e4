import assert from "node:assert/strict";
import { argon2id } from "@noble/hashes/argon2.js";
import { DEMO_PASSWORD, DEMO_USER, DEMO_USERS_FILE } from "./demo-user.ts";

Deno.test("demo user: the committed entry is the Argon2id hash of the documented demo password", () => {
  const m = /^([^:]+):\$argon2id\$v=19\$m=19456,t=2,p=1\$([^$]+)\$([^$\n]+)\n$/.exec(
    DEMO_USERS_FILE,
  );
  assert.ok(m, DEMO_USERS_FILE);
  assert.equal(m[1], DEMO_USER);
  const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  // Recomputed with a second implementation (noble), independent of the gateway's WASM build.
  const tag = argon2id(new TextEncoder().encode(DEMO_PASSWORD), b64(m[2]), {
    m: 19456,
    t: 2,
    p: 1,
    dkLen: 32,
  });
  assert.deepEqual(tag, b64(m[3]));
});
