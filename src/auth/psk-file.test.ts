import assert from "node:assert/strict";
import { AuthConfigError } from "./options.ts";
import { MAX_PSKS, newPskLine, parsePskFile } from "./psk-file.ts";

const rnd = (n: number) => new Uint8Array(n).map((_, i) => i * 7 + 1);

Deno.test("psk file: newPskLine round-trips through parsePskFile", () => {
  const line = newPskLine("sensor-17", rnd);
  const keys = parsePskFile(`# keys\n\n${line}\r\n`);
  assert.deepEqual(keys.get("sensor-17"), rnd(32));
  assert.equal(line.split(":")[1].length, 43);
});

Deno.test("psk file: errors name the line and never echo the key", () => {
  const key = newPskLine("x", rnd).split(":")[1];
  const cases: [string, RegExp][] = [
    [`a:${key}\n${key}`, /line 2: expected IDENTITY:KEY/],
    [`bad id:${key}`, /line 1: identity/],
    [`${"i".repeat(129)}:${key}`, /line 1: identity/],
    [`a:${key}\na:${key}`, /line 2: identity a appears twice/],
    [`a:${key.slice(0, 42)}`, /line 1: key must be/], // 31.5 bytes
    [`a:${key}A`, /line 1: key must be/], // 44 chars
    [`a:${key.slice(0, 42)}B`, /line 1: key must be/], // non-canonical last char
    [`a:${key.replace(/.$/, "=")}`, /line 1: key must be/],
  ];
  for (const [text, re] of cases) {
    try {
      parsePskFile(text);
      assert.fail(`accepted ${re}`);
    } catch (e) {
      assert.ok(e instanceof AuthConfigError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes(key.slice(0, 20)), e.message);
    }
  }
  assert.equal(parsePskFile(`${"i".repeat(128)}:${key}`).size, 1);
});

Deno.test("psk file: at most MAX_PSKS keys", () => {
  const lines = Array.from({ length: MAX_PSKS + 1 }, (_, i) => newPskLine(`id${i}`, rnd));
  assert.equal(parsePskFile(lines.slice(0, MAX_PSKS).join("\n")).size, MAX_PSKS);
  assert.throws(() => parsePskFile(lines.join("\n")), /more than 10000 keys/);
  assert.throws(() => newPskLine("no spaces", rnd), AuthConfigError);
});
