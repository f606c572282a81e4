/**
 * PROTOCOL.md 1.1 conformance, gateway side, over the wire: each case opens a raw WebSocket to a
 * REAL gateway (serveDeno in tests/conformance/gateway-wire.test.ts, the Worker in workerd in
 * tests/cloudflare/workers-conformance.test.ts) and checks one normative statement to the byte
 * or the code. Runtime-agnostic like tests/hardening/bad-input-cases.ts, whose configuration it
 * reuses: the gateway MUST run with HARDENING_LIMITS and hardeningRoutes(<recording origin>),
 * services { hold: holdService }.
 *
 * A case throws on any disagreement with the text; its `section` is the § it checks.
 */
import { concat, fromBase64Url, toHex, u16 } from "../../src/protocol/bytes.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { authBinding, clientAuthExtension, pskExtension } from "../../src/protocol/client-auth.ts";
import { decodeFrames, encodeFrame, type Frame } from "../../src/protocol/frames.ts";
import { decodeResponseHead, encodeRequestHead } from "../../src/tunnel/bhttp.ts";
import { HARDENING_HOSTS, HARDENING_LIMITS } from "../hardening/bad-input-cases.ts";
import {
  buildHello,
  type HardeningTarget,
  RawConn,
  rawRequestHead,
  RawSession,
  SecretBook,
  sleep,
  WS,
} from "../hardening/wire.ts";

export interface WireContext {
  target: HardeningTarget;
  /** Requests the recording origin has seen so far (path list). */
  originPaths(): string[];
  /** true where the transport refuses an oversized message at the frame header (serveDeno). */
  atFrameHeader: boolean;
}

export interface WireCase {
  name: string;
  section: string;
  run(ctx: WireContext): Promise<void>;
  /**
   * Set, per runtime, when the code disagrees with PROTOCOL.md: the step is ignored there
   * (unless PQGATE_CONFORMANCE_ALL=1) and the reason says where.
   */
  disagrees?: { deno?: string; workerd?: string };
}

const C = CLOSE_CODES;
const H = HARDENING_HOSTS;

function fail(msg: string): never {
  throw new Error(msg);
}
function eq<T>(got: T, want: T, what: string): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

/** Next gateway record of a session, opened: its plaintext and frames (null on close/timeout). */
async function nextRecord(
  s: RawSession,
  ms = 3000,
): Promise<{ plaintext: Uint8Array; frames: Frame[] } | null> {
  const end = Date.now() + ms;
  for (;;) {
    const left = end - Date.now();
    if (left <= 0) return null;
    const m = await s.conn.next(left);
    if (m === null) return null;
    if (typeof m === "string") fail("text message from the gateway");
    const plaintext = s.rx.open(m, Date.now());
    const frames = decodeFrames(plaintext);
    if (frames[frames.length - 1]?.type === "key_update") s.rx.updateRx();
    s.received.push(...frames);
    return { plaintext, frames };
  }
}

async function withSession(ctx: WireContext, fn: (s: RawSession) => Promise<void>): Promise<void> {
  const s = await RawSession.connect(ctx.target, new SecretBook());
  try {
    await fn(s);
  } finally {
    await s.conn.close();
  }
}

/** A session whose SESSION_INFO record was already read. */
async function withReadySession(
  ctx: WireContext,
  fn: (s: RawSession) => Promise<void>,
): Promise<void> {
  await withSession(ctx, async (s) => {
    if (!(await s.readUntil((f) => f.type === "session_info", 3000))) fail("no SESSION_INFO");
    await fn(s);
  });
}

async function expectAlive(s: RawSession, what: string): Promise<void> {
  if (!(await s.ping(3000))) {
    fail(`${what}: the channel no longer answers (close ${s.conn.closeInfo?.code ?? "none"})`);
  }
}

async function expectClose(s: RawSession, code: number, what: string): Promise<void> {
  const c = await s.conn.waitClose(3000).catch(() => null);
  eq(c?.code ?? null, code, `${what}: WebSocket close code`);
}

/** The ClientHello's extension block replaced by `block` (ext_len = its length). */
function withExtensionBlock(ctx: WireContext, block: Uint8Array): Uint8Array {
  const { hello } = buildHello(ctx.target, new SecretBook());
  // A pinned two-suite hello without extensions ends with ext_len = 0 (§3.1).
  if (hello[hello.length - 1] !== 0 || hello[hello.length - 2] !== 0) fail("hello has extensions");
  return concat(hello.subarray(0, hello.length - 2), u16(block.length), block);
}

