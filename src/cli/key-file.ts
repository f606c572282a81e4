/**
 * Gateway key files: `{ version, kem, seed, key_id, pin, created }` JSON, mode 0600.
 * The seed IS the X-Wing secret key (32 bytes); it is never printed or logged. `key_id` and
 * `pin` are public and stored for convenience; on load they must match the seed.
 */
import { chmod, lstat, mkdir, open, readFile, stat, writeFile } from "node:fs/promises";
import { fromBase64Url, toBase64Url, toHex } from "../protocol/bytes.ts";
import { XWING_SEED_LEN } from "../protocol/constants.ts";
import { generateStaticKey, pinFor } from "../protocol/static-keys.ts";
import type { StaticKey } from "../protocol/types.ts";
import process from "node:process";
import { gitExposure } from "./git-exposure.ts";

export const DEFAULT_KEY_FILE = ".pqgate/gateway-key.json";

export interface KeyFileContents {
  version: 1;
  kem: "X-Wing";
  seed: string;
  key_id: string;
  pin: string;
  created: string;
}

export interface LoadedKey {
  key: StaticKey;
  keyIdHex: string;
  pin: string;
  path: string;
  created: boolean;
  /** Set when the file is readable by group/others (POSIX only). */
  warning?: string;
}

const WINDOWS = process.platform === "win32";

/** A Node file-system error's code (ENOENT, EEXIST, ...), if it has one. */
function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

export class KeyFileError extends Error {
  /** True when the file does not exist (the CLI then says how to create it). */
  readonly missing: boolean;
  constructor(path: string, problem: string, missing = false) {
    super(`key file ${path}: ${problem}`);
    this.name = "KeyFileError";
    this.missing = missing;
  }
}

/** Parses and checks key-file JSON text; returns the static key it holds. */
export function parseKeyFile(path: string, text: string): { key: StaticKey; pin: string } {
  let j: Partial<KeyFileContents>;
  try {
    j = JSON.parse(text);
  } catch {
    throw new KeyFileError(path, "is not valid JSON");
  }
  if (typeof j !== "object" || j === null) throw new KeyFileError(path, "must hold a JSON object");
  if (j.version !== 1) {
    throw new KeyFileError(path, `unsupported version ${JSON.stringify(j.version)}`);
  }
  if (j.kem !== "X-Wing") throw new KeyFileError(path, `unsupported kem ${JSON.stringify(j.kem)}`);
  let seed: Uint8Array;
  try {
    seed = fromBase64Url(String(j.seed ?? ""));
  } catch {
    throw new KeyFileError(path, "seed is not base64url");
  }
  if (seed.length !== XWING_SEED_LEN) {
    throw new KeyFileError(path, `seed must be ${XWING_SEED_LEN} bytes`);
  }
  const key = generateStaticKey(seed);
  seed.fill(0);
  const pin = pinFor(key.publicKey);
  if (j.key_id !== undefined && j.key_id !== toHex(key.keyId)) {
    throw new KeyFileError(path, "key_id does not match the seed (file edited or corrupt)");
  }
  if (j.pin !== undefined && j.pin !== pin) {
    throw new KeyFileError(path, "pin does not match the seed (file edited or corrupt)");
  }
  return { key, pin };
}

export async function readKeyFile(path: string): Promise<LoadedKey> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (errno(e) === "ENOENT") throw new KeyFileError(path, "not found", true);
    throw new KeyFileError(path, `cannot be read (${(e as Error).message})`);
  }
  const { key, pin } = parseKeyFile(path, text);
  let warning: string | undefined;
  if (!WINDOWS) {
    const mode = (await stat(path)).mode;
    if ((mode & 0o077) !== 0) {
      warning = `key file ${path} is readable by other users (mode ${
        (mode & 0o777).toString(8)
      }); run chmod 600 ${path}`;
    }
  }
  return { key, keyIdHex: toHex(key.keyId), pin, path, created: false, warning };
}

/** Written into a key directory pqgate creates: everything in it stays out of git. */
const KEY_DIR_GITIGNORE =
  "# Created by pqgate: this directory holds secret keys. Never commit them.\n*\n";

/**
 * Creates a new key file with a fresh seed from crypto.getRandomValues. Refuses to overwrite
 * an existing file (createNew), creates the parent directory with mode 0700 and, when it
 * creates that directory, a `.gitignore` in it that ignores everything. Refuses to write a key
 * that git would pick up: inside a work tree and not ignored (git-exposure.ts), unless
 * `allowUnignored` (the `--allow-unignored-key` flag) says the caller knows.
 */
export async function createKeyFile(
  path: string,
  opts: { allowUnignored?: boolean } = {},
): Promise<LoadedKey> {
  const seed = crypto.getRandomValues(new Uint8Array(XWING_SEED_LEN));
  const key = generateStaticKey(seed);
  const pin = pinFor(key.publicKey);
  const contents: KeyFileContents = {
    version: 1,
    kem: "X-Wing",
    seed: toBase64Url(seed),
    key_id: toHex(key.keyId),
    pin,
    created: new Date().toISOString(),
  };
  seed.fill(0);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  if (dir) {
    let existed = true;
    try {
      await stat(dir);
    } catch {
      existed = false;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!existed) await writeFile(`${dir}/.gitignore`, KEY_DIR_GITIGNORE, { flag: "wx" });
  }
  if (!opts.allowUnignored) {
    const exposure = await gitExposure(path);
    if (exposure !== null) {
      throw new KeyFileError(
        path,
        `refusing to write a secret key where git would pick it up: ${exposure}. Add the path to ` +
          `.gitignore, choose a path outside the repository, or pass --allow-unignored-key`,
      );
    }
  }
  const file = await open(path, "wx", 0o600); // EEXIST rather than overwrite
  try {
    await file.writeFile(JSON.stringify(contents, null, 2) + "\n");
  } finally {
    await file.close();
  }
  if (!WINDOWS) await chmod(path, 0o600); // umask-proof
  return { key, keyIdHex: contents.key_id, pin, path, created: true };
}

/** Loads the key file, creating it first when it does not exist. */
export async function loadOrCreateKeyFile(
  path: string,
  opts: { allowUnignored?: boolean } = {},
): Promise<LoadedKey> {
  try {
    await lstat(path);
  } catch (e) {
    if (errno(e) === "ENOENT") {
      try {
        return await createKeyFile(path, opts);
      } catch (e2) {
        if (errno(e2) !== "EEXIST") {
          throw new KeyFileError(path, `cannot be created (${(e2 as Error).message})`);
        }
        // lost a race with another process: fall through and read theirs
      }
    } else throw e;
  }
  return await readKeyFile(path);
}
