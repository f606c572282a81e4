/**
 * The target of `channel.websocket(url, protocols)`, checked as a browser's `new WebSocket`
 * checks it (SyntaxError for what it refuses), and the request head of its WebSocket stream
 * (PROTOCOL.md §6.9): method CONNECT, scheme https for wss: and http for ws:, the target's
 * authority and path with the query, `pqgate-protocol: websocket` and the offered subprotocols.
 */
import type { RequestHead } from "../tunnel/bhttp.ts";

export interface WebSocketTarget {
  /** The URL as `WebSocket.url` reports it (ws: or wss:). */
  url: string;
  /** The URL's origin, e.g. "wss://chat.example" (MessageEvent.origin, as in browsers). */
  origin: string;
  protocols: string[];
  head: RequestHead;
}

/** RFC 9110 token (a subprotocol name, RFC 6455 §4.1). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function syntaxError(message: string): DOMException {
  return new DOMException(`pqgate: ${message}`, "SyntaxError");
}

export function webSocketTarget(
  url: string | URL,
  protocols: string | string[] | undefined,
  base: string | undefined,
): WebSocketTarget {
  let u: URL;
  try {
    u = new URL(String(url), base);
  } catch {
    throw syntaxError(`invalid WebSocket URL ${JSON.stringify(String(url))}`);
  }
  // As browsers do: http(s) URLs are taken as ws(s).
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw syntaxError(`a WebSocket URL must be ws: or wss:, not ${u.protocol}`);
  }
  if (u.hash !== "" || String(url).includes("#")) {
    throw syntaxError("a WebSocket URL cannot have a fragment");
  }
  if (u.username || u.password) {
    throw syntaxError("WebSocket URLs with credentials are not supported");
  }
  const list = protocols === undefined ? [] : typeof protocols === "string" ? [protocols] : [
    ...protocols,
  ].map(String);
  const seen = new Set<string>();
  for (const p of list) {
    if (!TOKEN.test(p)) throw syntaxError(`invalid subprotocol ${JSON.stringify(p)}`);
    if (seen.has(p)) throw syntaxError(`subprotocol ${JSON.stringify(p)} offered twice`);
    seen.add(p);
  }
  const headers: [string, string][] = [["pqgate-protocol", "websocket"]];
  if (list.length > 0) headers.push(["sec-websocket-protocol", list.join(", ")]);
  const secure = u.protocol === "wss:";
  return {
    url: u.href,
    origin: `${u.protocol}//${u.host}`,
    protocols: list,
    head: {
      method: "CONNECT",
      scheme: secure ? "https" : "http",
      authority: u.host,
      path: (u.pathname || "/") + u.search,
      headers,
    },
  };
}
