import assert from "node:assert/strict";
import { AuthConfigError } from "./options.ts";
import { REFERENCE_PHC } from "./argon2-vectors.ts";
import { MAX_USERS, parseUsersFile, removeUserLine, setUserLine } from "./users-file.ts";

Deno.test("users file: USER:PHC lines, comments and blank lines", () => {
  const t = parseUsersFile(
    `# users\n\nalice:${REFERENCE_PHC}\r\n  bob@example.org:${REFERENCE_PHC}  \n`,
  );
  assert.deepEqual([...t.keys()], ["alice", "bob@example.org"]);
  assert.equal(t.get("alice")!.params.m, 65536);
});

Deno.test("users file: errors name the line and never echo its content", () => {
  const cases: [string, RegExp][] = [
    [`alice:${REFERENCE_PHC}\nno colon here hunter2`, /line 2: expected USER:PHC/],
    [`bad user:${REFERENCE_PHC}`, /line 1: user name/],
    [`${"a".repeat(65)}:${REFERENCE_PHC}`, /line 1: user name/],
    [`alice:${REFERENCE_PHC}\n\nalice:${REFERENCE_PHC}`, /line 3: user alice appears twice/],
    [`alice:hunter2hunter2`, /line 1: not an argon2id PHC string/],
    [`alice:${REFERENCE_PHC.replace("m=65536", "m=1048576")}`, /line 1: argon2id m must be/],
  ];
  for (const [text, re] of cases) {
    try {
      parseUsersFile(text);
      assert.fail(`accepted ${re}`);
    } catch (e) {
      assert.ok(e instanceof AuthConfigError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes("hunter2"), e.message);
      assert.ok(!e.message.includes("CTFhFd"), e.message);
    }
  }
});

Deno.test("users file: at most MAX_USERS users and 4 MiB", () => {
  const line = (i: number) => `u${i}:${REFERENCE_PHC}`;
  const lines = Array.from({ length: MAX_USERS }, (_, i) => line(i));
  assert.equal(parseUsersFile(lines.join("\n")).size, MAX_USERS);
  assert.throws(
    () => parseUsersFile([...lines, line(MAX_USERS)].join("\n")),
    /more than 10000 users/,
  );
  assert.throws(() => parseUsersFile("#".repeat(4 * 1024 * 1024 + 1)), /larger than/);
});

Deno.test("users file: setUserLine replaces in place or appends; removeUserLine", () => {
  const t0 = `# mine\nalice:${REFERENCE_PHC}\nbob:${REFERENCE_PHC}\n`;
  const t1 = setUserLine(t0, "alice", "$NEW");
  assert.equal(t1, `# mine\nalice:$NEW\nbob:${REFERENCE_PHC}\n`);
  assert.equal(setUserLine("", "carol", "$X"), "carol:$X\n");
  assert.equal(setUserLine(t0, "al", "$X").endsWith("al:$X\n"), true); // "al" is not "alice"
  assert.equal(removeUserLine(t0, "bob"), `# mine\nalice:${REFERENCE_PHC}\n`);
  assert.equal(removeUserLine(t0, "nobody"), null);
  assert.equal(removeUserLine("carol:$X\n", "carol"), "");
  assert.throws(() => setUserLine(t0, "bad user", "$X"), AuthConfigError);
});
