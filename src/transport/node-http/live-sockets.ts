/**
 * The live sockets of one transport, as its graceful shutdown sees them (the node:http server,
 * server.ts, and Deno.upgradeWebSocket, src/transport/deno/deno-upgrade.ts).
 */
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
