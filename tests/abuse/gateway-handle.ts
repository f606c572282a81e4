/**
 * The abuse matrix's view of the gateway process (gateway-process.ts): spawn it, read its ready
 * line, sample its RSS (VmRSS of /proc/<pid>/status) and open descriptors (/proc/<pid>/fd), and
 * stop it (stdin EOF, then SIGKILL if it has not exited within 5 s).
 */
import { fromBase64Url, fromHex } from "../../src/protocol/bytes.ts";
import type { HardeningTarget } from "../hardening/wire.ts";

export interface GatewayHandle {
  target: HardeningTarget;
  pid: number;
  /** Port of the origin process: the gateway's connections to it are counted apart. */
  originPort: number;
  stop(): Promise<void>;
}

const REPO = new URL("../../", import.meta.url);

export async function startGateway(
  maxSeconds = 240,
  server: "node" | "deno" = "node",
): Promise<GatewayHandle> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-check",
      new URL("./gateway-process.ts", import.meta.url).pathname,
      "--max-seconds",
      String(maxSeconds),
      "--server",
      server,
    ],
    cwd: REPO.pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stdin.close().catch(() => {});
    const t = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await child.status;
    clearTimeout(t);
    await reader.cancel().catch(() => {});
  };
  try {
    let buf = "";
    const deadline = Date.now() + 30_000;
    while (!buf.includes("\n")) {
      if (Date.now() > deadline) throw new Error("gateway process: no ready line within 30 s");
      const { value, done } = await reader.read();
      if (done) throw new Error("gateway process exited before its ready line");
      buf += value;
    }
    const info = JSON.parse(buf.slice(0, buf.indexOf("\n")));
    // Keep draining stdout so the child never blocks on a full pipe.
    (async () => {
      try {
        while (!(await reader.read()).done) { /* discard */ }
      } catch { /* cancelled */ }
    })();
    return {
      pid: info.pid,
      originPort: info.originPort,
      target: {
        wsUrl: info.wsUrl,
        httpUrl: info.httpUrl,
        pin: info.pin,
        publicKey: fromBase64Url(info.publicKey),
        keyId: fromHex(info.keyId),
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Remote port of every TCP socket in `pid`'s network namespace, by socket inode. */
function remotePorts(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/net/${f}`);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      out.set(cols[9], parseInt(cols[2].split(":")[1], 16));
    }
  }
  return out;
}

/**
 * Open file descriptors of `pid`. With `originPort`, TCP connections to that port (the gateway's
 * fetch connections to its origin, kept alive by Deno's HTTP client pool) are counted apart.
 */
export function fdCounts(
  pid: number,
  originPort?: number,
): { total: number; origin: number; own: number } {
  let total = 0;
  let origin = 0;
  const ports = originPort === undefined ? null : remotePorts(pid);
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    total++;
    if (!ports) continue;
    let link = "";
    try {
      link = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && ports.get(m[1]) === originPort) origin++;
  }
  return { total, origin, own: total - origin };
}

/** Open file descriptors of `pid`. */
export function fdsOf(pid: number): number {
  return fdCounts(pid).total;
}

/** Polls RSS and descriptors every `everyMs` until stopped; keeps the peaks. */
export class Sampler {
  peakRss = 0;
  peakFds = 0;
  readonly #timer: ReturnType<typeof setInterval>;
  constructor(readonly pid: number, everyMs = 50) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
  }
  sample(): void {
    try {
      this.peakRss = Math.max(this.peakRss, rssOf(this.pid));
      this.peakFds = Math.max(this.peakFds, fdsOf(this.pid));
    } catch { /* the process is gone: the test reports it */ }
  }
  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }
}

/**
 * Waits until the process holds at most `bound` descriptors other than its origin connections
 * (`originPort`); returns the milliseconds it took, or throws after `deadlineMs`.
 */
export async function fdsReturn(
  pid: number,
  originPort: number,
  bound: number,
  deadlineMs: number,
): Promise<number> {
  const t0 = performance.now();
  let n = fdCounts(pid, originPort).own;
  while (n > bound) {
    if (performance.now() - t0 > deadlineMs) {
      throw new Error(
        `gateway still holds ${n} descriptors (bound ${bound}) ${deadlineMs} ms after the abuser stopped`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
    n = fdCounts(pid, originPort).own;
  }
  return performance.now() - t0;
}
