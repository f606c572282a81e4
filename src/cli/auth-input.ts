/**
 * The credentials of `pqgate fetch` (fetch-args.ts AuthSource) as the client's `connect`
 * takes them: the password from a prompt without echo or from stdin, a token or PSK from its
 * file. Nothing here prints a secret: errors name the file or flag, never its content.
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { fromBase64Url, fromHex } from "../protocol/bytes.ts";
import { UsageError } from "./argv.ts";
import type { AuthSource } from "./fetch-args.ts";

/** What `connect(url, { auth })` receives (docs/client-auth.md). */
export type ClientAuthInput =
  | { username: string; password: string }
  | { token: string }
  | { psk: Uint8Array; pskId: string };

/** Longest password, token or key file read (a bound on what a mistake can pull in). */
export const MAX_SECRET_BYTES = 16 * 1024;

/** Reads standard input up to its first line end (or EOF), bounded; the line without CR/LF. */
export async function firstLine(
  input: AsyncIterable<Uint8Array | string> = process.stdin,
  max = MAX_SECRET_BYTES,
): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  for await (const chunk of input) {
    text += typeof chunk === "string" ? chunk : dec.decode(chunk, { stream: true });
    const nl = text.search(/\r?\n/);
    if (nl >= 0) return text.slice(0, nl);
    if (text.length > max) throw new UsageError(`the first line of stdin is over ${max} bytes`);
  }
  return text;
}

/**
 * Asks for a password on the terminal without echoing it (raw mode; Backspace edits, Ctrl-C
 * aborts). Not a terminal: a UsageError pointing at --password-stdin.
 */
export function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin as typeof process.stdin & { setRawMode?: (on: boolean) => void };
  if (!stdin.isTTY || typeof stdin.setRawMode !== "function") {
    return Promise.reject(
      new UsageError("--user needs a terminal to ask for the password, or --password-stdin"),
    );
  }
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let password = "";
    const done = (err: Error | null) => {
      stdin.setRawMode!(false);
      stdin.off("data", onData);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(password);
    };
    const onData = (chunk: Uint8Array | string) => {
      for (const ch of typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk)) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return done(null);
        if (ch === "\u0003") return done(new UsageError("password prompt aborted"));
        if (ch === "\u007f" || ch === "\b") password = [...password].slice(0, -1).join("");
        else if (ch >= " ") password += ch;
        if (password.length > MAX_SECRET_BYTES) {
          return done(new UsageError(`the password is over ${MAX_SECRET_BYTES} characters`));
        }
      }
    };
    stdin.setRawMode!(true);
    stdin.on("data", onData);
    stdin.resume();
  });
}

async function secretFile(path: string, flag: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new UsageError(
      `${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
    );
  }
  if (bytes.length > MAX_SECRET_BYTES) {
    throw new UsageError(`${flag}: ${path} is over ${MAX_SECRET_BYTES} bytes`);
  }
  return new TextDecoder().decode(bytes);
}

/** A 32-byte key written as 64 hex digits or 43 base64url characters, else null. */
export function decodePsk(text: string): Uint8Array | null {
  try {
    const k = /^[0-9a-fA-F]{64}$/.test(text)
      ? fromHex(text)
      : /^[A-Za-z0-9_-]{43}$/.test(text)
      ? fromBase64Url(text)
      : null;
    return k !== null && k.length === 32 ? k : null;
  } catch {
    return null;
  }
}

/**
 * The PSK for `identity` from a file holding either the key alone, or the gateway's PSK-file
 * lines `ID:KEY` (src/auth/psk-file.ts; blank lines and `#` comments skipped).
 */
export function pskFromText(text: string, identity: string, path: string): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
  if (lines.length === 1 && !lines[0].includes(":")) {
    const k = decodePsk(lines[0]);
    if (k === null) {
      throw new UsageError(
        `--psk-file: ${path} holds no 32-byte key (64 hex or 43 base64url characters)`,
      );
    }
    return k;
  }
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon) !== identity) continue;
    const k = decodePsk(line.slice(colon + 1).trim());
    if (k === null) {
      throw new UsageError(
        `--psk-file: the line of ${JSON.stringify(identity)} in ${path} holds no 32-byte key`,
      );
    }
    return k;
  }
  throw new UsageError(`--psk-file: ${path} has no line for --psk-id ${JSON.stringify(identity)}`);
}

/** Reads what `source` names; null for no authentication. `resolve` maps a typed path. */
export async function readClientAuth(
  source: AuthSource,
  resolve: (path: string) => string = (p) => p,
): Promise<ClientAuthInput | null> {
  switch (source.kind) {
    case "none":
      return null;
    case "password": {
      const password = source.passwordStdin
        ? await firstLine()
        : await promptPassword(`password for ${source.username}: `);
      if (password === "") throw new UsageError("the password is empty");
      return { username: source.username, password };
    }
    case "token":
      return { token: source.token };
    case "token-file": {
      const token = (await secretFile(resolve(source.path), "--token-file")).trim();
      if (token === "" || /\s/.test(token)) {
        throw new UsageError(`--token-file: ${source.path} must hold one token`);
      }
      return { token };
    }
    case "psk": {
      const text = await secretFile(resolve(source.path), "--psk-file");
      return { psk: pskFromText(text, source.identity, source.path), pskId: source.identity };
    }
  }
}
