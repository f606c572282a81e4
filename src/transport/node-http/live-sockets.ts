/**
 * The live sockets of one transport, as its graceful shutdown sees them (the node:http server,
 * server.ts, and Deno.upgradeWebSocket, src/transport/deno/deno-upgrade.ts).
 */
import type { GatewayLog } from "../../gateway/options.ts";
import type { SessionDriver } from "./session-driver.ts";

/** How long a shutdown waits for sessions to close before destroying what is left. */
export const GRACE_MS = 3000;

/** One upgraded socket until it is gone. */
export interface LiveSession {
  readonly driver: SessionDriver;
  /** Starts a close: the session's shutdown (CLOSE frame, 1001), or 1001 if it has none yet. */
  goAway(): void;
  /** Resolves once the socket is gone. */
  readonly gone: Promise<void>;
}

/** `goAway()` on every live socket, then waits until all are gone or `graceMs` passed. */
export async function goAwayAll(live: Iterable<LiveSession>, graceMs: number): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const h of live) {
    waits.push(h.gone);
    h.goAway();
  }
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(waits),
    new Promise<void>((r) => (t = setTimeout(r, graceMs))),
  ]);
  clearTimeout(t);
}

/**
 * Graceful drain (docs/operations.md): every live session's `drain()` (new streams refused, CLOSE
 * 1001 once its open streams completed; one without streams, or not established, closes at
 * once). At `deadlineMs` what is still open is cut (`goAway`: CLOSE 1001 now, its streams
 * fail), then waited for up to `graceMs` more. Resolves when all are gone or both bounds passed.
 */
export async function drainAll(
  live: Iterable<LiveSession>,
  deadlineMs: number,
  graceMs: number,
  log?: GatewayLog,
): Promise<void> {
  const t0 = Date.now();
  const all = [...live];
  log?.("transport.draining", { channels: all.length, deadlineMs });
  const open = new Set(all);
  for (const h of all) void h.gone.then(() => open.delete(h));
  for (const h of all) {
    const s = h.driver.session;
    if (s?.drain) s.drain();
    else h.goAway();
  }
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(all.map((h) => h.gone)),
    new Promise<void>((r) => (t = setTimeout(r, deadlineMs))),
  ]);
  clearTimeout(t);
  const cut = open.size;
  if (cut > 0) await goAwayAll(open, graceMs);
  log?.("transport.drained", { channels: all.length, cut, ms: Date.now() - t0 });
}
