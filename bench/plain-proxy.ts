/**
 * The yardstick of issue 13: a plain Deno reverse proxy (`Deno.serve` + `fetch` to the same
 * keep-alive origin), no PQ layer. Prints one JSON line { url, pid } when ready.
 *
 *   deno run -A bench/plain-proxy.ts --origin http://127.0.0.1:PORT
 */
const origin = Deno.args[Deno.args.indexOf("--origin") + 1];
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const u = new URL(req.url);
  const r = await fetch(origin + u.pathname + u.search, {
    method: req.method,
    headers: req.headers,
    body: req.body,
  });
  return new Response(r.body, { status: r.status, headers: r.headers });
});
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.addr.port}`, pid: Deno.pid }));
await server.finished;
