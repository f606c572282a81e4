/**
 * Writing the gateway session's snapshot for hibernation (snapshots and sequence reservation,
 * PROTOCOL.md §5.5; the layout: src/tunnel/session-snapshot.ts). Called after the handshake,
 * after each received record (so a restore keeps the replay high-water mark), after KeyUpdates,
 * after the idle PING (a wake must not send a second one) and, coalesced, when streams end (so a
 * wake resets only streams that were really open). Without a `persist` hook it does nothing.
 */
import type { RecordLayer } from "../protocol/record-layer.ts";
import { DEFAULT_RESERVE_BLOCK } from "./record-channel.ts";
import { encodeSessionSnapshot, type SessionSnapshot } from "./session-snapshot.ts";

export interface SessionPersistenceOptions {
  /** Called synchronously with each snapshot; it must be durable before it returns. */
  persist?: (snapshot: Uint8Array) => void;
  /** Sequence numbers reserved per persisted snapshot (default 256). */
  reserveBlock?: number;
  /** The established session's record layer, null before (or after) it is established. */
  layer: () => RecordLayer | null;
  /** The rest of the snapshot around a record-layer snapshot. */
  snapshot: (record: Uint8Array) => SessionSnapshot;
  /** A failure of a deferred persist: closes the channel. */
  fail: (e: unknown) => void;
}

export class SessionPersistence {
  readonly #o: SessionPersistenceOptions;
  /** A stream was forgotten since the last persist: the snapshot's open-stream list is stale. */
  #streamsDirty = false;

  constructor(opts: SessionPersistenceOptions) {
    this.#o = opts;
  }

  /** True when snapshots are written (reservation mode, §5.5). */
  get enabled(): boolean {
    return !!this.#o.persist;
  }

  /** Persists the current state (reserving sequence numbers first when none are reserved). */
  persistState(): void {
    if (!this.#o.persist) return;
    const layer = this.#o.layer();
    if (!layer) return;
    this.persistWith(
      layer.reservationMode
        ? layer.snapshot()
        : layer.reserve(this.#o.reserveBlock ?? DEFAULT_RESERVE_BLOCK),
    );
  }

  /** Persists the session around `record` (a record-layer snapshot). */
  persistWith(record: Uint8Array): void {
    this.#streamsDirty = false;
    this.#o.persist!(encodeSessionSnapshot(this.#o.snapshot(record)));
  }

  /**
   * A stream was forgotten. The snapshot's open-stream list must be current before the object
   * can hibernate, or a wake resets a stream that already finished. Coalesced in one microtask:
   * a stream forgotten while a received record is processed rides on the persist that follows
   * that record (no extra write); one finished by a response costs one write.
   */
  streamForgotten(): void {
    if (!this.#o.persist || this.#streamsDirty) return;
    this.#streamsDirty = true;
    queueMicrotask(() => {
      if (!this.#streamsDirty) return; // a persist since then already wrote the current list
      try {
        this.persistState();
      } catch (e) {
        this.#o.fail(e);
      }
    });
  }
}
