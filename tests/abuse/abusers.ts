/**
 * The clients of the abuse matrix (abuse-matrix.test.ts): one healthy client on the project's
 * client library, and abusers speaking raw pqgate/1 (tests/hardening/wire.ts) or raw WebSocket
 * frames on `node:net` sockets. Loopback only; every abuser is bounded in time by its caller.
 */
import net from "node:net";
import { type Channel, connect } from "../../src/client/mod.ts";
import { type HardeningTarget, RawSession, SecretBook, wsFrom } from "../hardening/wire.ts";

// ------------------------------------------------------------------------------ healthy client

export interface HealthReport {
  /** Latency of every completed request, ms. */
  latencies: number[];
  /** Failed requests (error or unexpected body), with the first message. */
  failures: number;
  firstFailure: string | null;
  p50: number;
  p99: number;
  max: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/**
 * A well-behaved client from its own source address: one channel, a small GET every `everyMs`
 * (one at a time), each latency recorded. `stop()` waits for the request in flight (at most
 * `stopWaitMs`; one still pending then counts as a failure).
 */
export class HealthyClient {
  readonly latencies: number[] = [];
  failures = 0;
  firstFailure: string | null = null;
  #running = false;
  #loop: Promise<void> | null = null;
  #inFlightSince: number | null = null;

  private constructor(readonly channel: Channel, readonly authority: string) {}

  static async open(target: HardeningTarget, localAddress: string): Promise<HealthyClient> {
    const channel = await connect(target.wsUrl, {
      pin: target.pin,
      WebSocket: wsFrom(localAddress),
      handshakeTimeoutMs: 10_000,
    });
    const c = new HealthyClient(channel, "abuse.test");
    // Warm-up (the handshake, the origin connection): not measured.
    for (let i = 0; i < 5; i++) await c.#once();
    c.latencies.length = 0;
    return c;
  }

  async #once(): Promise<number> {
    const t0 = performance.now();
    const r = await this.channel.fetch(`https://${this.authority}/small`);
    const body = await r.text();
    if (r.status !== 200 || body !== '{"ok":true}') {
      throw new Error(`healthy request: status ${r.status}`);
    }
    return performance.now() - t0;
  }

