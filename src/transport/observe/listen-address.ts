/** A listen address as the metrics flag takes it (the config parser checked its form). */

/** Parses `host:port` (`[::1]:9464` for IPv6; a bare port means 127.0.0.1). */
export function parseListenAddress(v: string): { hostname: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.\-]+)):(\d{1,5})$/.exec(v) ??
    /^()()(\d{1,5})$/.exec(v);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { hostname: m[1] || m[2] || "127.0.0.1", port };
}
