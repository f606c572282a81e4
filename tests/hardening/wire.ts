/**
 * Raw pqgate/1 wire tools for the hardening suite: a raw WebSocket (Node's `ws`, which works
 * in Deno and does not stall on >1 KiB client messages), a hand-driven client handshake whose
 * every secret is recorded (so tests can assert that no log line contains one), and a record
 * sender that can seal under any epoch / sequence number to replay, reorder or tamper.
 *
 * Runtime-agnostic apart from `ws`: usable against the Deno gateway and a Worker alike.
 */
import { WebSocket as NodeWebSocket } from "ws";
import { concat, toBase64Url, toHex, u16 } from "../../src/protocol/bytes.ts";
import { aeadForSuite } from "../../src/protocol/aead.ts";
import {
  MSG_RECORD,
  RECORD_HEADER_LEN,
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
  XWING_PK_LEN,
} from "../../src/protocol/constants.ts";
import type { Extension } from "../../src/protocol/extensions.ts";
import { decodeFrames, encodeFrame, encodeFrames, type Frame } from "../../src/protocol/frames.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import { decodeServerHello } from "../../src/protocol/hello.ts";
import { xwingNoble } from "../../src/protocol/kem.ts";
import { RecordLayer } from "../../src/protocol/record-layer.ts";
import { nextTrafficSecret, trafficKeys } from "../../src/protocol/traffic-keys.ts";
import type { SessionKeys } from "../../src/protocol/types.ts";
import { decodeResponseHead, encodeRequestHead } from "../../src/tunnel/bhttp.ts";

/** What the hardening tables need to know about a gateway under test. */
export interface HardeningTarget {
  /** Channel endpoint, e.g. ws://127.0.0.1:8787/pqgate. */
  wsUrl: string;
  /** HTTP base of the gateway (/.well-known/pqgate lives under it). */
  httpUrl: string;
  /** Pin of `publicKey`. */
  pin: string;
  /** A live gateway key (1216 bytes) and its 8-byte key id. */
  publicKey: Uint8Array;
  keyId: Uint8Array;
  /**
   * Source address for raw connections (per-address limit cases bind 127.0.0.2, 127.0.0.3, ...:
   * all of 127.0.0.0/8 is loopback on Linux). Default: the OS's choice.
   */
  localAddress?: string;
}

/** `ws`'s WebSocket as the client library's WebSocket option. */
export const WS = NodeWebSocket as unknown as typeof WebSocket;

/** `ws`'s WebSocket bound to a local (source) address, as the client library's WebSocket option. */
export function wsFrom(localAddress: string): typeof WebSocket {
  class BoundWebSocket extends NodeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { localAddress });
    }
  }
  return BoundWebSocket as unknown as typeof WebSocket;
}

export type Message = Uint8Array | string;
export interface CloseEventInfo {
  code: number;
  reason: string;
}

// ------------------------------------------------------------------------------ secrets

/** Every secret the test side knows, for the "no secret in logs" check. */
export class SecretBook {
  readonly items: { label: string; bytes: Uint8Array }[] = [];
  add(label: string, bytes: Uint8Array | null | undefined): void {
    if (bytes && bytes.length >= 16) this.items.push({ label, bytes: new Uint8Array(bytes) });
  }
  /** Encodings of every secret (and of its first 16 bytes) that must never be logged. */
  needles(): { label: string; text: string }[] {
    const out: { label: string; text: string }[] = [];
    for (const { label, bytes } of this.items) {
      for (const b of [bytes, bytes.subarray(0, 16)]) {
        const hex = toHex(b);
        out.push({ label: `${label} hex`, text: hex });
        out.push({ label: `${label} HEX`, text: hex.toUpperCase() });
        out.push({ label: `${label} base64url`, text: toBase64Url(b) });
        out.push({
          label: `${label} base64`,
          text: btoa(String.fromCharCode(...b)).replace(/=+$/, ""),
        });
        out.push({ label: `${label} byte list`, text: Array.from(b).join(",") });
      }
    }
    return out;
  }
}

/** Throws if any log text contains a known secret, or a log field holds raw bytes. */
export function assertNoSecrets(lines: readonly unknown[], book: SecretBook): void {
  const needles = book.needles();
  for (const line of lines) {
    findBytes(line, "log");
    const text = typeof line === "string" ? line : JSON.stringify(line);
    for (const n of needles) {
      if (text.includes(n.text)) {
        throw new Error(`a log line contains ${n.label}: ${text.slice(0, 200)}`);
      }
    }
  }
}

