/**
 * Standard `Request`/`Response` ⇄ Binary HTTP heads (PROTOCOL.md §6.4). Bodies are not touched
 * here: they stream separately in DATA frames (incoming-body.ts, outgoing-body.ts).
 */
import type { FieldLine, RequestHead, ResponseHead } from "./bhttp.ts";
import type { DecodedRequest } from "./types.ts";

/** A request that cannot become a `Request`: answered with `status` on its stream. */
export class RequestMappingError extends Error {
  constructor(readonly status: 400 | 405 | 413, message: string) {
    super(message);
    this.name = "RequestMappingError";
  }
}

/**
 * Characters a field value must not hold (RFC 9110 §5.5): every control character except HTAB
 * (NUL, CR and LF included) and DEL. The Fetch `Headers` class accepts most of them, then the
 * origin connection fails (502); they are the client's error, so 400 on the stream.
 */
// deno-lint-ignore no-control-regex
const FORBIDDEN_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Statuses whose responses never have a body (Fetch "null body status"). */
export function isNullBodyStatus(status: number): boolean {
  return status === 101 || status === 103 || status === 204 || status === 205 || status === 304;
}

function fieldsOf(headers: Headers): FieldLine[] {
  const out: FieldLine[] = [];
  // Headers iterates lowercase names, combined values, set-cookie kept separate.
  headers.forEach((value, name) => out.push([name, value]));
  const cookies = typeof headers.getSetCookie === "function" ? headers.getSetCookie() : [];
  if (cookies.length > 0) {
    const rest = out.filter(([n]) => n !== "set-cookie");
    for (const c of cookies) rest.push(["set-cookie", c]);
    return rest;
  }
  return out;
}

/**
 * Client side: the head of a fetch `Request`. The URL's scheme and authority name the target
 * (the gateway routes on them); path and query go as the path.
 */
export function requestHeadOf(request: Request): RequestHead {
  const url = new URL(request.url);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(`pqgate: only http and https URLs can be fetched, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new TypeError("pqgate: URLs with credentials are not supported");
  }
  return {
    method: request.method,
    scheme: url.protocol.slice(0, -1),
    authority: url.host,
    path: (url.pathname || "/") + url.search,
    headers: fieldsOf(request.headers),
  };
}

/** Gateway side: the head of the origin's `Response`. */
export function responseHeadOf(response: Response): ResponseHead {
  return { status: response.status, headers: fieldsOf(response.headers) };
}

/** The target URL of a request head, validated (400 when it is not a plain http(s) target). */
export function targetUrlOf(head: RequestHead): URL {
  const scheme = head.scheme.toLowerCase();
  if (scheme !== "https" && scheme !== "http") {
    throw new RequestMappingError(400, "scheme must be http or https");
  }
  let authority = head.authority;
  if (authority === "") {
    const host = head.headers.find(([n]) => n === "host");
    if (!host) throw new RequestMappingError(400, "no authority and no host header");
    authority = host[1];
  }
  if (
    authority.includes("@") || authority.includes("/") || authority.includes("\\") ||
    authority.includes("?") || authority.includes("#")
  ) {
    throw new RequestMappingError(400, "invalid authority");
  }
  // Refuse rather than resolve: `new URL()` percent-decodes a host ("de%6Do" becomes "demo"),
  // so routes would match a name the client never sent. No valid host contains "%" (an IPv6
  // zone id is not allowed in a URL's host either). Checked on the Host field too, whichever
  // of the two names the target.
  if (authority.includes("%") || head.headers.some(([n, v]) => n === "host" && v.includes("%"))) {
    throw new RequestMappingError(400, "percent-encoded authority");
  }
  if (!head.path.startsWith("/")) throw new RequestMappingError(400, "path must start with /");
  if (head.path.includes("#")) {
    throw new RequestMappingError(400, "path must not contain a fragment");
  }
  // Refuse rather than resolve: `new URL()` would silently turn /a/../b or /a/%2e%2e/b into /b
  // and \ into /, so the path the origin sees would differ from the one the client sent.
  const rawPath = head.path.split("?", 1)[0];
  if (rawPath.includes("\\")) {
    throw new RequestMappingError(400, "path must not contain a backslash");
  }
  // A dot segment holds a "." or a "%2e": a path with neither has none (most paths).
  if (/[.%]/.test(rawPath)) {
    for (const segment of rawPath.split("/")) {
      const decoded = segment.replace(/%2e/gi, ".");
      if (decoded === "." || decoded === "..") {
        throw new RequestMappingError(400, "path must not contain dot segments");
      }
    }
  }
  let base: URL, url: URL;
  try {
    base = new URL(`${scheme}://${authority}`);
    url = new URL(`${scheme}://${authority}${head.path}`);
  } catch {
    throw new RequestMappingError(400, "invalid target URL");
  }
  if (url.host !== base.host || base.pathname !== "/") {
    throw new RequestMappingError(400, "invalid authority");
  }
  // Refuse rather than canonicalize: the URL parser turns "2130706433" or "0x7f.1" into
  // "127.0.0.1", "[0:0::1]" into "[::1]" and drops an empty port, so a route could match a
  // name the client never wrote. Only lowercasing and removing the default port are allowed
  // (PROTOCOL.md §6.4).
  const written = authority.toLowerCase();
  const defaultPort = scheme === "https" ? ":443" : ":80";
  if (base.host !== written && `${base.host}${defaultPort}` !== written) {
    throw new RequestMappingError(400, "non-canonical authority");
  }
  return url;
}