async function handshakeClose(ctx: WireContext, msg: Uint8Array): Promise<number | null> {
  const conn = await RawConn.open(ctx.target.wsUrl);
  try {
    conn.send(msg);
    const first = await conn.next(3000);
    if (first !== null) return -1; // a ServerHello: not refused
    return (await conn.waitClose(3000).catch(() => null))?.code ?? null;
  } finally {
    await conn.close();
  }
}

const ext = (type: number, data: Uint8Array = new Uint8Array(0)) =>
  concat(u16(type), u16(data.length), data);

interface Answer {
  status: number | null;
  reset: number | null;
  headers: [string, string][];
  body: string;
}

/** Sends one request head (payload bytes) and optional DATA frames; reads the answer. */
async function ask(
  s: RawSession,
  head: Uint8Array,
  o: { endStream?: boolean; data?: Frame[] } = {},
): Promise<Answer> {
  const id = s.nextStreamId();
  s.sendFrames([{ type: "headers", stream: id, endStream: o.endStream ?? true, payload: head }]);
  for (const f of o.data ?? []) s.sendFrames([{ ...f, stream: id } as Frame]);
  const f = await s.readUntil(
    (f) => (f.type === "headers" || f.type === "reset_stream") && f.stream === id,
    5000,
  );
  if (!f) fail(`no answer on stream ${id} (close ${s.conn.closeInfo?.code ?? "none"})`);
  if (f.type === "reset_stream") return { status: null, reset: f.errorCode, headers: [], body: "" };
  if (f.type !== "headers") fail("unreachable");
  const h = decodeResponseHead(f.payload, { maxBytes: 16376 });
  let body = "";
  if (!f.endStream) {
    const b = await s.bodyOn(id, 5000);
    if (!b) fail(`no body end on stream ${id}`);
    body = new TextDecoder().decode(b);
  }
  return { status: h.status, reset: null, headers: h.headers, body };
}

const field = (a: Answer, name: string) => a.headers.filter(([n]) => n === name).map(([, v]) => v);

/** A gateway-made answer: `pqgate-error: token`, JSON content type, body {"error","status"} (§6.4). */
function expectGatewayAnswer(a: Answer, status: number, token: string, what: string): void {
  eq(a.status, status, `${what}: status`);
  eq(field(a, "pqgate-error"), [token], `${what}: pqgate-error`);
  eq(
    field(a, "content-type").map((v) => v.split(";")[0].trim()),
    ["application/json"],
    `${what}: content-type`,
  );
  let json: unknown;
  try {
    json = JSON.parse(a.body);
  } catch {
    fail(`${what}: body is not JSON: ${a.body.slice(0, 80)}`);
  }
  eq(json, { error: token, status }, `${what}: body`);
}

function expectOriginAnswer(a: Answer, status: number, what: string): void {
  eq(a.status, status, `${what}: status`);
  eq(field(a, "pqgate-error"), [], `${what}: no pqgate-error on an origin answer`);
}

const head = (
  authority: string,
  headers: [string, string][] = [],
  o: { method?: string; path?: string; scheme?: string } = {},
) =>
  rawRequestHead({
    method: o.method ?? "GET",
    scheme: o.scheme ?? "https",
    authority,
    path: o.path ?? "/hello",
    headers,
  });

// deno-lint-ignore no-explicit-any
async function openNodeWs(ctx: WireContext, opts: Record<string, unknown>): Promise<any> {
  // The `ws` package sends no Origin unless told to (a non-browser client).
  // deno-lint-ignore no-explicit-any
  const ws: any = new (WS as any)(ctx.target.wsUrl, opts);
  await new Promise<void>((resolve, reject) => {
    ws.on("open", () => resolve());
    ws.on("error", (e: unknown) => reject(e));
    ws.on(
      "unexpected-response",
      (_req: unknown, res: { statusCode: number }) =>
        reject(new Error(`upgrade refused ${res.statusCode}`)),
    );
  });
  return ws;
}

const ping = (b: number): Frame => ({
  type: "ping",
  data: new Uint8Array([0xc0, b, 1, 2, 3, 4, 5, 6]),
});

