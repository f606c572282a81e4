/**
 * `connect()` and `Channel`: a fetch-shaped client for a pqgate gateway. One WebSocket carries
 * all concurrent requests; when the channel has closed or failed, the next request reconnects
 * with a fresh handshake.
 */
import { fromBase64Url, fromHex, toHex, utf8Encode } from "../protocol/bytes.ts";
import type { AuthResultPayload } from "../protocol/client-auth.ts";
import type { ClientHandshakeOptions } from "../protocol/handshake-client.ts";
import type { SuiteId } from "../protocol/constants.ts";
import { keyIdFor, parsePin, pinFor, pinMatches } from "../protocol/static-keys.ts";
import type { HybridKem, RandomSource } from "../protocol/types.ts";
import type { SessionInfo } from "../protocol/frames.ts";
import {
  type AuthCredentials,
  ClientSession,
  type HandshakeInfo,
  prepareClientHello,
  prepareClientHelloAsync,
  type PreparedClientHello,
} from "../tunnel/client-session.ts";
import { HELLO_SUBPROTOCOL, helloUpgrade } from "../tunnel/client-hello.ts";
import { nativeClientXWing } from "./webcrypto-kem.ts";
import { xwingNoble } from "../protocol/kem.ts";
import { TimerDriver } from "../tunnel/timer-driver.ts";
import {
  AuthError,
  authErrorForClose,
  ChannelClosedError,
  ConnectError,
  errorForClose,
  PinMismatchError,
} from "./errors.ts";
import { explicitKeyConfigUrl, forgetPinnedKey, type GatewayKey, pinnedKey } from "./key-config.ts";
import {
  failedOnSubprotocol,
  type OpenSocket,
  openWebSocket,
  type SocketEvents,
  type WebSocketConstructor,
} from "./websocket-socket.ts";
import { fetchWithRedirects } from "./redirect.ts";
import { requestBodyOf } from "./request-body.ts";
import { PqgateWebSocket } from "./pqgate-websocket.ts";

/**
 * How the client authenticates to the gateway (docs/client-auth.md). `token` may be a
 * callback: it is called at every connect and reconnect, and once more when the gateway answers
 * token_expired (the new token is sent again on the same channel). `psk` is 32 bytes (or their
 * base64url), `pskId` its identity (1..128 UTF-8 bytes).
 */
export type ClientAuthOption =
  | { username: string; password: string }
  | { token: string | (() => string | Promise<string>) }
  | { psk: Uint8Array | string; pskId: string };

export interface ConnectOptions {
  /**
   * Client authentication (docs/client-auth.md). The credentials go only inside the channel,
   * after the gateway proved its key, in the first record together with the first requests.
   * `connect()` rejects with `AuthError` when the gateway refuses them.
   */
  auth?: ClientAuthOption;
  /** "sha256:<base64url>" of the gateway key (§8). Recommended. Never combined with anonymous. */
  pin?: string;
  /** The gateway's X-Wing public key (1216 bytes, or base64url), instead of fetching the config. */
  publicKey?: Uint8Array | string;
  /** Key id for `publicKey` (8 bytes or hex); default: derived from the key (§8). */
  keyId?: Uint8Array | string;
  /** Anonymous mode: the gateway is authenticated only by TLS. Must be chosen explicitly. */
  anonymous?: boolean;
  /** WebSocket implementation (Node 20 has none: pass the `ws` package's WebSocket). */
  WebSocket?: unknown;
  suites?: SuiteId[];
  /** Default 10,000 ms (covers opening the socket and the handshake). */
  handshakeTimeoutMs?: number;
  random?: RandomSource;
  /**
   * Where to fetch the key configuration (http: or https:, no credentials), for a gateway
   * mounted under a path prefix, e.g. "https://app.example/pq/.well-known/pqgate". Default:
   * the channel URL's host root, `/.well-known/pqgate` over http(s). Used only with `pin`
   * and no `publicKey` (the only case where the configuration is fetched).
   */
  keyConfigUrl?: string | URL;
  /** fetch used for the key configuration (default global fetch). */
  fetchConfig?: typeof fetch;
  /** Base for relative URLs passed to `Channel.fetch`, e.g. "https://api.example/". */
  baseUrl?: string;
  /**
   * Hybrid KEM backend. Default: X-Wing on native WebCrypto (ML-KEM-768, X25519) where the
   * runtime has it and it passes a once-per-process self-test against noble, else noble X-Wing.
   * A `kem` given here is used as is (synchronously).
   */
  kem?: HybridKem;
  /** "noble": never use the native WebCrypto KEM (default "auto"). Ignored when `kem` is set. */
  crypto?: "auto" | "noble";
  /**
   * Carry the ClientHello in the upgrade URL (PROTOCOL.md §1; default true): the ServerHello is
   * then the gateway's first message, one round trip less per new channel. A gateway that does
   * not take it gets the ClientHello as the first message instead. false: always the latter
   * (the hello is public, but it then never appears in URLs, e.g. in a proxy's access log).
   */
  helloInUrl?: boolean;
  /**
   * How long a tunneled WebSocket in CLOSING waits for the gateway's close message before it
   * resets its stream and reports 1006 (`channel.websocket()`, default 10,000 ms).
   */
  webSocketCloseTimeoutMs?: number;
}

