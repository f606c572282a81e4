/**
 * Launches Debian's /usr/bin/chromium headless with a fixed set of flags and a fresh profile,
 * and connects playwright-core to it over the DevTools protocol. We start the process ourselves
 * (rather than `chromium.launch`) so the flags are exactly ours: playwright adds none.
 *
 * Install Chromium with `bash scripts/install-chromium.sh` (Debian: apt-get install chromium).
 */
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM_PATH = Deno.env.get("PQGATE_CHROMIUM") ?? "/usr/bin/chromium";

export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function chromiumInstalled(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

export interface LaunchedChromium {
  browser: Browser;
  /** Closes the browser, stops the process and deletes the profile. */
  close(): Promise<void>;
}

export async function launchChromium(timeoutMs = 20_000): Promise<LaunchedChromium> {
  const profile = await Deno.makeTempDir({ prefix: "pqgate-chromium-" });
  const child = new Deno.Command(CHROMIUM_PATH, {
    args: [
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "--window-size=1280,900",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();

  // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on stderr.
  const stderrLines: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `chromium printed no DevTools endpoint within ${timeoutMs} ms:\n${
              stderrLines.join("\n")
            }`,
          ),
        ),
      timeoutMs,
    );
    (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pending += value;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) {
          stderrLines.push(line);
          const m = /DevTools listening on (ws:\/\/\S+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        }
      }
      clearTimeout(timer);
      reject(new Error(`chromium exited before it was ready:\n${stderrLines.join("\n")}`));
    })().catch(reject);
  });
  // Keep draining stderr so chromium never blocks on a full pipe.
  const drained = (async () => {
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch { /* process gone */ }
  })();

  let browser: Browser;
  try {
    browser = await chromium.connectOverCDP(endpoint, { timeout: timeoutMs });
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    await drained;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw e;
  }

  let closed = false;
  return {
    browser,
    async close() {
      if (closed) return;
      closed = true;
      // Browser.close over CDP ends the process; kill it if it does not go within 5 s.
      await Promise.race([
        browser.close().catch(() => {}),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5000);
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      clearTimeout(t);
      await drained;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
