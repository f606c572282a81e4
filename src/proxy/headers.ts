/**
 * Header hygiene between the channel and origins (docs/forwarding.md §2, RFC 9110 §7.6.1).
 *
 * Request (client → origin):
 * - hop-by-hop fields and every name listed in Connection are removed;
 * - client-supplied forwarding / identity / original-target fields are removed by the drop
 *   policy of spoofable-headers.ts (Forwarded, X-Forwarded-*, X-Real-IP, Client-IP,
 *   True-Client-IP, X-Original-URL, X-HTTP-Method-Override, CF-*, Fastly-*, X-Envoy-*, ...)
 *   and so is every `pqgate-*` field: a client can never forge what the gateway asserts;
 * - Proxy-Authorization is removed: it is addressed to a proxy (us), pqgate does not use it,
 *   and forwarding it would leak the credential to the origin;
 * - Host is set to the origin's host; `Forwarded: for=...;proto=https` and `X-Forwarded-For`
 *   carry the client address the platform gives (never a client-supplied chain);
 * - `pqgate-suite`, `pqgate-session` (and `pqgate-gateway-auth` when the route has a secret)
 *   are added by the gateway. Origins MUST trust `pqgate-*` and forwarding headers only on
 *   requests that come from the gateway: check `pqgate-gateway-auth`, or accept only the
 *   gateway's network / service binding.
 * - Accept-Encoding is set to `identity`: fetch implementations (Deno, Workers) transparently
 *   decode gzip/br bodies but keep Content-Encoding, which would corrupt what the client sees;
 *   compressing inside the encrypted channel also invites BREACH-style length leaks.
 *
 * Response (origin → client): hop-by-hop and Connection-listed fields, Proxy-Authenticate,
 * Alt-Svc and every `pqgate-*` field are removed (an origin must not be able to fake a gateway
 * error); if the body was transparently decoded (Content-Encoding gzip or br) the
 * Content-Encoding and Content-Length fields are removed too.
 */
import { isSpoofableRequestHeader } from "./spoofable-headers.ts";

/** RFC 9110 §7.6.1 connection-specific fields (plus the legacy Proxy-Connection). */
export const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
] as const;

/**
 * Removed from client requests in addition to hop-by-hop fields and the spoofable fields of
 * spoofable-headers.ts.
 */
const REQUEST_DROP = new Set<string>([
  "host",
  "content-length", // forward() frames the body itself: the declared length, or a stream
  "expect", // 1xx responses are not carried (PROTOCOL.md §6.4)
  "proxy-authorization",
  "accept-encoding",
  "http2-settings",
]);

/** Removed from origin responses in addition to hop-by-hop fields. */
const RESPONSE_DROP = new Set<string>(["proxy-authenticate", "alt-svc"]);

/** Content codings fetch runtimes decode transparently while keeping the header. */
export const RUNTIME_DECODED_ENCODINGS = ["gzip", "br"] as const;

export const HEADER_SUITE = "pqgate-suite";
export const HEADER_SESSION = "pqgate-session";
export const HEADER_GATEWAY_AUTH = "pqgate-gateway-auth";
export const HEADER_ERROR = "pqgate-error";

function connectionListed(headers: Headers): Set<string> {
  const out = new Set<string>();
  const v = headers.get("connection");
  if (v) {
    for (const t of v.split(",")) {
      const name = t.trim().toLowerCase();
      if (name) out.add(name);
    }
  }
  return out;
}

function isDroppedRequestName(name: string): boolean {
  return REQUEST_DROP.has(name) || isSpoofableRequestHeader(name);
}

/** Removes hop-by-hop fields and every field named in Connection (mutates and returns). */
export function stripHopByHop(headers: Headers): Headers {
  const listed = connectionListed(headers);
  for (const name of [...headers.keys()]) {
    if ((HOP_BY_HOP as readonly string[]).includes(name) || listed.has(name)) headers.delete(name);
  }
  return headers;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The client address if it is a plain IPv4 or IPv6 address, else null. */
export function parseClientAddress(
  addr: string | null | undefined,
): { ip: string; v6: boolean } | null {
  if (typeof addr !== "string") return null;
  const a = addr.trim();
  if (IPV4.test(a)) return { ip: a, v6: false };
  const bare = a.startsWith("[") && a.endsWith("]") ? a.slice(1, -1) : a;
  if (/^[0-9a-fA-F:.]+$/.test(bare) && bare.includes(":") && bare.length <= 45) {
    try {
      new URL(`http://[${bare}]/`);
      return { ip: bare.toLowerCase(), v6: true };
    } catch {
      return null;
    }
  }
  return null;
}

/** `for=` parameter of RFC 7239 Forwarded (IPv6 quoted and bracketed; unknown if absent). */
export function forwardedFor(addr: string | null | undefined): string {
  const p = parseClientAddress(addr);
  if (!p) return "for=unknown";
  return p.v6 ? `for="[${p.ip}]"` : `for=${p.ip}`;
}

/** Renders a suite id for `pqgate-suite` (number → 0x0001; token string kept). */
export function suiteLabel(suite: number | string): string {
  if (typeof suite === "number") return "0x" + suite.toString(16).padStart(4, "0");
  return /^[\x21-\x7e]{1,64}$/.test(suite) ? suite : "unknown";
}

/** Renders a session id for `pqgate-session` (bytes → lowercase hex). */
export function sessionLabel(sessionId: Uint8Array | string): string {
  if (typeof sessionId === "string") {
    return /^[\x21-\x7e]{1,128}$/.test(sessionId) ? sessionId : "unknown";
  }
  let s = "";
  for (const b of sessionId) s += b.toString(16).padStart(2, "0");
  return s;
}

export interface OriginHeaderOptions {
  /** Host (and non-default port) of the origin URL. */
  host: string;
  clientAddress: string | null | undefined;
  suite: number | string;
  sessionId: Uint8Array | string;
  gatewayAuth?: string;
  /**
   * The authority the client asked for, to pass on as `X-Forwarded-Host` and `Forwarded:
   * host=` (the route's `forwardedHost` option). Omitted: neither is sent.
   */
  forwardedHost?: string;
}

/** RFC 7239 §4 value: a token as is, anything else (":" of a port, "[" of IPv6) quoted. */
function forwardedValue(v: string): string {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v) ? v : `"${v.replace(/["\\]/g, "\\$&")}"`;
}

