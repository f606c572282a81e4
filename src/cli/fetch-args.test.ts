import assert from "node:assert/strict";
import { DEFAULT_GATEWAY, isLocalhost, parseFetchArgs } from "./fetch-args.ts";
import { UsageError } from "./argv.ts";

const PIN = "sha256:" + "A".repeat(43);

Deno.test("fetch args: defaults to GET via the local gateway", () => {
  const a = parseFetchArgs(["https://demo/api/hello"]);
  assert.ok(a !== "help");
  assert.equal(a.gateway, DEFAULT_GATEWAY);
  assert.equal(a.gatewayFromFlag, false);
  assert.equal(a.method, "GET");
  assert.equal(a.pin, null);
  assert.deepEqual(a.body, { kind: "none" });
});

Deno.test("fetch args: positional gateway (http → ws), headers, body, flags", () => {
  const a = parseFetchArgs([
    "--pin",
    PIN,
    "http://localhost:9000/pqgate",
    "https://api.example/x",
    "-H",
    "X-A: 1 2",
    "-d",
    "@body.bin",
    "-i",
    "-v",
    "-X",
    "put",
  ]);
  assert.ok(a !== "help");
  assert.equal(a.gateway, "ws://localhost:9000/pqgate");
  assert.equal(a.target, "https://api.example/x");
  assert.equal(a.method, "PUT");
  assert.deepEqual(a.headers, [["X-A", "1 2"], [
    "content-type",
    "application/x-www-form-urlencoded",
  ]]);
  assert.deepEqual(a.body, { kind: "file", path: "body.bin" });
  assert.ok(a.include && a.verbose);
});

Deno.test("fetch args: --json sets POST and JSON headers; --gateway= inline form", () => {
  const a = parseFetchArgs(["--gateway=wss://gw.example/pq", "--json", '{"a":1}', "https://h/p"]);
  assert.ok(a !== "help");
  assert.equal(a.gateway, "wss://gw.example/pq");
  assert.equal(a.method, "POST");
  assert.deepEqual(a.body, { kind: "text", text: '{"a":1}' });
  assert.deepEqual(a.headers, [["content-type", "application/json"], [
    "accept",
    "application/json",
  ]]);
});

Deno.test("fetch args: usage errors name the problem", () => {
  const bad: [string[], RegExp][] = [
    [[], /missing <target-url>/],
    [["a", "b", "c"], /too many/],
    [["--pin", "nope", "https://h/"], /--pin must look like/],
    [["--pin", PIN, "--anonymous", "https://h/"], /exclude/],
    [["ftp://h/"], /absolute http/],
    [["--gateway", "ftp://x", "https://h/"], /ws:\/\/ or wss:\/\//],
    [["-H", "novalue", "https://h/"], /name: value/],
    [["--bogus", "https://h/"], /unknown option --bogus/],
    [["-d", "a", "-d", "b", "https://h/"], /only one request body/],
    [["https://h/", "-X"], /-X needs a value/],
  ];
  for (const [argv, re] of bad) {
    assert.throws(
      () => parseFetchArgs(argv),
      (e) => e instanceof UsageError && re.test(e.message),
      argv.join(" "),
    );
  }
  assert.equal(parseFetchArgs(["-h"]), "help");
});

Deno.test("fetch args: localhost detection", () => {
  assert.ok(isLocalhost("ws://localhost:8787/pqgate"));
  assert.ok(isLocalhost("ws://127.0.0.1:1/x"));
  assert.ok(isLocalhost("ws://[::1]:1/x"));
  assert.ok(!isLocalhost("wss://gw.example/pqgate"));
});

Deno.test("fetch args: authentication flags (one method; secrets never from a bare flag but --token)", () => {
  const auth = (...flags: string[]) => {
    const a = parseFetchArgs([...flags, "https://demo/x"]);
    assert.ok(a !== "help");
    return a.auth;
  };
  assert.deepEqual(auth(), { kind: "none" });
  assert.deepEqual(auth("--user", "demo"), {
    kind: "password",
    username: "demo",
    passwordStdin: false,
  });
  assert.deepEqual(auth("--user=demo", "--password-stdin"), {
    kind: "password",
    username: "demo",
    passwordStdin: true,
  });
  assert.deepEqual(auth("--token", "eyJ.x.y"), { kind: "token", token: "eyJ.x.y" });
  assert.deepEqual(auth("--token-file", "t.jwt"), { kind: "token-file", path: "t.jwt" });
  assert.deepEqual(auth("--psk-file", "k", "--psk-id", "robot-1"), {
    kind: "psk",
    path: "k",
    identity: "robot-1",
  });
  const bad: [string[], RegExp][] = [
    [["--user", "a", "--token", "t"], /--user and --token exclude each other/],
    [["--token", "t", "--psk-file", "k", "--psk-id", "i"], /--token and --psk-file exclude/],
    [["--password-stdin"], /--password-stdin needs --user/],
    [["--psk-id", "i"], /--psk-id needs --psk-file/],
    [["--psk-file", "k"], /--psk-file needs --psk-id/],
    [["--user", "a\nb"], /control character/],
    [["--user", ""], /--user must be 1-256/],
    [["--token", ""], /--token must not be empty/],
    [["--user", "a", "--password-stdin", "-d", "@-"], /exclude each other/],
  ];
  for (const [flags, want] of bad) {
    assert.throws(() => parseFetchArgs([...flags, "https://demo/x"]), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, want);
      return true;
    }, flags.join(" "));
  }
  // A usage error never repeats a token given on the command line.
  try {
    parseFetchArgs(["--token", "SECRET-TOKEN", "--user", "a", "https://demo/x"]);
  } catch (e) {
    assert.ok(!(e as Error).message.includes("SECRET-TOKEN"));
  }
});
