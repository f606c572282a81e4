/**
 * The gateway's side of client authentication on one channel (PROTOCOL.md §3.4.1 psk, §3.4.2
 * client_auth, §6.7 AUTH, §6.8 AUTH_RESULT; docs/client-auth.md): which method the ClientHello
 * announced, the identity the channel has now, the AUTH frame being verified, and the requests
 * held until its result.
 *
 * Bounds: at most one AUTH is outstanding per channel (a second one while it runs is a
 * protocol_error); the first AUTH is free, every later one (a refresh) costs a control-frame
 * token; requests held behind an outstanding AUTH are streams in the stream table, so they count
 * against `max_streams` (held ≤ max_streams, and HEADERS past it are REFUSED as always); a
 * verification that has not answered after `AUTH_TIMEOUT_MS` is answered `busy` and the held
 * requests go on unauthenticated by it. A channel that closes while a verification runs drops
 * its result. Credentials are handed to the verifier once, never logged, and the password bytes
 * are wiped once it answered.
 */
import { utf8Encode } from "../protocol/bytes.ts";
import {
  type AuthPayload,
  type AuthStatus,
  bindingMatches,
  type ClientAuthRequest,
  type FrameAuthMethod,
} from "../protocol/client-auth.ts";
import { MAX_AUTH_SUBJECT_LEN } from "../protocol/constants.ts";
import { PqgateError } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frames.ts";
import type { EventFields } from "./events.ts";
import type {
  AuthFailure,
  AuthMethod,
  AuthOutcome,
  AuthVerifier,
  ClientIdentity,
} from "./types.ts";

/** A verification still unanswered after this long is answered `busy` (ms). */
export const AUTH_TIMEOUT_MS = 30_000;
/** The retry-after sent with a `busy` the session made itself (timeout, verifier fault). */
export const AUTH_BUSY_RETRY_MS = 1_000;
/** Longest issuer kept with an identity (UTF-8 bytes); the session snapshot stores it. */
export const MAX_IDENTITY_ISSUER_LEN = 255;

const FAILURES: ReadonlySet<string> = new Set<AuthFailure>([
  "bad_credentials",
  "token_expired",
  "token_invalid",
  "busy",
  "rate_limited",
  "method_not_enabled",
]);

/** What the channel's auth state needs from its session. */
export interface ServerAuthHost {
  verifier: AuthVerifier | undefined;
  clientAddress: string | null;
  /** The channel's exporter secret (§4.5), for the AUTH binding. */
  exporterSecret(): Uint8Array;
  send(frame: Frame): void;
  /** Takes a control-frame token (rate_limited when empty). */
  charge(what: string): void;
  now(): number;
  /** The channel's identity changed (requests dispatched from now on see it). */
  identityChanged(identity: ClientIdentity | null): void;
  /** The `auth` event (events.ts), without sessionId. */
  log(fields: Omit<EventFields["auth"], "sessionId">): void;
  /** A verification ran or ended: deadlines and snapshots may change. */
  changed(): void;
  /** A connection error: closes the channel. */
  fail(e: unknown): void;
}

/** The persisted part (session-snapshot.ts, version 3). */
export interface AuthState {
  /** What the ClientHello announced. */
  announced: AuthMethod | null;
  /** client_auth announced and no record received yet: its first frame must be AUTH. */
  expectFirst: boolean;
  /** A verification was running when the snapshot was taken (answered `busy` on a restore). */
  pending: boolean;
  identity: ClientIdentity | null;
}

export class ServerAuth {
  readonly #host: ServerAuthHost;
  #announced: AuthMethod | null;
  #expectFirst: boolean;
  #identity: ClientIdentity | null = null;
  /** The outstanding verification: its number and when it started, or null. */
  #pending: { n: number; started: number; method: FrameAuthMethod } | null = null;
  /** Dispatches of requests that arrived after the outstanding AUTH, in order. */
  #held: (() => void)[] = [];
  /** AUTH frames received on this channel (the first is free). */
  #count = 0;
  #stopped = false;

