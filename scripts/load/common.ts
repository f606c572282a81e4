/** Shared helpers of the load and soak scripts. */
export interface GatewayProcess {
  wsUrl: string;
  httpUrl: string;
  pin: string;
  pid: number;
  rss(): number;
  stop(): Promise<void>;
}

export function arg(name: string, dflt: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} must be a non-negative number`);
    Deno.exit(2);
  }
  return v;
}

/** Spawns scripts/load/gateway-process.ts and waits for its ready line. */
export async function spawnGateway(maxSeconds: number): Promise<GatewayProcess> {
  const path = new URL("./gateway-process.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, "--max-seconds", String(Math.ceil(maxSeconds))],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("gateway process exited before it was ready");
    buf += value;
  }
  const info = JSON.parse(buf.slice(0, buf.indexOf("\n")));
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  const stdin = child.stdin.getWriter();
  return {
    ...info,
    rss(): number {
      try {
        const s = Deno.readTextFileSync(`/proc/${info.pid}/status`);
        const m = /VmRSS:\s+(\d+) kB/.exec(s);
        return m ? Number(m[1]) * 1024 : NaN;
      } catch {
        return NaN;
      }
    },
    async stop() {
      try {
        await stdin.close();
      } catch { /* closed */ }
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(t);
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const MIB = 1024 * 1024;
