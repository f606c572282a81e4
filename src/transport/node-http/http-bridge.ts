/**
 * node:http ↔ fetch for the node:http server (server.ts; serveDeno, serveNode): plain requests (key configuration,
 * healthz, the demo page, a parent app's routes) go to the fetch handler through
 * `@hono/node-server`'s `getRequestListener`; an upgrade request is turned into a body-less
 * `Request` for the same handler, and a non-upgrade answer to it (426, 403, 429, 503, …) is
 * written onto the raw TCP socket, which is then ended (and destroyed after a bound).
 */
import type { IncomingMessage } from "node:http";
import type { Socket as NetSocket } from "node:net";
import { getRequestListener } from "@hono/node-server";

/** The Hono env's `remoteAddr` (the shape of Deno's NetAddr that hono/deno's conninfo reads). */
export interface RemoteAddr {
  transport: "tcp";
  hostname: string;
  port: number;
}

/** At most this much of a refusal's body is written (our own short texts fit easily). */
const MAX_RAW_BODY = 16 * 1024;

export function remoteAddrOf(s: { remoteAddress?: string; remotePort?: number }): RemoteAddr {
  return { transport: "tcp", hostname: s.remoteAddress ?? "", port: s.remotePort ?? 0 };
}

/** The listener for plain (non-upgrade) requests. Global Request/Response stay Deno's own. */
export function plainRequestListener(
  fetch: (request: Request, remote: RemoteAddr) => Response | Promise<Response>,
): ReturnType<typeof getRequestListener> {
  return getRequestListener((request, env) => fetch(request, remoteAddrOf(env.incoming.socket)), {
    overrideGlobalObjects: false,
    errorHandler: () => new Response("internal error\n", { status: 500 }),
  });
}

/** The upgrade request as a fetch Request (GET, headers only); null if its target is unusable. */
export function upgradeRequest(req: IncomingMessage): Request | null {
  const target = req.url ?? "";
  if (!target.startsWith("/")) return null; // absolute-form or garbage: not a WebSocket upgrade
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i], raw[i + 1]);
    } catch {
      return null; // a header fetch cannot carry
    }
  }
  try {
    const host = headers.get("host") || "localhost";
    return new Request(new URL(target, `http://${host}`), { method: req.method ?? "GET", headers });
  } catch {
    return null;
  }
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  414: "URI Too Long",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

/**
 * Writes `response` as HTTP/1.1 onto the raw socket of an upgrade request and ends it
 * (`connection: close`); the caller bounds how long the socket may linger afterwards.
 */
export async function writeRawResponse(net: NetSocket, response: Response): Promise<void> {
  let body = new Uint8Array(0);
  try {
    if (response.body) {
      const buf = new Uint8Array(await response.arrayBuffer());
      body = buf.byteLength > MAX_RAW_BODY ? buf.subarray(0, MAX_RAW_BODY) : buf;
    }
  } catch { /* no body */ }
  if (net.destroyed) return;
  const status = response.status;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n`;
  response.headers.forEach((v, k) => {
    if (k === "content-length" || k === "connection" || k === "transfer-encoding") return;
    head += `${k}: ${v}\r\n`;
  });
  head += `content-length: ${body.byteLength}\r\nconnection: close\r\n\r\n`;
  try {
    net.write(head);
    if (body.byteLength) net.write(body);
    net.end();
  } catch {
    net.destroy();
  }
}
