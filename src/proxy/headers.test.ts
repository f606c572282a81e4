import assert from "node:assert/strict";
import {
  clientResponseHeaders,
  fieldSectionBytes,
  forwardedFor,
  originRequestHeaders,
  stripHopByHop,
} from "./headers.ts";

const opts = {
  host: "backend.internal:8443",
  clientAddress: "203.0.113.7",
  suite: 1,
  sessionId: new Uint8Array([0xab, 0x01]),
};

Deno.test("headers: hop-by-hop and Connection-listed fields are removed from requests", () => {
  const h = originRequestHeaders([
    ["connection", "keep-alive, X-Secret-Hop"],
    ["keep-alive", "timeout=5"],
    ["proxy-connection", "keep-alive"],
    ["te", "trailers"],
    ["trailer", "x-t"],
    ["transfer-encoding", "chunked"],
    ["upgrade", "websocket"],
    ["x-secret-hop", "1"],
    ["proxy-authorization", "Basic Zm9vOmJhcg=="],
    ["content-length", "5"],
    ["expect", "100-continue"],
    ["accept", "application/json"],
    ["authorization", "Bearer keep-me"],
    ["cookie", "a=1"],
  ], opts);
  for (
    const n of [
      "connection",
      "keep-alive",
      "proxy-connection",
      "te",
      "trailer",
      "transfer-encoding",
      "upgrade",
      "x-secret-hop",
      "proxy-authorization",
      "content-length",
      "expect",
    ]
  ) {
    assert.equal(h.get(n), null, n);
  }
  assert.equal(h.get("accept"), "application/json");
  assert.equal(h.get("authorization"), "Bearer keep-me"); // end-to-end credentials pass
  assert.equal(h.get("cookie"), "a=1");
});

Deno.test("headers: client forwarding/identity and pqgate-* fields cannot be forged", () => {
  const h = originRequestHeaders([
    ["forwarded", "for=1.2.3.4"],
    ["x-forwarded-for", "1.2.3.4"],
    ["x-forwarded-host", "evil.example"],
    ["x-forwarded-proto", "http"],
    ["x-real-ip", "1.2.3.4"],
    ["cf-connecting-ip", "1.2.3.4"],
    ["true-client-ip", "1.2.3.4"],
    ["pqgate-suite", "0x9999"],
    ["pqgate-session", "forged"],
    ["pqgate-gateway-auth", "forged-secret"],
    ["pqgate-anything", "x"],
    ["host", "evil.example"],
    ["accept-encoding", "gzip"],
  ], { ...opts, gatewayAuth: "route-secret-0123456789" });
  assert.equal(h.get("host"), "backend.internal:8443");
  assert.equal(h.get("forwarded"), "for=203.0.113.7;proto=https");
  assert.equal(h.get("x-forwarded-for"), "203.0.113.7");
  assert.equal(h.get("x-forwarded-proto"), "https");
  assert.equal(h.get("x-forwarded-host"), null);
  assert.equal(h.get("x-real-ip"), null);
  assert.equal(h.get("cf-connecting-ip"), null);
  assert.equal(h.get("true-client-ip"), null);
  assert.equal(h.get("pqgate-suite"), "0x0001");
  assert.equal(h.get("pqgate-session"), "ab01");
  assert.equal(h.get("pqgate-gateway-auth"), "route-secret-0123456789");
  assert.equal(h.get("pqgate-anything"), null);
  assert.equal(h.get("accept-encoding"), "identity");
  // Without a route secret, a client-sent one is dropped and none is added.
  assert.equal(
    originRequestHeaders([["pqgate-gateway-auth", "x"]], opts).get("pqgate-gateway-auth"),
    null,
  );
});

Deno.test("headers: client address rendering (RFC 7239)", () => {
  assert.equal(forwardedFor("198.51.100.1"), "for=198.51.100.1");
  assert.equal(forwardedFor("2001:DB8::1"), 'for="[2001:db8::1]"');
  assert.equal(forwardedFor(null), "for=unknown");
  assert.equal(forwardedFor("1.2.3.4, 5.6.7.8"), "for=unknown");
  assert.equal(forwardedFor("evil\r\nx: y"), "for=unknown");
  const h = originRequestHeaders([], { ...opts, clientAddress: "not-an-ip" });
  assert.equal(h.get("forwarded"), "for=unknown;proto=https");
  assert.equal(h.get("x-forwarded-for"), null);
});

Deno.test("headers: origin responses lose hop-by-hop and pqgate-* fields, keep the rest", () => {
  const origin = new Headers([
    ["connection", "close, x-hop"],
    ["x-hop", "1"],
    ["keep-alive", "timeout=5"],
    ["transfer-encoding", "chunked"],
    ["upgrade", "h2c"],
    ["proxy-authenticate", "Basic"],
    ["alt-svc", 'h3=":443"'],
    ["pqgate-error", "forbidden"],
    ["content-type", "text/plain"],
    ["location", "https://elsewhere.example/"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
  ]);
  const h = clientResponseHeaders(origin);
  for (
    const n of [
      "connection",
      "x-hop",
      "keep-alive",
      "transfer-encoding",
      "upgrade",
      "proxy-authenticate",
      "alt-svc",
      "pqgate-error",
    ]
  ) {
    assert.equal(h.get(n), null, n);
  }
  assert.equal(h.get("content-type"), "text/plain");
  assert.equal(h.get("location"), "https://elsewhere.example/");
  assert.deepEqual(h.getSetCookie(), ["a=1", "b=2"]);
});

Deno.test("headers: transparently decoded bodies lose Content-Encoding and Content-Length", () => {
  const gz = clientResponseHeaders(
    new Headers({ "content-encoding": "gzip", "content-length": "30" }),
  );
  assert.equal(gz.get("content-encoding"), null);
  assert.equal(gz.get("content-length"), null);
  const zstd = clientResponseHeaders(
    new Headers({ "content-encoding": "zstd", "content-length": "30" }),
  );
  assert.equal(zstd.get("content-encoding"), "zstd");
  assert.equal(zstd.get("content-length"), "30");
});

Deno.test("headers: stripHopByHop and fieldSectionBytes", () => {
  const h = stripHopByHop(
    new Headers([["connection", "foo"], ["foo", "1"], ["te", "x"], ["bar", "2"]]),
  );
  assert.deepEqual([...h], [["bar", "2"]]);
  assert.equal(fieldSectionBytes(new Headers([["ab", "cde"]])), 1 + 2 + 1 + 3);
  assert.equal(
    fieldSectionBytes(new Headers([["set-cookie", "a"], ["set-cookie", "b"]])),
    2 * (1 + 10 + 1 + 1),
  );
});