function findBytes(v: unknown, path: string, depth = 0): void {
  if (depth > 8 || v === null || typeof v !== "object") return;
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    throw new Error(`raw bytes logged at ${path}`);
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    findBytes(x, `${path}.${k}`, depth + 1);
  }
}

// ------------------------------------------------------------------------------ raw socket

/** A raw WebSocket with an inbox and a close promise. */
export class RawConn {
  readonly ws: InstanceType<typeof NodeWebSocket>;
  readonly inbox: Message[] = [];
  closeInfo: CloseEventInfo | null = null;
  readonly closed: Promise<CloseEventInfo>;
  readonly #wakers = new Set<() => void>();
  #wake(): void {
    for (const w of [...this.#wakers]) w();
  }

  private constructor(ws: InstanceType<typeof NodeWebSocket>) {
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      const onClose = (code: number, reason: Uint8Array) => {
        if (this.closeInfo) return;
        this.closeInfo = { code, reason: new TextDecoder().decode(reason) };
        resolve(this.closeInfo);
        this.#wake();
      };
      ws.on("close", onClose);
      // The close FRAME is the gateway's answer: do not wait for the TCP connection to end too
      // (local workerd keeps it open ~10 s after a hibernatable socket closed). `ws` reports the
      // frame only on its receiver ("conclude"), an internal but stable event.
      ws.once("open", () => {
        (ws as unknown as {
          _receiver?: { on?(e: string, f: (c: number, r: Uint8Array) => void): void };
        })
          ._receiver?.on?.("conclude", onClose);
      });
    });
    ws.on("message", (data: Uint8Array | Uint8Array[] | ArrayBuffer, isBinary: boolean) => {
      const bytes = Array.isArray(data)
        ? concat(...data)
        : data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      this.inbox.push(isBinary ? bytes : new TextDecoder().decode(bytes));
      this.#wake();
    });
    ws.on("error", () => {/* close follows */});
  }

  static open(url: string, timeoutMs = 5000, localAddress?: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const ws = new NodeWebSocket(url, localAddress ? { localAddress } : undefined);
      const conn = new RawConn(ws);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no WebSocket to ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once("open", () => {
        clearTimeout(timer);
        resolve(conn);
      });
      ws.once("unexpected-response", (_req: unknown, res: { statusCode: number }) => {
        clearTimeout(timer);
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`));
      });
      ws.once("error", (e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  get isOpen(): boolean {
    return this.closeInfo === null && this.ws.readyState === NodeWebSocket.OPEN;
  }

  send(m: Message): void {
    if (this.ws.readyState !== NodeWebSocket.OPEN) return;
    this.ws.send(m, { binary: typeof m !== "string" });
  }

  /** The next message, or null once closed / after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Message | null> {
    const end = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (this.closeInfo || Date.now() >= end) return null;
      await new Promise<void>((r) => {
        const w = () => {
          clearTimeout(t);
          this.#wakers.delete(w);
          r();
        };
        const t = setTimeout(w, Math.max(1, end - Date.now()));
        this.#wakers.add(w);
      });
    }
    return this.inbox.shift()!;
  }

  /** Resolves with the close the gateway sent; throws after `timeoutMs`. */
  async waitClose(timeoutMs = 5000): Promise<CloseEventInfo> {
    let t: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((
          _,
          rej,
        ) => (t = setTimeout(() => rej(new Error(`no close within ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } finally {
      clearTimeout(t);
    }
  }

  /** Closes (1000) and waits a little for the close handshake; terminates if it stalls. */
  async close(): Promise<void> {
    if (this.closeInfo) {
      if (this.ws.readyState !== NodeWebSocket.CLOSED) this.ws.terminate();
      return;
    }
    try {
      this.ws.close(1000, "");
    } catch { /* closing */ }
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.closed, new Promise((r) => (t = setTimeout(r, 1000)))]);
    clearTimeout(t);
    if (!this.closeInfo) this.ws.terminate();
  }
}

// ------------------------------------------------------------------------------ handshake