export const WIRE_CASES: WireCase[] = [
  {
    name:
      "SESSION_INFO is sent unprompted as the first frame of the first record, 44 or 48 bytes, fields as announced",
    section: "§3, §6.3, §6.9",
    async run(ctx) {
      await withSession(ctx, async (s) => {
        // Nothing sent after ClientFinished: the gateway must speak first.
        const r = await nextRecord(s);
        if (!r) fail("no first record");
        const p = r.plaintext;
        eq(
          [p[0], p[1], new DataView(p.buffer, p.byteOffset).getUint32(2)],
          [0x03, 0, 0],
          "first frame type/flags/stream",
        );
        const len = new DataView(p.buffer, p.byteOffset).getUint16(6);
        // 48 with max_ws_message (1.4, §6.9), 44 from a gateway that does not set it.
        if (len !== 44 && len !== 48) fail(`SESSION_INFO length ${len}, not 44 or 48`);
        const info = r.frames[0];
        if (info.type !== "session_info") fail("first frame not SESSION_INFO");
        eq(info.info.maxWsMessage === undefined, len === 44, "max_ws_message present iff 48 bytes");
        eq(info.info.maxStreams, HARDENING_LIMITS.maxStreams, "max_streams");
        eq(info.info.maxHeaderBytes, HARDENING_LIMITS.maxHeaderBytes, "max_header_bytes");
        eq(info.info.idleTimeoutMs, HARDENING_LIMITS.idleTimeoutMs, "idle_timeout_ms");
        if (info.info.maxWindow < 65536 || info.info.maxWindow > 2 ** 31 - 1) {
          fail(`max_window ${info.info.maxWindow} out of range`);
        }
        if (info.info.sessionLifetimeS > 86_400) fail("session_lifetime_s above 86,400");
        // Exactly once: no second SESSION_INFO on later records.
        await expectAlive(s, "after SESSION_INFO");
        eq(s.received.filter((f) => f.type === "session_info").length, 1, "SESSION_INFO count");
      });
    },
  },
  {
    name: "PINGs are answered with their bytes, in order, across records",
    section: "§6.2",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        s.sendFrames([ping(1), ping(2), ping(3), ping(4), ping(5)]);
        s.sendFrames([ping(6), ping(7)]);
        s.sendFrames([ping(8)]);
        await s.readUntil((f) => f.type === "pong" && f.data[1] === 8, 3000);
        const pongs = s.received.filter((f) => f.type === "pong" && f.data[0] === 0xc0).map((f) =>
          (f as { data: Uint8Array }).data
        );
        eq(
          pongs.map((d) => toHex(d)),
          [1, 2, 3, 4, 5, 6, 7, 8].map((b) => toHex((ping(b) as { data: Uint8Array }).data)),
          "PONGs",
        );
      });
    },
  },
  {
    name:
      "KEY_UPDATE with update_requested=1 is answered at the end of the gateway's next record, with update_requested=0",
    section: "§5.3",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        s.sendFrames([ping(9), { type: "key_update", updateRequested: true }]);
        const r = await nextRecord(s);
        if (!r) fail("no record after the request");
        const last = r.frames[r.frames.length - 1];
        eq(last.type === "key_update" ? { ku: last.updateRequested } : { type: last.type }, {
          ku: false,
        }, "last frame of the next record");
        // Both directions moved: a PING in epoch 1 is answered in the gateway's epoch 1.
        await expectAlive(s, "after the key update");
        eq(s.rx.rxEpoch, 1, "gateway send epoch");
      });
    },
  },
  {
    name:
      "the receiver of a client CLOSE (code 4321) sends no frame and closes the WebSocket with 1000 ''",
    section: "§6.6",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const before = s.received.length;
        s.sendFrames([{ type: "close", code: 4321, reason: "client done" }]);
        const c = await s.conn.waitClose(3000).catch(() => null);
        eq(c, { code: 1000, reason: "" }, "WebSocket close");
        eq(s.conn.inbox.filter((m) => typeof m !== "string").length, 0, "records after the CLOSE");
        eq(s.received.length, before, "frames after the CLOSE");
      });
    },
  },
  {
    name: "frames after a CLOSE in the same record are discarded (no PONG, no origin request)",
    section: "§6.6",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const path = `/hello?after-close=${crypto.randomUUID()}`;
        s.sendFrames([
          { type: "close", code: 1000, reason: "" },
          ping(10),
          {
            type: "headers",
            stream: 1,
            endStream: true,
            payload: encodeRequestHead({
              method: "GET",
              scheme: "https",
              authority: H.origin,
              path,
              headers: [],
            }),
          },
        ]);
        const c = await s.conn.waitClose(3000).catch(() => null);
        eq(c?.code ?? null, 1000, "WebSocket close");
        eq(s.conn.inbox.filter((m) => typeof m !== "string").length, 0, "records after the CLOSE");
        await sleep(200);
        eq(
          ctx.originPaths().filter((p) => p === path).length,
          0,
          "origin requests for the discarded HEADERS",
        );
      });
    },
  },
  {
    name: "a malformed frame after a CLOSE in the same record is still a protocol_error (4011)",
    section: "§6.6, §6.1",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        s.send(
          s.sealRaw(
            concat(
              encodeFrame({ type: "close", code: 1000, reason: "" }),
              new Uint8Array([0x0a, 0, 0, 0, 0, 0, 0, 0]),
            ),
          ),
        );
        await expectClose(s, C.protocol_error, "CLOSE + unknown frame type");
      });
    },
  },
  {
    name: "ClientHello extension block with 3 trailing bytes → 4011",
    section: "§3.4",
    async run(ctx) {
      eq(
        await handshakeClose(ctx, withExtensionBlock(ctx, new Uint8Array([0x00, 0x01, 0x00]))),
        C.protocol_error,
        "close",
      );
    },
  },
  {
    name:
      "ClientHello: unknown critical extension in a block that is malformed elsewhere → 4011, not 4012",
    section: "§3.4",
    async run(ctx) {
      const block = concat(ext(0x8abc), new Uint8Array([0x00, 0x01]));
      eq(await handshakeClose(ctx, withExtensionBlock(ctx, block)), C.protocol_error, "close");
    },
  },
  {
    name: "ClientHello: unknown critical extension next to a repeated type → 4011, not 4012",
    section: "§3.4",
    async run(ctx) {
      const block = concat(
        ext(0x8abc),
        ext(0x0001, new Uint8Array(2)),
        ext(0x0001, new Uint8Array(2)),
      );
      eq(await handshakeClose(ctx, withExtensionBlock(ctx, block)), C.protocol_error, "close");
    },
  },
  {
    name: "ClientHello: a well-formed block with an unknown critical extension → 4012",
    section: "§3.4",
    async run(ctx) {
      eq(
        await handshakeClose(
          ctx,
          withExtensionBlock(ctx, concat(ext(0x0001, new Uint8Array(3)), ext(0x8abc))),
        ),
        C.unsupported_extension,
        "close",
      );
    },
  },
  {
    name:
      "a message above the pre-ServerHello maximum (4,000 bytes) → 1009 at the frame header, else 4011",
    section: "§1",
    async run(ctx) {
      const msg = new Uint8Array(4000);
      msg[0] = 0x01;
      msg[1] = 0x01;
      eq(await handshakeClose(ctx, msg), ctx.atFrameHeader ? 1009 : C.protocol_error, "close");
    },
  },
  {
    name:
      "WINDOW_UPDATE and RESET_STREAM stay allowed after the client's END_STREAM; the gateway does not answer the RESET_STREAM",
    section: "§6.2",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const id = s.request({ authority: H.hold, path: "/" }); // END_STREAM on the HEADERS; hold never answers
        s.sendFrames([{ type: "window_update", stream: id, increment: 16384 }]);
        await expectAlive(s, "WINDOW_UPDATE after END_STREAM");
        s.sendFrames([{ type: "reset_stream", stream: id, errorCode: 0 }]);
        await expectAlive(s, "RESET_STREAM after END_STREAM");
        await sleep(200);
        await expectAlive(s, "later");
        eq(
          s.received.filter((f) => f.type === "reset_stream" && f.stream === id).length,
          0,
          "RESET_STREAM in answer",
        );
      });
    },
  },
  {
    name: "late frames for a finished stream are ignored; a HEADERS for its id → 4011",
    section: "§6.2",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const id = s.request({ authority: H.origin, path: "/hello" });
        if (!(await s.bodyOn(id, 5000))) fail("no response");
        s.sendFrames([{ type: "window_update", stream: id, increment: 1 }]);
        s.sendFrames([{ type: "data", stream: id, endStream: true, payload: new Uint8Array(3) }]);
        s.sendFrames([{ type: "reset_stream", stream: id, errorCode: 0 }]);
        await expectAlive(s, "late WINDOW_UPDATE / DATA / RESET_STREAM");
        s.sendFrames([{
          type: "headers",
          stream: id,
          endStream: true,
          payload: encodeRequestHead({
            method: "GET",
            scheme: "https",
            authority: H.origin,
            path: "/hello",
            headers: [],
          }),
        }]);
        await expectClose(s, C.protocol_error, "HEADERS for a used id");
      });
    },
  },
  {
    name: "a frame for an id above the highest opened → 4011",
    section: "§6.2",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const id = s.request({ authority: H.origin, path: "/hello" });
        await s.bodyOn(id, 5000);
        s.sendFrames([{ type: "window_update", stream: id + 2, increment: 1 }]);
        await expectClose(s, C.protocol_error, "WINDOW_UPDATE on a higher id");
      });
    },
  },
  {
    name:
      `stream count: a client RESET_STREAM frees the slot at once (max_streams ${HARDENING_LIMITS.maxStreams}); one more is REFUSED`,
    section: "§6.2",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const max = HARDENING_LIMITS.maxStreams!;
        const ids = Array.from({ length: max }, () => s.request({ authority: H.hold, path: "/" }));
        s.sendFrames([{ type: "reset_stream", stream: ids[0], errorCode: 0 }]);
        const fresh = s.request({ authority: H.hold, path: "/" });
        const over = s.request({ authority: H.hold, path: "/" });
        const r = await s.readUntil((f) => f.type === "reset_stream" && f.stream === over, 3000);
        if (!r || r.type !== "reset_stream") fail("the stream over the limit was not reset");
        eq(r.errorCode, 1, "reset code of the stream over the limit (REFUSED)");
        eq(
          s.received.filter((f) => f.type === "reset_stream" && f.stream === fresh).length,
          0,
          "the stream in the freed slot was refused",
        );
        for (const id of [...ids.slice(1), fresh]) {
          s.sendFrames([{ type: "reset_stream", stream: id, errorCode: 0 }]);
        }
      });
    },
  },
  {
    name:
      "request heads: authority and host agreement, normalisation, and the answers' pqgate-error",
    section: "§6.4",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        expectOriginAnswer(
          await ask(s, head("", [["host", H.origin]])),
          200,
          "empty authority, host field",
        );
        expectOriginAnswer(
          await ask(s, head("ORIGIN.Test:443")),
          200,
          "host case and default port",
        );
        expectGatewayAnswer(await ask(s, head("")), 400, "bad_request", "empty authority, no host");
        expectGatewayAnswer(
          await ask(s, head(H.origin, [["host", "other.test"]])),
          403,
          "forbidden",
          "authority and host disagree",
        );
        expectGatewayAnswer(
          await ask(s, head("", [["host", H.origin], ["host", H.origin]])),
          403,
          "forbidden",
          "two host fields",
        );
        expectGatewayAnswer(
          await ask(s, head(H.origin, [["host", `${H.origin}:`]])),
          403,
          "forbidden",
          "host with an empty port",
        );
        expectGatewayAnswer(
          await ask(s, head(H.origin, [["host", `${H.origin}:000443`]])),
          403,
          "forbidden",
          "host port of 6 digits",
        );
        expectGatewayAnswer(await ask(s, head(`${H.origin}.`)), 403, "forbidden", "trailing dot");
        expectGatewayAnswer(await ask(s, head(`u@${H.origin}`)), 400, "bad_request", "userinfo");
        expectGatewayAnswer(await ask(s, head("nowhere.test")), 403, "forbidden", "no route");
        expectGatewayAnswer(
          await ask(s, head(H.origin, [["x-big", "a".repeat(HARDENING_LIMITS.maxHeaderBytes!)]])),
          431,
          "headers_too_large",
          "head over max_header_bytes",
        );
      });
    },
  },
  {
    name:
      "request heads: an authority the URL parser would rewrite (port zeros, empty port, decimal IPv4) → 400",
    section: "§6.4",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        for (const authority of ["origin.test:00443", "origin.test:", "2130706433", "127.1"]) {
          expectGatewayAnswer(await ask(s, head(authority)), 400, "bad_request", authority);
        }
        // Case and the default port are the only normalisations.
        expectOriginAnswer(
          await ask(s, head("ORIGIN.test:443")),
          200,
          "uppercase host, default port",
        );
      });
    },
  },
  {
    name: "request heads: CONNECT, TRACE and TRACK → 405 method_not_allowed",
    section: "§6.4",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        for (const method of ["CONNECT", "TRACE", "TRACK"]) {
          expectGatewayAnswer(
            await ask(s, head(H.origin, [], { method })),
            405,
            "method_not_allowed",
            method,
          );
        }
      });
    },
  },
  {
    name: "request heads: the gateway's own answer to HEAD has pqgate-error and no content",
    section: "§6.4",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const a = await ask(s, head("nowhere.test", [], { method: "HEAD" }));
        eq(a.status, 403, "HEAD with no route: status");
        eq(field(a, "pqgate-error"), ["forbidden"], "HEAD with no route: pqgate-error");
        eq(a.body, "", "HEAD with no route: no content");
      });
    },
  },
  {
    name: "request bodies: content-length rules and GET with a body → 400 with pqgate-error",
    section: "§6.4",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const post = (cl: string[]) =>
          head(H.origin, cl.map((v) => ["content-length", v] as [string, string]), {
            method: "POST",
            path: "/echo",
          });
        const data = (n: number, end = true): Frame => ({
          type: "data",
          stream: 0,
          endStream: end,
          payload: new Uint8Array(n).fill(0x31), /* "111": JSON for the echo origin */
        });
        expectOriginAnswer(
          await ask(s, post(["3"]), { endStream: false, data: [data(3)] }),
          200,
          "content-length equal to the body",
        );
        expectGatewayAnswer(
          await ask(s, post(["5"]), { endStream: false, data: [data(3)] }),
          400,
          "bad_request",
          "body stops short of content-length",
        );
        expectGatewayAnswer(
          await ask(s, post(["3"])),
          400,
          "bad_request",
          "non-zero content-length, HEADERS with END_STREAM",
        );
        expectGatewayAnswer(
          await ask(s, post(["3a"]), { endStream: false, data: [data(3)] }),
          400,
          "bad_request",
          "content-length not digits",
        );
        expectGatewayAnswer(
          await ask(s, post(["0000000000000003"]), { endStream: false, data: [data(3)] }),
          400,
          "bad_request",
          "content-length of 16 digits",
        );
        expectGatewayAnswer(
          await ask(s, post([String(HARDENING_LIMITS.maxBodyBytes! + 1)]), { endStream: false }),
          413,
          "body_too_large",
          "content-length over max_body_bytes",
        );
        expectGatewayAnswer(
          await ask(s, head(H.origin), { endStream: false, data: [data(0)] }),
          400,
          "bad_request",
          "GET with an empty DATA END_STREAM",
        );
      });
    },
  },
  {
    name:
      "the key configuration at the host root: normative JSON (key_id 16 lowercase hex, kem X-Wing, integer suites, version)",
    section: "§8.1, §8.2",
    async run(ctx) {
      const base = ctx.target.httpUrl.replace(/\/$/, "");
      const r = await fetch(`${base}/.well-known/pqgate`, {
        headers: { accept: "application/json" },
      });
      eq(r.status, 200, "status");
      eq(
        (r.headers.get("content-type") ?? "").split(";")[0].trim(),
        "application/json",
        "content-type",
      );
      eq(r.headers.get("cache-control"), "public, max-age=60", "cache-control");
      const doc = await r.json();
      eq(doc.version, 1, "version");
      eq(doc.versions, [1], "versions");
      if (
        !Array.isArray(doc.suites) || doc.suites.length === 0 ||
        !doc.suites.every((x: unknown) => Number.isInteger(x) && [1, 2].includes(x as number))
      ) {
        fail(`suites ${JSON.stringify(doc.suites)}`);
      }
      if (!Array.isArray(doc.keys) || doc.keys.length < 1) fail("keys");
      const k = doc.keys[0];
      if (!/^[0-9a-f]{16}$/.test(k.key_id)) fail(`key_id ${k.key_id}`);
      eq(k.key_id, toHex(ctx.target.keyId), "key_id value");
      eq(k.kem, "X-Wing", "kem");
      if (typeof k.public_key !== "string" || !/^[A-Za-z0-9_-]{1622}$/.test(k.public_key)) {
        fail("public_key is not 1,622 base64url characters");
      }
      eq(toHex(fromBase64Url(k.public_key)), toHex(ctx.target.publicKey), "public_key");
      eq(k.pin, ctx.target.pin, "pin");
    },
  },
  {
    name: "the WebSocket layer: an upgrade without Origin and without a subprotocol is accepted",
    section: "§1",
    async run(ctx) {
      const ws = await openNodeWs(ctx, {});
      try {
        eq(ws.protocol, "", "subprotocol");
      } finally {
        ws.terminate();
      }
    },
  },
  {
    name: "the WebSocket layer: permessage-deflate offered by the client is not negotiated",
    section: "§1",
    async run(ctx) {
      const ws = await openNodeWs(ctx, { perMessageDeflate: true });
      try {
        eq(ws.extensions, "", "negotiated extensions");
      } finally {
        ws.terminate();
      }
    },
  },
  {
    name: "a client WebSocket close (4444) without a CLOSE frame is answered echoing its code",
    section: "§6.6",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        s.conn.ws.close(4444, "bye");
        eq((await s.conn.closed).code, 4444, "answer to a WebSocket close 4444");
      });
    },
  },
  {
    name: "a client WebSocket close without a status code is answered with 1000 or no code (1005)",
    section: "§6.6",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        s.conn.ws.close();
        const code = (await s.conn.closed).code;
        if (code !== 1000 && code !== 1005) {
          fail(`answer to a WebSocket close without code: ${code}`);
        }
      });
    },
  },
];

