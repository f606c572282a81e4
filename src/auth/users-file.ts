/**
 * The users file (or the secret text a Worker holds): one `USER:PHC` per line, e.g.
 *
 *   # comment lines and blank lines are ignored
 *   alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$...
 *
 * USER: 1..64 characters of `A-Z a-z 0-9 . _ @ -`; each user once; PHC as phc.ts bounds it.
 * Bounds: at most MAX_USERS entries and MAX_USERS_FILE_BYTES of text. Errors name the line
 * number and what is wrong, never the line's content (a hash is not a password, but a
 * mis-pasted password in the file must not reach a log).
 */
import { AuthConfigError } from "./options.ts";
import { parsePhc, PhcError, type PhcHash } from "./phc.ts";

export const MAX_USERS = 10_000;
export const MAX_USERS_FILE_BYTES = 4 * 1024 * 1024;
export const USER_NAME_RE = /^[A-Za-z0-9._@-]{1,64}$/;

/** user name -> its Argon2id hash. */
export type UsersTable = ReadonlyMap<string, PhcHash>;

/** Parses users-file text; throws AuthConfigError naming the line. */
export function parseUsersFile(text: string): UsersTable {
  if (text.length > MAX_USERS_FILE_BYTES) {
    throw new AuthConfigError(`users file: larger than ${MAX_USERS_FILE_BYTES} bytes`);
  }
  const users = new Map<string, PhcHash>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const at = `users file line ${i + 1}`;
    const colon = line.indexOf(":");
    if (colon < 0) throw new AuthConfigError(`${at}: expected USER:PHC`);
    const user = line.slice(0, colon);
    if (!USER_NAME_RE.test(user)) {
      throw new AuthConfigError(`${at}: user name must be 1..64 of A-Z a-z 0-9 . _ @ -`);
    }
    if (users.has(user)) throw new AuthConfigError(`${at}: user ${user} appears twice`);
    try {
      users.set(user, parsePhc(line.slice(colon + 1)));
    } catch (e) {
      if (e instanceof PhcError) throw new AuthConfigError(`${at}: ${e.message}`);
      throw e;
    }
    if (users.size > MAX_USERS) {
      throw new AuthConfigError(`users file: more than ${MAX_USERS} users`);
    }
  }
  return users;
}

/**
 * The users-file text with `user` set to `phc` (replacing its line in place, or appended), for
 * `pqgate passwd add`. Other lines, comments included, are kept as they are.
 */
export function setUserLine(text: string, user: string, phc: string): string {
  if (!USER_NAME_RE.test(user)) {
    throw new AuthConfigError("user name must be 1..64 of A-Z a-z 0-9 . _ @ -");
  }
  const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
  const i = lines.findIndex((l) => l.trim().startsWith(`${user}:`));
  if (i >= 0) lines[i] = `${user}:${phc}`;
  else lines.push(`${user}:${phc}`);
  return lines.join("\n") + "\n";
}

/** The users-file text without `user`'s line; null when the user is not there. */
export function removeUserLine(text: string, user: string): string | null {
  const lines = text.replace(/\r?\n$/, "").split(/\r?\n/);
  const kept = lines.filter((l) => !l.trim().startsWith(`${user}:`));
  if (kept.length === lines.length) return null;
  return kept.length === 0 || (kept.length === 1 && kept[0] === "") ? "" : kept.join("\n") + "\n";
}