export interface HelloOptions {
  suites?: SuiteId[];
  extensions?: Extension[];
  /** Rewrites the ClientHello after it was built (tampering). */
  mutate?: (ch: Uint8Array) => Uint8Array;
  /** Use this public key / key id instead of the target's (e.g. an unknown key id). */
  publicKey?: Uint8Array;
  keyId?: Uint8Array;
}

/** A ClientHello built by the real ClientHandshake with recorded randomness. */
export function buildHello(target: HardeningTarget, book: SecretBook, o: HelloOptions = {}): {
  hs: ClientHandshake;
  hello: Uint8Array;
  ekSeed: Uint8Array;
} {
  const draws: Uint8Array[] = [];
  const random = (n: number) => {
    const b = crypto.getRandomValues(new Uint8Array(n));
    draws.push(b.slice());
    return b;
  };
  const publicKey = o.publicKey ?? target.publicKey;
  const hs = new ClientHandshake({
    server: { keyId: o.keyId ?? target.keyId, publicKey },
    random,
    suites: o.suites,
    extensions: o.extensions,
  });
  let hello = hs.start();
  // Draw order (PROTOCOL.md Appendix A): client_random (public), ek seed, eseed for ct_S.
  const [, ekSeed, eseed] = draws;
  book.add("ephemeral key seed", ekSeed);
  book.add("eseed_S", eseed);
  if (publicKey.length === XWING_PK_LEN) {
    try {
      book.add("ss_S", xwingNoble.encapsulate(publicKey, eseed).sharedSecret);
    } catch { /* invalid key on purpose */ }
  }
  if (o.mutate) hello = o.mutate(hello.slice()) as typeof hello;
  return { hs, hello, ekSeed };
}

/** Manual record sender state for one direction (client → gateway). */
interface TxState {
  epoch: number;
  secret: Uint8Array;
  seq: number;
}

/** Seals a Record under any epoch and seq (no limits, no checks): for tampering tests. */
export function sealRecord(
  suite: SuiteId,
  secret: Uint8Array,
  epoch: number,
  seq: number,
  plaintext: Uint8Array,
): Uint8Array {
  const { key, iv } = trafficKeys(secret);
  const header = new Uint8Array(RECORD_HEADER_LEN);
  header[0] = MSG_RECORD;
  header[1] = epoch;
  const dv = new DataView(header.buffer);
  dv.setUint32(2, Math.floor(seq / 2 ** 32));
  dv.setUint32(6, seq >>> 0);
  const nonce = Uint8Array.from(iv);
  const nv = new DataView(nonce.buffer);
  nv.setUint32(4, nv.getUint32(4) ^ Math.floor(seq / 2 ** 32));
  nv.setUint32(8, (nv.getUint32(8) ^ (seq >>> 0)) >>> 0);
  return concat(header, aeadForSuite(suite).seal(key, nonce, header, plaintext));
}

/** An established channel driven by hand: send any frames, records or bytes. */
export class RawSession {
  readonly conn: RawConn;
  readonly keys: SessionKeys;
  readonly rx: RecordLayer;
  readonly tx: TxState;
  readonly book: SecretBook;
  /** Frames received from the gateway (decrypted), in order. */
  readonly received: Frame[] = [];
  #rxFailed = false;
  #nextStream = 1;

  constructor(conn: RawConn, keys: SessionKeys, book: SecretBook) {
    this.conn = conn;
    this.keys = keys;
    this.book = book;
    this.rx = new RecordLayer({ role: "client", keys, now: Date.now() });
    this.tx = { epoch: 0, secret: Uint8Array.from(keys.clientSecret), seq: 0 };
  }

  /** Opens a raw connection and completes a real pinned handshake. */
  static async connect(
    target: HardeningTarget,
    book: SecretBook,
    o: HelloOptions = {},
  ): Promise<RawSession> {
    const conn = await RawConn.open(target.wsUrl, 5000, target.localAddress);
    const { hs, hello, ekSeed } = buildHello(target, book, o);
    conn.send(hello);
    const sh = await conn.next(5000);
    if (!(sh instanceof Uint8Array)) {
      throw new Error(`no ServerHello (close ${conn.closeInfo?.code ?? "none"})`);
    }
    try {
      book.add("ss_E", xwingNoble.decapsulate(decodeServerHello(sh).ctE, ekSeed));
    } catch { /* the handshake below reports it */ }
    const { clientFinished, keys } = hs.receiveServerHello(sh);
    for (
      const [label, s] of [["c_ap", keys.clientSecret], ["s_ap", keys.serverSecret], [
        "exp",
        keys.exporterSecret,
      ]] as const
    ) {
      book.add(label, s);
      const tk = trafficKeys(s);
      book.add(`${label} key`, tk.key);
    }
    conn.send(clientFinished);
    return new RawSession(conn, keys, book);
  }

