/**
 * The `ws` connector against real origins on loopback: messages both ways, a fragmented message
 * past `maxMessage` failed before it is reassembled (the bound Deno's own WebSocket lacks),
 * refusals with their status and no redirect followed, a subprotocol not offered, an abort,
 * and the close codes and reasons `ws` cannot send. End to end through the gateway:
 * tests/e2e/websocket-origin.test.ts.
 */
import assert from "node:assert/strict";
import { WebSocketServer } from "ws";
import type { AddressInfo } from "node:net";
import { createServer, type IncomingMessage } from "node:http";
import { type OriginSocket, OriginWebSocketError } from "../../proxy/origin-websocket.ts";
import { wsOriginWebSocket } from "./origin-websocket.ts";

const connect = wsOriginWebSocket();

function request(
  url: string,
  over: { protocols?: string[]; maxMessage?: number; signal?: AbortSignal } = {},
) {
  return {
    url,
    protocols: over.protocols ?? [],
    headers: new Headers({ "x-app": "1" }),
    signal: over.signal ?? new AbortController().signal,
    maxMessage: over.maxMessage ?? 1024 * 1024,
  };
}

async function rejection(p: Promise<unknown>): Promise<OriginWebSocketError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OriginWebSocketError, String(e));
    return e;
  }
  throw new Error("expected a rejection");
}

function closed(s: OriginSocket): Promise<{ code: number; reason: string; clean: boolean }> {
  return new Promise((resolve) => {
    s.onclose = (code, reason, clean) => resolve({ code, reason, clean });
  });
}

