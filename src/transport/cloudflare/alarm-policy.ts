/**
 * The Durable Object's deadline policy (docs/cloudflare.md, "Hibernation"). Every session
 * deadline of the object (handshake timeout, idle PING / timeout, session lifetime) goes on its
 * one alarm, never on setTimeout, so an idle object can hibernate:
 *
 * - the alarm is armed for the earliest deadline of the sessions in memory, and written only
 *   when that moves earlier, or when the alarm is early by more than half the remaining time
 *   (at least 1 s): traffic that pushes the idle deadline later costs no storage write;
 * - an alarm that fires early finds nothing due and re-arms;
 * - after a wake, sockets not rebuilt yet are not in memory and their deadline may be the
 *   pending alarm: it never moves later then, and is deleted only when no socket is open;
 * - a session rebuilt after a wake runs whatever fell due while the object slept first.
 */
import type { GatewaySession } from "../../tunnel/session-seam.ts";
import type { DurableObjectContext, HibernatableWebSocket } from "./platform.ts";

/** The earliest finite deadline of `sessions`; Infinity when none has one. */
export function earliestDeadline(sessions: Iterable<Pick<GatewaySession, "nextDeadline">>): number {
  let next = Infinity;
  for (const s of sessions) {
    const d = s.nextDeadline();
    if (typeof d === "number" && Number.isFinite(d) && d < next) next = d;
  }
  return next;
}

export interface AlarmInputs {
  /** The earliest deadline of the sessions in memory (Infinity = none). */
  next: number;
  /** The alarm as set now (null = none). */
  scheduled: number | null;
  now: number;
  /** Sockets open on the object. */
  open: number;
  /** Of those, the ones whose session is in memory (rebuilt since the last wake). */
  live: number;
}

/** What to do with the alarm: "keep" it, "delete" it, or set it for `at`. */
export type AlarmChange = "keep" | "delete" | { at: number };

/** The policy above, as a pure decision (a kept alarm is never later than `next`). */
export function alarmChange(i: AlarmInputs): AlarmChange {
  if (i.next === Infinity) {
    // Only delete when nothing at all is open: sockets not yet rebuilt after a wake still
    // need the alarm that was set for them.
    return i.scheduled !== null && i.open === 0 ? "delete" : "keep";
  }
  // An earlier alarm is harmless (it fires, finds nothing due, re-arms), so an idle timer
  // that moves later on every message costs no storage write. But an alarm much earlier
  // than needed (the handshake deadline, once the handshake is done) would wake an idle
  // object for nothing and delay its hibernation: move it when it is early by more than
  // half the remaining time (at most one write per half idle period under traffic).
  // A kept alarm is never later than `next`, so a deadline is never missed by this: the
  // precision is the platform's alarm delivery.
  const slack = Math.max(1000, (i.next - i.now) / 2);
  if (i.scheduled !== null && i.scheduled <= i.next && i.scheduled >= i.next - slack) return "keep";
  // Sockets not rebuilt since a wake are not among the live ones, and their deadline may be
  // the pending alarm: never move it later then.
  if (i.scheduled !== null && i.scheduled < i.next && i.open > i.live) return "keep";
  return { at: i.next };
}

/** The object's one alarm, armed by `alarmChange`; avoids storage reads and writes it can. */
export class DeadlineAlarm {
  readonly #ctx: DurableObjectContext;
  /** As last set by this instance; undefined = unknown (fresh after a wake). */
  #scheduled: number | null | undefined = undefined;

  constructor(ctx: DurableObjectContext) {
    this.#ctx = ctx;
  }

  /** The runtime cleared the alarm by firing it. */
  fired(): void {
    this.#scheduled = null;
  }

  /** Unknown again, as after a wake: the next `arm` reads it from storage. */
  forget(): void {
    this.#scheduled = undefined;
  }

  /** Arms the alarm for the earliest deadline of `sessions` (the ones in memory). */
  async arm(sessions: ReadonlyMap<HibernatableWebSocket, GatewaySession>): Promise<void> {
    const next = earliestDeadline(sessions.values());
    const storage = this.#ctx.storage;
    if (this.#scheduled === undefined) this.#scheduled = await storage.getAlarm();
    const change = alarmChange({
      next,
      scheduled: this.#scheduled,
      now: Date.now(),
      open: this.#ctx.getWebSockets().length,
      live: sessions.size,
    });
    if (change === "keep") return;
    if (change === "delete") {
      this.#scheduled = null;
      await storage.deleteAlarm();
      return;
    }
    this.#scheduled = change.at;
    await storage.setAlarm(change.at);
  }
}

/**
 * A session rebuilt after a wake keeps its deadlines (the idle clock is in the snapshot):
 * whatever fell due while the object slept runs now, before the event that woke it. An idle
 * deadline that passed closes the channel with 4008 even if a message woke the object.
 */
export function runOverdue(session: Pick<GatewaySession, "onTimer">, now: number): void {
  session.onTimer(now);
}
