/**
 * Every response the gateway session makes itself (PROTOCOL.md §6.4, §9) carries `pqgate-error`
 * and the JSON body `{"error": code, "status": n}`, like the proxy's gateway errors.
 */
import assert from "node:assert/strict";
import { concat } from "../protocol/bytes.ts";
import { type Frame, MAX_FRAME_PAYLOAD } from "../protocol/frames.ts";
import { decodeResponseHead, encodeRequestHead } from "./bhttp.ts";
import { HEADER_ERROR, SESSION_ERRORS, type SessionErrorCode } from "./error-response.ts";
import { rawClient, settle, startPair, waitFor } from "./testing.ts";
import type { RequestHandler, SessionLimits } from "./types.ts";

interface Seen {
  status: number;
  headers: Headers;
  body: string;
}

function assertSessionError(r: Seen, code: SessionErrorCode, what: string): void {
  assert.equal(r.status, SESSION_ERRORS[code], what);
  assert.equal(r.headers.get(HEADER_ERROR), code, what);
  assert.equal(r.headers.get("content-type"), "application/json", what);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(r.headers.get("cache-control"), "no-store", what);
  assert.deepEqual(JSON.parse(r.body), { error: code, status: SESSION_ERRORS[code] }, what);
}

/** One request through a client/gateway session pair; the response as status, headers, body. */
async function viaPair(
  request: () => Request,
  o: { handler?: RequestHandler; limits?: Partial<SessionLimits>; contentLength?: number } = {},
): Promise<Seen> {
  const p = startPair({ handler: o.handler, limits: o.limits });
  try {
    const r = await p.client.fetch(
      request(),
      o.contentLength === undefined ? {} : { contentLength: o.contentLength },
    );
    const seen = { status: r.status, headers: r.headers, body: await r.text() };
    assert.equal(p.server.state, "established", "a per-request error never closes the channel");
    return seen;
  } finally {
    p.client.close();
    await settle();
  }
}

/** A HEADERS payload sent as is on stream 1 by a raw client; the gateway's answer on stream 1. */
async function viaRaw(payload: Uint8Array): Promise<Seen> {
  const raw = await rawClient();
  raw.send([{ type: "headers", stream: 1, endStream: true, payload }]);
  const on1 = () =>
    raw.frames().filter((f): f is Frame & { stream: number } => "stream" in f && f.stream === 1);
  await waitFor(
    () => on1().some((f) => (f.type === "data" || f.type === "headers") && f.endStream),
    5000,
    "response on stream 1",
  );
  const frames = on1();
  const headers = frames.find((f) => f.type === "headers") as Frame & { payload: Uint8Array };
  const head = decodeResponseHead(headers.payload, { maxBytes: MAX_FRAME_PAYLOAD });
  const data = frames.filter((f) => f.type === "data").map((f) =>
    (f as Frame & { payload: Uint8Array }).payload
  );
  raw.cs.close(1000, "");
  await settle();
  return {
    status: head.status,
    headers: new Headers(head.headers),
    body: new TextDecoder().decode(concat(...data)),
  };
}

const streamedBody = () => {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 100_000) return c.close();
      sent += 500;
      c.enqueue(new Uint8Array(500));
    },
  });
};

Deno.test("every session-made error response carries pqgate-error and the JSON error body", async () => {
  const seen = new Set<SessionErrorCode>();
  const check = (r: Seen, code: SessionErrorCode, what: string) => {
    assertSessionError(r, code, what);
    seen.add(code);
  };
  const limits = { maxHeaderBytes: 200, maxBodyBytes: 1000 };
  const read: RequestHandler = async (req) =>
    new Response(`read ${(await req.arrayBuffer()).byteLength}`);

  check(
    await viaRaw(new Uint8Array([0xff, 0x00, 0x01])),
    "bad_request",
    "malformed Binary HTTP head",
  );
  check(
    await viaRaw(
      encodeRequestHead({
        method: "GET",
        scheme: "ftp",
        authority: "a.example",
        path: "/",
        headers: [],
      }),
    ),
    "bad_request",
    "a target that cannot be mapped (ftp:)",
  );
  for (const method of ["CONNECT", "TRACE", "TRACK"]) {
    check(
      await viaRaw(
        encodeRequestHead({
          method,
          scheme: "https",
          authority: "a.example",
          path: "/",
          headers: [],
        }),
      ),
      "method_not_allowed",
      `${method} is never forwarded`,
    );
  }
  check(
    await viaPair(
      () => new Request("https://a.example/", { headers: { "x-big": "y".repeat(300) } }),
      { limits },
    ),
    "headers_too_large",
    "request head over max_header_bytes",
  );
  check(
    await viaPair(
      () => new Request("https://a.example/", { method: "POST", body: "z".repeat(2000) }),
      {
        limits,
        handler: read,
        contentLength: 2000,
      },
    ),
    "body_too_large",
    "content-length over max_body_bytes",
  );
  check(
    await viaPair(
      () =>
        new Request(
          "https://a.example/",
          { method: "POST", body: streamedBody(), duplex: "half" } as RequestInit,
        ),
      { limits, handler: read },
    ),
    "body_too_large",
    "streamed body over max_body_bytes",
  );
  check(
    await viaPair(() => new Request("https://a.example/"), {
      handler: () => Promise.reject(new Error("boom")),
    }),
    "internal_error",
    "handler rejects",
  );
  check(
    await viaPair(() => new Request("https://a.example/"), {
      handler: () => {
        throw new Error("sync boom");
      },
    }),
    "internal_error",
    "handler throws",
  );
  check(
    await viaPair(() => new Request("https://a.example/"), {
      handler: () => Promise.resolve("not a response" as unknown as Response),
    }),
    "bad_response",
    "handler resolves to a non-Response",
  );
  check(
    await viaPair(() => new Request("https://a.example/"), {
      handler: () => Promise.resolve(Response.error()),
    }),
    "bad_response",
    "status 0",
  );
  check(
    await viaPair(() => new Request("https://a.example/"), {
      handler: () =>
        Promise.resolve(new Response("x", { headers: { "x-pad": "p".repeat(MAX_FRAME_PAYLOAD) } })),
    }),
    "origin_headers_too_large",
    "response head over one HEADERS frame",
  );
  assert.deepEqual([...seen].sort(), Object.keys(SESSION_ERRORS).sort(), "every code is exercised");
});

Deno.test("session error codes: stable names and statuses (clients and docs match on them)", () => {
  assert.deepEqual(SESSION_ERRORS, {
    bad_request: 400,
    method_not_allowed: 405,
    body_too_large: 413,
    headers_too_large: 431,
    internal_error: 500,
    bad_response: 502,
    origin_headers_too_large: 502,
  });
  assert.equal(HEADER_ERROR, "pqgate-error");
});