  constructor(host: ServerAuthHost, state: AuthState) {
    this.#host = host;
    this.#announced = state.announced;
    this.#expectFirst = state.expectFirst;
    this.#identity = state.identity;
  }

  /** The state after a handshake: a psk identity is authenticated by the handshake itself. */
  static initial(request: ClientAuthRequest): AuthState {
    if (request === null) {
      return { announced: null, expectFirst: false, pending: false, identity: null };
    }
    if (request.method === "psk") {
      return {
        announced: "psk",
        expectFirst: false,
        pending: false,
        identity: { method: "psk", subject: request.identity },
      };
    }
    return { announced: request.method, expectFirst: true, pending: false, identity: null };
  }

  get identity(): ClientIdentity | null {
    return this.#identity;
  }
  /** True while a verification runs: new requests are held (`hold`). */
  get pending(): boolean {
    return this.#pending !== null;
  }
  /** Requests held now (≤ max_streams: each is an open stream). */
  get heldCount(): number {
    return this.#held.length;
  }
  /** When the outstanding verification times out, or null. */
  deadline(): number | null {
    return this.#pending ? this.#pending.started + AUTH_TIMEOUT_MS : null;
  }

  state(): AuthState {
    return {
      announced: this.#announced,
      expectFirst: this.#expectFirst,
      pending: this.#pending !== null,
      identity: this.#identity,
    };
  }

  /** A psk channel's identity, once its handshake completed: the `auth` event. */
  established(): void {
    const id = this.#identity;
    if (this.#announced === "psk" && id) {
      this.#host.log({ method: "psk", result: "ok", subject: id.subject, retryAfterMs: 0, ms: 0 });
    }
  }

