/**
 * Test support for the client library: a WebSocket class whose every instance is wired to a
 * fresh in-memory gateway session (no real network). Test-only; not exported by mod.ts.
 */
import { seededRandom } from "../protocol/testing.ts";
import { type MemorySocket, memorySocketPair } from "../tunnel/memory-socket.ts";
import { ServerSession } from "../tunnel/server-session.ts";
import { TEST_KEY, TEST_LIMITS, waitFor, wireServer } from "../tunnel/testing.ts";
import type { AuthVerifier, RequestHandler } from "../tunnel/types.ts";
import { decodeClientHello } from "../protocol/hello.ts";
import { KNOWN_EXTENSIONS } from "../protocol/extensions.ts";
import { CLOSE_REASONS, closeCodeFor, PqgateError } from "../protocol/errors.ts";
import type { WebSocketLike } from "./websocket-socket.ts";
import { helloFromUpgrade } from "../tunnel/client-hello.ts";
import type { PqgateWebSocket } from "./pqgate-websocket.ts";
import { ServerHandshake } from "../protocol/handshake-server.ts";
import { RecordLayer } from "../protocol/record-layer.ts";
import { decodeFrames, encodeFrames, type Frame, MAX_FRAME_PAYLOAD } from "../protocol/frames.ts";
import { INITIAL_STREAM_WINDOW } from "../protocol/constants.ts";
import { decodeRequestHead, encodeResponseHead, type RequestHead } from "../tunnel/bhttp.ts";
import { encodeWsMessage, type WsMessage, WsMessageDecoder } from "../tunnel/ws-messages.ts";

export type ServerEnd = (ss: MemorySocket) => { shutdown?: () => void } | void;

/**
 * A WebSocket class whose every instance is connected to a fresh in-memory gateway end. With
 * `takesHello` the gateway reads a ClientHello in the upgrade URL as a 1.2 gateway does
 * (client-hello.ts `helloFromUpgrade`, PROTOCOL.md §1) and selects `pqgate.hello`; without, it
 * ignores URL and subprotocols as a 1.1 gateway on Deno.upgradeWebSocket did (`protocol` "").
 */
export function fakeWebSocket(serverEnd: ServerEnd, opts: { takesHello?: boolean } = {}) {
  const gw = {
    connections: 0,
    servers: [] as ({ shutdown?: () => void } | void)[],
    /** Upgrade URLs and offered subprotocols, in order. */
    upgrades: [] as { url: string; protocols: string[] }[],
    /** ClientHellos the gateway took from the URL. */
    urlHellos: 0,
  };
  class FakeWebSocket implements WebSocketLike {
    binaryType = "blob";
    readyState = 0;
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    #cs: MemorySocket;
    protocol = "";
    constructor(readonly url: string, protocols?: string | string[]) {
      const offered = protocols === undefined ? [] : [protocols].flat();
      gw.upgrades.push({ url, protocols: offered });
      const reading = opts.takesHello ? helloFromUpgrade(url, offered.join(", ")) : null;
      const [cs, ss] = memorySocketPair();
      this.#cs = cs;
      gw.connections++;
      gw.servers.push(serverEnd(ss));
      if (reading?.kind === "url") {
        this.protocol = reading.protocol;
        gw.urlHellos++;
        const hello = reading.hello;
        setTimeout(() => ss.onmessage?.(hello), 0);
      } else if (reading?.kind === "message") this.protocol = reading.protocol ?? "";
      cs.onmessage = (m) =>
        this.onmessage?.({ data: typeof m === "string" ? m : m.slice().buffer });
      cs.onclose = (code, reason) => {
        this.readyState = 3;
        this.onclose?.({ code, reason });
      };
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
      }, 0);
    }
    get bufferedAmount() {
      return this.#cs.bufferedAmount;
    }
    send(d: Uint8Array<ArrayBuffer>) {
      this.#cs.send(d);
    }
    close(code?: number, reason?: string) {
      this.#cs.close(code, reason);
    }
  }
  return { WebSocket: FakeWebSocket, gw };
}

