import assert from "node:assert/strict";
import { originRequestHeaders } from "./headers.ts";
import { isSpoofableRequestHeader } from "./spoofable-headers.ts";
import { ORDINARY_HEADERS, SPOOFING_HEADERS } from "./testing.ts";

Deno.test("spoofable headers: every proxy-assertion field is dropped, ordinary fields are not", () => {
  assert.ok(SPOOFING_HEADERS.length >= 30);
  for (const n of SPOOFING_HEADERS) assert.ok(isSpoofableRequestHeader(n), n);
  for (const [n] of ORDINARY_HEADERS) assert.ok(!isSpoofableRequestHeader(n), n);

  const h = originRequestHeaders(
    [...SPOOFING_HEADERS.map((n) => [n, "6.6.6.6"] as [string, string]), ...ORDINARY_HEADERS],
    { host: "backend.internal", clientAddress: "203.0.113.7", suite: 1, sessionId: "s" },
  );
  const gatewaySet = new Set(["forwarded", "x-forwarded-for", "x-forwarded-proto", "pqgate-suite"]);
  for (const n of SPOOFING_HEADERS) {
    if (gatewaySet.has(n)) assert.notEqual(h.get(n), "6.6.6.6", n); // replaced by the gateway's own
    else assert.equal(h.get(n), null, n);
  }
  for (const [n, v] of ORDINARY_HEADERS) assert.equal(h.get(n), v, n);
});
