import assert from "node:assert/strict";
import {
  createKeyFile,
  KeyFileError,
  loadOrCreateKeyFile,
  parseKeyFile,
  readKeyFile,
} from "./key-file.ts";

Deno.test("key file: created once with mode 0600, reloaded with the same key and pin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/.pqgate/gateway-key.json`;
    const a = await loadOrCreateKeyFile(path);
    assert.equal(a.created, true);
    assert.match(a.pin, /^sha256:[A-Za-z0-9_-]{43}$/);
    assert.match(a.keyIdHex, /^[0-9a-f]{16}$/);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${dir}/.pqgate`)).mode! & 0o777, 0o700);
    }
    const b = await loadOrCreateKeyFile(path);
    assert.equal(b.created, false);
    assert.equal(b.pin, a.pin);
    assert.deepEqual(b.key.publicKey, a.key.publicKey);
    assert.equal(b.warning, undefined);
    await assert.rejects(createKeyFile(path)); // never overwrites
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("key file: wide permissions produce a warning; edits and garbage are rejected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/k.json`;
    const a = await createKeyFile(path);
    const text = await Deno.readTextFile(path);
    if (Deno.build.os !== "windows") {
      await Deno.chmod(path, 0o644);
      assert.match((await readKeyFile(path)).warning ?? "", /chmod 600/);
    }
    const j = JSON.parse(text);
    assert.throws(
      () => parseKeyFile("x", JSON.stringify({ ...j, pin: "sha256:" + "A".repeat(43) })),
      /pin does not match/,
    );
    assert.throws(
      () => parseKeyFile("x", JSON.stringify({ ...j, seed: "AAAA" })),
      /seed must be 32 bytes/,
    );
    assert.throws(() => parseKeyFile("x", "{"), /not valid JSON/);
    assert.throws(() => parseKeyFile("x", JSON.stringify({ ...j, version: 2 })), KeyFileError);
    assert.equal(parseKeyFile("x", text).pin, a.pin);
    await assert.rejects(readKeyFile(`${dir}/missing.json`), /not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function git(dir: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-C", dir, ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("key file: never where git would pick it up (a committed key is a leaked key)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await git(dir, "init", "-q");
    // A new key directory gets a .gitignore that ignores everything in it.
    const a = await createKeyFile(`${dir}/keys/2026-11.json`);
    assert.equal(a.created, true);
    assert.match(await Deno.readTextFile(`${dir}/keys/.gitignore`), /^\*$/m);
    assert.equal(await git(dir, "status", "--porcelain", "--untracked-files=all"), "");
    // Into an existing, not ignored place: refused, and nothing is written.
    await assert.rejects(
      createKeyFile(`${dir}/gateway-key.json`),
      (e: Error) =>
        e instanceof KeyFileError &&
        /inside the git work tree .* not ignored by git/.test(e.message),
    );
    await assert.rejects(Deno.stat(`${dir}/gateway-key.json`), Deno.errors.NotFound);
    await assert.rejects(loadOrCreateKeyFile(`${dir}/sub-key.json`), KeyFileError);
    // Once ignored, or with the explicit override, it is written.
    await Deno.writeTextFile(`${dir}/.gitignore`, "gateway-key.json\n");
    assert.equal((await createKeyFile(`${dir}/gateway-key.json`)).created, true);
    assert.equal(
      (await createKeyFile(`${dir}/forced.json`, { allowUnignored: true })).created,
      true,
    );
    // A tracked file is not "ignored" even if a pattern matches it later.
    await Deno.writeTextFile(`${dir}/tracked.json`, "{}");
    await git(dir, "add", "tracked.json");
    await Deno.writeTextFile(`${dir}/.gitignore`, "gateway-key.json\ntracked.json\n");
    await Deno.remove(`${dir}/tracked.json`);
    await assert.rejects(createKeyFile(`${dir}/tracked.json`), KeyFileError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Outside any work tree: written (the temp directory is not in a repository).
  const out = await Deno.makeTempDir();
  try {
    assert.equal((await createKeyFile(`${out}/k.json`)).created, true);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