function defaultRandom(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

function now(): number {
  return typeof performance !== "undefined"
    ? performance.timeOrigin + performance.now()
    : Date.now();
}

export class Channel {
  readonly url: string;
  readonly #o: ConnectOptions;
  readonly #WS: WebSocketConstructor;
  #server: GatewayKey | null;
  readonly #keyConfigUrl: URL | undefined;
  #session: ClientSession | null = null;
  #starting: Promise<ClientSession> | null = null;
  #closed = false;
  #kemName: string | null = null;
  /** The client authentication, checked once (null: none). */
  readonly #auth: CheckedAuth | null;
  /** The current session's authentication outcome (null result: no AUTH on it). */
  #authDone: { session: ClientSession; done: Promise<AuthResultPayload | null> } | null = null;
  #authenticated: { method: "password" | "token" | "psk"; subject: string } | null = null;

  /** Use `connect()`. */
  constructor(url: string, options: ConnectOptions) {
    const u = new URL(url);
    if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new TypeError(`pqgate: the gateway URL must be ws: or wss:, not ${u.protocol}`);
    }
    const o = options ?? {};
    if (o.pin !== undefined && o.anonymous) {
      throw new TypeError(
        "pqgate: { pin } and { anonymous: true } exclude each other: a pinned client never uses anonymous mode",
      );
    }
    if (o.pin === undefined && o.publicKey === undefined && !o.anonymous) {
      throw new TypeError(
        "pqgate: choose how to authenticate the gateway: { pin: 'sha256:...' } (recommended), { publicKey }, or { anonymous: true } (TLS only)",
      );
    }
    if (o.pin !== undefined && parsePin(o.pin) === null) {
      throw new TypeError(
        `pqgate: malformed pin ${JSON.stringify(o.pin)}: expected "sha256:<base64url of 32 bytes>"`,
      );
    }
    if (o.keyConfigUrl !== undefined && (o.pin === undefined || o.publicKey !== undefined)) {
      throw new TypeError(
        "pqgate: the keyConfigUrl option is used only with { pin } and no { publicKey }: otherwise no key configuration is fetched",
      );
    }
    const configUrl = o.keyConfigUrl === undefined
      ? undefined
      : explicitKeyConfigUrl(o.keyConfigUrl);
    const WS = (o.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as
      | WebSocketConstructor
      | undefined;
    if (typeof WS !== "function") {
      throw new ConnectError(
        "pqgate: no WebSocket implementation: on Node 20 pass { WebSocket } from the 'ws' package",
      );
    }
    this.url = url;
    this.#o = o;
    this.#auth = o.auth === undefined ? null : checkAuth(o.auth);
    if (this.#auth && this.#auth.method !== "psk" && o.anonymous) {
      // Anonymous mode authenticates no gateway: the credentials would go to whoever
      // terminates TLS (PROTOCOL.md §10). A PSK is fine: it authenticates both sides.
      throw new TypeError(
        "pqgate: a password or token is never sent in anonymous mode: configure a pin (or use a psk)",
      );
    }
    this.#WS = WS;
    this.#server = null;
    this.#keyConfigUrl = configUrl;
    if (o.publicKey !== undefined) {
      const publicKey = typeof o.publicKey === "string"
        ? fromBase64Url(o.publicKey)
        : new Uint8Array(o.publicKey);
      if (o.pin !== undefined && !pinMatches(o.pin, publicKey)) {
        throw new PinMismatchError(o.pin, [pinFor(publicKey)], "the publicKey option");
      }
      const keyId = o.keyId === undefined
        ? keyIdFor(publicKey)
        : typeof o.keyId === "string"
        ? fromHex(o.keyId)
        : new Uint8Array(o.keyId);
      this.#server = { keyId, publicKey };
    }
  }

  // ---- info ------------------------------------------------------------------------------

  get suite(): SuiteId | null {
    return this.#session?.suite ?? null;
  }
  /** Hex key id of the gateway key in use (null in anonymous mode or before connecting). */
  get keyId(): string | null {
    return this.#server ? toHex(this.#server.keyId) : null;
  }
  /** Pin of the gateway key in use. */
  get pin(): string | null {
    return this.#server ? pinFor(this.#server.publicKey) : null;
  }
  get sessionId(): string | null {
    return this.#session?.sessionId ?? null;
  }
  /** Timing and message sizes of the current session's handshake. */
  get handshake(): HandshakeInfo | null {
    return this.#session?.handshake ?? null;
  }
  /** Limits announced by the gateway (SESSION_INFO). */
  get sessionInfo(): SessionInfo | null {
    return this.#session?.sessionInfo ?? null;
  }
  /** True while a session is established and usable. */
  get connected(): boolean {
    return this.#session?.state === "established" && this.#session.usable;
  }
  /** Name of the X-Wing backend of the latest handshake (null before the first one). */
  get kemBackend(): string | null {
    return this.#kemName;
  }
  get mode(): "pinned" | "anonymous" {
    return this.#o.anonymous ? "anonymous" : "pinned";
  }
  /**
   * Who the gateway accepted this client as on the current session (the user name, the token's
   * subject, or the PSK identity), or null: not authenticated (yet).
   */
  get authenticated(): { method: "password" | "token" | "psk"; subject: string } | null {
    return this.#authenticated;
  }

  // ---- fetch -----------------------------------------------------------------------------

  /**
   * Standard fetch through the channel. The URL names the target (e.g.
   * `https://api.example/v1/x`); relative URLs resolve against the `baseUrl` option.
   * Redirects are followed, returned or refused as `init.redirect` says, like fetch; bodies of
   * a known size get a content-length (docs/client-fetch.md says what differs from fetch).
   */
  async fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    let target: RequestInfo | URL = input;
    if (typeof input === "string" && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(input)) {
      if (!this.#o.baseUrl) {
        throw new TypeError(`pqgate: relative URL ${input} needs the baseUrl option`);
      }
      target = new URL(input, this.#o.baseUrl);
    }
    const request = new Request(target, init);
    // Subresource integrity is not checked by the channel: refuse it rather than let a caller
    // believe the response was verified (docs/client-fetch.md).
    const integrity = init?.integrity ?? (input instanceof Request ? input.integrity : "");
    if (typeof integrity === "string" && integrity !== "") {
      throw new TypeError(
        "pqgate: the integrity option is not supported by Channel.fetch; check the body's hash yourself",
      );
    }
    const body = await requestBodyOf(request, init?.body);
    const signal = request.signal;
    return await fetchWithRedirects({
      request,
      body,
      send: async (hop, contentLength) => {
        const session = await this.#usableSession();
        return await session.fetch(hop, { signal, contentLength });
      },
    });
  }

  /**
   * A WebSocket to `url` (ws: or wss:; http(s) is taken as ws(s), relative URLs resolve against
   * `baseUrl`) tunneled through the channel (PROTOCOL.md §6.9), with the browser WebSocket's
   * shape. It opens on the current channel, or on a new one when it has closed (as `fetch`
   * does); a socket ends with its channel (close 1006). docs/websockets.md.
   */
  websocket(url: string | URL, protocols?: string | string[]): PqgateWebSocket {
    return new PqgateWebSocket(url, protocols, {
      session: () => this.#usableSession(),
      baseUrl: this.#o.baseUrl,
      closeTimeoutMs: this.#o.webSocketCloseTimeoutMs,
    });
  }

  /** Opens a session now (connect() does this) and waits for its handshake. */
  async ready(): Promise<void> {
    const s = await this.#usableSession();
    await s.ready;
    const a = this.#authDone;
    const r = a && a.session === s ? await a.done : null;
    if (r && r.status !== "ok") {
      throw new AuthError(r.status, r.retryAfterMs > 0 ? { retryAfterMs: r.retryAfterMs } : {});
    }
  }

  /** Closes the channel; later fetch calls fail with ChannelClosedError. */
  close(): void {
    this.#closed = true;
    this.#session?.close();
  }

  async #usableSession(): Promise<ClientSession> {
    if (this.#closed) throw new ChannelClosedError(1000, "closed by the application", false);
    const s = this.#session;
    if (s && s.usable) return s;
    if (!this.#starting) {
      this.#starting = this.#start().finally(() => (this.#starting = null));
    }
    return await this.#starting;
  }

  /**
   * The first AUTH's outcome on `session`: a token_expired with a token callback fetches a new
   * token and sends it once more on the same channel. A psk session is authenticated by its
   * handshake.
   */
  async #settleAuth(session: ClientSession, a: CheckedAuth): Promise<AuthResultPayload | null> {
    if (a.method === "psk") {
      await session.ready;
      if (this.#session === session) this.#authenticated = { method: "psk", subject: a.pskId! };
      return null;
    }
    await session.ready; // the AUTH goes out with ClientFinished
    const first = session.authResult;
    if (!first) return null;
    let r = await first;
    if (r.status === "token_expired" && typeof a.token === "function") {
      const token = checkToken(await a.token());
      r = await session.authenticate({ method: "token", token });
    }
    if (r.status === "ok" && this.#session === session) {
      this.#authenticated = { method: a.method, subject: r.subject! };
    }
    return r;
  }

  async #start(): Promise<ClientSession> {
    const o = this.#o;
    if (o.pin !== undefined && !this.#server) {
      // A key verified by an earlier channel (same configuration URL, pin and fetch) is reused
      // while the configuration's max-age lasts: no separate connection (key-config.ts).
      this.#server = await pinnedKey(
        this.url,
        o.pin,
        o.fetchConfig ?? fetch,
        this.#keyConfigUrl,
      );
    }
    const timeout = o.handshakeTimeoutMs ?? 10_000;
    const auth = this.#auth;
    // The token callback runs while the hello is prepared and the socket opens.
    const credentials = auth ? credentialsOf(auth) : Promise.resolve(undefined);
    credentials.catch(() => {}); // awaited below
    let session: ClientSession | null = null;
    let driver: TimerDriver | null = null;
    const server = o.anonymous ? undefined : this.#server ?? undefined;
    // Events that arrive after the socket opened but before the session exists (the hello may
    // still be in preparation, e.g. a gateway that closes at once with 4009) are kept and
    // replayed into the session, never dropped.
    const early: {
      messages: (Uint8Array | ArrayBuffer | string)[];
      close: [number, string] | null;
    } = {
      messages: [],
      close: null,
    };
    const events: SocketEvents = {
      message: (m) => {
        if (!session) return void early.messages.push(m);
        session.receive(m);
        driver?.arm();
      },
      close: (code, reason) => {
        if (!session) early.close ??= [code, reason];
        else session.onSocketClose(code, reason);
      },
    };
    const random = o.random ?? defaultRandom;
    const prepare = async (): Promise<PreparedClientHello> => {
      const native = o.kem === undefined && o.crypto !== "noble" ? await nativeClientXWing() : null;
      const p = native
        ? await prepareClientHelloAsync({
          server,
          suites: o.suites,
          kem: native,
          random,
          auth: auth?.hello,
        })
        : prepareClientHello({ server, suites: o.suites, kem: o.kem, random, auth: auth?.hello });
      this.#kemName = (native ?? o.kem ?? xwingNoble).name;
      return p;
    };
    let prepared: PreparedClientHello;
    let socket: OpenSocket;
    if (o.helloInUrl !== false) {
      // The ClientHello first, then the socket with it in the upgrade URL (PROTOCOL.md §1): the
      // X-Wing work no longer overlaps the TCP connect, but the gateway answers the upgrade with
      // the ServerHello, which saves a whole round trip.
      prepared = await prepare();
      const up = helloUpgrade(this.url, prepared.clientHello);
      try {
        socket = await openWebSocket(up.url, this.#WS, events, timeout, up.protocols);
      } catch (e) {
        // A 101 without a subprotocol fails the socket in the `ws` package (a gateway older
        // than 1.2 served by Deno's upgradeWebSocket, §1): once more without offering any.
        if (!failedOnSubprotocol(e)) {
          discardPrepared(prepared);
          throw e;
        }
        try {
          socket = await openWebSocket(this.url, this.#WS, events, timeout);
        } catch (e2) {
          discardPrepared(prepared);
          throw e2;
        }
      }
    } else {
      const socketOpen = openWebSocket(this.url, this.#WS, events, timeout);
      socketOpen.catch(() => {}); // awaited below; not "unhandled" while the hello is prepared
      // The WebSocket is connecting (TCP, TLS, upgrade: I/O, off this thread) while the
      // ClientHello's X-Wing work runs here. (The key configuration is fetched before, not in
      // parallel: a pin mismatch must not open a socket to the gateway.)
      // With native WebCrypto X-Wing (the default where available) this is asynchronous: the
      // ephemeral keygen and the encapsulation run natively, ahead of the sync core.
      try {
        prepared = await prepare();
      } catch (e) {
        socketOpen.then((s) => s.close(1000, ""), () => {});
        throw e;
      }
      socket = await socketOpen;
    }
    if (this.#closed) {
      socket.close(1000, "");
      discardPrepared(prepared);
      throw new ChannelClosedError(1000, "closed by the application", false);
    }
    let cred: AuthCredentials | undefined;
    try {
      cred = await credentials;
    } catch (e) {
      socket.close(1000, "");
      discardPrepared(prepared);
      throw e;
    }
    const asked = auth ? auth.method : null;
    session = new ClientSession({
      socket,
      prepared,
      env: { now, random: o.random ?? defaultRandom },
      server,
      suites: o.suites,
      kem: o.kem,
      auth: auth?.hello,
      credentials: cred,
      handshakeTimeoutMs: timeout,
      errorFor: (info) => authErrorForClose(info, asked) ?? errorForClose(info),
      onClose: (info) => {
        driver?.stop();
        // The gateway dropped our key: fetch the configuration again next time.
        if (info.code === 4003 && o.pin !== undefined && o.publicKey === undefined) {
          this.#server = null;
          forgetPinnedKey(this.url, o.pin, o.fetchConfig ?? fetch, this.#keyConfigUrl);
        }
        if (this.#session === session) this.#session = null;
      },
    });
    driver = new TimerDriver(session, { now, unref: false });
    this.#session = session;
    this.#authenticated = null;
    if (auth) {
      const done = this.#settleAuth(session, auth);
      done.catch(() => {});
      this.#authDone = { session, done };
    } else this.#authDone = null;
    session.start({ helloSent: socket.protocol === HELLO_SUBPROTOCOL });
    for (const m of early.messages) session.receive(m);
    if (early.close) session.onSocketClose(...early.close);
    driver.arm();
    return session;
  }
}

/** A ConnectOptions.auth checked once: what the hello announces, how credentials are made. */
interface CheckedAuth {
  method: "password" | "token" | "psk";
  hello: NonNullable<ClientHandshakeOptions["auth"]>;
  username?: string;
  password?: Uint8Array;
  token?: string | (() => string | Promise<string>);
  pskId?: string;
}

function utf8Length(s: string, what: string): number {
  try {
    return utf8Encode(s).length;
  } catch {
    throw new TypeError(`pqgate: auth.${what} is not valid text`);
  }
}

/** Validates ConnectOptions.auth (TypeError with the field at fault). Secrets are never echoed. */
function checkAuth(a: ClientAuthOption): CheckedAuth {
  if (typeof a !== "object" || a === null) throw new TypeError("pqgate: auth must be an object");
  if ("psk" in a) {
    const psk = typeof a.psk === "string" ? safeBase64Url(a.psk) : a.psk;
    if (!(psk instanceof Uint8Array) || psk.length !== 32) {
      throw new TypeError("pqgate: auth.psk must be 32 bytes (or their base64url)");
    }
    const n = typeof a.pskId === "string" ? utf8Length(a.pskId, "pskId") : 0;
    if (n < 1 || n > 128) throw new TypeError("pqgate: auth.pskId must be 1..128 UTF-8 bytes");
    return {
      method: "psk",
      hello: { psk: new Uint8Array(psk), identity: a.pskId },
      pskId: a.pskId,
    };
  }
  if ("token" in a) {
    if (typeof a.token !== "string" && typeof a.token !== "function") {
      throw new TypeError("pqgate: auth.token must be a string or a function returning one");
    }
    if (typeof a.token === "string") checkToken(a.token);
    return { method: "token", hello: { method: "token" }, token: a.token };
  }
  if ("username" in a && "password" in a) {
    const u = typeof a.username === "string" ? utf8Length(a.username, "username") : 0;
    if (u < 1 || u > 255) throw new TypeError("pqgate: auth.username must be 1..255 UTF-8 bytes");
    if (typeof a.password !== "string") {
      throw new TypeError("pqgate: auth.password must be a string");
    }
    const pw = utf8Encode(a.password);
    if (pw.length < 1 || pw.length > 1024) {
      throw new TypeError("pqgate: auth.password must be 1..1024 UTF-8 bytes");
    }
    return {
      method: "password",
      hello: { method: "password" },
      username: a.username,
      password: pw,
    };
  }
  throw new TypeError(
    "pqgate: auth must be { username, password }, { token } or { psk, pskId }",
  );
}

function safeBase64Url(s: string): Uint8Array | null {
  try {
    return fromBase64Url(s);
  } catch {
    return null;
  }
}

/** A bearer token as AUTH carries it (PROTOCOL.md §6.7): 1..8192 visible ASCII characters. */
function checkToken(t: unknown): string {
  if (typeof t !== "string" || !/^[\x21-\x7e]{1,8192}$/.test(t)) {
    throw new TypeError("pqgate: the auth token must be 1..8192 visible ASCII characters");
  }
  return t;
}

/** The AUTH credentials for one connect (the token callback is called here). */
async function credentialsOf(a: CheckedAuth): Promise<AuthCredentials | undefined> {
  if (a.method === "psk") return undefined;
  if (a.method === "password") {
    return { method: "password", username: a.username!, password: new Uint8Array(a.password!) };
  }
  const t = typeof a.token === "function" ? await a.token() : a.token;
  return { method: "token", token: checkToken(t) };
}

/** Wipes a prepared hello's async KEM state that no session will use. */
function discardPrepared(p: PreparedClientHello): void {
  try {
    p.kem?.discard?.();
    p.handshake.close();
  } catch { /* nothing to wipe */ }
}

/**
 * Connects to a pqgate gateway and completes a handshake. With `pin`, the gateway's key
 * configuration is fetched from `<origin>/.well-known/pqgate` (or from the `keyConfigUrl`
 * option) and only the key matching the pin is used (PinMismatchError otherwise). With
 * `publicKey` no configuration is fetched.
 */
export async function connect(url: string, options: ConnectOptions): Promise<Channel> {
  const channel = new Channel(url, options);
  try {
    await channel.ready();
  } catch (e) {
    // Refused credentials leave an open, unauthenticated session: not handed out.
    if (e instanceof AuthError) channel.close();
    throw e;
  }
  return channel;
}
