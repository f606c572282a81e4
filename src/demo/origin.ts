/**
 * The embedded demo origin, used when the gateway runs with no route config (mount it as
 * `service:demo`). A small Hono app; bodies stream, nothing large is buffered.
 *
 *   GET  /api/hello           message, time, and the request headers it saw (header hygiene)
 *   GET  /api/items           small JSON list;  GET /api/items/:id  one item or 404
 *   POST /api/echo            streams the request body back; method/headers in x-echo-* fields
 *   GET  /api/stream?bytes=N  N patterned bytes (0..1 GiB, default 1 MiB) in 64 KiB chunks
 *   GET  /api/status/:code    responds with that status (200-599)
 *   GET  /api/slow?ms=N       answers after N ms (0..60000)
 *   GET  /api/me              who the gateway says the client is (its pqgate-auth-* headers,
 *                             decoded); the demo routes make /api/me require authentication
 */
import { Hono } from "hono";

export const STREAM_DEFAULT_BYTES = 1024 * 1024;
export const STREAM_MAX_BYTES = 1024 * 1024 * 1024;
const CHUNK = 64 * 1024;
const MAX_SLOW_MS = 60_000;

const ITEMS = [
  { id: 1, name: "lattice", kind: "ml-kem" },
  { id: 2, name: "curve", kind: "x25519" },
  { id: 3, name: "hybrid", kind: "x-wing" },
];

/** Byte i of /api/stream is (i * 31 + 7) & 0xff: cheap to produce, easy to verify. */
export function streamByte(i: number): number {
  return (i * 31 + 7) & 0xff;
}

function patterned(total: number): ReadableStream<Uint8Array> {
  // One 64 KiB chunk of the pattern; since 31 * 65536 ≡ 0 (mod 256), every chunk repeats it.
  const block = new Uint8Array(CHUNK);
  for (let i = 0; i < CHUNK; i++) block[i] = streamByte(i);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(CHUNK, total - sent);
      c.enqueue(block.slice(0, n));
      sent += n;
      if (sent >= total) c.close();
    },
  }, { highWaterMark: 1 });
}

function intParam(v: string | undefined, def: number, max: number): number | null {
  if (v === undefined) return def;
  if (!/^[0-9]{1,10}$/.test(v)) return null;
  const n = Number(v);
  return n <= max ? n : null;
}

const app = new Hono();

app.get("/api/hello", (c) =>
  c.json({
    message: "hello from the pqgate demo origin",
    time: new Date().toISOString(),
    headers: Object.fromEntries(c.req.raw.headers),
  }));

app.get("/api/items", (c) => c.json({ items: ITEMS }));

app.get("/api/items/:id", (c) => {
  const item = ITEMS.find((i) => String(i.id) === c.req.param("id"));
  return item ? c.json(item) : c.json({ error: "not found" }, 404);
});

app.post("/api/echo", (c) => {
  const req = c.req.raw;
  const headers = new Headers({
    "content-type": req.headers.get("content-type") ?? "application/octet-stream",
    "x-echo-method": req.method,
    "x-echo-headers": JSON.stringify(Object.fromEntries(req.headers)),
  });
  return new Response(req.body, { status: 200, headers });
});

app.get("/api/stream", (c) => {
  const n = intParam(c.req.query("bytes"), STREAM_DEFAULT_BYTES, STREAM_MAX_BYTES);
  if (n === null) return c.json({ error: `bytes must be 0..${STREAM_MAX_BYTES}` }, 400);
  return new Response(patterned(n), {
    headers: { "content-type": "application/octet-stream", "content-length": String(n) },
  });
});

app.get("/api/status/:code", (c) => {
  const code = Number(c.req.param("code"));
  if (!/^[0-9]{3}$/.test(c.req.param("code")) || code < 200 || code > 599) {
    return c.json({ error: "code must be 200-599" }, 400);
  }
  const empty = code === 204 || code === 205 || code === 304;
  return new Response(empty ? null : JSON.stringify({ status: code }), {
    status: code,
    headers: empty ? {} : { "content-type": "application/json" },
  });
});

app.get("/api/slow", async (c) => {
  const ms = intParam(c.req.query("ms"), 1000, MAX_SLOW_MS);
  if (ms === null) return c.json({ error: `ms must be 0..${MAX_SLOW_MS}` }, 400);
  const signal = c.req.raw.signal;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
  return c.json({ slept: ms });
});

/** A gateway identity header's value (percent-encoded UTF-8, src/proxy/auth-policy.ts), decoded. */
function identityValue(v: string | null): string | null {
  if (v === null) return null;
  try {
    return decodeURIComponent(v);
  } catch {
    return null;
  }
}

// Behind the gateway only: an in-process origin receives nothing but what the gateway sends,
// and the gateway drops every client-sent pqgate-* field (a network origin checks gatewayAuth).
app.get("/api/me", (c) => {
  const h = c.req.raw.headers;
  const method = h.get("pqgate-auth-method");
  if (method === null) return c.json({ authenticated: false }, 401);
  return c.json({
    authenticated: true,
    method,
    subject: identityValue(h.get("pqgate-auth-subject")),
    issuer: identityValue(h.get("pqgate-auth-issuer")),
  });
});

app.notFound((c) => c.json({ error: "not found" }, 404));

export const demoOrigin: { fetch(req: Request): Promise<Response> } = {
  fetch: (req: Request) => Promise.resolve(app.fetch(req)),
};
