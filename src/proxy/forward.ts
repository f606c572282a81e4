/**
 * Forwards one decrypted request to its origin (docs/forwarding.md §1). Knows no crypto: the channel
 * hands in the request head, a body stream, and the `fetch` to use.
 *
 * - Route matching happens HERE (one place decides 403): unmatched → 403, zero fetch calls.
 * - Request body: counted; over the cap → 413. A body whose length the client declared
 *   (content-length) reaches the origin with that content-length, never chunked
 *   (fixed-length-body.ts); any other body streams (`duplex: "half"`).
 * - Timeout covers the time to response headers (→ 504); the response body then streams on,
 *   under an idle timeout: no byte from the origin for `bodyIdleTimeoutMs` while the client is
 *   waiting for one → the body errors (the channel resets the stream) and the origin fetch is
 *   aborted. Time the client itself takes to read (backpressure) never counts. A body whose
 *   declared length fits one DATA frame (SMALL_BODY_BYTES) is instead read whole before the
 *   response is returned, under the header timeout and the idle timeout (→ 504), and checked
 *   against its length (→ 502): delivered whole or not at all.
 * - Connection failures → 502. Redirects are returned unchanged (`redirect: "manual"`): the
 *   client decides whether to follow (docs/client-fetch.md).
 * - `service:` routes call the in-process handler with the request's real URL (client scheme,
 *   host, path); the network fetch never sees them (service-fetch.ts).
 *   Origin 4xx/5xx pass through as-is. Gateway errors carry `pqgate-error` (errors.ts).
 */
import { FRAME_HEADER_LEN, MAX_PLAINTEXT } from "../protocol/constants.ts";
import type { AuthMethod, ClientIdentity } from "../tunnel/types.ts";
import { decideAuth } from "./auth-policy.ts";
import { gatewayError } from "./errors.ts";
import { fixedLengthBody } from "./fixed-length-body.ts";
import {
  clientResponseFields,
  type FieldPair,
  fieldSectionBytes,
  originRequestFields,
} from "./headers.ts";
import { matchRoute, type RouteTable } from "./routes.ts";
import type { ServiceLookup } from "./service-fetch.ts";

/**
 * Default cap on the origin's response field section: a HEADERS frame must fit in one record
 * (PROTOCOL.md §5.4, §6.1), minus room for the framing indicator, status and section length.
 */
export const DEFAULT_MAX_RESPONSE_HEADER_BYTES = MAX_PLAINTEXT - FRAME_HEADER_LEN - 32;

/** Methods fetch refuses (and a gateway must not tunnel). */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Route labels "0".."63" made once (an access line per request must not build a string). */
const ROUTE_LABELS = Array.from({ length: 64 }, (_, i) => String(i));
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

export interface ForwardRequest {
  method: string;
  /** Control-data scheme; only used for the authority's default port. */
  scheme?: string;
  /** Control-data authority (may be empty when a Host field names the target). */
  authority: string;
  /** Control-data path: origin-form, query included. */
  path: string;
  headers: Headers | Iterable<readonly [string, string]>;
  /** null when the request HEADERS frame carried END_STREAM. */
  body: ReadableStream<Uint8Array> | null;
}