/** RFC 9110 token (a subprotocol name, RFC 6455 §4.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The WebSocket rules of a head (PROTOCOL.md §6.9, step 4 of §6.4's order): null for a head
 * without `pqgate-protocol` (an ordinary request; a CONNECT among them is 405 later), else the
 * offered subprotocols. `pqgate-protocol` on a method other than CONNECT, twice or with a value
 * other than `websocket`, a `content-length`, END_STREAM on the HEADERS (`body` null) or a
 * malformed `sec-websocket-protocol` (not comma-separated tokens, or one repeated) → 400.
 */
export function webSocketProtocolsOf(
  head: RequestHead,
  body: ReadableStream<Uint8Array> | null,
): string[] | null {
  let marks = 0;
  let value = "";
  let offered: string | null = null;
  let contentLength = false;
  for (const [name, v] of head.headers) {
    if (name === "pqgate-protocol") {
      marks++;
      value = v;
    } else if (name === "sec-websocket-protocol") {
      offered = offered === null ? v : `${offered},${v}`;
    } else if (name === "content-length") contentLength = true;
  }
  if (marks === 0) return null;
  if (head.method !== "CONNECT") {
    throw new RequestMappingError(400, "pqgate-protocol on a method other than CONNECT");
  }
  if (marks > 1) throw new RequestMappingError(400, "more than one pqgate-protocol field");
  if (value !== "websocket") throw new RequestMappingError(400, "pqgate-protocol is not websocket");
  if (contentLength) throw new RequestMappingError(400, "content-length on a WebSocket stream");
  if (body === null) throw new RequestMappingError(400, "END_STREAM on a WebSocket stream's head");
  if (offered === null) return [];
  const protocols: string[] = [];
  for (const item of offered.split(",")) {
    const p = item.replace(/^[ \t]+|[ \t]+$/g, "");
    if (!TOKEN.test(p)) throw new RequestMappingError(400, "malformed sec-websocket-protocol");
    if (protocols.includes(p)) {
      throw new RequestMappingError(400, "a subprotocol offered twice");
    }
    protocols.push(p);
  }
  return protocols;
}

/** A head's checked target and, for a WebSocket stream, its offered subprotocols. */
interface CheckedTarget {
  url: URL;
  websocket: string[] | null;
}

/**
 * Gateway side: the checks a decoded head passes before it becomes a request (400 or 405 as
 * RequestMappingError), in PROTOCOL.md §6.4's order: the target and field rules and the
 * WebSocket head rules (§6.9) → 400 (step 4), then CONNECT (without `pqgate-protocol`), TRACE,
 * TRACK and a WebSocket stream the caller does not take (`webSockets` false) → 405 (step 5).
 * The fields' names and values are checked by the caller's Headers or Request constructor.
 */
