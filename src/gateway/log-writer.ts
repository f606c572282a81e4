/**
 * The log sink of the observation seam (src/tunnel/events.ts): one line per event, JSON
 * (default) or text, filtered by level (each event's level is declared in EVENT_LEVELS).
 * Private fields (the request target `authority` / `path`, `clientAddress`, an `auth` line's
 * `subject`) are written only
 * when enabled; events carry no secrets by construction (events.ts), so nothing else is
 * filtered. docs/operations.md "Logs" lists every line.
 *
 * Hand-written rather than pino: bench/observe-cost.ts measured both (README "Logs: why not
 * pino"); a line is built by one pass over the event's own fields, no intermediate object.
 */
import {
  EVENT_LEVELS,
  type EventLog,
  type EventName,
  LOG_LEVELS,
  type LogLevel,
} from "../tunnel/events.ts";

export type LogFormat = "json" | "text";
export const LOG_FORMATS: readonly LogFormat[] = ["json", "text"];
/** A threshold: a level, or "off". */
export type LogThreshold = LogLevel | "off";
export const LOG_THRESHOLDS: readonly LogThreshold[] = [...LOG_LEVELS, "off"];

export interface LogWriterOptions {
  /** Lowest level written (default "info"); "off" writes nothing. */
  level?: LogThreshold;
  format?: LogFormat;
  /** Write the request target (`authority`, `path`) of access lines. Default false. */
  paths?: boolean;
  /** Write client addresses. Default false. */
  addresses?: boolean;
  /** Write the authenticated subject of `auth` lines (user name, token sub, PSK id). Default false. */
  subjects?: boolean;
  /** Where a finished line (no newline) goes, e.g. a stderr writer. */
  write: (line: string) => void;
  /** Clock for the `t` field (tests). */
  now?: () => number;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The sink, or undefined when the level is "off" (so the gateway observes nothing for logs). */
export function createLogWriter(o: LogWriterOptions): EventLog | undefined {
  const level = o.level ?? "info";
  if (level === "off") return undefined;
  const min = RANK[level];
  const text = o.format === "text";
  const paths = o.paths === true;
  const addresses = o.addresses === true;
  const subjects = o.subjects === true;
  const now = o.now ?? Date.now;
  const write = o.write;
  const enabled = (event: EventName) => RANK[EVENT_LEVELS[event]] >= min;
  const log: EventLog = (event, fields) => {
    const lvl = EVENT_LEVELS[event];
    if (lvl === undefined || RANK[lvl] < min) return;
    const t = new Date(now()).toISOString();
    let line = text ? `${t} ${lvl} ${event}` : `{"t":"${t}","level":"${lvl}","event":"${event}"`;
    const f = fields as Record<string, unknown>;
    for (const k in f) {
      const v = f[k];
      if (v === undefined) continue;
      if ((k === "path" || k === "authority") && !paths) continue;
      if (k === "clientAddress" && !addresses) continue;
      if (k === "subject" && !subjects) continue;
      if (text) line += ` ${k}=${textValue(v)}`;
      else line += `,"${k}":${JSON.stringify(v)}`;
    }
    write(text ? line : line + "}");
  };
  log.wants = enabled;
  return log;
}

/** A text-format value: bare when it is a plain token, else JSON (quoted, escaped). */
function textValue(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  if (typeof v === "string" && /^[A-Za-z0-9._:\/@+-]{1,200}$/.test(v)) return v;
  return JSON.stringify(v);
}

/** Bytes of log lines held for one write; past it lines are dropped (and counted) until the flush. */
export const MAX_PENDING_LOG_BYTES = 1 << 20;

/**
 * A line writer that joins the lines of one task and writes them at once in a microtask (one
 * write call per burst, not per request). At most MAX_PENDING_LOG_BYTES wait; past that lines
 * are dropped and the next write says how many. `sink` must not throw (it is guarded anyway).
 */
export function batchedLines(
  sink: (chunk: string) => void,
  maxPending = MAX_PENDING_LOG_BYTES,
): ((line: string) => void) & { dropped: () => number } {
  let pending = "";
  let queued = false;
  let dropped = 0;
  let droppedTotal = 0;
  const flush = () => {
    queued = false;
    let chunk = pending;
    pending = "";
    if (dropped > 0) {
      chunk += `{"level":"warn","event":"log.dropped","lines":${dropped}}\n`;
      dropped = 0;
    }
    try {
      sink(chunk);
    } catch { /* the log's target is gone: the gateway keeps serving */ }
  };
  const write = (line: string) => {
    if (pending.length + line.length + 1 > maxPending) {
      dropped++;
      droppedTotal++;
      return;
    }
    pending += line + "\n";
    if (!queued) {
      queued = true;
      queueMicrotask(flush);
    }
  };
  return Object.assign(write, { dropped: () => droppedTotal });
}