/** §6.2 "past 2^31-1" on the wire: a first WINDOW_UPDATE of 2^31-1 on a fresh stream → 4013. */
WIRE_CASES.push({
  name: "WINDOW_UPDATE taking the gateway's send window past max_window and 2^31-1 → 4013",
  section: "§6.2, §9",
  async run(ctx) {
    await withReadySession(ctx, async (s) => {
      const id = s.request({ authority: H.hold, path: "/" });
      s.sendFrames([{ type: "window_update", stream: id, increment: 2 ** 31 - 1 }]);
      await expectClose(s, C.limit_exceeded, "window past 2^31-1");
    });
  },
});

/**
 * §1 (1.2) the ClientHello in the upgrade URL: opens a `ws` socket to `<wsUrl>?<query>` offering
 * `pqgate, pqgate.hello`; resolves with the refused status, or the selected subprotocol and the
 * first gateway message (bytes) or the close code.
 */
async function urlHelloUpgrade(ctx: WireContext, query: string): Promise<
  { status: number } | { protocol: string; first: Uint8Array | null; close: number | null }
> {
  // deno-lint-ignore no-explicit-any
  const ws: any = new (WS as any)(`${ctx.target.wsUrl}?${query}`, ["pqgate", "pqgate.hello"]);
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no answer within 3 s"));
    }, 3000);
    const done = (v: Awaited<ReturnType<typeof urlHelloUpgrade>>) => {
      clearTimeout(timer);
      try {
        ws.terminate();
      } catch { /* gone */ }
      resolve(v);
    };
    ws.on(
      "unexpected-response",
      (_q: unknown, res: { statusCode: number }) => done({ status: res.statusCode }),
    );
    ws.on("error", (e: unknown) => {
      clearTimeout(timer);
      reject(e);
    });
    ws.on(
      "message",
      (d: Uint8Array) => done({ protocol: ws.protocol, first: new Uint8Array(d), close: null }),
    );
    ws.on("close", (code: number) => done({ protocol: ws.protocol, first: null, close: code }));
    // The close FRAME is the answer (workerd keeps the TCP connection open for seconds): `ws`
    // reports it on its receiver ("conclude"), as RawConn reads it (tests/hardening/wire.ts).
    ws.once("open", () =>
      ws._receiver?.on?.(
        "conclude",
        (code: number) => done({ protocol: ws.protocol, first: null, close: code }),
      ));
  });
}