export interface ForwardContext {
  routes: RouteTable;
  /** Client IP as the platform reports it (CF-Connecting-IP on Workers, remoteAddr on Deno). */
  clientAddress: string | null;
  suite: number | string;
  sessionId: Uint8Array | string;
  /** The network fetch, for URL routes only. */
  fetch: (request: Request) => Promise<Response>;
  /**
   * The same network fetch taking the target URL and the init, when the caller has one (the
   * gateway's default origin fetch): used instead of `fetch` for URL routes, so no `Request`
   * is built only to be cloned by the platform's fetch (~25 µs per request on Deno).
   */
  fetchUrl?: (url: string, init: RequestInit & { duplex?: "half" }) => Promise<Response>;
  /** Handlers of `service:` routes; a service route without one → 502. */
  services?: ServiceLookup;
  /** Gateway default; a route's `timeoutMs` wins. */
  timeoutMs: number;
  /**
   * Gateway default for the response-body idle timeout (ms, 0 = none; a route's
   * `bodyIdleTimeoutMs` wins). Default: none.
   */
  bodyIdleTimeoutMs?: number;
  /** Gateway default, 0 = no limit; a route's `maxBodyBytes` wins. */
  maxBodyBytes: number;
  maxResponseHeaderBytes?: number;
  /** Aborts the origin request (e.g. the client reset the stream). */
  signal?: AbortSignal;
  /**
   * Who the client proved to be on its channel (ChannelInfo.identity): checked against the
   * route's `auth` / `authMethods` (auth-policy.ts) and sent as the identity headers.
   */
  identity?: ClientIdentity | null;
  /** The gateway's enabled authentication methods (a 401's hint names only these). */
  authMethods?: ReadonlySet<AuthMethod>;
  /** Clock for a token identity's `expiresAt` (ms since the epoch). Default Date.now. */
  now?: () => number;
  /**
   * Observation: `route` is set to the matched route's index ("none": no route matched);
   * `authMethod` to the method of the identity the origin was told of (null: none).
   */
  access?: { route: string; authMethod?: string | null };
}

class BodyRejected extends Error {
  constructor(readonly code: "body_too_large" | "bad_request") {
    super(code);
  }
}

/** Counts body bytes as they pass; errors the stream past `max` or off the declared length. */
function countingBody(
  body: ReadableStream<Uint8Array>,
  max: number,
  declared: number | null,
  onReject: (e: BodyRejected) => void,
): ReadableStream<Uint8Array> {
  let total = 0;
  const reject = (c: TransformStreamDefaultController<Uint8Array>, e: BodyRejected) => {
    onReject(e);
    c.error(e);
  };
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        total += chunk.byteLength;
        if (max > 0 && total > max) return reject(c, new BodyRejected("body_too_large"));
        if (declared !== null && total > declared) {
          return reject(c, new BodyRejected("bad_request"));
        }
        c.enqueue(chunk);
      },
      flush(c) {
        if (declared !== null && total !== declared) reject(c, new BodyRejected("bad_request"));
      },
    }),
  );
}

/**
 * The origin's response body, erroring with a TimeoutError (and calling `onIdle`, which aborts
 * the origin fetch) when a read waits more than `idleMs` for the origin. Only time spent with
 * a read outstanding counts: a client that reads slowly never trips it. One timer per body,
 * re-armed lazily (no timer per chunk).
 */
export function idleTimeoutBody(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  onIdle: (e: DOMException) => void,
  onEnd: () => void = () => {},
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let waitingSince: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    onEnd();
  };
  const arm = (ms: number) => {
    timer = setTimeout(check, ms);
  };
  function check(): void {
    timer = null;
    if (finished || waitingSince === null) return; // no read outstanding: re-armed by the next
    const waited = Date.now() - waitingSince;
    if (waited < idleMs) return arm(idleMs - waited);
    const e = new DOMException(`origin sent no body bytes for ${idleMs} ms`, "TimeoutError");
    finish();
    try {
      controller.error(e);
    } catch { /* already closed */ }
    reader.cancel(e).catch(() => {});
    onIdle(e);
  }
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull(c) {
      waitingSince = Date.now();
      if (timer === null) arm(idleMs);
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (!finished) {
          finish();
          throw e;
        }
        return;
      } finally {
        waitingSince = null;
      }
      if (finished) return; // timed out meanwhile
      if (r.done) {
        finish();
        c.close();
      } else {
        c.enqueue(r.value);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Largest response body collected whole instead of streamed: one DATA frame's worth. */
export const SMALL_BODY_BYTES = MAX_PLAINTEXT - FRAME_HEADER_LEN;

/** A declared content-length of at most SMALL_BODY_BYTES, else null. */
function smallLength(v: string | null): number | null {
  if (v === null || !/^[0-9]{1,5}$/.test(v)) return null;
  const n = Number(v);
  return n <= SMALL_BODY_BYTES ? n : null;
}

/** For GET/HEAD: the body must be empty; wait for its end (bounded by the timeout). */
async function drainEmpty(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<boolean> {
  const reader = body.getReader();
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal.aborted) resolve("aborted");
    signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), aborted]);
      if (r === "aborted") {
        reader.cancel().catch(() => {});
        return false;
      }
      if (r.done) return true;
      if (r.value.byteLength > 0) {
        reader.cancel().catch(() => {});
        return false;
      }
    }
  } catch {
    return false;
  }
}