function checkedTarget(
  head: RequestHead,
  body: ReadableStream<Uint8Array> | null,
  webSockets: boolean,
): CheckedTarget {
  const url = targetUrlOf(head);
  const method = head.method.toUpperCase();
  if ((method === "GET" || method === "HEAD") && body !== null) {
    throw new RequestMappingError(400, `${method} request with a body`);
  }
  // Names are lowercase tokens and values free of NUL, CR and LF already (bhttp.ts decoding).
  for (const [, value] of head.headers) {
    if (FORBIDDEN_VALUE_CHAR.test(value)) {
      throw new RequestMappingError(400, "control character in a header field value");
    }
  }
  const websocket = webSocketProtocolsOf(head, body);
  if (websocket !== null) {
    if (!webSockets) throw new RequestMappingError(405, "WebSocket streams are not offered");
    return { url, websocket };
  }
  // Never tunnelled (PROTOCOL.md §6.4): 405, not the 400 a `Request` constructor's refusal of
  // these methods would give.
  if (method === "CONNECT" || method === "TRACE" || method === "TRACK") {
    throw new RequestMappingError(405, `${method} is not forwarded`);
  }
  return { url, websocket: null };
}

/**
 * Gateway side: a standard `Request` for a decoded head. `body` is the streaming request body
 * (null when the HEADERS frame ended the stream). Invalid method or fields → 400.
 */
export function requestOf(
  head: RequestHead,
  body: ReadableStream<Uint8Array> | null,
  signal: AbortSignal,
): Request {
  // A `Request` cannot carry a WebSocket stream: such a handler does not take them (405).
  const { url } = checkedTarget(head, body, false);
  try {
    return new Request(url, {
      method: head.method,
      // The pairs themselves, not a Headers object made from them: the constructor validates
      // them the same way, and Deno iterates a Headers init ~10x slower (issue 13).
      headers: head.headers,
      body,
      signal,
      // Required for a streaming request body (Fetch "duplex: half").
      duplex: "half",
    } as RequestInit);
  } catch (e) {
    if (!validFields(head.headers)) throw new RequestMappingError(400, "invalid header field");
    throw new RequestMappingError(400, `invalid request: ${(e as Error).message}`);
  }
}

/** The methods the Fetch standard normalizes to uppercase (its "normalize a method"). */
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

/**
 * Gateway side: the same request as `requestOf` gives, with the same checks (the method is a
 * token and not CONNECT/TRACE/TRACK, no body on GET/HEAD, valid fields, a canonical target),
 * as a `DecodedRequest` for a handler that takes one (types.ts `RequestHandler.decoded`).
 * `ws` is how the session takes WebSocket streams (PROTOCOL.md §6.9): omitted or null, a
 * WebSocket head is 405; else the request carries `websocket` with these values.
 */
export function decodedRequestOf(
  head: RequestHead,
  body: ReadableStream<Uint8Array> | null,
  signal: AbortSignal,
  ws: { maxMessage: number; channelSockets: number } | null = null,
): DecodedRequest {
  const { url, websocket } = checkedTarget(head, body, ws !== null && ws.maxMessage > 0);
  let headers: Headers;
  try {
    headers = new Headers(head.headers);
  } catch {
    throw new RequestMappingError(400, "invalid header field");
  }
  const upper = head.method.toUpperCase();
  const d: DecodedRequest = {
    method: NORMALIZED_METHODS.has(upper) ? upper : head.method,
    url: url.href,
    scheme: url.protocol.slice(0, -1),
    host: url.host,
    path: url.pathname + url.search,
    headers,
    body,
    signal,
  };
  if (websocket !== null) {
    d.websocket = {
      protocols: websocket,
      channelSockets: ws!.channelSockets,
      maxMessage: ws!.maxMessage,
    };
  }
  return d;
}

function validFields(fields: FieldLine[]): boolean {
  try {
    new Headers(fields);
    return true;
  } catch {
    return false;
  }
}

/**
 * Client side: a standard `Response` for a decoded head with a streaming body. Null-body
 * statuses (204, 205, 304) get a null body. `url` (the request URL) is exposed as
 * `response.url` like fetch does.
 */
export function responseOf(
  head: ResponseHead,
  body: ReadableStream<Uint8Array> | null,
  url: string,
): Response {
  const headers = new Headers();
  for (const [n, v] of head.headers) headers.append(n, v);
  const response = new Response(isNullBodyStatus(head.status) ? null : body as BodyInit | null, {
    status: head.status,
    headers,
  });
  try {
    Object.defineProperty(response, "url", { value: url, enumerable: true });
  } catch { /* not fatal: url stays "" */ }
  return response;
}
