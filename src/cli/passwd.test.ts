import assert from "node:assert/strict";
import { equalBytes } from "@noble/ciphers/utils.js";
import { loadArgon2Module, wasmArgon2 } from "../auth/argon2.ts";
import { parsePskFile } from "../auth/psk-file.ts";
import { parseUsersFile } from "../auth/users-file.ts";
import { UsageError } from "./argv.ts";
import { passwd, psk } from "./passwd.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const backend = await wasmArgon2(await loadArgon2Module());

async function verifies(file: string, user: string, password: string) {
  const h = parseUsersFile(await Deno.readTextFile(file)).get(user)!;
  return equalBytes(await backend.hash(enc(password), h.salt, h.params), h.hash);
}

function io(password: string) {
  const lines: string[] = [];
  return {
    lines,
    readPassword: () => Promise.resolve(enc(password)),
    out: (l: string) => lines.push(l),
    err: (l: string) => lines.push(l),
  };
}

Deno.test("passwd add / remove: mode 0600, refuses an existing user without --force, never prints the password", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/users`;
  try {
    const a = io("first-password-1");
    assert.equal(await passwd(["add", "alice", "--file", file], a), 0);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.ok(await verifies(file, "alice", "first-password-1"));
    assert.match(await Deno.readTextFile(file), /^alice:\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const b = io("second-password-2");
    assert.equal(await passwd(["add", "alice", "--file", file], b), 1);
    assert.match(b.lines.join("\n"), /already has user alice/);
    assert.ok(await verifies(file, "alice", "first-password-1"));
    await Deno.chmod(file, 0o644);
    assert.equal(await passwd(["add", "alice", "--file", file, "--force"], b), 0);
    assert.ok(await verifies(file, "alice", "second-password-2"));
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.equal(await passwd(["add", "bob", `--file=${file}`], io("bobs-password")), 0);
    assert.deepEqual([...parseUsersFile(await Deno.readTextFile(file)).keys()], ["alice", "bob"]);
    const c = io("x");
    assert.equal(await passwd(["remove", "alice", "--file", file], c), 0);
    assert.deepEqual([...parseUsersFile(await Deno.readTextFile(file)).keys()], ["bob"]);
    assert.equal(await passwd(["remove", "alice", "--file", file], c), 1);
    assert.equal(await passwd(["add", "carol", "--file", file], io("short")), 1); // < 8 bytes
    const all = [...a.lines, ...b.lines, ...c.lines].join("\n");
    assert.ok(!/password-[12]/.test(all), all);
    assert.equal([...Deno.readDirSync(dir)].length, 1, "no temporary file left");
    await assert.rejects(passwd(["add", "bad user", "--file", file], c), UsageError);
    await assert.rejects(passwd(["add"], c), UsageError);
    await assert.rejects(passwd(["list"], c), UsageError);
    await Deno.writeTextFile(file, "not a users file\n");
    const d = io("whatever-password");
    assert.equal(await passwd(["add", "dave", "--file", file], d), 1);
    assert.match(d.lines.join(""), /line 1: expected USER:PHC/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("psk new: a line the PSK file parser accepts, fresh each time", () => {
  const out: string[] = [];
  assert.equal(psk(["new", "sensor-9"], { out: (l) => out.push(l) }), 0);
  assert.equal(psk(["new", "sensor-9"], { out: (l) => out.push(l) }), 0);
  assert.equal(parsePskFile(out[0]).get("sensor-9")!.length, 32);
  assert.notEqual(out[0], out[1]);
  assert.throws(() => psk(["new", "has space"]), UsageError);
  assert.throws(() => psk(["new"]), UsageError);
});

Deno.test("pqgate passwd add through main.ts reads one line of piped stdin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const runner = `${dir}/run.ts`;
    await Deno.writeTextFile(
      runner,
      `import { run } from "${new URL("./main.ts", import.meta.url).href}";\n` +
        "Deno.exit(await run(Deno.args));\n",
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        runner,
        "passwd",
        "add",
        "erin",
        "--file",
        `${dir}/users`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(enc("piped secret pw\nsecond line ignored\n"));
    await w.close();
    const r = await child.output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, text);
    assert.ok(!text.includes("piped secret"), text);
    assert.ok(await verifies(`${dir}/users`, "erin", "piped secret pw"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
