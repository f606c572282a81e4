/** Shared by the bench scripts: the bench gateway key, statistics, machine description. */
import { cpus } from "node:os";
import { readFileSync } from "node:fs";
import { generateStaticKey } from "../src/protocol/static-keys.ts";
import { seededRandom } from "../src/protocol/testing.ts";

/** The gateway key of every bench gateway (public: a benchmark, not a deployment). */
export const BENCH_KEY = generateStaticKey(seededRandom("bench gateway key")(32));
/** Authority the bench routes to its origin. */
export const ORIGIN_HOST = "origin.bench";

export interface Stat {
  n: number;
  median: number;
  p99: number;
}

export function stat(xs: number[], digits = 1): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  const r = (x: number) => Math.round(x * 10 ** digits) / 10 ** digits;
  return { n: s.length, median: r(q(0.5)), p99: r(q(0.99)) };
}

export function cpuModel(): string {
  try {
    const m = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return cpus()[0]?.model ?? "unknown";
}

/** utime + stime of a process in µs (Linux /proc; 10 ms resolution), or null. */
export function procCpuUs(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 (1-based) → index 11, 12 after the "(comm)" part
    return ((Number(rest[11]) + Number(rest[12])) * 1e6) / 100;
  } catch {
    return null;
  }
}

/** Resident set size of a process in bytes (Linux /proc), or null. */
export function procRss(pid: number): number | null {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s*(\d+)\s*kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A bench subprocess that printed its JSON ready line on stdout. */
export interface ReadyProcess<T> {
  info: T;
  stop(): Promise<void>;
}

/**
 * Spawns `cmd` (stdout piped), waits for its first stdout line (JSON: the process's ready
 * info) and returns it with a `stop()` that sends SIGTERM and waits for the exit.
 */
export async function spawnReady<T>(cmd: Deno.Command, label: string): Promise<ReadyProcess<T>> {
  const child = cmd.spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${label} exited before it was ready`);
    buf += value;
  }
  return {
    info: JSON.parse(buf.split("\n")[0]) as T,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      reader.cancel().catch(() => {});
      await child.status;
    },
  };
}
