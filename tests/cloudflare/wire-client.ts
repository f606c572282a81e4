/**
 * A minimal pqgate/1 client built from the protocol core (not src/client), for tests that need
 * to see the wire: it performs the handshake, then exchanges PING/PONG and KEY_UPDATE frames,
 * and records the (key, nonce) of EVERY record the gateway sealed, derived from the traffic
 * secrets it shares with the gateway (§4.4, §5.1). A gateway that ever reused a nonce under a
 * key — e.g. after restoring a stale snapshot — shows up as a duplicate here, independently of
 * whether the record layer would also refuse it.
 */
import { toHex } from "../../src/protocol/bytes.ts";
import { MSG_RECORD } from "../../src/protocol/constants.ts";
import { decodeFrames, encodeFrames, type Frame } from "../../src/protocol/frames.ts";
import { ClientHandshake } from "../../src/protocol/handshake-client.ts";
import { RecordLayer } from "../../src/protocol/record-layer.ts";
import { nextTrafficSecret, trafficKeys } from "../../src/protocol/traffic-keys.ts";

export interface SealedRecord {
  epoch: number;
  seq: number;
  /** hex(key) + ":" + hex(nonce) — the pair that must never repeat. */
  keyNonce: string;
}

export class WireClient {
  readonly sealed: SealedRecord[] = [];
  readonly frames: Frame[] = [];
  /** Arrival time (Date.now()) of each entry of `frames`. */
  readonly frameTimes: number[] = [];
  /** Answer the gateway's PINGs (false: a silent client, for the idle timeout). */
  answerPings = true;
  readonly closed: Promise<{ code: number; reason: string }>;
  #ws: WebSocket;
  #layer!: RecordLayer;
  #serverSecrets: Uint8Array[] = [];
  #waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #error: Error | null = null;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", (e) => {
        const err = new Error(`socket closed ${e.code} ${e.reason}`);
        for (const w of this.#waiters.splice(0)) {
          w.resolve({ type: "close", code: e.code, reason: String(err) });
        }
        resolve({ code: e.code, reason: e.reason });
      });
    });
  }

  /** Connects and completes the handshake; resolves after SESSION_INFO arrived. */
  static async connect(
    wsUrl: string,
    server: { keyId: Uint8Array; publicKey: Uint8Array },
    opts: { onOpen?: () => Promise<void> } = {},
  ): Promise<WireClient> {
    const ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    const c = new WireClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket error"));
    });
    await opts.onOpen?.();
    const hs = new ClientHandshake({
      server,
      random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    });
    const first = new Promise<ArrayBuffer>((resolve, reject) => {
      ws.onmessage = (e) => resolve(e.data as ArrayBuffer);
      ws.onclose = (e) => reject(new Error(`closed during handshake: ${e.code} ${e.reason}`));
    });
    ws.send(hs.start());
    const { clientFinished, keys } = hs.receiveServerHello(new Uint8Array(await first));
    ws.onclose = null;
    c.#layer = new RecordLayer({ role: "client", keys, now: Date.now() });
    c.#serverSecrets = [Uint8Array.from(keys.serverSecret)];
    ws.onmessage = (e) => c.#onMessage(new Uint8Array(e.data as ArrayBuffer));
    ws.send(clientFinished);
    await c.waitFor((f) => f.type === "session_info");
    return c;
  }

  #keyNonce(epoch: number, seq: number): string {
    while (this.#serverSecrets.length <= epoch) {
      this.#serverSecrets.push(
        nextTrafficSecret(this.#serverSecrets[this.#serverSecrets.length - 1]),
      );
    }
    const { key, iv } = trafficKeys(this.#serverSecrets[epoch]);
    const nonce = Uint8Array.from(iv);
    const view = new DataView(nonce.buffer);
    view.setUint32(4, view.getUint32(4) ^ Math.floor(seq / 2 ** 32));
    view.setUint32(8, view.getUint32(8) ^ (seq >>> 0));
    return `${toHex(key)}:${toHex(nonce)}`;
  }

  #onMessage(msg: Uint8Array): void {
    if (msg[0] !== MSG_RECORD) {
      this.#error = new Error(`unexpected message type ${msg[0]}`);
      return;
    }
    const epoch = msg[1];
    const view = new DataView(msg.buffer, msg.byteOffset);
    const seq = view.getUint32(2) * 2 ** 32 + view.getUint32(6);
    this.sealed.push({ epoch, seq, keyNonce: this.#keyNonce(epoch, seq) });
    let frames: Frame[];
    try {
      frames = decodeFrames(this.#layer.open(msg, Date.now()));
    } catch (e) {
      this.#error = e as Error;
      return;
    }
    for (const f of frames) {
      this.frames.push(f);
      this.frameTimes.push(Date.now());
      if (f.type === "key_update") this.#layer.updateRx();
      if (f.type === "ping" && this.answerPings) this.send([{ type: "pong", data: f.data }]);
      const i = this.#waiters.findIndex((w) => w.match(f));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(f);
    }
  }

  get error(): Error | null {
    return this.#error;
  }

  send(frames: Frame[], keyUpdate = false): void {
    this.#ws.send(this.#layer.seal(encodeFrames(frames), Date.now()));
    if (keyUpdate) this.#layer.updateTx();
  }

  waitFor(match: (f: Frame) => boolean, ms = 10_000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("waitFor timed out")), ms);
      this.#waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(t);
          if (f.type === "close" && !match(f)) reject(new Error(f.reason));
          else resolve(f);
        },
      });
    });
  }

  /** One PING/PONG round trip (one gateway-sealed record). */
  async ping(): Promise<void> {
    const data = crypto.getRandomValues(new Uint8Array(8));
    const hex = toHex(data);
    this.send([{ type: "ping", data }]);
    await this.waitFor((f) => f.type === "pong" && toHex(f.data) === hex);
  }

  /** Update our send keys and ask the gateway to update its own (§5.3). */
  async keyUpdate(): Promise<void> {
    const count = () => this.frames.filter((f) => f.type === "key_update").length;
    const before = count();
    this.send([{ type: "key_update", updateRequested: true }], true);
    const t0 = Date.now();
    while (count() <= before) {
      if (this.#error) throw this.#error;
      if (Date.now() - t0 > 10_000) throw new Error("no KEY_UPDATE from the gateway");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  get txEpoch(): number {
    return this.#layer.txEpoch;
  }

  close(): Promise<{ code: number; reason: string }> {
    try {
      this.#ws.close(1000, "bye");
    } catch { /* already closed */ }
    return this.closed;
  }
}

/** Asserts-friendly summary: duplicates of (key, nonce) among the gateway's records. */
export function duplicateNonces(records: readonly SealedRecord[]): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const r of records) {
    if (seen.has(r.keyNonce)) dup.push(`epoch ${r.epoch} seq ${r.seq}`);
    seen.add(r.keyNonce);
  }
  return dup;
}
