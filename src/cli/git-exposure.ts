/**
 * Would a file at `path` end up in git? A secret key must never be committed (a published
 * package or a pushed repository leaks it for good), so `createKeyFile` asks this before it
 * writes one. Answers:
 *
 * - null: safe: outside any git work tree, or inside one and ignored (`git check-ignore`);
 * - a sentence saying why not: inside a work tree and not ignored, or inside one and git could
 *   not be asked (no permission to run it, or not installed): refusing is the safe answer.
 */
import { spawn } from "node:child_process";
import { lstat, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";

/** `git -C tree check-ignore -q -- abs`'s exit code; rejects when git cannot be run. */
function checkIgnore(tree: string, abs: string): Promise<number> {
  return new Promise((ok, fail) => {
    const child = spawn("git", ["-C", tree, "check-ignore", "-q", "--", abs], { stdio: "ignore" });
    child.once("error", fail);
    child.once("close", (code) => ok(code ?? 128));
  });
}

/** The nearest directory at or above `dir` holding a `.git` entry (a work tree), or null. */
async function workTreeOf(dir: string): Promise<string | null> {
  for (let d = dir;;) {
    try {
      await lstat(join(d, ".git"));
      return d;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
}

/** The nearest existing directory at or above `dir`. */
async function existingAncestor(dir: string): Promise<string> {
  for (let d = dir;;) {
    try {
      if ((await stat(d)).isDirectory()) return d;
    } catch { /* not there yet */ }
    const up = dirname(d);
    if (up === d) return d;
    d = up;
  }
}

export async function gitExposure(path: string): Promise<string | null> {
  const abs = isAbsolute(path) ? path : resolve(path);
  const tree = await workTreeOf(await existingAncestor(dirname(abs)));
  if (tree === null) return null;
  let code: number;
  try {
    code = await checkIgnore(tree, abs);
  } catch (e) {
    return `it is inside the git work tree ${tree}, and git could not be asked whether it is ignored (${
      (e as NodeJS.ErrnoException).code ?? (e as Error).name
    })`;
  }
  if (code === 0) return null;
  if (code === 1) return `it is inside the git work tree ${tree} and not ignored by git`;
  return `it is inside the git work tree ${tree}, and git check-ignore failed (exit ${code})`;
}
