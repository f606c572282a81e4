/**
 * Which web pages may open a channel and read the key configuration (SECURITY.md, "Browser
 * origins"). A browser sends `Origin` on every WebSocket upgrade and on cross-origin fetches;
 * without this check any page a visitor opens could drive a gateway the visitor can reach
 * (localhost, a private network) and read its routes through the visitor's browser.
 *
 * `allowedOrigins`:
 *   absent        same origin only: an Origin equal to the scheme and host of the request
 *                 itself (a page served by the gateway's own host, like the demo page)
 *   []            no browser page at all
 *   ["https://app.example.com", ...]   exactly these origins (scheme://host[:port], lowercase,
 *                 no path, default port omitted: the form browsers send)
 *   ["*"]         any origin (explicit opt-in; the key configuration then answers ACAO "*")
 *
 * A request WITHOUT an Origin header is always allowed: non-browser clients (Deno, Node `ws`,
 * the CLI) send none, and a page cannot suppress the header its browser adds, so `Origin` is a
 * browser protection only; it is not client authentication (pins and routes are).
 */

/** Most entries `allowedOrigins` may list. */
export const MAX_ALLOWED_ORIGINS = 1000;
/** Longest origin accepted in `allowedOrigins` (scheme, a 253-char host and a port fit). */
export const MAX_ORIGIN_LEN = 300;

export type OriginPolicy =
  | { readonly kind: "same-origin" }
  | { readonly kind: "any" }
  | { readonly kind: "list"; readonly origins: ReadonlySet<string> };

/**
 * Checks an `allowedOrigins` value; on error returns a message naming `name`, so callers can
 * word it for their option, config field or Worker variable.
 */
export function parseAllowedOrigins(
  value: unknown,
  name: string,
): { policy: OriginPolicy } | { error: string } {
  if (value === undefined) return { policy: { kind: "same-origin" } };
  if (!Array.isArray(value)) {
    return {
      error: `${name} must be an array of origins like "https://app.example.com" (or ["*"])`,
    };
  }
  if (value.length > MAX_ALLOWED_ORIGINS) {
    return { error: `${name} lists ${value.length} origins; at most ${MAX_ALLOWED_ORIGINS}` };
  }
  const origins = new Set<string>();
  for (const [i, o] of value.entries()) {
    const at = `${name}[${i}]`;
    if (o === "*") {
      if (value.length !== 1) return { error: `${at}: "*" (any origin) must be the only entry` };
      return { policy: { kind: "any" } };
    }
    if (typeof o !== "string" || o.length === 0 || o.length > MAX_ORIGIN_LEN) {
      return { error: `${at} must be an origin string of 1 to ${MAX_ORIGIN_LEN} characters` };
    }
    const problem = originProblem(o);
    if (problem !== null) return { error: `${at} ${problem}, got ${JSON.stringify(o)}` };
    if (origins.has(o)) return { error: `${at} lists ${o} twice` };
    origins.add(o);
  }
  return { policy: { kind: "list", origins } };
}

/** Why `o` is not a serialized http(s) origin, or null when it is one. */
function originProblem(o: string): string | null {
  if (!/^https?:\/\//.test(o)) return 'must start with "https://" or "http://"';
  let u: URL;
  try {
    u = new URL(o);
  } catch {
    return "is not a valid origin";
  }
  if (u.username !== "" || u.password !== "") return "must not contain credentials";
  // The serialization browsers send: lowercase, no default port, no path, query or fragment.
  if (u.origin !== o) {
    return `must be exactly scheme://host[:port] (lowercase, no path or trailing slash, no default port): ${u.origin}`;
  }
  return null;
}

/**
 * Whether a request may proceed: no Origin header → yes (not a browser page); else the policy
 * decides. `requestUrl` is the request's own URL (its scheme and Host), for "same-origin".
 */
export function originAllowed(
  policy: OriginPolicy,
  origin: string | null,
  requestUrl: string,
): boolean {
  if (origin === null) return true;
  switch (policy.kind) {
    case "any":
      return true;
    case "list":
      return policy.origins.has(origin);
    case "same-origin": {
      let own: string;
      try {
        own = new URL(requestUrl).origin;
      } catch {
        return false;
      }
      return origin === own && own !== "null";
    }
  }
}

/**
 * CORS response headers for a public GET (the key configuration): "*" under the "any" policy;
 * otherwise the request's Origin echoed when it is allowed, and always `Vary: Origin` (the
 * answer depends on it, and it is cacheable).
 */
export function corsHeaders(
  policy: OriginPolicy,
  origin: string | null,
  requestUrl: string,
): Record<string, string> {
  if (policy.kind === "any") return { "access-control-allow-origin": "*" };
  if (origin !== null && originAllowed(policy, origin, requestUrl)) {
    return { "access-control-allow-origin": origin, vary: "Origin" };
  }
  return { vary: "Origin" };
}