  get suite(): SuiteId {
    return this.keys.suite;
  }

  /** Next odd stream id (monotonic). */
  nextStreamId(): number {
    const id = this.#nextStream;
    this.#nextStream += 2;
    return id;
  }

  /** Seals a plaintext at the current tx epoch/seq (or the given ones) without sending it. */
  seal(plaintext: Uint8Array, at: { epoch?: number; seq?: number } = {}): Uint8Array {
    const seq = at.seq ?? this.tx.seq;
    const rec = sealRecord(this.suite, this.tx.secret, at.epoch ?? this.tx.epoch, seq, plaintext);
    if (at.seq === undefined || at.seq >= this.tx.seq) this.tx.seq = seq + 1;
    return rec;
  }

  /** Seals frames into one record; a trailing KEY_UPDATE moves our tx epoch. */
  sealFrames(frames: Frame[]): Uint8Array {
    const rec = this.seal(encodeFrames(frames));
    if (frames[frames.length - 1]?.type === "key_update") this.keyUpdateTx();
    return rec;
  }

  /** Seals raw frame bytes (may be malformed) into one record. */
  sealRaw(plaintext: Uint8Array): Uint8Array {
    return this.seal(plaintext);
  }

  send(m: Message): void {
    this.conn.send(m);
  }

  sendFrames(frames: Frame[]): Uint8Array {
    const rec = this.sealFrames(frames);
    this.conn.send(rec);
    return rec;
  }

  keyUpdateTx(): void {
    this.tx.secret = nextTrafficSecret(this.tx.secret);
    this.tx.epoch += 1;
    this.tx.seq = 0;
  }

