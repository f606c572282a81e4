/**
 * A request body whose length the client declared (content-length) must reach the origin
 * with that content-length, not `transfer-encoding: chunked`: many origins refuse chunked
 * uploads. Platform fetches differ in how they frame a streamed body, so:
 *
 * - up to BUFFERED_BODY_MAX bytes: the body is read into one buffer and sent as bytes, which
 *   every fetch frames with content-length. The bound is the stream's initial flow-control
 *   window (PROTOCOL.md §6.2): no more than a client may send on a stream before the gateway
 *   grants more, so buffering it adds at most that much per stream (SECURITY.md, resources);
 * - larger, where the runtime has `FixedLengthStream` (Workers): streamed through one, which
 *   the Workers fetch frames with content-length;
 * - larger, elsewhere: streamed, with the content-length field set for the fetch to use
 *   (Node's fetch does; on Deno the gateway's default origin fetch does, origin-fetch.ts).
 *
 * The byte count itself is enforced upstream (forward.ts errors a body that runs past or
 * short of its declared length), so the origin never receives a body that disagrees with it.
 */
import { INITIAL_STREAM_WINDOW } from "../protocol/constants.ts";

/** Largest declared body read into memory before the origin request (bytes). */
export const BUFFERED_BODY_MAX = INITIAL_STREAM_WINDOW;

export interface FixedLengthBody {
  body: BodyInit;
  /** True when the caller must set content-length itself (a plain stream). */
  header: boolean;
}

type FixedLengthStreamCtor = new (length: number) => TransformStream<Uint8Array, Uint8Array>;

/** Reads the whole (at most BUFFERED_BODY_MAX-byte) body, or throws the abort reason. */
async function readAll(
  body: ReadableStream<Uint8Array>,
  length: number,
  signal: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  const out = new Uint8Array(length);
  let n = 0;
  let onAbort: (() => void) | null = null;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), aborted]);
      if (r.done) break;
      // The counting stream upstream errors past `length`; this check keeps the copy in bounds
      // even without it.
      if (n + r.value.byteLength > length) throw new RangeError("body longer than declared");
      out.set(r.value, n);
      n += r.value.byteLength;
    }
  } catch (e) {
    reader.cancel(e).catch(() => {});
    throw e;
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
  if (n !== length) throw new RangeError("body shorter than declared");
  return out;
}

/** The body to hand to fetch for a request that declared `length` bytes. */
export async function fixedLengthBody(
  body: ReadableStream<Uint8Array>,
  length: number,
  signal: AbortSignal,
): Promise<FixedLengthBody> {
  if (length <= BUFFERED_BODY_MAX) {
    return { body: await readAll(body, length, signal), header: false };
  }
  const Fixed = (globalThis as { FixedLengthStream?: FixedLengthStreamCtor }).FixedLengthStream;
  if (typeof Fixed === "function") {
    return { body: body.pipeThrough(new Fixed(length)), header: false };
  }
  return { body, header: true };
}
