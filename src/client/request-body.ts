/**
 * The request body of a `Channel.fetch` call (docs/client-fetch.md, "Body lengths"): its
 * content-length when it is known without reading a stream, and its "source", from which the
 * body can be sent again when a 307 or 308 redirect is followed. A `Request` cannot carry a
 * content-length itself in browsers, so the channel computes it like platform fetch does.
 */

/** A body that can be sent any number of times (Fetch: a body with a non-null source). */
type Source = string | Uint8Array<ArrayBuffer> | Blob;

const encoder = new TextEncoder();

export class RequestBody {
  #stream: ReadableStream<Uint8Array> | null;

  private constructor(
    /** Bytes to send again on a redirect; null when the body is a stream read once. */
    readonly source: Source | null,
    /** content-length to send; null when unknown (no content-length, like platform fetch). */
    readonly length: number | null,
    stream: ReadableStream<Uint8Array> | null,
  ) {
    this.#stream = stream;
  }

  /** True when the body can be sent again (a 307/308 redirect can be followed). */
  get replayable(): boolean {
    return this.source !== null;
  }

  /**
   * The body for one request. A source is given every time; a stream only once (null after).
   */
  take(): BodyInit | null {
    if (this.source !== null) return this.source;
    const s = this.#stream;
    this.#stream = null;
    return s;
  }

  static ofSource(source: Source): RequestBody {
    const length = typeof source === "string"
      ? encoder.encode(source).length // a USVString: lone surrogates become U+FFFD, as sent
      : source instanceof Blob
      ? source.size
      : source.byteLength;
    return new RequestBody(source, length, null);
  }

  static ofStream(stream: ReadableStream<Uint8Array>): RequestBody {
    return new RequestBody(null, null, stream);
  }
}

/**
 * The body of `request`, made by `new Request(input, init)` with `initBody` = `init.body`.
 * Known types are kept as a source snapshot, taken at call time like the Fetch standard's
 * "extract a body" (later changes to a buffer or a URLSearchParams do not change what is
 * sent): string, ArrayBuffer, TypedArray, DataView, Blob, URLSearchParams, and FormData
 * (serialized once to a multipart Blob: the `request`'s own content-type, boundary included,
 * matches those bytes). A ReadableStream, a `Request` input's body, or any other body is sent
 * as a stream without content-length (its size is not known without reading it) and cannot
 * be sent again. The `request`'s body stream is left unread when a source is used. A POST or
 * PUT without body gets an empty one (content-length 0, as fetch sends).
 */
export async function requestBodyOf(
  request: Request,
  initBody: unknown,
): Promise<RequestBody | null> {
  if (request.body === null) {
    // Fetch sends `content-length: 0` for a POST or PUT without body; the channel declares a
    // length only with a body, so it sends an empty one (the same on the wire to the origin).
    return request.method === "POST" || request.method === "PUT"
      ? RequestBody.ofSource(new Uint8Array(0))
      : null;
  }
  if (initBody === undefined || initBody === null) {
    // The body came from a Request input: only its stream is visible, not its source.
    return RequestBody.ofStream(request.body);
  }
  if (typeof initBody === "string") return RequestBody.ofSource(initBody);
  if (initBody instanceof URLSearchParams) {
    // The request's content-type (application/x-www-form-urlencoded) is already set.
    return RequestBody.ofSource(initBody.toString());
  }
  if (initBody instanceof ArrayBuffer) {
    return RequestBody.ofSource(new Uint8Array(initBody.slice(0)));
  }
  if (ArrayBuffer.isView(initBody)) {
    const view = new Uint8Array(initBody.buffer, initBody.byteOffset, initBody.byteLength);
    return RequestBody.ofSource(view.slice());
  }
  if (typeof Blob !== "undefined" && initBody instanceof Blob) {
    return RequestBody.ofSource(initBody);
  }
  if (typeof FormData !== "undefined" && initBody instanceof FormData) {
    // The Request constructor serialized it; reading gives the bytes its content-type names.
    return RequestBody.ofSource(await request.blob());
  }
  return RequestBody.ofStream(request.body);
}
