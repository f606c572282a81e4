import assert from "node:assert/strict";
import { splitUrl } from "./request-handler.ts";

Deno.test("splitUrl gives the parts new URL gives for every URL a session can build", () => {
  const urls = [
    "https://api.example/",
    "https://api.example/v1/x?q=1&r=%20",
    "http://api.example:8080/a/b",
    "https://[2001:db8::1]:8443/p?x",
    "https://api.example/?only=query",
    "https://api.example/a#frag",
    "https://api.example/a?b#frag?c",
    "https://xn--bcher-kva.example/%E2%82%AC",
    new Request("https://API.Example:443/Path?Q").url,
    new Request("http://api.example:80").url,
  ];
  for (const href of urls) {
    const u = new URL(href);
    assert.deepEqual(splitUrl(href), {
      scheme: u.protocol.slice(0, -1),
      host: u.host,
      path: u.pathname + u.search,
    }, href);
  }
});
