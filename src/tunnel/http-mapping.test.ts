import assert from "node:assert/strict";
import { RequestMappingError, targetUrlOf } from "./http-mapping.ts";

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