/** A gateway end: a real ServerSession on the in-memory socket with the test key. */
export function gatewayEnd(
  handler: RequestHandler,
  opts: { auth?: AuthVerifier } = {},
): ServerEnd {
  return (ss) => {
    const server = new ServerSession({
      socket: ss,
      keys: [TEST_KEY],
      env: { now: Date.now, random: seededRandom(`gw ${Math.random()}`) },
      limits: TEST_LIMITS,
      handler,
      auth: opts.auth,
    });
    wireServer(server, ss);
    return { shutdown: () => server.shutdown() };
  };
}

/**
 * A gateway of revision 1.2 or older as far as extensions go: its ClientHello decoder knows
 * only padding (PROTOCOL.md §3.4), so `psk` and `client_auth` are unknown critical extensions
 * and it closes with 4012. Any other ClientHello goes on to a real session.
 */
export function oldGatewayEnd(handler: RequestHandler): ServerEnd {
  const inner = gatewayEnd(handler);
  return (ss) => {
    const end = inner(ss);
    const next = ss.onmessage;
    let first = true;
    ss.onmessage = (m) => {
      if (first && typeof m !== "string") {
        first = false;
        try {
          decodeClientHello(m, KNOWN_EXTENSIONS);
        } catch (e) {
          if (e instanceof PqgateError) {
            ss.close(closeCodeFor(e.code), CLOSE_REASONS[e.code]);
            return;
          }
        }
      }
      next?.(m);
    };
    return end;
  };
}

// ---- a scripted WebSocket-stream gateway (PROTOCOL.md §6.9) ----------------------------------

/** One WebSocket stream at the scripted gateway. */
export interface ScriptedWsStream {
  readonly id: number;
  readonly head: RequestHead;
  /** Messages the client sent, decoded, in order (close included). */
  readonly messages: WsMessage[];
  /** The client's END_STREAM arrived. */
  readonly clientEnded: boolean;
  /** The client's RESET_STREAM code, if it reset the stream. */
  readonly clientReset: number | null;
  /** WINDOW_UPDATE increments the client granted on this stream, in total. */
  readonly granted: number;
  /** Bytes of messages waiting for the client's window. */
  readonly pending: number;
  /** The 200 (no END_STREAM unless `endStream`: a broken gateway), with `headers`. */
  accept(headers?: [string, string][], endStream?: boolean): void;
  /** A refusal: HEADERS `status` + a JSON body with END_STREAM, then RESET_STREAM CANCEL. */
  refuse(status: number, error: string): void;
  /** Queues a message (sent as the client's window allows). */
  send(m: WsMessage): void;
  /** Queues raw message-stream bytes (for malformed streams). */
  sendRaw(bytes: Uint8Array, endStream?: boolean): void;
  reset(code: number): void;
  /** Called with each message the client sends (after it is recorded). */
  onMessage: ((m: WsMessage) => void) | null;
  /** Answer the client's close message with the same close and END_STREAM (default true). */
  answerClose: boolean;
}

export interface WsGatewayOptions {
  /** SESSION_INFO max_ws_message; undefined: a 44-byte SESSION_INFO (a 1.3 gateway). */
  maxWsMessage?: number;
  /** max_streams (default 100). */
  maxStreams?: number;
  /**
   * Called for each new stream; default: `echoWs`. `grant: false` in the options below stops
   * the gateway from granting the client window (a gateway that does not read).
   */
  onStream?: (s: ScriptedWsStream) => void;
  /** Grant the client window back as its DATA arrives (default true). */
  grant?: boolean;
}

/**
 * The default stream behaviour: accept (selecting the first offered subprotocol), echo every
 * text and binary message, answer a close message with the same close and END_STREAM.
 */
export function echoWs(s: ScriptedWsStream): void {
  const offered = s.head.headers.find(([n]) => n === "sec-websocket-protocol")?.[1];
  s.accept(offered ? [["sec-websocket-protocol", offered.split(",")[0].trim()]] : []);
  s.onMessage = (m) => s.send(m);
}

