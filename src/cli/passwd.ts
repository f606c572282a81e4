/**
 * `pqgate passwd` and `pqgate psk`: the users file and PSK file of client authentication
 * (docs/client-auth.md; formats in src/auth/users-file.ts and src/auth/psk-file.ts).
 *
 *   pqgate passwd add USER [--file PATH] [--force]   set USER's password (Argon2id, default parameters)
 *   pqgate passwd remove USER [--file PATH]
 *   pqgate psk new ID                                print a PSK-file line with a fresh key
 *
 * The password is read from a no-echo prompt (asked twice) when stdin is a terminal, else as
 * one line of stdin; it is never printed. The file is written whole to a temporary file of mode
 * 0600 beside it and renamed over it, so a reader never sees half a file and the mode is 0600
 * whatever it was. Every line of the file must still parse (parseUsersFile) before and after.
 */
import { chmod, readFile, rename, writeFile } from "node:fs/promises";
import process from "node:process";
import { loadArgon2Module, wasmArgon2 } from "../auth/argon2.ts";
import { hashPassword, NEW_PASSWORD_MIN_BYTES } from "../auth/hash-password.ts";
import { AuthConfigError } from "../auth/options.ts";
import { MAX_PASSWORD_BYTES } from "../auth/password.ts";
import { newPskLine } from "../auth/psk-file.ts";
import { parseUsersFile, removeUserLine, setUserLine, USER_NAME_RE } from "../auth/users-file.ts";
import { UsageError, walkArgs } from "./argv.ts";

export const DEFAULT_USERS_FILE = "pqgate-users.txt";

export const PASSWD_USAGE = `Usage:
  pqgate passwd add USER [--file PATH] [--force]
                    set USER's password in the users file (default ${DEFAULT_USERS_FILE}):
                    prompted without echo on a terminal, else one line of stdin; an existing
                    USER is refused unless --force; the file is written with mode 0600
  pqgate passwd remove USER [--file PATH]
  pqgate psk new ID print a PSK-file line (ID:base64url of 32 random bytes) to add to the
                    gateway's PSK file and give to that client
`;

export interface PasswdIo {
  /** The password: default a no-echo prompt on a TTY, else one line of stdin. */
  readPassword?: (confirm: boolean) => Promise<Uint8Array>;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** `pqgate passwd ...`; resolves to the exit code. */
export async function passwd(argv: readonly string[], io: PasswdIo = {}): Promise<number> {
  const out = io.out ?? ((l: string) => console.log(l));
  const err = io.err ?? ((l: string) => console.error(l));
  const [sub, ...rest] = argv;
  if (sub !== "add" && sub !== "remove") {
    throw new UsageError(`passwd needs add or remove\n\n${PASSWD_USAGE}`);
  }
  let user: string | null = null;
  let file = DEFAULT_USERS_FILE;
  let force = false;
  for (const o of walkArgs(rest)) {
    if (o.arg === "--file") file = o.value();
    else if (o.arg === "--force" && sub === "add") force = true;
    else if (o.arg.startsWith("-") || user !== null) {
      throw new UsageError(`passwd ${sub}: unexpected ${o.arg}`);
    } else user = o.arg;
  }
  if (user === null) throw new UsageError(`passwd ${sub} needs a USER`);
  if (!USER_NAME_RE.test(user)) {
    throw new UsageError("USER must be 1..64 of A-Z a-z 0-9 . _ @ -");
  }
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" || sub === "remove") {
      err(`pqgate: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
      return 1;
    }
  }
  let users;
  try {
    users = parseUsersFile(text);
  } catch (e) {
    err(`pqgate: ${file}: ${(e as Error).message}`);
    return 1;
  }
  if (sub === "remove") {
    const next = removeUserLine(text, user);
    if (next === null || !users.has(user)) {
      err(`pqgate: ${file} has no user ${user}`);
      return 1;
    }
    await writeWhole(file, next);
    out(`removed ${user} from ${file}`);
    return 0;
  }
  if (users.has(user) && !force) {
    err(`pqgate: ${file} already has user ${user} (--force replaces the password)`);
    return 1;
  }
  const password = await (io.readPassword ?? readPassword)(true);
  try {
    const backend = await wasmArgon2(await loadArgon2Module());
    const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    const phc = await hashPassword(password, backend, rnd);
    const next = setUserLine(text, user, phc);
    parseUsersFile(next); // never write a file the gateway would refuse
    await writeWhole(file, next);
  } catch (e) {
    if (e instanceof AuthConfigError) {
      err(`pqgate: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    password.fill(0);
  }
  out(`${users.has(user) ? "updated" : "added"} ${user} in ${file}`);
  return 0;
}

/** `pqgate psk new ID`. */
export function psk(argv: readonly string[], io: PasswdIo = {}): number {
  const out = io.out ?? ((l: string) => console.log(l));
  if (argv[0] !== "new" || argv.length !== 2 || argv[1].startsWith("-")) {
    throw new UsageError(`psk needs: new ID\n\n${PASSWD_USAGE}`);
  }
  try {
    out(newPskLine(argv[1], (n) => crypto.getRandomValues(new Uint8Array(n))));
  } catch (e) {
    if (e instanceof AuthConfigError) throw new UsageError(`psk new: ${e.message}`);
    throw e;
  }
  return 0;
}

async function writeWhole(file: string, text: string): Promise<void> {
  const tmp = `${file}.${crypto.randomUUID()}.tmp`;
  await writeFile(tmp, text, { mode: 0o600, flag: "wx" });
  await chmod(tmp, 0o600); // the umask may have narrowed it further; make it exactly 0600
  await rename(tmp, file);
}

/** One password: a no-echo prompt (asked twice) on a TTY, else the first line of stdin. */
async function readPassword(confirm: boolean): Promise<Uint8Array> {
  const stdin = process.stdin;
  if (stdin.isTTY) {
    const first = await promptNoEcho("Password: ");
    if (confirm) {
      const second = await promptNoEcho("Again: ");
      const same = first.length === second.length && first.every((b, i) => b === second[i]);
      second.fill(0);
      if (!same) {
        first.fill(0);
        throw new AuthConfigError("the two passwords differ");
      }
    }
    return first;
  }
  return await readLine(stdin);
}

function readLine(stream: NodeJS.ReadableStream, echoless = false): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: number[] = [];
    const done = (e?: Error) => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      if ("pause" in stream) stream.pause();
      if (e) {
        chunks.fill(0);
        reject(e);
        return;
      }
      if (chunks.at(-1) === 0x0d) chunks.pop();
      const out = Uint8Array.from(chunks);
      chunks.fill(0);
      resolve(out);
    };
    const onData = (c: Uint8Array | string) => {
      const b = typeof c === "string" ? new TextEncoder().encode(c) : c;
      for (const x of b) {
        if (x === 0x0a || (echoless && x === 0x0d)) return done();
        if (echoless && x === 0x03) return done(new AuthConfigError("cancelled"));
        chunks.push(x);
        if (chunks.length > MAX_PASSWORD_BYTES) {
          return done(
            new AuthConfigError(
              `a password must be ${NEW_PASSWORD_MIN_BYTES}..${MAX_PASSWORD_BYTES} bytes`,
            ),
          );
        }
      }
    };
    const onEnd = () => done();
    const onError = () => done(new AuthConfigError("cannot read the password from stdin"));
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onError);
    if ("resume" in stream) stream.resume();
  });
}

async function promptNoEcho(prompt: string): Promise<Uint8Array> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  try {
    return await readLine(stdin, true);
  } finally {
    stdin.setRawMode(false);
    process.stderr.write("\n");
  }
}
