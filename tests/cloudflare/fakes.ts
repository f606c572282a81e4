/**
 * Doubles of the workerd pieces the Cloudflare transport touches (platform.ts), so the Durable
 * Object's event mapping, attachment path and alarm logic run under plain Deno. The real
 * runtime is exercised by workers.test.ts through Miniflare.
 */
import { deserialize, serialize } from "node:v8";
import type {
  AlarmStorage,
  DurableObjectContext,
  HibernatableWebSocket,
} from "../../src/transport/cloudflare/platform.ts";
import { platform } from "../../src/transport/cloudflare/platform.ts";

export class FakeWebSocket implements HibernatableWebSocket {
  sent: (Uint8Array | string)[] = [];
  closed: { code: number; reason: string } | null = null;
  closeCalls = 0;
  /** Stored the way workerd stores it: structured-clone bytes. */
  private stored: Uint8Array | null = null;
  readyState = 1;
  attachmentBytes = 0;
  send(message: ArrayBuffer | ArrayBufferView | string): void {
    if (this.readyState !== 1) throw new Error("send on a closed socket");
    this.sent.push(
      typeof message === "string"
        ? message
        : message instanceof ArrayBuffer
        ? new Uint8Array(message.slice(0))
        : new Uint8Array(
          message.buffer.slice(message.byteOffset, message.byteOffset + message.byteLength),
        ),
    );
  }
  close(code?: number, reason?: string): void {
    this.closeCalls++;
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) {
      throw new Error(`InvalidAccessError: close code ${code}`);
    }
    if (this.closed) return;
    this.closed = { code: code ?? 1005, reason: reason ?? "" };
    this.readyState = 3;
  }
  serializeAttachment(value: unknown): void {
    const bytes = serialize(value);
    if (bytes.length > 16384) throw new Error("attachment over 16 KiB");
    this.attachmentBytes = bytes.length;
    this.stored = new Uint8Array(bytes);
  }
  deserializeAttachment(): unknown {
    return this.stored === null ? null : deserialize(this.stored);
  }
  /** Test-only: write a raw value as if an older/newer deployment had stored it. */
  rawAttachment(value: unknown): void {
    this.stored = new Uint8Array(serialize(value));
  }
}

export class FakeStorage implements AlarmStorage {
  alarm: number | null = null;
  writes = 0;
  getAlarm(): Promise<number | null> {
    return Promise.resolve(this.alarm);
  }
  setAlarm(t: number | Date): Promise<void> {
    this.writes++;
    this.alarm = typeof t === "number" ? t : t.getTime();
    return Promise.resolve();
  }
  deleteAlarm(): Promise<void> {
    this.writes++;
    this.alarm = null;
    return Promise.resolve();
  }
}

export class FakeContext implements DurableObjectContext {
  sockets: FakeWebSocket[] = [];
  storage = new FakeStorage();
  id = { toString: () => "fake-object-id" };
  acceptWebSocket(ws: HibernatableWebSocket): void {
    this.sockets.push(ws as FakeWebSocket);
  }
  getWebSockets(): HibernatableWebSocket[] {
    return this.sockets.filter((s) => s.readyState === 1);
  }
}

/** Install doubles for WebSocketPair and the 101 response; returns a restore function. */
export function installPlatformDoubles(): { last: () => FakeWebSocket; restore: () => void } {
  const saved = { ...platform };
  let last: FakeWebSocket | null = null;
  platform.newWebSocketPair = () => {
    last = new FakeWebSocket();
    return { client: { fake: "client" }, server: last };
  };
  platform.upgradeResponse = (_client, headers) =>
    new Response(null, {
      status: 200,
      headers: { ...(headers as Record<string, string>), "x-fake-upgrade": "101" },
    });
  return {
    last: () => {
      if (!last) throw new Error("no socket accepted yet");
      return last;
    },
    restore: () => Object.assign(platform, saved),
  };
}
