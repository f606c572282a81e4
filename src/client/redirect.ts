/**
 * Redirect modes of `Channel.fetch` (docs/client-fetch.md, "Redirects"). The gateway never
 * follows redirects: it returns the origin's 3xx unchanged (docs/configuration.md), so the
 * client does what the Fetch standard's "HTTP fetch" and "HTTP-redirect fetch" do, each hop
 * being a new request through the channel.
 */
import { HEADER_ERROR } from "../tunnel/error-response.ts";
import type { RequestBody } from "./request-body.ts";

/** Fetch "redirect status". */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Fetch: a request's redirect count may not pass 20. */
export const MAX_REDIRECTS = 20;

/** Fetch "request-body-header name", and content-length (the channel sends one). */
const REQUEST_BODY_HEADERS = [
  "content-encoding",
  "content-language",
  "content-location",
  "content-type",
  "content-length",
];

/** Sends one request through the channel; `contentLength` as ClientSession.fetch takes it. */
export type SendOne = (request: Request, contentLength: number | null) => Promise<Response>;

export interface RedirectOptions {
  /** The request as `new Request(input, init)` made it: URL, method, headers, redirect mode. */
  request: Request;
  /** Its body (request-body.ts), null when it has none. */
  body: RequestBody | null;
  send: SendOne;
}

/** The gateway's answer for a target it does not route (docs/configuration.md: 403 `forbidden`). */
export function isGatewayRefusal(response: Response): boolean {
  return response.status === 403 && response.headers.get(HEADER_ERROR) === "forbidden";
}

/**
 * The URL of a request sent, hence `response.url`: a fragment is never sent, and fetch's
 * Response.url has none. (A fragment is therefore not carried across redirects either: nothing
 * would ever see it.)
 */
function withoutFragment(url: URL): string {
  const href = url.href;
  const i = href.indexOf("#");
  return i < 0 ? href : href.slice(0, i);
}

function parseUrl(location: string, base: URL): URL | null {
  try {
    return new URL(location, base); // URL.parse is missing on Node 20
  } catch {
    return null;
  }
}

async function discard(response: Response): Promise<void> {
  // Closes the stream of the 3xx (a RESET_STREAM when it is still open) and frees its slot.
  await response.body?.cancel().catch(() => {});
}

/**
 * Sends `request` and, in redirect mode "follow", every redirect after it; "manual" returns
 * the 3xx, "error" rejects on one. Rejections are TypeErrors, as fetch's network errors are;
 * an abort rejects with the signal's reason (ClientSession.fetch checks it on every hop).
 */
export async function fetchWithRedirects(
  { request, body, send }: RedirectOptions,
): Promise<Response> {
  const mode = request.redirect;
  let url = new URL(request.url);
  let method = request.method;
  const headers = new Headers(request.headers);
  // Fetch's own default (Fetch standard, "fetch" step 12): the origin sees the same Accept as
  // from a platform fetch.
  if (!headers.has("accept")) headers.set("accept", "*/*");
  let current = body;
  for (let count = 0;; count++) {
    const init: RequestInit & { duplex?: "half" } = {
      method,
      headers,
      body: current?.take() ?? null,
    };
    if (init.body instanceof ReadableStream) init.duplex = "half";
    const response = await send(new Request(withoutFragment(url), init), current?.length ?? null);
    if (count > 0) {
      if (isGatewayRefusal(response)) {
        throw new TypeError(
          `pqgate: redirect to ${
            withoutFragment(url)
          } refused by the gateway: it does not route that target (the 403 response is the cause)`,
          { cause: response },
        );
      }
      try {
        Object.defineProperty(response, "redirected", { value: true, enumerable: true });
      } catch { /* not fatal: redirected stays false */ }
    }
    if (!REDIRECT_STATUSES.has(response.status) || mode === "manual") return response;
    if (mode === "error") {
      await discard(response);
      throw new TypeError(
        `pqgate: ${response.status} redirect from ${
          withoutFragment(url)
        } while the redirect mode is "error"`,
      );
    }
    const location = response.headers.get("location");
    if (location === null) return response;
    const next = parseUrl(location, url);
    const fail = async (why: string): Promise<never> => {
      await discard(response);
      throw new TypeError(
        `pqgate: cannot follow the ${response.status} redirect from ${
          withoutFragment(url)
        }: ${why}`,
      );
    };
    if (next === null) return await fail(`the Location ${JSON.stringify(location)} is not a URL`);
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      return await fail(`the Location is a ${next.protocol} URL, not http(s)`);
    }
    if (count === MAX_REDIRECTS) return await fail(`more than ${MAX_REDIRECTS} redirects`);
    const status = response.status;
    if (status !== 303 && current !== null && !current.replayable) {
      return await fail("the request body is a stream, which cannot be sent again");
    }
    if (
      ((status === 301 || status === 302) && method === "POST") ||
      (status === 303 && method !== "GET" && method !== "HEAD")
    ) {
      method = "GET";
      current = null;
      for (const name of REQUEST_BODY_HEADERS) headers.delete(name);
    }
    if (next.origin !== url.origin) headers.delete("authorization");
    await discard(response);
    url = next;
  }
}
