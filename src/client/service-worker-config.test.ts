import assert from "node:assert/strict";
import { toBase64Url, utf8Encode } from "../protocol/bytes.ts";
import {
  checkServiceWorkerConfig,
  configFromScriptUrl,
  encodeServiceWorkerConfig,
  matchesRequest,
  SW_MAX_CONFIG_CHARS,
  SW_MAX_RULES,
} from "./service-worker-config.ts";

const PIN = "sha256:" + "A".repeat(43);
const BASE = {
  gateway: "wss://gw.example/pqgate",
  pin: PIN,
  match: [{ origin: "https://api.example", pathPrefix: "/v1/" }],
};
const script = (encoded: string) => `https://app.example/pqgate-sw.js?config=${encoded}`;
const raw = (o: unknown) => toBase64Url(utf8Encode(JSON.stringify(o)));

Deno.test("sw config: round trip through the script URL", () => {
  const c = configFromScriptUrl(script(encodeServiceWorkerConfig(BASE)));
  assert.equal(c.gateway, BASE.gateway);
  assert.equal(c.pin, PIN);
  assert.deepEqual(c.match, BASE.match);
  assert.deepEqual(c.rules, [{ origin: "https://api.example", pathPrefix: "/v1" }]);
  const k = configFromScriptUrl(
    script(encodeServiceWorkerConfig({ ...BASE, keyConfigUrl: "https://gw.example/k" })),
  );
  assert.equal(k.keyConfigUrl, "https://gw.example/k");
});

Deno.test("sw config: the script URL must carry exactly one valid config", () => {
  const bad: [string, RegExp][] = [
    ["https://app.example/pqgate-sw.js", /is missing/],
    [script("a") + "&config=b", /must appear once/],
    [script(""), /1\.\.16384 characters/],
    [script("x".repeat(SW_MAX_CONFIG_CHARS + 1)), /1\.\.16384 characters/],
    [script("!!!"), /not base64url-encoded JSON/],
    [script(toBase64Url(utf8Encode("{"))), /not base64url-encoded JSON/],
    [script(toBase64Url(new Uint8Array([0xff, 0xfe]))), /not base64url-encoded JSON/],
    [script(raw({ ...BASE })), /^TypeError: pqgate service worker: v is missing/],
    [script(raw({ ...BASE, v: 2 })), /v must be 1/],
    [script(raw([])), /configuration must be an object/],
  ];
  for (const [url, re] of bad) {
    assert.throws(() => configFromScriptUrl(url), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(String(e), re, url);
      return true;
    });
  }
});

Deno.test("sw config: fields are checked strictly", () => {
  const bad: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{ ...BASE, extra: 1 }, /extra is not a configuration field/],
    [{ ...BASE, gateway: "https://gw.example/pqgate" }, /gateway must be a ws: or wss: URL/],
    [{ ...BASE, gateway: "wss://u:p@gw.example/" }, /gateway must not contain credentials/],
    [{ ...BASE, gateway: "not a url" }, /gateway is not an absolute URL/],
    [{ ...BASE, gateway: "" }, /gateway must be a string/],
    [{ ...BASE, pin: "sha256:short" }, /pin must be/],
    [{ ...BASE, pin: undefined }, /pin must be a string/],
    [{ ...BASE, keyConfigUrl: "ftp://x/" }, /keyConfigUrl must be an http/],
    [{ ...BASE, keyConfigUrl: "https://u:p@x/" }, /keyConfigUrl must not contain/],
    [{ ...BASE, match: [] }, /match must be an array of 1\.\.64 rules/],
    [{ ...BASE, match: {} }, /match must be an array/],
    [
      { ...BASE, match: Array(SW_MAX_RULES + 1).fill({ origin: "https://a.example" }) },
      /match must be an array of 1\.\.64/,
    ],
    [{ ...BASE, match: ["https://a.example"] }, /match\[0\] must be an object/],
    [{ ...BASE, match: [{ origin: "https://a.example", x: 1 }] }, /match\[0\]\.x is not/],
    [{ ...BASE, match: [{ origin: "https://a.example/" }] }, /must be a bare origin/],
    [{ ...BASE, match: [{ origin: "https://a.example/v1" }] }, /must be a bare origin/],
    [{ ...BASE, match: [{ origin: "https://A.example" }] }, /must be a bare origin/],
    [{ ...BASE, match: [{ origin: "https://a.example:443" }] }, /must be a bare origin/],
    [{ ...BASE, match: [{ origin: "ftp://a.example" }] }, /must be an http\(s\) origin/],
    [{ ...BASE, match: [{ origin: "https://a.example", pathPrefix: "v1" }] }, /start with/],
    [
      { ...BASE, match: [{ origin: "https://a.example", pathPrefix: "/a/../b" }] },
      /normalized URL path/,
    ],
    [
      { ...BASE, match: [{ origin: "https://a.example", pathPrefix: "/a?b" }] },
      /normalized URL path/,
    ],
    [
      { ...BASE, match: [{ origin: "https://a.example", pathPrefix: "/a b" }] },
      /normalized URL path/,
    ],
    [
      { ...BASE, match: [{ origin: "https://a.example", pathPrefix: "//evil" }] },
      /normalized URL path/,
    ],
    [
      { ...BASE, match: [{ origin: "https://a.example", pathPrefix: "/x".repeat(1025) }] },
      /1\.\.2048 characters/,
    ],
  ];
  for (const [value, re] of bad) {
    assert.throws(() => checkServiceWorkerConfig(value), re, JSON.stringify(value));
  }
  // encode validates too (registerPqgate refuses before registering anything).
  assert.throws(() => encodeServiceWorkerConfig({ ...BASE, match: [] }), TypeError);
});

Deno.test("sw config: rules match by exact origin and path prefix on segment boundaries", () => {
  const c = checkServiceWorkerConfig({
    ...BASE,
    match: [
      { origin: "https://api.example", pathPrefix: "/v1/" },
      { origin: "http://127.0.0.1:8080", pathPrefix: "/data" },
      { origin: "https://all.example" },
    ],
  });
  const yes = [
    "https://api.example/v1",
    "https://api.example/v1/",
    "https://api.example/v1/items?x=1#f",
    "https://api.example:443/v1/x", // the default port is not part of the origin
    "https://api.example/v1/../v1/x", // the parser resolves dot segments first
    "http://127.0.0.1:8080/data",
    "http://127.0.0.1:8080/data/x",
    "https://all.example/",
    "https://all.example/anything/at/all",
  ];
  const no = [
    "https://api.example/v1x",
    "https://api.example/v2/x",
    "https://api.example/",
    "https://api.example/v1/../v2", // normalized to /v2
    "http://api.example/v1/x", // another scheme
    "https://api.example:8443/v1/x", // another port
    "https://sub.api.example/v1/x",
    "http://127.0.0.1:8081/data",
    "http://127.0.0.1:8080/database",
    "http://localhost:8080/data", // another host, though the same machine
    "https://all.example.evil/x",
    "not a url",
  ];
  for (const u of yes) assert.equal(matchesRequest(c, u), true, u);
  for (const u of no) assert.equal(matchesRequest(c, u), false, u);
});
