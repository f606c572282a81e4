/**
 * The `Deno.upgradeWebSocket` transport: only for hosts where nothing else exists (Deno Deploy,
 * or a user's own `Deno.serve`, where node:http cannot listen). Admission (admission.ts) is the
 * same as serve.ts's and answered before the upgrade (429 / 503), but Deno's WebSocket has no
 * message-size option (it assembles messages of up to 64 MiB before delivering them, also before
 * the handshake) and no close-handshake timeout, and sockets count only until Deno reports the
 * WebSocket closed, not until the TCP connection is gone (SECURITY.md, residual risks).
 * `setMaxMessageSize` and read pausing are therefore not offered: the session bounds what it
 * accepts by protocol means. A ClientHello in the upgrade URL (PROTOCOL.md §1) is read by
 * `helloFromUpgrade` (414 before admission when too long) and is the session's first message;
 * Deno selects a subprotocol only when it is in the header split on ", " (browsers and Deno
 * join the offer that way; the `ws` package joins with "," and then gets none, §1).
 */
import type { Upgrader } from "../../gateway/create-gateway.ts";
import type { Socket } from "../../tunnel/session-seam.ts";
import { helloFromUpgrade } from "../../tunnel/client-hello.ts";
import {
  type Admission,
  helloRefusalResponse,
  isRefusal,
  refusalResponse,
  SHUTTING_DOWN,
} from "../node-http/admission.ts";
import type { LiveSession } from "../node-http/live-sockets.ts";
import { closeQuietly, SessionDriver } from "../node-http/session-driver.ts";

export interface DenoUpgradeState {
  readonly admission: Admission;
  /** Live sockets: their drivers and a way to close them (for shutdown). */
  readonly live: Map<object, LiveSession>;
  stopping: boolean;
}

export function denoUpgrader(state: DenoUpgradeState): Upgrader {
  const upgrade: Upgrader = ({ request, env, createSession, clock }) => {
    if (state.stopping) {
      state.admission.refused("shutting_down", 503);
      return refusalResponse(SHUTTING_DOWN);
    }
    const offer = request.headers.get("sec-websocket-protocol");
    let reading = helloFromUpgrade(request.url, offer);
    if (reading.kind === "refuse") {
      state.admission.refused("upgrade_hello", reading.status);
      return helloRefusalResponse(reading);
    }
    // Deno.upgradeWebSocket throws for a protocol not in the offer as it splits it (on ", "):
    // then select none, and the hello is not taken (the client sends it as the first message).
    if (reading.protocol !== null && !(offer ?? "").split(", ").includes(reading.protocol)) {
      reading = { kind: "message", protocol: null };
    }
    const hello = reading.kind === "url" ? reading.hello : null;
    // Read the peer address first: Deno's ServeHandlerInfo.remoteAddr throws once upgraded.
    let clientAddress: string | null = null;
    try {
      const remote = (env as { remoteAddr?: Deno.Addr } | undefined)?.remoteAddr;
      clientAddress = remote && "hostname" in remote ? remote.hostname : null;
    } catch { /* not available */ }
    const ticket = state.admission.admit(clientAddress, clock);
    if (isRefusal(ticket)) return refusalResponse(ticket);

    let upgraded;
    try {
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: 0,
        ...(reading.protocol !== null ? { protocol: reading.protocol } : {}),
      });
    } catch (e) {
      ticket.release();
      throw e;
    }
    const { socket: ws, response } = upgraded;
    ws.binaryType = "arraybuffer";
    const driver = new SessionDriver(ticket);
    let resolveGone!: () => void;
    const gone = new Promise<void>((r) => (resolveGone = r));

    const socket: Socket = {
      send(bytes) {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(bytes);
        driver.sent();
      },
      close(code, reason) {
        if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
        closeQuietly(ws, code, reason);
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    };
    const handle: LiveSession = {
      driver,
      gone,
      goAway() {
        if (driver.session) driver.session.shutdown();
        else {
          try {
            ws.close(1001, "going away");
          } catch { /* not open yet */ }
        }
      },
    };
    state.live.set(ws, handle);
    ws.onopen = () => {
      driver.open({ createSession, clock }, socket, clientAddress);
      if (hello) driver.receive(hello);
    };
    ws.onmessage = (e: MessageEvent) => {
      const d = e.data;
      driver.receive(typeof d === "string" ? d : new Uint8Array(d as ArrayBuffer));
    };
    ws.onclose = (e: CloseEvent) => {
      state.live.delete(ws);
      ticket.release();
      try {
        driver.closed(e.code, e.reason);
      } finally {
        resolveGone();
      }
    };
    ws.onerror = () => {/* a close event follows */};
    return response;
  };
  Object.defineProperty(upgrade, "draining", { get: () => state.stopping });
  return upgrade;
}
