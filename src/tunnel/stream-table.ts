/**
 * The live streams of one session, by id, for either side (streams, PROTOCOL.md §6.2, §6.5).
 *
 * A stream is live from its opening HEADERS until both directions ended or it was reset; then
 * it is forgotten. A frame for an id at or below the highest opened that is no longer open is
 * late and ignored (the peer had not yet seen the end); a frame for a higher id is a
 * `protocol_error`. Every asynchronous continuation (a body pump, a handler's response) checks
 * `isLive` first: the stream may be gone meanwhile.
 */
import { PqgateError } from "../protocol/errors.ts";

const NONE: ReadonlyMap<number, unknown> = new Map<number, unknown>();

/**
 * The map exists only while a stream is live (issue 13: an idle session kept an empty Map and
 * its hash table, ~0.2 KB); it is made by the first `add` and dropped when the last is forgotten.
 */
export class StreamTable<S extends { readonly id: number }> {
  #live: Map<number, S> | null = null;

  get size(): number {
    return this.#live?.size ?? 0;
  }

  has(id: number): boolean {
    return this.#live?.has(id) ?? false;
  }

  /** True while `s` is the live stream of its id. */
  isLive(s: S): boolean {
    return this.#live?.get(s.id) === s;
  }

  add(s: S): void {
    (this.#live ??= new Map()).set(s.id, s);
  }

  /** Forgets `s`; false when it was not live (already forgotten). */
  forget(s: S): boolean {
    const live = this.#live;
    if (live?.get(s.id) !== s) return false;
    live.delete(s.id);
    if (live.size === 0) this.#live = null;
    return true;
  }

  /**
   * The live stream `id`, or null for a late frame (an id below `openedBelow`, at or below the
   * highest id opened, that is no longer open); a higher id → protocol_error.
   */
  lookup(id: number, openedBelow: number): S | null {
    const s = this.#live?.get(id);
    if (s) return s;
    if (id < openedBelow) return null;
    throw new PqgateError("protocol_error", "frame for a stream never opened");
  }

  /** The live streams (a Map iterator: a `forget` meanwhile is skipped, as a Map's delete). */
  values(): IterableIterator<S> {
    return (this.#live ?? (NONE as ReadonlyMap<number, S>)).values();
  }

  ids(): number[] {
    return this.#live ? [...this.#live.keys()] : [];
  }

  clear(): void {
    this.#live = null;
  }
}