/**
 * A gateway end for `fakeWebSocket` that speaks frames directly: a real ServerHandshake and
 * RecordLayer, a SESSION_INFO with `maxWsMessage`, and WebSocket streams driven by the test
 * (stream windows kept both ways, one frame per record). No ServerSession: the client's side of
 * §6.9 is tested against exactly the bytes each case needs.
 */
export function wsGatewayEnd(o: WsGatewayOptions = {}): {
  end: ServerEnd;
  streams: ScriptedWsStream[];
  /** Close the channel (a CLOSE frame with `code`, then the socket). */
  closeChannel(code: number): void;
} {
  const streams: ScriptedWsStream[] = [];
  let closeChannel: (code: number) => void = () => {};
  const end: ServerEnd = (ss) => {
    const hs = new ServerHandshake({ keys: [TEST_KEY], random: seededRandom(`wsgw ${n++}`) });
    let layer: RecordLayer | null = null;
    let closed = false;
    const now = Date.now;
    const sendFrame = (f: Frame) => {
      if (!layer || closed) return;
      ss.send(layer.seal(encodeFrames([f]), now()));
    };
    closeChannel = (code) => {
      sendFrame({ type: "close", code, reason: "" });
      closed = true;
      ss.close(1000, "");
    };
    const live = new Map<number, ReturnType<typeof makeStream>>();
    const makeStream = (id: number, head: RequestHead) => {
      const decoder = new WsMessageDecoder(o.maxWsMessage ?? 0);
      let window = INITIAL_STREAM_WINDOW;
      const out: { bytes: Uint8Array; end: boolean }[] = [];
      let ended = false;
      const flush = () => {
        while (out.length > 0 && live.has(id)) {
          const c = out[0];
          if (c.bytes.length === 0) {
            out.shift();
            sendFrame({ type: "data", stream: id, endStream: c.end, payload: c.bytes });
            continue;
          }
          if (window <= 0) return;
          const n = Math.min(window, MAX_FRAME_PAYLOAD, c.bytes.length);
          const last = n === c.bytes.length;
          sendFrame({
            type: "data",
            stream: id,
            endStream: last && c.end,
            payload: c.bytes.subarray(0, n),
          });
          window -= n;
          if (last) out.shift();
          else c.bytes = c.bytes.subarray(n);
        }
      };
      const s: ScriptedWsStream & {
        onData(p: Uint8Array, end: boolean): void;
        onWindow(n: number): void;
        onReset(code: number): void;
      } = {
        id,
        head,
        messages: [],
        clientEnded: false,
        clientReset: null,
        granted: 0,
        get pending() {
          return out.reduce((a, c) => a + c.bytes.length, 0);
        },
        onMessage: null,
        answerClose: true,
        accept(headers = [], endStream = false) {
          sendFrame({
            type: "headers",
            stream: id,
            endStream,
            payload: encodeResponseHead({ status: 200, headers }),
          });
        },
        refuse(status, error) {
          sendFrame({
            type: "headers",
            stream: id,
            endStream: false,
            payload: encodeResponseHead({ status, headers: [["pqgate-error", error]] }),
          });
          sendFrame({
            type: "data",
            stream: id,
            endStream: true,
            payload: new TextEncoder().encode(JSON.stringify({ error, status })),
          });
          s.reset(0);
        },
        send(m) {
          s.sendRaw(encodeWsMessage(m, 0xffffffff), m.kind === "close");
        },
        sendRaw(bytes, endStream = false) {
          if (ended) return;
          ended = endStream;
          out.push({ bytes, end: endStream });
          flush();
          // §6.9: a close of the gateway's own (not an answer) resets the client's open direction.
          if (ended && !out.length && !s.clientEnded && !decoder.closed && live.has(id)) s.reset(0);
        },
        reset(code) {
          if (!live.has(id)) return;
          live.delete(id);
          sendFrame({ type: "reset_stream", stream: id, errorCode: code });
        },
        onData(p, end) {
          if (p.length > 0 && o.grant !== false && !end) {
            sendFrame({ type: "window_update", stream: id, increment: p.length });
          }
          for (const m of decoder.push(p)) {
            s.messages.push(m);
            if (m.kind === "close" && !ended && s.answerClose) {
              s.send({ kind: "close", code: m.code, reason: m.reason });
            } else s.onMessage?.(m);
          }
          if (end) {
            (s as { clientEnded: boolean }).clientEnded = true;
            if (ended && !out.length) live.delete(id);
          }
        },
        onWindow(n) {
          (s as { granted: number }).granted += n;
          window += n;
          flush();
          if (ended && !out.length && !s.clientEnded && !decoder.closed && live.has(id)) s.reset(0);
        },
        onReset(code) {
          (s as { clientReset: number | null }).clientReset = code;
          live.delete(id);
        },
      };
      return s;
    };
    ss.onmessage = (m) => {
      if (typeof m === "string" || closed) return;
      if (!layer) {
        if (m[0] === 0x01) ss.send(hs.receiveClientHello(m));
        else {
          layer = new RecordLayer({
            role: "server",
            keys: hs.receiveClientFinished(m),
            now: now(),
          });
          sendFrame({
            type: "session_info",
            info: {
              maxStreams: o.maxStreams ?? 100,
              maxHeaderBytes: 16376,
              maxBodyBytes: 0,
              idleTimeoutMs: 60_000,
              sessionLifetimeS: 3600,
              sessionId: new Uint8Array(16).fill(7),
              maxWindow: 1 << 24,
              ...(o.maxWsMessage === undefined ? {} : { maxWsMessage: o.maxWsMessage }),
            },
          });
        }
        return;
      }
      const frames = decodeFrames(layer.open(m, now()));
      for (const f of frames) {
        switch (f.type) {
          case "ping":
            sendFrame({ type: "pong", data: f.data });
            break;
          case "close":
            closed = true;
            break;
          case "headers": {
            const head = decodeRequestHead(f.payload, { maxBytes: 16376 });
            const s = makeStream(f.stream, head);
            live.set(f.stream, s);
            streams.push(s);
            (o.onStream ?? echoWs)(s);
            break;
          }
          case "data":
            live.get(f.stream)?.onData(f.payload, f.endStream);
            break;
          case "window_update":
            if (f.stream !== 0) live.get(f.stream)?.onWindow(f.increment);
            break;
          case "reset_stream":
            live.get(f.stream)?.onReset(f.errorCode);
            break;
        }
      }
      if (frames[frames.length - 1]?.type === "key_update") layer.updateRx();
    };
    ss.onclose = () => (closed = true);
  };
  return { end, streams, closeChannel: (code) => closeChannel(code) };
}
let n = 0;

/**
 * Records a tunneled WebSocket's events in order ("open", "text:<length>", "binary", "error",
 * "close:<code>"), its messages, the close and the error event.
 */
export function recordWebSocket(ws: PqgateWebSocket) {
  const log: string[] = [];
  const messages: (string | Blob | ArrayBuffer)[] = [];
  let close: CloseEvent | null = null;
  let error: (Event & { message?: string }) | null = null;
  ws.addEventListener("open", () => log.push("open"));
  ws.addEventListener("message", (e) => {
    const d = (e as MessageEvent).data;
    messages.push(d);
    log.push(typeof d === "string" ? `text:${d.length}` : `binary`);
  });
  ws.addEventListener("error", (e) => {
    error = e;
    log.push("error");
  });
  ws.addEventListener("close", (e) => {
    close = e as CloseEvent;
    log.push(`close:${close.code}`);
  });
  return {
    log,
    messages,
    get close(): CloseEvent | null {
      return close;
    },
    get error(): (Event & { message?: string }) | null {
      return error;
    },
    opened: (ms = 20_000) => waitFor(() => log.includes("open") || close !== null, ms, "open"),
    closed: (ms = 20_000) => waitFor(() => close !== null, ms, "close"),
  };
}
