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

export class StreamTable<S extends { readonly id: number }> {
  readonly #live = new Map<number, S>();

  get size(): number {
    return this.#live.size;
  }

  has(id: number): boolean {
    return this.#live.has(id);
  }

  /** True while `s` is the live stream of its id. */
  isLive(s: S): boolean {
    return this.#live.get(s.id) === s;
  }

  add(s: S): void {
    this.#live.set(s.id, s);
  }

  /** Forgets `s`; false when it was not live (already forgotten). */
  forget(s: S): boolean {
    if (this.#live.get(s.id) !== s) return false;
    this.#live.delete(s.id);
    return true;
  }

  /**
   * The live stream `id`, or null for a late frame (an id below `openedBelow`, at or below the
   * highest id opened, that is no longer open); a higher id → protocol_error.
   */
  lookup(id: number, openedBelow: number): S | null {
    const s = this.#live.get(id);
    if (s) return s;
    if (id < openedBelow) return null;
    throw new PqgateError("protocol_error", "frame for a stream never opened");
  }

  values(): IterableIterator<S> {
    return this.#live.values();
  }

  ids(): number[] {
    return [...this.#live.keys()];
  }

  clear(): void {
    this.#live.clear();
  }
}
