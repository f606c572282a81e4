import assert from "node:assert/strict";
import { decodedRequestOf, RequestMappingError, requestOf, targetUrlOf } from "./http-mapping.ts";

const head = (path: string) => ({
  method: "GET",
  scheme: "https",
  authority: "api.example",
  path,
  headers: [] as [string, string][],
});

Deno.test("targetUrlOf: plain origin-form paths map unchanged", () => {
  for (const p of ["/", "/v1/items?x=1", "/a.b/..c/d..", "/%2e%2ex", "/a/b/"]) {
    const u = targetUrlOf(head(p));
    assert.equal(u.pathname + u.search, p);
    assert.equal(u.host, "api.example");
  }
});

Deno.test("targetUrlOf: dot segments and backslashes are refused with 400, never resolved", () => {
  for (
    const p of [
      "/../etc/passwd",
      "/a/../b",
      "/a/./b",
      "/a/%2e%2e/b",
      "/a/%2E%2e/b",
      "/a/.%2e",
      "/a/%2e",
      "/a\\..\\b",
      "/a\\b",
      "/v1/..?q=1",
    ]
  ) {
    assert.throws(() => targetUrlOf(head(p)), (e: unknown) => {
      assert.ok(e instanceof RequestMappingError, `${p}: ${e}`);
      assert.equal(e.status, 400, p);
      return true;
    }, p);
  }
});

Deno.test("targetUrlOf: an authority the URL parser would rewrite is refused with 400; case and default port are fine", () => {
  for (
    const authority of [
      "2130706433",
      "0x7f.1",
      "127.1",
      "0177.0.0.1",
      "[0:0::1]",
      "api.example:",
      "api.example:0443",
      "ａｐｉ.example",
    ]
  ) {
    assert.throws(
      () => targetUrlOf({ ...head("/"), authority }),
      (e: unknown) => e instanceof RequestMappingError && e.status === 400,
      authority,
    );
    assert.throws(
      () => targetUrlOf({ ...head("/"), authority: "", headers: [["host", authority]] }),
      (e: unknown) => e instanceof RequestMappingError && e.status === 400,
      `host ${authority}`,
    );
  }
  assert.equal(targetUrlOf({ ...head("/"), authority: "API.Example:443" }).host, "api.example");
  assert.equal(
    targetUrlOf({ ...head("/"), scheme: "http", authority: "api.example:80" }).host,
    "api.example",
  );
  assert.equal(
    targetUrlOf({ ...head("/"), authority: "api.example:8443" }).host,
    "api.example:8443",
  );
  assert.equal(targetUrlOf({ ...head("/"), authority: "127.0.0.1:8080" }).host, "127.0.0.1:8080");
  assert.equal(targetUrlOf({ ...head("/"), authority: "[::1]" }).host, "[::1]");
});

Deno.test("targetUrlOf: a percent-encoded authority or Host is refused with 400, never decoded", () => {
  // `new URL` would decode these to api.example / 127.0.0.1 and the route match would see a
  // name the client never sent.
  for (
    const authority of [
      "api%2Eexample",
      "ap%69.example",
      "%31%32%37.0.0.1:8080",
      "api.example%",
      "[::1%25eth0]",
    ]
  ) {
    assert.throws(() => targetUrlOf({ ...head("/"), authority }), (e: unknown) => {
      assert.ok(e instanceof RequestMappingError, `${authority}: ${e}`);
      assert.equal(e.status, 400, authority);
      return true;
    }, authority);
  }
  // Empty :authority: the Host field names the target and gets the same check.
  const viaHost = {
    ...head("/"),
    authority: "",
    headers: [["host", "ap%69.example"]] as [string, string][],
  };
  assert.throws(
    () => targetUrlOf(viaHost),
    (e: unknown) => e instanceof RequestMappingError && e.status === 400,
  );
  // A Host field next to a non-empty :authority is checked too (routes.ts compares the two).
  const both = { ...head("/"), headers: [["host", "api%2Eexample"]] as [string, string][] };
  assert.throws(
    () => targetUrlOf(both),
    (e: unknown) => e instanceof RequestMappingError && e.status === 400,
  );
  assert.equal(targetUrlOf(head("/%41")).host, "api.example"); // "%" in the path is fine
});

Deno.test("requestOf: control characters in a header value are refused with 400 (HTAB allowed)", () => {
  const signal = new AbortController().signal;
  const ctl: number[] = [];
  for (let c = 0; c < 0x20; c++) if (c !== 0x09) ctl.push(c);
  ctl.push(0x7f);
  for (const c of ctl) {
    const value = `a${String.fromCharCode(c)}b`;
    assert.throws(
      () => requestOf({ ...head("/"), headers: [["x-a", value]] }, null, signal),
      (e: unknown) => {
        assert.ok(e instanceof RequestMappingError, `0x${c.toString(16)}: ${e}`);
        assert.equal(e.status, 400);
        return true;
      },
      `0x${c.toString(16)}`,
    );
  }
  const ok = requestOf(
    { ...head("/"), headers: [["x-a", "a\tb"], ["x-b", "caf\xe9"]] },
    null,
    signal,
  );
  assert.equal(ok.headers.get("x-a"), "a\tb");
});

Deno.test("decodedRequestOf: the same request and the same refusals as requestOf, without a Request", () => {
  const signal = new AbortController().signal;
  const body = () => new ReadableStream<Uint8Array>();
  const ok: [string, string, string, string, [string, string][], boolean][] = [
    ["GET", "https", "api.example", "/v1/items?x=1", [["accept", "*/*"]], false],
    ["get", "https", "API.example:443", "/", [["b", "2"], ["a", "1"], ["a", "3"]], false],
    ["patch", "http", "api.example:8080", "/p?q", [["content-type", "text/plain"]], true],
    ["Delete", "https", "", "/d", [["host", "api.example"]], false],
    ["PROPFIND", "https", "api.example", "/dav/", [], true],
  ];
  for (const [method, scheme, authority, path, headers, withBody] of ok) {
    const h = { method, scheme, authority, path, headers };
    const r = requestOf(h, withBody ? body() : null, signal);
    const b = withBody ? body() : null;
    const d = decodedRequestOf(h, b, signal);
    assert.equal(d.method, r.method);
    assert.equal(d.url, r.url);
    const u = new URL(r.url);
    assert.deepEqual([d.scheme, d.host, d.path], [
      u.protocol.slice(0, -1),
      u.host,
      u.pathname + u.search,
    ]);
    assert.deepEqual([...d.headers], [...r.headers]);
    assert.equal(d.body, b);
    assert.equal(d.signal, signal);
  }
  const bad: [string, [string, string][], boolean, string, number][] = [
    ["CONNECT", [], false, "/", 405],
    ["trace", [], false, "/", 405],
    ["GET", [], true, "/", 400],
    ["HEAD", [], true, "/", 400],
    ["GET", [["x", "a\x01b"]], false, "/", 400],
    ["GET", [["x", "a\u0100"]], false, "/", 400], // not a ByteString: the Headers check
    ["GET", [], false, "/a/../b", 400],
  ];
  for (const [method, headers, withBody, path, status] of bad) {
    const h = { method, scheme: "https", authority: "api.example", path, headers };
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof RequestMappingError, String(e));
        return e.status;
      }
      return 0;
    };
    const a = codeOf(() => requestOf(h, withBody ? body() : null, signal));
    assert.equal(a, status, `${method} ${path}`);
    assert.equal(codeOf(() => decodedRequestOf(h, withBody ? body() : null, signal)), a);
  }
});
