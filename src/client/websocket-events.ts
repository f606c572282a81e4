/**
 * The events a tunneled WebSocket (`channel.websocket()`, docs/websockets.md) dispatches, as a
 * browser's WebSocket does: `MessageEvent` for messages, `CloseEvent` for the close, a plain
 * `Event` for open and (with a `message` and `error` for debugging) for errors. The runtime's
 * own `CloseEvent` is used where it has one (browsers, Deno); Node 20 has none, so a small
 * subclass of `Event` with the same fields stands in.
 */

export interface CloseEventFields {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}

/**
 * The close event's type in declarations: `CloseEvent`'s shape without naming it, since Node's
 * types have no CloseEvent (a consumer without the DOM lib could not compile them).
 */
export type WebSocketCloseEvent = Event & CloseEventFields;

/** `CloseEvent` where the runtime lacks one (Node 20): same constructor and fields. */
class PqgateCloseEvent extends Event implements CloseEventFields {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: Partial<CloseEventFields> = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

const NativeCloseEvent = (globalThis as { CloseEvent?: typeof CloseEvent }).CloseEvent;

/** The close event: the runtime's CloseEvent, or PqgateCloseEvent on Node 20. */
export function closeEvent(code: number, reason: string, wasClean: boolean): WebSocketCloseEvent {
  const init = { code, reason, wasClean };
  return (NativeCloseEvent
    ? new NativeCloseEvent("close", init)
    : new PqgateCloseEvent("close", init));
}

/** The error event: a plain `Event` as in browsers, plus what went wrong (never a secret). */
export class WebSocketErrorEvent extends Event {
  constructor(readonly message: string, readonly error: Error) {
    super("error");
  }
}

/** A message event: `data` is a string, a Blob or an ArrayBuffer (the socket's binaryType). */
export function messageEvent(data: string | Blob | ArrayBuffer, origin: string): MessageEvent {
  return new MessageEvent("message", { data, origin });
}
