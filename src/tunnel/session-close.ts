/**
 * Closing a session, the parts both sides share (closing, PROTOCOL.md §6.6; close codes, §9):
 * the close code and reason an error maps to, the best-effort socket close, and logging that
 * never breaks a session. Each session keeps its own order of CLOSE frame, teardown and socket
 * close, and its own log fields.
 */
import { CLOSE_REASONS, closeCodeFor, type ErrorCode, PqgateError } from "../protocol/errors.ts";
import type { Socket } from "./types.ts";

export type SessionLog = ((event: string, fields: Record<string, unknown>) => void) | undefined;

/** The error code of `e` (anything but a PqgateError is internal_error) and its close code/reason. */
export function closeFor(e: unknown): { code: ErrorCode; closeCode: number; reason: string } {
  const code: ErrorCode = e instanceof PqgateError ? e.code : "internal_error";
  return { code, closeCode: closeCodeFor(code), reason: CLOSE_REASONS[code] };
}

/** Closes the socket; one already closed is fine. */
export function closeSocket(socket: Socket, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch { /* already closed */ }
}

/** Logs through the session's `log` option; a throwing logger never breaks the session. */
export function logSafely(log: SessionLog, event: string, fields: Record<string, unknown>): void {
  try {
    log?.(event, fields);
  } catch { /* logging never breaks the session */ }
}