/** One field line: a lowercase name and its value (Headers combines repeated names). */
export type FieldPair = [string, string];

/**
 * The fields of `headers` as pairs, in Headers' order (sorted lowercase names, repeated fields
 * combined with ", ", each set-cookie on its own). `forEach`, not `for...of`: Deno's Headers
 * iterator re-sorts the whole list on every step (~23 µs for 8 fields against ~3 µs), and a
 * Headers object given as a Request or Response `headers` init is iterated that way, so the
 * proxy hands those constructors pairs (issue 13).
 */
export function fieldPairs(headers: Headers): FieldPair[] {
  const out: FieldPair[] = [];
  let cookies = false;
  headers.forEach((value, name) => {
    if (name === "set-cookie") cookies = true;
    else out.push([name, value]);
  });
  if (cookies) { for (const c of headers.getSetCookie()) out.push(["set-cookie", c]); }
  return out;
}

/** The names originRequestFields sets itself: a client's field of the same name never passes. */
const GATEWAY_SET = new Set<string>([
  "host",
  "accept-encoding",
  "forwarded",
  "x-forwarded-host",
  "x-forwarded-for",
  "x-forwarded-proto",
  HEADER_SUITE,
  HEADER_SESSION,
  HEADER_GATEWAY_AUTH,
]);

/**
 * The fields sent to the origin, as pairs for the origin `Request`'s `headers` init (see
 * `fieldPairs` for why not a Headers object). `client` was validated by its Headers object.
 */
export function originRequestFields(client: Headers, opts: OriginHeaderOptions): FieldPair[] {
  const out: FieldPair[] = [];
  const listed = connectionListed(client);
  client.forEach((value, name) => {
    if ((HOP_BY_HOP as readonly string[]).includes(name) || listed.has(name)) return;
    if (isDroppedRequestName(name) || GATEWAY_SET.has(name)) return;
    // Headers joins repeated fields with ", " (set-cookie aside, which requests do not carry).
    out.push([name, value]);
  });
  out.push(["host", opts.host], ["accept-encoding", "identity"]);
  const host = opts.forwardedHost === undefined
    ? ""
    : `;host=${forwardedValue(opts.forwardedHost)}`;
  out.push(["forwarded", `${forwardedFor(opts.clientAddress)}${host};proto=https`]);
  if (opts.forwardedHost !== undefined) out.push(["x-forwarded-host", opts.forwardedHost]);
  const p = parseClientAddress(opts.clientAddress);
  if (p) out.push(["x-forwarded-for", p.ip]);
  out.push(["x-forwarded-proto", "https"]);
  out.push([HEADER_SUITE, suiteLabel(opts.suite)], [HEADER_SESSION, sessionLabel(opts.sessionId)]);
  if (opts.gatewayAuth !== undefined) out.push([HEADER_GATEWAY_AUTH, opts.gatewayAuth]);
  return out;
}

/** Builds the headers sent to the origin from the client's header fields. */
export function originRequestHeaders(
  client: Headers | Iterable<readonly [string, string]>,
  opts: OriginHeaderOptions,
): Headers {
  const src = client instanceof Headers ? client : new Headers(client as HeadersInit); // any iterable of pairs at runtime; TS's DOM lib types only arrays
  return new Headers(originRequestFields(src, opts));
}

/** The fields returned to the client from an origin response, as pairs (see `fieldPairs`). */
export function clientResponseFields(origin: Headers): FieldPair[] {
  const out: FieldPair[] = [];
  const listed = connectionListed(origin);
  const encoding = (origin.get("content-encoding") ?? "").trim().toLowerCase();
  const decoded = (RUNTIME_DECODED_ENCODINGS as readonly string[]).includes(encoding);
  let cookies = false;
  origin.forEach((value, name) => {
    if ((HOP_BY_HOP as readonly string[]).includes(name) || listed.has(name)) return;
    if (RESPONSE_DROP.has(name) || name.startsWith("pqgate-")) return;
    if (decoded && (name === "content-encoding" || name === "content-length")) return;
    if (name === "set-cookie") cookies = true; // appended one by one below
    else out.push([name, value]);
  });
  if (cookies) { for (const c of origin.getSetCookie()) out.push(["set-cookie", c]); }
  return out;
}

/** Builds the headers returned to the client from an origin response. */
export function clientResponseHeaders(origin: Headers): Headers {
  return new Headers(clientResponseFields(origin));
}

/** Binary HTTP size of a field section (RFC 9292 §3.6), to check against HEADERS limits. */
export function fieldSectionBytes(headers: Headers | readonly FieldPair[]): number {
  const vl = (n: number) => (n < 0x40 ? 1 : n < 0x4000 ? 2 : n < 0x40000000 ? 4 : 8);
  let n = 0;
  for (const [name, value] of headers instanceof Headers ? fieldPairs(headers) : headers) {
    n += vl(name.length) + name.length + vl(value.length) + value.length;
  }
  return n;
}
