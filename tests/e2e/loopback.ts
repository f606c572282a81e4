/** Loopback helpers for the end-to-end tests. */

/** A URL on which nothing listens (a port that was just free). Connections are refused. */
export function deadOriginUrl(): string {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return `http://127.0.0.1:${port}`;
}

/** The channel URL of a server listening at `httpUrl`. */
export function channelUrl(httpUrl: string, path = "/pqgate"): string {
  return httpUrl.replace(/^http/, "ws") + path;
}
