/**
 * The process tree under a pid, read from /proc (Linux): what a wrapper left running after the
 * outermost process got SIGTERM. And a started command read up to its banner.
 */
import assert from "node:assert/strict";

/** pid → parent pid of every process now (Linux /proc). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.set(Number(e.name), ppid);
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** Every descendant of `pid` (children, their children, ...), not `pid` itself. */
export function descendants(pid: number): number[] {
  const all = parents();
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of all) {
      if (pp === p && !found.includes(c)) {
        found.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return found;
}

/** Whether `pid` is still a live process (a zombie, waiting for its reaper, counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Waits until none of `pids` is alive; returns the ms it took, or fails after `boundMs`. */
export async function allGone(pids: number[], boundMs: number): Promise<number> {
  const t0 = performance.now();
  while (pids.some(alive)) {
    const left = pids.filter(alive);
    assert.ok(
      performance.now() - t0 < boundMs,
      `still running ${boundMs} ms after SIGTERM: ${
        left.map((p) => {
          try {
            return `${p} ${Deno.readTextFileSync(`/proc/${p}/cmdline`).replaceAll("\0", " ")}`;
          } catch {
            return String(p);
          }
        }).join("; ")
      }`,
    );
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t0;
}

export interface Started {
  child: Deno.ChildProcess;
  banner: string;
  /** The rest of stdout, once the process has ended. */
  rest: Promise<string>;
  stderr: Promise<string>;
}

/** Spawns `cmd args`, reading stdout up to the gateway's banner (its `Try:` line). */
export async function startGateway(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<Started> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", NODE_NO_WARNINGS: "1", ...opts.env },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  const deadline = Date.now() + 60_000;
  while (!/Try:\n\s+.*\n/.test(banner)) {
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      assert.fail(`no banner: ${banner}`);
    }
    const r = await reader.read();
    if (r.done) assert.fail(`${cmd} exited: ${banner}\n${await stderr}`);
    banner += r.value;
  }
  const rest = (async () => {
    let s = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) s += r.value;
    return s;
  })();
  return { child, banner, rest, stderr };
}