/** The part of a `ws` server-side socket these origins use. */
interface OriginSide {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: unknown, opts?: { binary?: boolean; fin?: boolean }, cb?: () => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "message", l: (d: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", l: (code: number, reason: Uint8Array) => void): void;
}

/** A `ws` server origin; `onSocket` drives each accepted socket. */
async function wsServer(
  onSocket: (s: OriginSide, req: IncomingMessage) => void,
  opts: { handleProtocols?: (p: Set<string>) => string | false } = {},
) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", ...opts });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  wss.on("connection", onSocket);
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

Deno.test("ws connector: text and binary both ways, headers forwarded, subprotocol selected", async () => {
  let seenHeader: string | undefined;
  const origin = await wsServer((s, req) => {
    seenHeader = req.headers["x-app"] as string;
    s.on("message", (d: Uint8Array, isBinary: boolean) => s.send(d, { binary: isBinary }));
  }, { handleProtocols: (p) => p.has("v2") ? "v2" : false });
  try {
    const s = await connect(request(`${origin.url}/echo`, { protocols: ["v1", "v2"] }));
    assert.equal(s.protocol, "v2");
    assert.equal(seenHeader, "1");
    const got: (string | Uint8Array)[] = [];
    s.onmessage = (m) => got.push(m);
    const end = closed(s);
    s.send("héllo");
    s.send(new Uint8Array([1, 2, 3]));
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.equal(got[0], "héllo");
    assert.deepEqual(got[1], new Uint8Array([1, 2, 3]));
    assert.ok((got[1] as Uint8Array).buffer instanceof ArrayBuffer);
    s.close(1000, "done");
    assert.deepEqual(await end, { code: 1000, reason: "done", clean: true });
  } finally {
    await origin.close();
  }
});

Deno.test("ws connector: a fragmented origin message past maxMessage fails before it is reassembled", async () => {
  const PIECE = 64 * 1024;
  const MAX = 256 * 1024;
  const PIECES = 160; // 10 MiB in one message, if nothing stopped it
  let sent = 0;
  let originSaw: number | null = null;
  const origin = await wsServer((s) => {
    s.on("close", (code: number) => void (originSaw = code));
    const piece = new Uint8Array(PIECE);
    const next = () => {
      if (s.readyState !== s.OPEN || sent >= PIECES) return;
      sent++;
      s.send(piece, { binary: true, fin: sent === PIECES }, () => setTimeout(next, 1));
    };
    next();
  });
  try {
    const s = await connect(request(`${origin.url}/fragments`, { maxMessage: MAX }));
    let messages = 0;
    s.onmessage = () => messages++;
    const end = await closed(s);
    assert.equal(messages, 0, "no message delivered");
    // ws closed towards the origin with 1009 and dropped the connection: to the relay a socket
    // that failed (1006, not clean), which resets the stream as the relay's own size check does.
    assert.deepEqual(end, { code: 1006, reason: "", clean: false });
    while (originSaw === null) await new Promise((r) => setTimeout(r, 5));
    assert.equal(originSaw, 1009);
    // The socket failed at the first fragment past MAX: the origin could send only a little more
    // before its writes failed (what it had queued), never the whole message.
    assert.ok(sent < PIECES / 2, `the origin sent ${sent} of ${PIECES} pieces`);
  } finally {
    await origin.close();
  }
});

Deno.test("ws connector: any answer but 101 is refused with its status; redirects are not followed", async () => {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? "");
    if (req.url === "/moved") {
      res.writeHead(302, { location: "/elsewhere" }).end();
    } else res.writeHead(404).end("no such socket");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  try {
    const e404 = await rejection(connect(request(`ws://127.0.0.1:${port}/missing`)));
    assert.equal(e404.kind, "refused");
    assert.equal(e404.status, 404);
    const e302 = await rejection(connect(request(`ws://127.0.0.1:${port}/moved`)));
    assert.equal(e302.kind, "refused");
    assert.equal(e302.status, 302);
    assert.deepEqual(hits, ["/missing", "/moved"], "the redirect was not followed");
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("ws connector: a subprotocol the client did not offer fails the upgrade", async () => {
  const origin = await wsServer(() => {}, { handleProtocols: () => "other" });
  try {
    const e = await rejection(connect(request(`${origin.url}/x`, { protocols: ["v1"] })));
    assert.equal(e.kind, "failed");
  } finally {
    await origin.close();
  }
  // Stricter than a browser (docs/websockets.md): offered, and none selected, fails too.
  const none = await wsServer(() => {}, { handleProtocols: () => false });
  try {
    const e = await rejection(connect(request(`${none.url}/x`, { protocols: ["v1"] })));
    assert.equal(e.kind, "failed");
    assert.match(e.message, /no subprotocol/);
  } finally {
    await none.close();
  }
});

Deno.test("ws connector: the signal aborts an upgrade that gets no answer (timeout)", async () => {
  // Accepts the TCP connection, never answers the upgrade request.
  const sockets: import("node:net").Socket[] = [];
  const server = createServer();
  server.on("upgrade", (_req, socket) => void sockets.push(socket as import("node:net").Socket));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  try {
    const started = Date.now();
    const e = await rejection(
      connect(request(`ws://127.0.0.1:${port}/slow`, { signal: AbortSignal.timeout(150) })),
    );
    assert.equal(e.kind, "timeout");
    assert.ok(Date.now() - started < 2_000);
    const gone = Date.now();
    while (!sockets.every((s) => s.destroyed || s.readableEnded) && Date.now() - gone < 2_000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(
      sockets.length === 1 && (sockets[0].destroyed || sockets[0].readableEnded),
      "torn down",
    );
    const ac = new AbortController();
    ac.abort();
    assert.equal(
      (await rejection(connect(request(`ws://127.0.0.1:${port}/`, { signal: ac.signal })))).kind,
      "failed",
    );
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("ws connector: codes ws cannot send go out as 1000; reasons are cut to 123 bytes", async () => {
  const seen: { code: number; reason: string }[] = [];
  const origin = await wsServer((s) =>
    s.on(
      "close",
      (code: number, reason: Uint8Array) =>
        seen.push({ code, reason: new TextDecoder().decode(reason) }),
    )
  );
  try {
    for (const [code, expect] of [[1005, 1000], [1015, 1000], [2000, 1000], [4321, 4321]]) {
      const s = await connect(request(`${origin.url}/c`));
      const end = closed(s);
      s.close(code, "é".repeat(100));
      await end;
      while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
      const got = seen.shift()!;
      assert.equal(got.code, expect, `close(${code})`);
      assert.equal(got.reason, "é".repeat(61), "123 bytes at most, whole characters");
    }
  } finally {
    await origin.close();
  }
});
