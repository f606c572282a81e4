/**
 * The pqgate Service Worker's request handling, apart from the worker global
 * (service-worker-entry.ts wires it to the events): which requests it takes, and how each goes
 * through the ONE channel the worker holds for every page of its scope. Fail closed: a request
 * that matches is answered by the channel or with `Response.error()` (the page sees a network
 * error); it is never given to the network's fetch. docs/service-worker.md.
 */
import type { CheckedConfig } from "./service-worker-config.ts";
import { matchesRequest } from "./service-worker-config.ts";
import type { PqgateWorkerState } from "./service-worker-messages.ts";

/** The part of `Channel` the worker uses (a test passes its own). */
export interface WorkerChannel {
  fetch(input: Request, init?: RequestInit): Promise<Response>;
  ready(): Promise<void>;
  readonly suite: number | null;
  readonly keyId: string | null;
  readonly pin: string | null;
  readonly sessionId: string | null;
  readonly connected: boolean;
  readonly kemBackend: string | null;
}

/** Longest error message kept in the state (a longer one is cut). */
export const MAX_ERROR_MESSAGE = 500;

export interface HandlerOptions {
  /** Keeps the worker alive until the promise settles (FetchEvent.waitUntil). */
  waitUntil?: (p: Promise<unknown>) => void;
}

export class PqgateWorkerHandler {
  readonly #config: CheckedConfig;
  readonly #channel: WorkerChannel;
  readonly #instance: string;
  readonly #startedAt: number;
  #lastError: PqgateWorkerState["lastError"] = null;
  #lastSession: string | null = null;
  #sessions = 0;
  #requests = 0;
  #failed = 0;

  constructor(config: CheckedConfig, channel: WorkerChannel, now: () => number = Date.now) {
    this.#config = config;
    this.#channel = channel;
    this.#startedAt = now();
    const id = crypto.getRandomValues(new Uint8Array(8));
    this.#instance = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Whether the worker answers this request (through the channel); false: not intercepted. */
  handles(request: Request): boolean {
    return matchesRequest(this.#config, request.url);
  }

  /**
   * The answer to a matching request: the channel's response, or `Response.error()` when the
   * channel cannot be established, fails, or the request was aborted. Never rejects. The
   * response body is passed through a stream whose end `waitUntil` waits for, so the browser
   * keeps the worker (and its channel) alive while the page reads a long body.
   */
  async respond(request: Request, opts: HandlerOptions = {}): Promise<Response> {
    this.#requests++;
    let res: Response;
    try {
      // The request carries its method, headers, body (a stream) and signal (the page's abort).
      res = await this.#channel.fetch(request);
    } catch (e) {
      this.#failed++;
      // The page's own abort is not a channel failure.
      if (!request.signal.aborted) this.#noteError(e);
      this.#noteSession();
      return Response.error();
    }
    this.#noteSession();
    if (res.body === null || opts.waitUntil === undefined) return res;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    // A cancel by the page (abort, or it stops reading) cancels the channel's stream.
    const piped = res.body.pipeTo(writable).catch((e) => {
      if (!request.signal.aborted) this.#noteError(e);
    });
    opts.waitUntil(piped);
    return new Response(readable, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  }

  /** The channel state (`connect`: open the channel first; a failure is in lastError). */
  async state(connect = false): Promise<PqgateWorkerState> {
    if (connect) {
      try {
        await this.#channel.ready();
      } catch (e) {
        this.#noteError(e);
      }
      this.#noteSession();
    }
    const c = this.#channel;
    const cfg = this.#config;
    return {
      gateway: cfg.gateway,
      pinConfigured: cfg.pin,
      match: cfg.match.map((m) => ({ ...m })),
      connected: c.connected,
      suite: c.suite,
      keyId: c.keyId,
      pin: c.pin,
      sessionId: c.sessionId,
      kemBackend: c.kemBackend,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      sessions: this.#sessions,
      requests: this.#requests,
      failed: this.#failed,
      instance: this.#instance,
      startedAt: this.#startedAt,
    };
  }

  #noteSession(): void {
    const id = this.#channel.sessionId;
    if (id !== null && id !== this.#lastSession) {
      this.#lastSession = id;
      this.#sessions++;
    }
  }

  #noteError(e: unknown): void {
    const name = e instanceof Error ? (e.name || e.constructor.name) : "Error";
    let message = e instanceof Error ? e.message : String(e);
    if (message.length > MAX_ERROR_MESSAGE) message = message.slice(0, MAX_ERROR_MESSAGE) + "…";
    this.#lastError = { name, message, at: Date.now() };
  }
}
