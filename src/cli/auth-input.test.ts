import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { UsageError } from "./argv.ts";
import { decodePsk, firstLine, pskFromText, readClientAuth } from "./auth-input.ts";

const HEX = "0f".repeat(32);
const KEY = new Uint8Array(32).fill(0x0f);

async function* chunks(...parts: string[]) {
  for (const p of parts) yield new TextEncoder().encode(p);
}

Deno.test("auth input: the first stdin line, split across chunks, CRLF or LF, bounded", async () => {
  assert.equal(await firstLine(chunks("s3c", "ret\r\nrest")), "s3cret");
  assert.equal(await firstLine(chunks("pw\n")), "pw");
  assert.equal(await firstLine(chunks("no newline")), "no newline");
  await assert.rejects(firstLine(chunks("x".repeat(20)), 10), UsageError);
});

Deno.test("auth input: PSK files (the key alone, or ID KEY lines) and never the key in an error", () => {
  assert.deepEqual(decodePsk(HEX), KEY);
  assert.deepEqual(decodePsk(Buffer.from(KEY).toString("base64url")), KEY);
  assert.equal(decodePsk("0f".repeat(31)), null);
  assert.equal(decodePsk("z".repeat(64)), null);
  assert.deepEqual(pskFromText(`${HEX}\n`, "any", "k"), KEY);
  const file = `# robots\nrobot-0:${"00".repeat(32)}\n\nrobot-1:${
    Buffer.from(KEY).toString("base64url")
  }\n`;
  assert.deepEqual(pskFromText(file, "robot-1", "psks.txt"), KEY);
  const errs: [string, string, RegExp][] = [
    [file, "robot-9", /has no line for --psk-id "robot-9"/],
    ["robot-1:abcdef-SECRETISH", "robot-1", /holds no 32-byte key/],
    ["SECRETISH", "x", /holds no 32-byte key/],
  ];
  for (const [text, id, want] of errs) {
    assert.throws(() => pskFromText(text, id, "psks.txt"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, want);
      assert.ok(!e.message.includes("SECRETISH") && !e.message.includes(HEX), e.message);
      return true;
    });
  }
});

Deno.test("auth input: token and PSK files are read, trimmed and bounded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/t`, "  eyJhbGciOi.x.y\n");
    await Deno.writeTextFile(`${dir}/two`, "a b\n");
    await Deno.writeTextFile(`${dir}/big`, "x".repeat(17 * 1024));
    await Deno.writeTextFile(`${dir}/k`, `robot-1:${HEX}\n`);
    assert.deepEqual(await readClientAuth({ kind: "token-file", path: `${dir}/t` }), {
      token: "eyJhbGciOi.x.y",
    });
    await assert.rejects(readClientAuth({ kind: "token-file", path: `${dir}/two` }), /one token/);
    await assert.rejects(readClientAuth({ kind: "token-file", path: `${dir}/big` }), /over 16384/);
    await assert.rejects(
      readClientAuth({ kind: "token-file", path: `${dir}/missing` }),
      /cannot read .*missing: ENOENT/,
    );
    assert.deepEqual(
      await readClientAuth({ kind: "psk", path: `${dir}/k`, identity: "robot-1" }),
      { psk: KEY, pskId: "robot-1" },
    );
    assert.equal(await readClientAuth({ kind: "none" }), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
