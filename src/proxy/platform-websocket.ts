/**
 * The platform's default origin WebSocket connector (src/proxy/origin-websocket.ts): none yet,
 * so a ws(s): route needs `websockets.connect`; Deno's connector replaces this.
 */
import type { OriginWebSocketConnect } from "./origin-websocket.ts";

export function platformOriginWebSocket(): OriginWebSocketConnect | null {
  return null;
}
