/**
 * Drives one ServerSession from socket events, for the node:http and Deno upgradeWebSocket transports:
 *
 *   open            → createSession(socket, clientAddress), timer armed
 *   message         → session.receive(bytes | text)          then re-arm the timer
 *   socket send     → (the transport's send)                  then re-arm the timer (once per burst)
 *   timer           → session.onTimer(now) at session.nextDeadline()
 *   close           → session.onSocketClose(code, reason)
 *
 * It also tells the admission ticket when the session is established (the seam's `state`,
 * src/tunnel/session-seam.ts, read after every event), so the handshake no longer counts as in
 * flight.
 */
import type { GatewaySession, SessionFactory, Socket } from "../../tunnel/session-seam.ts";
import { type Deadlines, TimerDriver } from "../../tunnel/timer-driver.ts";
import type { Ticket } from "./admission.ts";

/** Also the timer's target (`Deadlines`): no closures per session for it (issue 13). */
export class SessionDriver implements Deadlines {
  #session: GatewaySession | null = null;
  #driver: TimerDriver | null = null;
  #rearmQueued = false;
  #ticket: Ticket;

  constructor(ticket: Ticket) {
    this.#ticket = ticket;
  }

  get session(): GatewaySession | null {
    return this.#session;
  }

  /** The socket is open: create the session and arm its timer. */
  open(args: SessionFactory, socket: Socket, clientAddress: string | null): void {
    const s = args.createSession(socket, clientAddress);
    this.#session = s;
    this.#driver = new TimerDriver(this, { now: args.clock, unref: false });
    this.#driver.arm();
    this.#checkState();
  }

  /** `Deadlines` for the TimerDriver: the session's next deadline, none once closed. */
  nextDeadline(): number | null {
    return this.#session?.nextDeadline() ?? null;
  }

  /** `Deadlines` for the TimerDriver. */
  onTimer(now: number): void {
    this.#session?.onTimer(now);
    this.#checkState();
  }

  /** One message. Receives re-arm synchronously (the session contract). */
  receive(message: Uint8Array<ArrayBuffer> | string): void {
    const s = this.#session;
    if (!s) return;
    const r = s.receive(message);
    this.#driver?.arm();
    this.#checkState();
    // During an async KEM hop the handshake completes later: check again then.
    if (r !== undefined) {
      r.then(() => {
        this.#driver?.arm();
        this.#checkState();
      }, () => {});
    }
  }

  /** After a send: sends come in bursts (one per record), so re-arm once per burst. */
  sent(): void {
    if (this.#rearmQueued) return;
    this.#rearmQueued = true;
    queueMicrotask(() => {
      this.#rearmQueued = false;
      this.#driver?.arm();
      this.#checkState();
    });
  }

  /** The socket closed: stop the timer and tell the session (once). */
  closed(code: number, reason: string): void {
    this.#driver?.stop();
    this.#driver = null;
    const s = this.#session;
    this.#session = null;
    s?.onSocketClose(code, reason);
  }

  #checkState(): void {
    const state = this.#session?.state;
    if (state === "established" || state === "closed") this.#ticket.established();
  }
}

/** `ws.close(code, reason)`, or a plain close when the runtime rejects that code or reason. */
export function closeQuietly(
  ws: { close(code?: number, reason?: string): void },
  code?: number,
  reason?: string,
): void {
  try {
    ws.close(code, reason);
  } catch {
    ws.close();
  }
}
