/**
 * The origin behind the abuse matrix's gateway (gateway-process.ts starts it), in its own process
 * so the gateway's RSS and descriptors are measured without it. Prints `{ "port" }` when ready;
 * exits when stdin closes (its parent is gone) or after 300 s.
 *
 * Endpoints:
 *   GET /small         → {"ok":true}
 *   GET /big?mib=N     → N MiB (default 50, at most 1024) of zeros, produced on demand (pull),
 *                        so the origin holds one 64 KiB chunk at a time
 *   GET|HEAD /empty    → 204 with a ~4 KiB response head (x-pad), the bodiless amplifier
 */
const CHUNK = new Uint8Array(64 * 1024);
const PAD = "p".repeat(4000);

function big(mib: number): Response {
  let left = mib * 1024 * 1024;
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (left <= 0) return c.close();
        const n = Math.min(left, CHUNK.length);
        left -= n;
        c.enqueue(CHUNK.slice(0, n));
      },
    }, { highWaterMark: 0 }),
    { headers: { "content-type": "application/octet-stream" } },
  );
}

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/small") return Response.json({ ok: true });
  if (url.pathname === "/big") {
    const mib = Number(url.searchParams.get("mib") ?? "50");
    return big(Number.isInteger(mib) && mib > 0 && mib <= 1024 ? mib : 50);
  }
  if (url.pathname === "/empty") {
    return new Response(null, { status: 204, headers: { "x-pad": PAD } });
  }
  return new Response("not found", { status: 404 });
});

console.log(JSON.stringify({ port: server.addr.port }));

setTimeout(() => Deno.exit(0), 300_000);
const buf = new Uint8Array(64);
while ((await Deno.stdin.read(buf)) !== null) { /* wait for EOF */ }
Deno.exit(0);
