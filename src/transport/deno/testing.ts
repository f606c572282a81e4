/**
 * Raw TCP WebSocket clients for the transport's tests: an upgrade request whose HTTP answer is
 * read as is (a 429 / 503 before the upgrade), and hand-written frames (a header announcing a
 * huge message, then a trickle), which no WebSocket library sends. Loopback only.
 */

export interface RawUpgrade {
  status: number;
  headers: Headers;
  conn: Deno.TcpConn;
  /** Bytes read after the response head (the start of the server's frames). */
  rest: Uint8Array;
}

/** Sends an upgrade request to `url` (ws://127.0.0.1:port/path) and reads the response head. */
export async function rawUpgrade(url: string): Promise<RawUpgrade> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await writeAll(
    conn,
    new TextEncoder().encode(
      `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(16 * 1024);
  for (;;) {
    const text = new TextDecoder().decode(buf);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
      const headers = new Headers();
      for (const l of lines) {
        const i = l.indexOf(":");
        if (i > 0) headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
      }
      const status = Number(statusLine.split(" ")[1]);
      return {
        status,
        headers,
        conn,
        rest: buf.subarray(new TextEncoder().encode(text.slice(0, end + 4)).length),
      };
    }
    if (buf.length > 64 * 1024) throw new Error("rawUpgrade: response head too long");
    const n = await conn.read(chunk);
    if (n === null) throw new Error(`rawUpgrade: connection closed after ${buf.length} bytes`);
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  }
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * A client frame header (FIN, binary, masked with the all-zero key so the payload is sent as is)
 * announcing `length` payload bytes.
 */
export function frameHeader(length: number, opcode = 2): Uint8Array {
  const h: number[] = [0x80 | opcode];
  if (length < 126) h.push(0x80 | length);
  else if (length < 65536) h.push(0x80 | 126, length >> 8, length & 0xff);
  else {
    h.push(0x80 | 127);
    const hi = Math.floor(length / 2 ** 32), lo = length >>> 0;
    h.push(
      hi >>> 24,
      (hi >>> 16) & 0xff,
      (hi >>> 8) & 0xff,
      hi & 0xff,
      lo >>> 24,
      (lo >>> 16) & 0xff,
      (lo >>> 8) & 0xff,
      lo & 0xff,
    );
  }
  h.push(0, 0, 0, 0); // mask key
  return new Uint8Array(h);
}

/**
 * Reads server frames until a close frame: its code (1005 if none), or null if the connection
 * ended (EOF or reset) first. `rest` is what rawUpgrade already read.
 */
export async function readCloseCode(
  conn: Deno.Conn,
  rest: Uint8Array,
  timeoutMs: number,
): Promise<number | null> {
  let buf = rest;
  const chunk = new Uint8Array(16 * 1024);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Parse whole frames in buf (server frames are not masked).
    while (buf.length >= 2) {
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) {
        if (buf.length < 4) break;
        len = (buf[2] << 8) | buf[3];
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) break;
        len = Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0));
        off = 10;
      }
      if (buf.length < off + len) break;
      if (op === 8) return len >= 2 ? (buf[off] << 8) | buf[off + 1] : 1005;
      buf = buf.subarray(off + len);
    }
    if (Date.now() > deadline) throw new Error("readCloseCode: timeout");
    let n: number | null;
    try {
      n = await conn.read(chunk);
    } catch {
      return null;
    }
    if (n === null) return null;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  }
}

/** Open file descriptors of this process (Linux), or null elsewhere. */
export function openFds(): number | null {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until true or `ms` passed; returns its last value. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}
