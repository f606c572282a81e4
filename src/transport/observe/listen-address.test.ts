import assert from "node:assert/strict";
import { parseListenAddress } from "./listen-address.ts";

Deno.test("listen address: host:port, [v6]:port, a bare port (loopback); nonsense is null", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:9464"), { hostname: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListenAddress("[::1]:9100"), { hostname: "::1", port: 9100 });
  assert.deepEqual(parseListenAddress("metrics.internal:0"), {
    hostname: "metrics.internal",
    port: 0,
  });
  assert.deepEqual(parseListenAddress("9464"), { hostname: "127.0.0.1", port: 9464 });
  for (const bad of ["", "host", "host:", ":80", "h:65536", "h:80:80", "::1:80", "a b:80"]) {
    assert.equal(parseListenAddress(bad), null, bad);
  }
});
