/**
 * Frames ⇄ records over one socket, for either side of an established session (§5, §6).
 *
 * Outbound: frames are queued and packed, in order, into as few records as possible (a frame
 * never crosses records), sealed and sent in a microtask, so the frames produced by one event
 * share records. Before each record the channel checks the soft key-usage limits: when one is
 * reached (or the peer asked for it) a KEY_UPDATE frame ends the record and the send direction
 * moves to the next epoch (§5.3). In reservation mode (a `persist` hook is set), sequence
 * numbers are reserved in blocks and the snapshot is handed to `persist` synchronously BEFORE
 * any record that uses them is sealed (§5.5); a KeyUpdate always triggers a new reservation.
 *
 * Inbound: `open` authenticates one record, decodes its frames, and applies a trailing
 * KEY_UPDATE to the receive direction.
 */
import { FRAME_HEADER_LEN, MAX_PLAINTEXT } from "../protocol/constants.ts";
import { type Bytes, concat } from "../protocol/bytes.ts";
import { PqgateError } from "../protocol/errors.ts";
import { decodeFrames, encodeFrame, type Frame, frameLength } from "../protocol/frames.ts";
import type { RecordLayer } from "../protocol/record-layer.ts";
import type { Socket } from "./types.ts";

/** Sequence numbers reserved per persisted snapshot (§5.5). */
export const DEFAULT_RESERVE_BLOCK = 256;
const KEY_UPDATE_FRAME_LEN = FRAME_HEADER_LEN + 1;

export interface RecordChannelOptions {
  layer: RecordLayer;
  socket: Socket;
  now: () => number;
  /** Reservation mode: called synchronously with each snapshot that must be durable first. */
  persist?: ((snapshot: Bytes) => void) | null;
  reserveBlock?: number;
  /** A failure while sealing in the background (e.g. rehandshake_required). */
  onError: (e: unknown) => void;
}

export class RecordChannel {
  readonly layer: RecordLayer;
  private readonly queue: Frame[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private keyUpdateRequested = false;
  private askPeer = false;
  private stopped = false;
  /** Records sealed and sent so far, and their bytes (record headers and tags included). */
  recordsSent = 0;
  bytesSent = 0;
  /** KeyUpdates performed in each direction (for tests and logs). */
  txUpdates = 0;
  rxUpdates = 0;

  constructor(private readonly opts: RecordChannelOptions) {
    this.layer = opts.layer;
  }

  /** Encoded bytes of every frame queued but not yet sealed (all frame types). */
  get buffered(): number {
    return this.queuedBytes;
  }

  /** Queues a frame; it is sealed and sent in a microtask (or by `flush`). */
  send(frame: Frame): void {
    if (this.stopped) return;
    this.queue.push(frame);
    this.queuedBytes += frameLength(frame);
    this.schedule();
  }

  /**
   * Sends a KEY_UPDATE with the next record and moves our send direction to the next epoch.
   * `askPeer` sets update_requested so that the peer updates its direction too (§5.3).
   */
  requestKeyUpdate(askPeer = false): void {
    if (this.stopped) return;
    this.keyUpdateRequested = true;
    if (askPeer) this.askPeer = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      if (!this.scheduled) return;
      try {
        this.flush();
      } catch (e) {
        this.opts.onError(e);
      }
    });
  }

  /** Seals and sends everything queued now. Throws PqgateError (e.g. rehandshake_required). */
  flush(): void {
    this.scheduled = false;
    if (this.stopped) return;
    while (this.queue.length > 0 || this.keyUpdateRequested) {
      const parts: Uint8Array[] = [];
      let len = 0;
      while (this.queue.length > 0) {
        const f = this.queue[0];
        const enc = encodeFrame(f);
        if (len + enc.length > MAX_PLAINTEXT) break;
        if (f.type === "session_info" && parts.length > 0) break;
        this.queue.shift();
        this.queuedBytes -= frameLength(f);
        parts.push(enc);
        len += enc.length;
      }
      const now = this.opts.now();
      if (this.keyUpdateRequested || this.layer.txNeedsUpdate(now)) {
        if (!this.layer.canUpdateTx()) {
          throw new PqgateError("rehandshake_required", "no epoch left for a KeyUpdate");
        }
        const ku = encodeFrame({ type: "key_update", updateRequested: this.askPeer });
        if (len + KEY_UPDATE_FRAME_LEN > MAX_PLAINTEXT) {
          this.seal(parts, now);
          parts.length = 0;
        }
        parts.push(ku);
        // §5.5: seal the KEY_UPDATE record, switch epochs and persist the new epoch BEFORE the
        // record leaves, so a wake from the persisted state never sits in the old epoch.
        const record = this.sealOnly(parts, now);
        this.layer.updateTx(now);
        this.reserveIfNeeded();
        this.transmit(record);
        this.keyUpdateRequested = false;
        this.askPeer = false;
        this.txUpdates++;
      } else {
        this.seal(parts, now);
      }
    }
  }

  private seal(parts: Uint8Array[], now: number): void {
    if (parts.length === 0) return;
    this.transmit(this.sealOnly(parts, now));
  }

  private transmit(record: Bytes): void {
    this.bytesSent += record.length;
    this.opts.socket.send(record);
  }

  /** Seals one record (persisting a reservation first when one is due) without sending it. */
  private sealOnly(parts: Uint8Array[], now: number): Bytes {
    this.reserveIfNeeded();
    const record = this.layer.seal(parts.length === 1 ? parts[0] : concat(...parts), now);
    this.recordsSent++;
    return record;
  }

  /** §5.5: persist a new sequence reservation before any record uses it. */
  private reserveIfNeeded(): void {
    const persist = this.opts.persist;
    if (persist && (!this.layer.reservationMode || this.layer.needsReservation())) {
      persist(this.layer.reserve(this.opts.reserveBlock ?? DEFAULT_RESERVE_BLOCK));
    }
  }

  /**
   * Sends a CLOSE frame right away (best effort, after anything still queued) and stops the
   * channel: nothing is sent after it.
   */
  close(code: number, reason: string): void {
    if (this.stopped) return;
    try {
      this.queue.push({ type: "close", code, reason });
      this.keyUpdateRequested = false;
      this.flush();
    } catch { /* the socket is closed next anyway */ }
    this.stop();
  }

  /** Drops everything queued and refuses further frames. */
  stop(): void {
    this.stopped = true;
    this.scheduled = false;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  /**
   * Opens one Record message and returns its frames. A trailing KEY_UPDATE moves the receive
   * direction to the next epoch; `update_requested` queues our own KEY_UPDATE (§5.3).
   * Throws PqgateError (record_auth_failed, sequence_error, protocol_error, ...).
   */
  open(message: Uint8Array): Frame[] {
    const plaintext = this.layer.open(message, this.opts.now());
    const frames = decodeFrames(plaintext);
    const last = frames[frames.length - 1];
    if (last.type === "key_update") {
      this.layer.updateRx();
      this.rxUpdates++;
      if (last.updateRequested) this.requestKeyUpdate(false);
    }
    return frames;
  }
}