  /** Reads gateway records until `pred` holds for a received frame, or close / timeout. */
  async readUntil(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame | null> {
    const end = Date.now() + timeoutMs;
    let i = 0;
    for (;;) {
      for (; i < this.received.length; i++) if (pred(this.received[i])) return this.received[i];
      const left = end - Date.now();
      if (left <= 0) return null;
      const m = await this.conn.next(Math.min(left, 50));
      if (m === null) {
        if (this.conn.closeInfo) {
          for (; i < this.received.length; i++) if (pred(this.received[i])) return this.received[i];
          return null;
        }
        continue;
      }
      if (typeof m === "string" || this.#rxFailed) continue;
      try {
        const fs = decodeFrames(this.rx.open(m, Date.now()));
        if (fs[fs.length - 1]?.type === "key_update") this.rx.updateRx();
        this.received.push(...fs);
      } catch {
        this.#rxFailed = true;
      }
    }
  }

  /** PING → PONG round trip; false when the channel closed or did not answer. */
  async ping(timeoutMs = 3000): Promise<boolean> {
    const data = crypto.getRandomValues(new Uint8Array(8));
    this.sendFrames([{ type: "ping", data }]);
    const f = await this.readUntil(
      (f) => f.type === "pong" && toHex(f.data) === toHex(data),
      timeoutMs,
    );
    return f !== null;
  }

  /** Sends a request head (and optional body frames) on a new stream; returns its id. */
  request(head: RequestHeadInit, body?: Uint8Array, o: { endStream?: boolean } = {}): number {
    const id = this.nextStreamId();
    const payload = encodeRequestHead(fullHead(head));
    const endStream = body === undefined ? (o.endStream ?? true) : false;
    this.sendFrames([{ type: "headers", stream: id, endStream, payload }]);
    if (body !== undefined) this.sendBody(id, body, o.endStream ?? true);
    return id;
  }

  /** Sends `body` as DATA frames (one record each). */
  sendBody(id: number, body: Uint8Array, endStream = true): void {
    const max = 16376;
    if (body.length === 0) {
      if (endStream) {
        this.sendFrames([{ type: "data", stream: id, endStream: true, payload: body }]);
      }
      return;
    }
    for (let off = 0; off < body.length; off += max) {
      const end = Math.min(off + max, body.length);
      this.sendFrames([{
        type: "data",
        stream: id,
        endStream: endStream && end === body.length,
        payload: body.subarray(off, end),
      }]);
    }
  }

  /**
   * Sends `body` respecting the stream's flow-control window (65,536 + WINDOW_UPDATEs), as a
   * well-behaved client does. Stops early (returns false) if the stream got a response, reset,
   * or the channel closed.
   */
  async sendBodyFlow(
    id: number,
    body: Uint8Array,
    endStream = true,
    timeoutMs = 10_000,
  ): Promise<boolean> {
    const granted = () =>
      this.received.reduce(
        (n, f) => n + (f.type === "window_update" && f.stream === id ? f.increment : 0),
        0,
      );
    const stopped = () =>
      this.received.some((f) =>
        (f.type === "reset_stream" || f.type === "headers") && f.stream === id
      );
    const end = Date.now() + timeoutMs;
    let sent = 0;
    while (sent < body.length) {
      if (!this.conn.isOpen || stopped()) return false;
      let avail = 65536 + granted() - sent;
      if (avail <= 0) {
        const before = granted();
        await this.readUntil(
          (f) =>
            (f.type === "window_update" && f.stream === id && granted() > before) ||
            ((f.type === "reset_stream" || f.type === "headers") && f.stream === id),
          Math.max(1, end - Date.now()),
        );
        if (Date.now() >= end) return false;
        continue;
      }
      const n = Math.min(avail, 16376, body.length - sent);
      this.sendFrames([{
        type: "data",
        stream: id,
        endStream: endStream && sent + n === body.length,
        payload: body.subarray(sent, sent + n),
      }]);
      sent += n;
      avail -= n;
    }
    return true;
  }

  /** The response status on stream `id` (null on reset, close or timeout), with the reset code if any. */
  async responseOn(
    id: number,
    timeoutMs = 5000,
  ): Promise<{ status: number | null; reset: number | null; headers: [string, string][] }> {
    const f = await this.readUntil(
      (f) => (f.type === "headers" || f.type === "reset_stream") && f.stream === id,
      timeoutMs,
    );
    if (f === null) return { status: null, reset: null, headers: [] };
    if (f.type === "reset_stream") return { status: null, reset: f.errorCode, headers: [] };
    if (f.type !== "headers") return { status: null, reset: null, headers: [] };
    const head = decodeResponseHead(f.payload, { maxBytes: 16376 });
    return { status: head.status, reset: null, headers: head.headers };
  }

  /** The response body on stream `id` (concatenated DATA until END_STREAM), or null. */
  async bodyOn(id: number, timeoutMs = 5000): Promise<Uint8Array | null> {
    const ok = await this.readUntil(
      (f) => f.type === "data" && f.stream === id && f.endStream,
      timeoutMs,
    );
    if (!ok) return null;
    return concat(
      ...this.received.filter((f) => f.type === "data" && f.stream === id).map((f) =>
        (f as { payload: Uint8Array }).payload
      ),
    );
  }
}

export interface RequestHeadInit {
  method?: string;
  scheme?: string;
  authority: string;
  path?: string;
  headers?: [string, string][];
}

function fullHead(h: RequestHeadInit) {
  return {
    method: h.method ?? "GET",
    scheme: h.scheme ?? "https",
    authority: h.authority,
    path: h.path ?? "/",
    headers: h.headers ?? [],
  };
}

/** A raw Binary HTTP request head with NO validation (for payloads the encoder refuses). */
export function rawRequestHead(
  fields: {
    method: string;
    scheme: string;
    authority: string;
    path: string;
    headers: [string, string][];
  },
): Uint8Array {
  const vi = (n: number) =>
    n < 0x40
      ? new Uint8Array([n])
      : n < 0x4000
      ? concat(u16(0x4000 | n))
      : concat(u16(0x8000 | (n >>> 16)), u16(n & 0xffff));
  const str = (s: string) => {
    const b = Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
    return concat(vi(b.length), b);
  };
  const section = concat(...fields.headers.flatMap(([n, v]) => [str(n), str(v)]));
  return concat(
    vi(0),
    str(fields.method),
    str(fields.scheme),
    str(fields.authority),
    str(fields.path),
    vi(section.length),
    section,
  );
}

export { encodeFrame, SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305 };
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