  /** Starts the request loop (a fresh measurement window). */
  start(everyMs = 50): void {
    this.latencies.length = 0;
    this.failures = 0;
    this.firstFailure = null;
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        this.#inFlightSince = performance.now();
        try {
          this.latencies.push(await this.#once());
        } catch (e) {
          this.failures++;
          this.firstFailure ??= e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          // A failed channel stays failed: stop rather than spin.
          if (!this.#running) break;
          await new Promise((r) => setTimeout(r, everyMs));
        }
        this.#inFlightSince = null;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  /** Stops the loop; returns the window's report. */
  async stop(stopWaitMs = 2000): Promise<HealthReport> {
    this.#running = false;
    let t: ReturnType<typeof setTimeout> | undefined;
    const finished = await Promise.race([
      this.#loop!.then(() => true),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), stopWaitMs))),
    ]);
    clearTimeout(t);
    if (!finished) {
      this.failures++;
      const since = this.#inFlightSince === null
        ? 0
        : Math.round(performance.now() - this.#inFlightSince);
      this.firstFailure ??= `a request still pending after ${since} ms`;
    }
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      latencies: this.latencies,
      failures: this.failures,
      firstFailure: this.firstFailure,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? NaN,
    };
  }

  close(): void {
    this.#running = false;
    this.channel.close();
  }
}

// ------------------------------------------------------------------------------ raw pqgate/1

/** A real pinned handshake from `localAddress` (wire.ts RawSession); the caller drives it. */
export function rawSession(target: HardeningTarget, localAddress?: string): Promise<RawSession> {
  return RawSession.connect({ ...target, localAddress }, new SecretBook());
}

/** The raw TCP socket under a RawSession's `ws` client. */
export function tcpOf(s: RawSession): net.Socket {
  const sock = (s.conn.ws as unknown as { _socket?: net.Socket })._socket;
  if (!sock) throw new Error("ws client has no _socket");
  return sock;
}

/** Stops reading the socket at the TCP level: nothing more is taken from the kernel. */
export function stopReading(s: RawSession): void {
  tcpOf(s).pause();
}

/** Waits until `ws` has handed its queue to the kernel (bufferedAmount ≤ `below`) or `ms` passed. */
export async function drained(s: RawSession, below: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (s.conn.ws.bufferedAmount > below && Date.now() < end && s.conn.isOpen) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ------------------------------------------------------------------------------ raw WebSocket

/** A WebSocket client frame header with the mask bit set (RFC 6455 §5.2), announcing `len`. */
export function maskedBinaryHeader(len: number): Uint8Array {
  const h = new Uint8Array(2 + 8 + 4);
  h[0] = 0x82; // FIN + binary
  h[1] = 0x80 | 127;
  const dv = new DataView(h.buffer);
  dv.setUint32(2, Math.floor(len / 2 ** 32));
  dv.setUint32(6, len >>> 0);
  h.set(crypto.getRandomValues(new Uint8Array(4)), 10);
  return h;
}

export interface RawUpgrade {
  socket: net.Socket;
  /** The HTTP status of the answer (101, 429, 503, ...), or 0 if the socket closed first. */
  status: number;
  /** Bytes after the response head (e.g. the first WebSocket frames). */
  rest: Uint8Array;
}

function upgradeRequest(url: URL): string {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  return `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/**
 * Opens a TCP connection from `localAddress`, sends a WebSocket upgrade by hand and reads the
 * response head. If `silent`, it then stops reading (never answers the close) and never ends or
 * closes the connection itself (allowHalfOpen): a peer that holds the socket until the gateway
 * lets go. Resolves with status 0 if the connection fails or closes before an answer, or after
 * `timeoutMs` without an answer.
 */
export function rawUpgrade(
  wsUrl: string,
  localAddress: string | undefined,
  o: { silent: boolean; timeoutMs?: number },
): Promise<RawUpgrade> {
  const url = new URL(wsUrl);
  return new Promise((resolve) => {
    const socket = net.connect({
      host: url.hostname,
      port: Number(url.port),
      localAddress,
      allowHalfOpen: true,
    });
    let buf = new Uint8Array(0);
    let done = false;
    const finish = (status: number, rest: Uint8Array) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off("data", onData);
      if (o.silent) socket.pause();
      resolve({ socket, status, rest });
    };
    const timer = setTimeout(() => finish(0, new Uint8Array(0)), o.timeoutMs ?? 5000);
    const onData = (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      for (let i = 0; i + 3 < buf.length; i++) {
        if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
          const head = new TextDecoder().decode(buf.subarray(0, i));
          const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
          finish(m ? Number(m[1]) : 0, buf.slice(i + 4));
          return;
        }
      }
    };
    socket.on("data", onData);
    socket.on("error", () => finish(0, new Uint8Array(0)));
    socket.on("close", () => finish(0, new Uint8Array(0)));
    socket.once("connect", () => socket.write(upgradeRequest(url)));
  });
}

/**
 * Reads server frames from `bytes` + the socket until a close frame (0x88) arrives; resolves with
 * its code, or null on end / error / `timeoutMs`. Unmasked server frames (RFC 6455 §5.1).
 */
export function readCloseCode(
  socket: net.Socket,
  initial: Uint8Array,
  timeoutMs: number,
): Promise<number | null> {
  return new Promise((resolve) => {
    let buf = initial;
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off("data", onData);
      resolve(code);
    };
    const parse = () => {
      let off = 0;
      while (buf.length - off >= 2) {
        const op = buf[off] & 0x0f;
        let len = buf[off + 1] & 0x7f;
        let hdr = 2;
        if (len === 126) {
          if (buf.length - off < 4) return;
          len = (buf[off + 2] << 8) | buf[off + 3];
          hdr = 4;
        } else if (len === 127) {
          if (buf.length - off < 10) return;
          len = new DataView(buf.buffer, buf.byteOffset + off + 2, 8).getUint32(4);
          hdr = 10;
        }
        if (buf.length - off < hdr + len) return;
        if (op === 0x8) return finish(len >= 2 ? (buf[off + hdr] << 8) | buf[off + hdr + 1] : 1005);
        off += hdr + len;
      }
      buf = buf.slice(off);
    };
    const onData = (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      parse();
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.on("data", onData);
    socket.once("end", () => finish(null));
    socket.once("close", () => finish(null));
    socket.resume();
    parse();
  });
}

/**
 * Writes `total` bytes of a message body (after its header) to `socket`: as fast as the socket
 * takes them, or trickled (`trickle`: 64 KiB every 50 ms). Stops when the socket errors or
 * closes, or at `deadline` (Date.now() ms). Returns the bytes written.
 */
export async function pushBody(
  socket: net.Socket,
  total: number,
  deadline: number,
  trickle: boolean,
): Promise<number> {
  const chunk = new Uint8Array(trickle ? 64 * 1024 : 1024 * 1024);
  let sent = 0;
  let broken = false;
  const onBreak = () => (broken = true);
  socket.once("error", onBreak);
  socket.once("close", onBreak);
  try {
    while (sent < total && !broken && !socket.destroyed && Date.now() < deadline) {
      const n = Math.min(chunk.length, total - sent);
      const ok = socket.write(chunk.subarray(0, n));
      sent += n;
      if (trickle) await new Promise((r) => setTimeout(r, 50));
      else if (!ok) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.max(1, deadline - Date.now()));
          const done = () => {
            clearTimeout(t);
            socket.off("drain", done);
            socket.off("close", done);
            r();
          };
          socket.once("drain", done);
          socket.once("close", done);
        });
      }
    }
  } finally {
    socket.off("error", onBreak);
    socket.off("close", onBreak);
  }
  return sent;
}

/** Opens `count` raw upgrades (at most `parallel` at once) from the given addresses in turn. */
export async function openMany(
  wsUrl: string,
  addresses: string[],
  count: number,
  parallel: number,
  into: net.Socket[],
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const r = await rawUpgrade(wsUrl, addresses[i % addresses.length], {
        silent: true,
        timeoutMs: 5000,
      });
      into.push(r.socket);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return statuses;
}
