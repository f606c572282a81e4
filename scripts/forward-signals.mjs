// Runs a child process with inherited stdio and makes this process a transparent hop: SIGTERM,
// SIGINT and SIGHUP sent to it are passed on to the child (SIGTERM: what `docker stop`, systemd
// and `npm` send; SIGHUP: the gateway's reload), and it exits with the child's status, a death
// by signal mapped as POSIX shells do (128 + the signal's number: SIGTERM → 143). Without it a
// signal to a wrapper (`npm start` → node scripts/start.mjs → deno task → deno run) kills the
// wrapper only and leaves the gateway orphaned and still serving (docs/operations.md 'Signals').
import { spawn } from "node:child_process";
import { constants } from "node:os";
import process from "node:process";

/** How often a wrapper checks that its parent is still there (ms). */
export const ORPHAN_POLL_MS = 250;

/** The signals a wrapper passes on (Windows has no SIGHUP / SIGTERM delivery: ignored there). */
export const FORWARDED_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"];

/** The exit status a shell reports for a child that ended with `code` or died of `signal`. */
export function exitStatus(code, signal) {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n === undefined ? 1 : 128 + n;
}

/**
 * Spawns `command args` (stdio inherited), forwards FORWARDED_SIGNALS to it while it runs and
 * resolves with its exit status (exitStatus). Rejects when it cannot be started.
 *
 * Orphaned under npm: when this process was started by an npm script or npx (`npm_command` in
 * the environment) and its parent is gone (its parent pid changed: the shell between npm and
 * this process died of the SIGTERM npm passed on to it, without passing it on itself), the child
 * gets SIGTERM once, within ORPHAN_POLL_MS, so no gateway is left serving with nobody to stop it.
 * Not outside npm: `nohup node scripts/deno.mjs ... &` must outlive its shell.
 */
export function runForwarding(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "inherit", ...options });
    const forward = (signal) => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    };
    const added = [];
    for (const s of FORWARDED_SIGNALS) {
      try {
        process.on(s, forward);
        added.push(s);
      } catch { /* not supported on this platform */ }
    }
    const parent = process.ppid;
    let orphaned = process.env.npm_command === undefined;
    const watch = setInterval(() => {
      if (!orphaned && process.ppid !== parent) {
        orphaned = true;
        forward("SIGTERM");
      }
    }, ORPHAN_POLL_MS);
    watch.unref();
    const done = () => {
      clearInterval(watch);
      for (const s of added) process.off(s, forward);
    };
    child.once("error", (e) => {
      done();
      reject(e);
    });
    child.once("exit", (code, signal) => {
      done();
      resolve(exitStatus(code, signal));
    });
  });
}