  /** A restored channel whose verification was lost with the old instance: `busy`, retry now. */
  resumedPending(): void {
    if (this.#announced === "password" || this.#announced === "token") {
      this.#host.send({
        type: "auth_result",
        result: { status: "busy", retryAfterMs: 0, subject: null },
      });
    }
  }

  /** Queues a request dispatch behind the outstanding AUTH (call only while `pending`). */
  hold(run: () => void): void {
    this.#held.push(run);
  }

  /** The frames of a received record, before they are processed: the first-record rule. */
  record(frames: readonly Frame[]): void {
    if (!this.#expectFirst) return;
    this.#expectFirst = false;
    if (frames[0]?.type !== "auth") {
      throw new PqgateError("protocol_error", "first record does not start with AUTH");
    }
  }

  /** An AUTH frame from the client (§6.7). */
  onAuth(a: AuthPayload): void {
    const announced = this.#announced;
    if (announced !== "password" && announced !== "token") {
      throw new PqgateError("protocol_error", "AUTH without client_auth");
    }
    if (a.method !== announced) {
      throw new PqgateError("protocol_error", "AUTH method not announced");
    }
    if (this.#pending) throw new PqgateError("protocol_error", "AUTH while one is outstanding");
    if (this.#count++ > 0) this.#host.charge("AUTH");
    const started = this.#host.now();
    const v = this.#host.verifier;
    if (!bindingMatches(this.#host.exporterSecret(), a)) {
      // Taken from another channel (or forged): the same answer as wrong credentials.
      wipeAuth(a);
      this.#answer(a.method, { ok: false, reason: "bad_credentials" }, started);
      return;
    }
    const check = v?.methods.has(a.method)
      ? (a.method === "password" ? v.password : v.token)
      : undefined;
    if (!v || typeof check !== "function") {
      wipeAuth(a);
      this.#answer(a.method, { ok: false, reason: "method_not_enabled" }, started);
      return;
    }
    const n = this.#count;
    this.#pending = { n, started, method: a.method };
    let p: Promise<AuthOutcome>;
    try {
      p = Promise.resolve(
        a.method === "password"
          ? v.password!(a.username, a.password, this.#host.clientAddress)
          : v.token!(a.token, this.#host.clientAddress),
      );
    } catch (e) {
      p = Promise.reject(e);
    }
    this.#host.changed();
    p.then(
      (outcome) => this.#settled(n, a, outcome),
      () => this.#settled(n, a, null),
    );
  }

  /** Runs due work: a verification past its timeout is answered `busy`. */
  onTimer(now: number): void {
    const p = this.#pending;
    if (p && now >= p.started + AUTH_TIMEOUT_MS) {
      this.#pending = null;
      this.#answer(
        p.method,
        { ok: false, reason: "busy", retryAfterMs: AUTH_BUSY_RETRY_MS },
        p.started,
      );
    }
  }

  /** The channel ended: an outstanding result is dropped, held requests were closed with it. */
  stop(): void {
    this.#stopped = true;
    this.#pending = null;
    this.#held = [];
  }

  #settled(n: number, a: AuthPayload, outcome: AuthOutcome | null): void {
    wipeAuth(a);
    const p = this.#pending;
    if (this.#stopped || p === null || p.n !== n) return; // closed, or timed out meanwhile
    this.#pending = null;
    try {
      this.#answer(a.method, checkedOutcome(a.method, outcome), p.started);
    } catch (e) {
      this.#host.fail(e);
    }
  }

  /** Sends AUTH_RESULT, applies the identity, logs, then releases the held requests in order. */
  #answer(method: FrameAuthMethod, o: AuthOutcome, started: number): void {
    let status: AuthStatus;
    let subject: string | null = null;
    let retryAfterMs = 0;
    if (o.ok) {
      status = "ok";
      subject = o.identity.subject;
      this.#identity = o.identity;
      this.#host.identityChanged(o.identity);
    } else {
      status = o.reason;
      retryAfterMs = retryMs(o.retryAfterMs);
    }
    // A failed refresh keeps the identity proven before (docs/client-auth.md): a client that
    // wants to drop it closes the channel.
    this.#host.send({ type: "auth_result", result: { status, retryAfterMs, subject } });
    this.#host.log({
      method,
      result: status,
      subject,
      retryAfterMs,
      ms: this.#host.now() - started,
    });
    const held = this.#held;
    this.#held = [];
    for (const run of held) run();
    this.#host.changed();
  }
}

/** A verifier's answer as the wire can carry it; anything malformed is a failure. */
function checkedOutcome(method: FrameAuthMethod, o: AuthOutcome | null): AuthOutcome {
  const invalid: AuthOutcome = {
    ok: false,
    reason: method === "password" ? "bad_credentials" : "token_invalid",
  };
  if (o === null || typeof o !== "object") {
    return { ok: false, reason: "busy", retryAfterMs: AUTH_BUSY_RETRY_MS }; // a verifier fault
  }
  if (o.ok === true) {
    const id = o.identity;
    if (
      !id || id.method !== method || !utf8Within(id.subject, 1, MAX_AUTH_SUBJECT_LEN) ||
      (id.issuer !== undefined && !utf8Within(id.issuer, 0, MAX_IDENTITY_ISSUER_LEN)) ||
      (id.expiresAt !== undefined && !Number.isSafeInteger(id.expiresAt))
    ) return invalid;
    const identity: ClientIdentity = { method: id.method, subject: id.subject };
    if (id.issuer !== undefined) identity.issuer = id.issuer;
    if (id.expiresAt !== undefined) identity.expiresAt = id.expiresAt;
    return { ok: true, identity };
  }
  if (o.ok === false && FAILURES.has(o.reason)) {
    return { ok: false, reason: o.reason, retryAfterMs: o.retryAfterMs };
  }
  return invalid;
}

function utf8Within(s: unknown, min: number, max: number): boolean {
  if (typeof s !== "string") return false;
  try {
    const n = utf8Encode(s).length;
    return n >= min && n <= max;
  } catch {
    return false;
  }
}

function retryMs(v: number | undefined): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) return 0;
  return Math.min(0xffffffff, Math.ceil(v));
}

function wipeAuth(a: AuthPayload): void {
  if (a.method === "password") a.password.fill(0);
  a.binding.fill(0);
}
