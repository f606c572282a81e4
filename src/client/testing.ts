/**
 * Test support for the client library: a WebSocket class whose every instance is wired to a
 * fresh in-memory gateway session (no real network). Test-only; not exported by mod.ts.
 */
import { seededRandom } from "../protocol/testing.ts";
import { type MemorySocket, memorySocketPair } from "../tunnel/memory-socket.ts";
import { ServerSession } from "../tunnel/server-session.ts";
import { TEST_KEY, TEST_LIMITS, wireServer } from "../tunnel/testing.ts";
import type { AuthVerifier, RequestHandler } from "../tunnel/types.ts";
import { decodeClientHello } from "../protocol/hello.ts";
import { KNOWN_EXTENSIONS } from "../protocol/extensions.ts";
import { CLOSE_REASONS, closeCodeFor, PqgateError } from "../protocol/errors.ts";
import type { WebSocketLike } from "./websocket-socket.ts";
import { helloFromUpgrade } from "../tunnel/client-hello.ts";

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