const b64url = (b: Uint8Array) => {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
};

WIRE_CASES.push(
  {
    name:
      "ClientHello in the upgrade URL: pqgate.hello selected, the first message is the ServerHello",
    section: "§1",
    async run(ctx) {
      const { hello } = buildHello(ctx.target, new SecretBook());
      const r = await urlHelloUpgrade(ctx, `pqgate_hello=${b64url(hello)}`);
      if ("status" in r) fail(`upgrade refused ${r.status}`);
      eq(r.protocol, "pqgate.hello", "selected subprotocol");
      eq(r.first?.[0] ?? null, 0x02, "first message type (ServerHello)");
    },
  },
  {
    name:
      "ClientHello in the upgrade URL: a value longer than 4,563 characters → HTTP 414 before the upgrade",
    section: "§1",
    async run(ctx) {
      const r = await urlHelloUpgrade(ctx, `pqgate_hello=${"A".repeat(4564)}`);
      eq("status" in r ? r.status : null, 414, "HTTP status");
    },
  },
  {
    name:
      "ClientHello in the upgrade URL: malformed (not base64url, truncated) → 4011 as a first message",
    section: "§1, §3.1",
    async run(ctx) {
      const { hello } = buildHello(ctx.target, new SecretBook());
      for (const value of ["%2B%2B%2B", b64url(hello.subarray(0, 100))]) {
        const r = await urlHelloUpgrade(ctx, `pqgate_hello=${value}`);
        if ("status" in r) fail(`upgrade refused ${r.status}`);
        eq(r.close, C.protocol_error, `close code for ${value.slice(0, 12)}…`);
        // The same bytes as a first message close the same way.
        if (value !== "%2B%2B%2B") {
          eq(await handshakeClose(ctx, hello.subarray(0, 100)), C.protocol_error, "first message");
        }
      }
    },
  },
  {
    name:
      "ClientHello in the upgrade URL: ignored without pqgate.hello offered (first-message hello works)",
    section: "§1, §3.5",
    async run(ctx) {
      const { hello } = buildHello(ctx.target, new SecretBook());
      const conn = await RawConn.open(`${ctx.target.wsUrl}?pqgate_hello=${b64url(hello)}`);
      try {
        eq(conn.ws.protocol, "", "subprotocol");
        conn.send(hello);
        const first = await conn.next(3000);
        eq(first instanceof Uint8Array ? first[0] : null, 0x02, "ServerHello");
      } finally {
        await conn.close();
      }
    },
  },
);

