/**
 * The gateway's output path for one established channel (records, PROTOCOL.md §5; flow probes,
 * §6.2; hibernation, §5.5): a record channel whose socket counts every record it hands over into
 * the channel's output budget (src/tunnel/output-budget.ts), and that budget, whose probe PINGs
 * go out on the same channel.
 *
 * Everything queued toward the socket counts, of every frame type. Response HEADERS and DATA
 * wait while the channel's output is over its marks, a stream keeps its `max_streams` slot until
 * the gate let its last frame go, the transport stops reading while the gateway's own queue is
 * over its mark, PONGs are dropped while congested, and a client that makes the gateway hold more
 * than twice `limits.maxUnackedBytes` (frames that never wait, sent while it reads nothing) is
 * closed with 4013 `limit_exceeded` (the session checks `overHardLimit` after each record).
 */
import type { Bytes } from "../protocol/bytes.ts";
import type { RecordLayer } from "../protocol/record-layer.ts";
import { OutputBudget } from "./output-budget.ts";
import { RecordChannel } from "./record-channel.ts";
import type { Env, SessionLimits, Socket } from "./types.ts";

export interface ServerOutputOptions {
  layer: RecordLayer;
  socket: Socket;
  env: Env;
  limits: SessionLimits;
  /** Reservation mode: called with each record-layer snapshot that must be durable first. */
  persist: ((record: Bytes) => void) | null;
  reserveBlock?: number;
  /** Tests: the budget's poll interval and low-water mark. */
  drain?: { pollMs?: number; lowWater?: number };
  /** A failure while sealing in the background. */
  onError: (e: unknown) => void;
}

/** The record channel and its output budget, wired to each other. */
export function openServerOutput(
  o: ServerOutputOptions,
): { channel: RecordChannel; budget: OutputBudget } {
  const socket = o.socket;
  let budget: OutputBudget | null = null;
  const counted: Socket = {
    send: (bytes) => {
      socket.send(bytes);
      budget?.afterSend();
    },
    close: (code, reason) => socket.close(code, reason),
  };
  const channel = new RecordChannel({
    layer: o.layer,
    socket: counted,
    now: () => o.env.now(),
    persist: o.persist,
    reserveBlock: o.reserveBlock,
    onError: o.onError,
  });
  budget = new OutputBudget({
    socket,
    queued: () => channel.buffered,
    sent: () => channel.bytesSent,
    random: o.env.random,
    sendPing: (data) => channel.send({ type: "ping", data }),
    highWater: o.limits.maxBufferedBytes,
    maxUnacked: o.limits.maxUnackedBytes,
    lowWater: o.drain?.lowWater,
    pollMs: o.drain?.pollMs,
  });
  return { channel, budget };
}
