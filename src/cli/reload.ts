/**
 * The reload's contract around gateway-command.ts's `reload()` (docs/operations.md "Reload"):
 * what a reload reports (ReloadResult), how POST /-/reload answers it, which changed settings
 * only a restart applies, and the bound on reloads in flight (`oneAtATime`).
 */
import { SERVER_SETTINGS } from "../gateway/config.ts";
import type { StartSettings } from "./start-config.ts";

/** What a reload did: the key ids now live, or why the new configuration was refused. */
export type ReloadResult =
  | { ok: true; keyIds: string[]; added: string[]; removed: string[]; restartOnly: string[] }
  | {
    ok: false;
    /** 422: the new configuration is bad (the old one is kept); 500: the reload itself failed. */
    status: 422 | 500;
    error: string;
    /** The file the refusal is about (the config file or a key file), when known. */
    file: string | null;
    /** The setting it is about (e.g. `routes[0].origin`, `keys`), when known. */
    setting: string | null;
  };

/** Settings a reload reads but cannot apply to a listening server (StartSettings fields). */
export const RESTART_SETTINGS = [...SERVER_SETTINGS, "observe"] as const;

/**
 * The restart-only settings that differ between the running server's (`started`: what it
 * was started with, which a reload never changes) and the new files', e.g. `["maxSockets",
 * "observe.logLevel"]`.
 */
export function restartOnlyChanges(started: StartSettings, next: StartSettings): string[] {
  const out: string[] = [];
  const s = started as unknown as Record<string, unknown>;
  const n = next as unknown as Record<string, unknown>;
  for (const k of RESTART_SETTINGS) {
    const a = s[k], b = n[k];
    if (k === "observe" && a && b && typeof a === "object" && typeof b === "object") {
      const fields = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const f of fields) {
        const x = (a as Record<string, unknown>)[f], y = (b as Record<string, unknown>)[f];
        if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`observe.${f}`);
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(k);
  }
  return out;
}

/**
 * Runs `run` one call at a time. A call while one runs waits for it and then runs once more
 * (the files are read after the last request); every call that arrives while one is already
 * waiting shares that one. So at most two reloads are in flight however many requests come.
 */
export function oneAtATime<T>(run: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  let waiting: Promise<T> | null = null;
  const call = (): Promise<T> => {
    if (running === null) {
      const p: Promise<T> = run().finally(() => {
        if (running === p) running = null;
      });
      running = p;
      return p;
    }
    if (waiting !== null) return waiting;
    const again = () => {
      waiting = null;
      return call();
    };
    waiting = running.then(again, again);
    return waiting;
  };
  return call;
}

/** POST /-/reload's answer: 200 with the live key ids, else the refusal's status and reason. */
export function reloadAnswer(r: ReloadResult): { status: number; body: Record<string, unknown> } {
  if (r.ok) {
    return {
      status: 200,
      body: {
        reloaded: true,
        keyIds: r.keyIds,
        added: r.added,
        removed: r.removed,
        restartOnly: r.restartOnly,
      },
    };
  }
  return {
    status: r.status,
    body: { reloaded: false, error: r.error, file: r.file, setting: r.setting },
  };
}
