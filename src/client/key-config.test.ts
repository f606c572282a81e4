/** Where the client looks for the key configuration (PROTOCOL.md §8) without and with `keyConfigUrl`. */
import assert from "node:assert/strict";
import { explicitKeyConfigUrl, keyConfigUrl } from "./key-config.ts";

Deno.test("keyConfigUrl(): ws→http, wss→https, host and non-default port kept, path always /.well-known/pqgate", () => {
  const cases: [string, string][] = [
    ["ws://127.0.0.1:8787/pqgate", "http://127.0.0.1:8787/.well-known/pqgate"],
    ["wss://gw.example/pqgate", "https://gw.example/.well-known/pqgate"],
    ["wss://gw.example:443/pq/pqgate?x=1#f", "https://gw.example/.well-known/pqgate"],
    ["wss://gw.example:8443/pq/pqgate", "https://gw.example:8443/.well-known/pqgate"],
    ["ws://user:pw@gw.example/pqgate", "http://gw.example/.well-known/pqgate"],
    ["ws://[::1]:9000/", "http://[::1]:9000/.well-known/pqgate"],
    ["https://gw.example/pq/", "https://gw.example/.well-known/pqgate"],
  ];
  for (const [channel, config] of cases) assert.equal(keyConfigUrl(channel).href, config, channel);
  assert.throws(() => keyConfigUrl("ftp://gw.example/"), TypeError);
});

Deno.test("explicitKeyConfigUrl(): http(s) only, no credentials, fragment dropped, input URL not modified", () => {
  const given = new URL("https://app.example/pq/.well-known/pqgate?v=1#frag");
  assert.equal(explicitKeyConfigUrl(given).href, "https://app.example/pq/.well-known/pqgate?v=1");
  assert.equal(given.hash, "#frag");
  assert.equal(explicitKeyConfigUrl("http://127.0.0.1:1/x").href, "http://127.0.0.1:1/x");
  for (
    const bad of [
      null,
      1,
      {},
      "",
      "relative/path",
      "ws://a/",
      "data:,x",
      "https://u:p@a/",
      "https://u@a/",
    ]
  ) {
    assert.throws(
      () => explicitKeyConfigUrl(bad),
      (e) => e instanceof TypeError && /keyConfigUrl option/.test(e.message),
      String(bad),
    );
  }
});