/**
 * The origin's response as `forwardParts` returns it: what `forward` puts into a `Response`.
 * `headers` are the client-bound fields (headers.ts `clientResponseFields`): valid lowercase
 * names, in Headers order; `body` is null (no content), the whole body (a small one), or a
 * stream.
 */
export interface ForwardedResponse {
  status: number;
  statusText: string;
  headers: FieldPair[];
  body: Uint8Array | ReadableStream<Uint8Array> | null;
}

/** Forwards one request; always resolves to a Response (origin's or a gateway error). */
export async function forward(request: ForwardRequest, ctx: ForwardContext): Promise<Response> {
  return asResponse(await forwardParts(request, ctx));
}

/** The `Response` of a `forwardParts` result (a gateway error already is one). */
export function asResponse(r: Response | ForwardedResponse): Response {
  if (r instanceof Response) return r;
  return new Response(r.body as BodyInit | null, {
    status: r.status,
    statusText: r.statusText,
    headers: r.headers,
  });
}

/**
 * `forward` without the final `Response` around the origin's answer (gateway errors are still
 * Responses): for a caller that takes the parts apart anyway (the gateway's sessions; a
 * Response costs ~15 µs to build on Deno and more to read back, issue 13).
 */
export async function forwardParts(
  request: ForwardRequest,
  ctx: ForwardContext,
): Promise<Response | ForwardedResponse> {
  const cancelBody = () => request.body?.cancel().catch(() => {});
  if (typeof request.method !== "string" || !TOKEN.test(request.method)) {
    cancelBody();
    return gatewayError("bad_request");
  }
  if (FORBIDDEN_METHODS.has(request.method.toUpperCase())) {
    cancelBody();
    return gatewayError("method_not_allowed");
  }
  let clientHeaders: Headers;
  let hosts: string[];
  try {
    if (request.headers instanceof Headers) {
      clientHeaders = request.headers;
      hosts = clientHeaders.has("host") ? [clientHeaders.get("host")!] : [];
    } else {
      const list = [...request.headers];
      clientHeaders = new Headers(list as [string, string][]);
      hosts = list.filter(([n]) => n.toLowerCase() === "host").map(([, v]) => v);
    }
  } catch {
    cancelBody();
    return gatewayError("bad_request");
  }

  const match = matchRoute(ctx.routes, {
    authority: request.authority,
    path: request.path,
    scheme: request.scheme,
    host: hosts,
  });
  if (ctx.access) {
    ctx.access.route = match === null
      ? "none"
      : ROUTE_LABELS[match.route.index] ?? String(match.route.index);
  }
  if (match === null) {
    cancelBody();
    return gatewayError("forbidden");
  }
  const { route } = match;
  // Before the body and any origin connection: a refused request costs nothing more.
  const auth = decideAuth(route, ctx.identity, (ctx.now ?? Date.now)(), ctx.authMethods);
  if (!auth.ok) {
    cancelBody();
    return gatewayError(auth.code, auth.extra);
  }
  if (ctx.access && auth.headers.length > 0) {
    ctx.access.authMethod = ctx.identity!.method;
  }
  const timeoutMs = route.timeoutMs ?? ctx.timeoutMs;
  const bodyIdleMs = route.bodyIdleTimeoutMs ?? ctx.bodyIdleTimeoutMs ?? 0;
  const maxBody = route.maxBodyBytes ?? ctx.maxBodyBytes;
  const maxHeaderBytes = ctx.maxResponseHeaderBytes ?? DEFAULT_MAX_RESPONSE_HEADER_BYTES;

  let declared: number | null = null;
  const cl = clientHeaders.get("content-length");
  if (cl !== null) {
    if (!/^[0-9]{1,15}$/.test(cl)) {
      cancelBody();
      return gatewayError("bad_request");
    }
    declared = Number(cl);
    if (maxBody > 0 && declared > maxBody) {
      cancelBody();
      return gatewayError("body_too_large");
    }
  }

  const ac = new AbortController();
  let timedOut = false;
  const headerDeadline = Date.now() + timeoutMs;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new DOMException("origin timeout", "TimeoutError"));
  }, timeoutMs);
  const onClientAbort = () => ac.abort(ctx.signal?.reason);
  if (ctx.signal?.aborted) onClientAbort();
  ctx.signal?.addEventListener("abort", onClientAbort, { once: true });
  const failure = (): Response =>
    timedOut ? gatewayError("gateway_timeout") : gatewayError("bad_gateway");

  if (request.body === null && declared !== null && declared > 0) {
    clearTimeout(timer);
    ctx.signal?.removeEventListener("abort", onClientAbort);
    return gatewayError("bad_request"); // declared a body, sent none (PROTOCOL.md §6.4)
  }
  let rejected: BodyRejected | null = null;
  let body: ReadableStream<Uint8Array> | null = null;
  const method = request.method;
  const bodyless = method.toUpperCase() === "GET" || method.toUpperCase() === "HEAD";
  if (request.body !== null) {
    if (bodyless) {
      if (!(await drainEmpty(request.body, ac.signal))) {
        clearTimeout(timer);
        ctx.signal?.removeEventListener("abort", onClientAbort);
        return timedOut ? gatewayError("gateway_timeout") : gatewayError("bad_request");
      }
    } else {
      body = countingBody(request.body, maxBody, declared, (e) => {
        rejected ??= e;
        ac.abort(e);
      });
    }
  }

  const service = match.service === null ? null : ctx.services?.(match.service) ?? null;
  // A service sees the request as the client sent it: its scheme and host, the route's path.
  const scheme = (request.scheme ?? "https").toLowerCase() === "http" ? "http" : "https";
  const target = match.service === null ? match.url : `${scheme}://${match.authority}${match.rest}`;
  // Pairs, not a Headers object, for the Request below (headers.ts `fieldPairs`).
  const headers = originRequestFields(clientHeaders, {
    host: route.origin.kind === "url" ? route.origin.host : new URL(target).host,
    clientAddress: ctx.clientAddress,
    suite: ctx.suite,
    sessionId: ctx.sessionId,
    gatewayAuth: route.gatewayAuth,
    forwardedHost: route.forwardedHost ? match.authority : undefined,
  });
  for (const h of auth.headers) headers.push(h); // never a client's: pqgate-* is dropped

  // Race the abort too: an in-process handler may ignore the signal.
  const aborted = new Promise<never>((_, rej) => {
    if (ac.signal.aborted) rej(ac.signal.reason);
    ac.signal.addEventListener("abort", () => rej(ac.signal.reason), { once: true });
  });
  aborted.catch(() => {});
  let res: Response;
  try {
    if (match.service !== null && service === null) {
      throw new TypeError(`no handler bound for service:${match.service}`);
    }
    let sent: BodyInit | null = body;
    if (body === null && !bodyless && (declared !== null || /^(POST|PUT)$/i.test(method))) {
      // No DATA at all: still "content-length: 0" where the client declared it, and for POST
      // and PUT as the Fetch standard frames a null body (some runtimes' fetch omit it).
      sent = new Uint8Array(0);
    } else if (body !== null && declared !== null) {
      const fixed = await fixedLengthBody(body, declared, ac.signal);
      sent = fixed.body;
      if (fixed.header) headers.push(["content-length", String(declared)]); // never a client's (headers.ts)
    }
    const init: RequestInit & { duplex?: "half" } = {
      method,
      headers,
      body: sent,
      redirect: "manual",
      signal: ac.signal,
    };
    if (sent instanceof ReadableStream) init.duplex = "half";
    const call = service !== null
      ? Promise.resolve(service.fetch(new Request(target, init)))
      : ctx.fetchUrl
      ? ctx.fetchUrl(target, init)
      : ctx.fetch(new Request(target, init));
    res = await Promise.race([call, aborted]);
  } catch {
    clearTimeout(timer);
    ctx.signal?.removeEventListener("abort", onClientAbort);
    if (rejected !== null) return gatewayError((rejected as BodyRejected).code);
    return failure();
  }
  const done = () => ctx.signal?.removeEventListener("abort", onClientAbort);
  const stop = () => {
    clearTimeout(timer);
    done();
  };

  if (res.status < 200 || res.status > 599) {
    stop();
    res.body?.cancel().catch(() => {});
    return gatewayError("bad_gateway");
  }
  const outHeaders = clientResponseFields(res.headers);
  if (fieldSectionBytes(outHeaders) > maxHeaderBytes) {
    stop();
    res.body?.cancel().catch(() => {});
    return gatewayError("origin_headers_too_large");
  }
  // A HEAD response never has content (RFC 9110 §9.3.2), whatever an in-process origin returns.
  const noContent = NULL_BODY_STATUS.has(res.status) || bodyless && method.toUpperCase() === "HEAD";
  if (noContent) res.body?.cancel().catch(() => {});
  let outBody: Uint8Array | ReadableStream<Uint8Array> | null = noContent ? null : res.body;
  // content-length survives in outHeaders only when the runtime did not decode the body, so
  // the bytes read here are exactly the declared ones (a compressed body is never collected).
  const small = outBody === null
    ? null
    : smallLength(outHeaders.find(([n]) => n === "content-length")?.[1] ?? null);
  if (small !== null) {
    // A small body is collected whole: cheaper than streaming it chunk by chunk (about 40 us
    // less CPU per 1 KiB response on Deno), and the channel sends it with its HEADERS in one
    // record anyway. It is delivered whole or not at all: a stall → 504, a short body → 502.
    // The wait for its bytes is bounded by the header timeout and by the body idle timeout;
    // the idle timer is left out when the header timer, still armed, fires first anyway (both
    // end in 504; it saves a timer per request with the defaults).
    const idle = bodyIdleMs > 0 && Date.now() + bodyIdleMs < headerDeadline
      ? setTimeout(() => {
        timedOut = true;
        ac.abort(
          new DOMException(`origin sent no body bytes for ${bodyIdleMs} ms`, "TimeoutError"),
        );
      }, bodyIdleMs)
      : undefined;
    try {
      const bytes = new Uint8Array(await Promise.race([res.arrayBuffer(), aborted]));
      clearTimeout(idle);
      if (bytes.length !== small) throw new TypeError("body length differs from content-length");
      outBody = bytes;
    } catch {
      clearTimeout(idle);
      stop();
      res.body?.cancel().catch(() => {});
      return failure();
    }
  }
  clearTimeout(timer);
  // From here a streamed body streams; ctx.signal (stream reset) still aborts it.
  if (outBody === null || small !== null) done();
  else if (bodyIdleMs > 0) {
    outBody = idleTimeoutBody(
      outBody as ReadableStream<Uint8Array>,
      bodyIdleMs,
      (e) => ac.abort(e),
      done,
    );
  }
  return {
    status: res.status,
    statusText: res.statusText,
    headers: outHeaders,
    body: outBody,
  };
}