// ---- 1.3 client authentication (§3.4.1, §3.4.2, §6.7, §6.8), on a gateway without any method
// configured (the conformance gateway): the extensions are understood, nothing is enabled.

/** A session whose ClientHello announced client_auth `method`; SESSION_INFO not read yet. */
async function withClientAuthSession(
  ctx: WireContext,
  method: "password" | "token",
  fn: (s: RawSession) => Promise<void>,
): Promise<void> {
  const s = await RawSession.connect(ctx.target, new SecretBook(), {
    extensions: [clientAuthExtension(method)],
  });
  try {
    await fn(s);
  } finally {
    await s.conn.close();
  }
}

WIRE_CASES.push(
  {
    name:
      "client_auth on a gateway without client authentication: AUTH_RESULT method_not_enabled, then the channel works",
    section: "§3.4.2, §6.7, §6.8",
    async run(ctx) {
      await withClientAuthSession(ctx, "token", async (s) => {
        const binding = authBinding(s.keys.exporterSecret, "token");
        const data = new Uint8Array([1, 3, 1, 3, 1, 3, 1, 3]);
        s.sendFrames([
          { type: "auth", auth: { method: "token", binding, token: "eyJ.e30.sig" } },
          { type: "ping", data },
        ]);
        const r = await s.readUntil((f) => f.type === "auth_result", 3000);
        if (!r || r.type !== "auth_result") fail("no AUTH_RESULT");
        eq(r.result, { status: "method_not_enabled", retryAfterMs: 0, subject: null }, "result");
        await expectAlive(s, "after method_not_enabled");
      });
    },
  },
  {
    name: "client_auth: a first record that does not start with AUTH → 4011",
    section: "§6.7",
    async run(ctx) {
      await withClientAuthSession(ctx, "password", async (s) => {
        s.sendFrames([{ type: "ping", data: new Uint8Array(8) }]);
        await expectClose(s, C.protocol_error, "PING before AUTH");
      });
    },
  },
  {
    name: "an AUTH on a channel that announced no client_auth → 4011",
    section: "§6.7",
    async run(ctx) {
      await withReadySession(ctx, async (s) => {
        const binding = authBinding(s.keys.exporterSecret, "token");
        s.sendFrames([{ type: "auth", auth: { method: "token", binding, token: "t" } }]);
        await expectClose(s, C.protocol_error, "unannounced AUTH");
      });
    },
  },
  {
    name:
      "psk for an identity the gateway has no key for: the ServerHello fails the client's check (4004)",
    section: "§3.4.1",
    async run(ctx) {
      // The client announces psk but mixes no PSK in: the gateway mixes its dummy, so
      // server_finished cannot verify (it would if the gateway ignored the extension).
      const book = new SecretBook();
      const { hs, hello } = buildHello(ctx.target, book, { extensions: [pskExtension("nobody")] });
      const conn = await RawConn.open(ctx.target.wsUrl);
      try {
        conn.send(hello);
        const sh = await conn.next(3000);
        if (!(sh instanceof Uint8Array)) fail(`no ServerHello (close ${conn.closeInfo?.code})`);
        eq(sh.length, 1190, "ServerHello length");
        let code = "none";
        try {
          hs.receiveServerHello(sh);
        } catch (e) {
          code = (e as { code?: string }).code ?? "?";
        }
        eq(code, "handshake_failed", "client check");
      } finally {
        await conn.close();
      }
    },
  },
  {
    name: "psk and client_auth together → 4011; an unknown client_auth method → 4012",
    section: "§3.4, §3.4.2",
    async run(ctx) {
      const both = concat(ext(0x8002, new Uint8Array([1, 65])), ext(0x8003, new Uint8Array([1])));
      eq(await handshakeClose(ctx, withExtensionBlock(ctx, both)), C.protocol_error, "both");
      const unknown = ext(0x8003, new Uint8Array([9]));
      eq(
        await handshakeClose(ctx, withExtensionBlock(ctx, unknown)),
        C.unsupported_extension,
        "method 9",
      );
    },
  },
);
