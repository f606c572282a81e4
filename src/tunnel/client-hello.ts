/**
 * Preparing the client's hello (handshake, PROTOCOL.md §3.1, §7): builds the ClientHello — the
 * ephemeral X-Wing keygen and, in pinned mode, the encapsulation to the gateway key, the client's
 * most expensive step — ahead of the socket, optionally through a KEM's async step, so that a
 * transport can run it while the WebSocket connects (`ClientSessionOptions.prepared`); and the
 * ClientHello carried in the WebSocket upgrade request (PROTOCOL.md §1 "The ClientHello in the
 * upgrade"): the URL and subprotocols a client offers (`helloUpgrade`), and what a gateway's
 * transport reads from the upgrade request (`helloFromUpgrade`), shared by every transport.
 */
import { fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import {
  MAX_CLIENT_HELLO_LEN,
  RANDOM_LEN,
  type SuiteId,
  XWING_ESEED_LEN,
  XWING_SEED_LEN,
} from "../protocol/constants.ts";
import { ClientHandshake, type ClientHandshakeOptions } from "../protocol/handshake-client.ts";
import type { HybridKem } from "../protocol/types.ts";
import type { Env } from "./types.ts";

/** What a client handshake is built from (`ClientSessionOptions` carries the same fields). */
export interface ClientHelloOptions {
  server?: { keyId: Uint8Array; publicKey: Uint8Array };
  suites?: SuiteId[];
  kem?: HybridKem;
  random: Env["random"];
  /**
   * Client authentication in the ClientHello (PROTOCOL.md §3.4.1, §3.4.2): a PSK and its
   * identity, or the method whose AUTH frame follows ClientFinished.
   */
  auth?: ClientHandshakeOptions["auth"];
}

/** A new client handshake for these options (nothing is sent or computed yet). */
export function newClientHandshake(opts: ClientHelloOptions): ClientHandshake {
  return new ClientHandshake({
    kem: opts.kem,
    suites: opts.suites,
    server: opts.server,
    random: opts.random,
    auth: opts.auth,
  });
}

/**
 * A client KEM whose work can run asynchronously (e.g. native WebCrypto ML-KEM) before the
 * synchronous core asks for it; see src/client/webcrypto-kem.ts. The sync `HybridKem` methods
 * return a prepared result only for exactly the prepared input, anything else is computed
 * synchronously, so preparing never changes what the core decides.
 */
export interface PreparableClientKem extends HybridKem {
  /** Precomputes keygen(seed) and, with a server key, encapsulate(serverPublicKey, eseed). Never rejects. */
  prepareClient(
    input: { seed: Uint8Array; serverPublicKey: Uint8Array | null; eseed: Uint8Array | null },
  ): Promise<void>;
  /** Precomputes the decapsulation of the ServerHello's ct_E with the prepared key. Never rejects. */
  prepareServerHello?(serverHello: Uint8Array): Promise<void>;
  /** Wipes whatever is prepared and unused. */
  discard?(): void;
}

/** A ClientHello built ahead of the socket (see `prepareClientHello`). */
export interface PreparedClientHello {
  handshake: ClientHandshake;
  clientHello: Uint8Array<ArrayBuffer>;
  /** The KEM the handshake uses, when it has an async ServerHello step (`prepareServerHello`). */
  kem?: PreparableClientKem;
}

/**
 * Builds the ClientHello (ephemeral X-Wing keygen + encapsulation to the pinned key: the
 * client's most expensive step) without a socket, so that a transport can run it while the
 * WebSocket connects and pass it as `ClientSessionOptions.prepared`.
 */
export function prepareClientHello(opts: ClientHelloOptions): PreparedClientHello {
  const handshake = newClientHandshake(opts);
  return { handshake, clientHello: handshake.start() };
}

/**
 * `prepareClientHello` with a `PreparableClientKem`: the handshake's secrets are drawn from
 * `random` first (in the order `ClientHandshake.start` draws them: client_random, the ephemeral
 * seed, eseed), the KEM prepares keygen + encapsulation asynchronously, then the sync core builds
 * the ClientHello from the same draws (replayed) and the KEM hands back the prepared results.
 * Errors are those of `prepareClientHello` (the handshake is constructed, and so validated, first).
 */
export async function prepareClientHelloAsync(
  opts: ClientHelloOptions & { kem: PreparableClientKem },
): Promise<PreparedClientHello> {
  const draws: Uint8Array[] = [];
  let next = 0;
  const replay = (n: number): Uint8Array => {
    const d = draws[next];
    if (d && d.length === n) {
      draws[next++] = new Uint8Array(0);
      return d;
    }
    next = draws.length; // out of step: stop replaying
    return opts.random(n);
  };
  const handshake = newClientHandshake({ ...opts, random: replay });
  try {
    const want = opts.server
      ? [RANDOM_LEN, XWING_SEED_LEN, XWING_ESEED_LEN]
      : [RANDOM_LEN, XWING_SEED_LEN];
    for (const n of want) {
      const r = opts.random(n);
      if (!(r instanceof Uint8Array) || r.length !== n) break;
      draws.push(new Uint8Array(r));
    }
    if (draws.length === want.length) {
      await opts.kem.prepareClient({
        seed: draws[1],
        serverPublicKey: opts.server ? opts.server.publicKey : null,
        eseed: opts.server ? draws[2] : null,
      });
    }
  } catch {
    // A failing random source: start() draws again and reports it as prepareClientHello would.
    for (const d of draws) d.fill(0);
    draws.length = 0;
  }
  try {
    return { handshake, clientHello: handshake.start(), kem: opts.kem };
  } catch (e) {
    opts.kem.discard?.();
    throw e;
  } finally {
    for (const d of draws) d.fill(0);
  }
}

// ---- the ClientHello in the upgrade request (PROTOCOL.md §1) -----------------------------

/** Subprotocol: "my ClientHello is the first WebSocket message" (the 1.0 behaviour). */
export const PLAIN_SUBPROTOCOL = "pqgate";
/** Subprotocol: "my ClientHello is in the upgrade URL"; selected only by a gateway that took it. */
export const HELLO_SUBPROTOCOL = "pqgate.hello";
/** The query parameter that carries the ClientHello, base64url without padding. */
export const HELLO_PARAM = "pqgate_hello";
/** Longest parameter value: the base64url length of the largest ClientHello (3,422 → 4,563). */
export const MAX_HELLO_PARAM_LEN = Math.ceil((MAX_CLIENT_HELLO_LEN * 4) / 3);
/** HTTP status of an upgrade whose hello parameter is longer (refused before the upgrade). */
export const HELLO_TOO_LONG_STATUS = 414;

/**
 * The upgrade a client makes with its ClientHello in the URL: `url` with the `pqgate_hello`
 * parameter set (any previous one replaced, other parameters kept) and the subprotocols to offer,
 * `pqgate` first (an older gateway echoes the first offered value, §1).
 */
export function helloUpgrade(url: string, clientHello: Uint8Array): {
  url: string;
  protocols: string[];
} {
  const u = new URL(url);
  u.searchParams.delete(HELLO_PARAM);
  const query = u.search === "" || u.search === "?" ? "" : u.search.slice(1) + "&";
  u.search = `?${query}${HELLO_PARAM}=${toBase64Url(clientHello)}`;
  return { url: u.href, protocols: [PLAIN_SUBPROTOCOL, HELLO_SUBPROTOCOL] };
}

/** What a gateway does with an upgrade request (`helloFromUpgrade`). */
export type UpgradeHello =
  /** Upgrade, select `protocol` (null: none), wait for the ClientHello as the first message. */
  | { kind: "message"; protocol: string | null }
  /** Upgrade, select `pqgate.hello`, pass `hello` to the session as its first message. */
  | { kind: "url"; protocol: typeof HELLO_SUBPROTOCOL; hello: Uint8Array<ArrayBuffer> }
  /** Do not upgrade: answer `status` (the hello parameter is longer than any ClientHello). */
  | { kind: "refuse"; status: typeof HELLO_TOO_LONG_STATUS; message: string };

/** The subprotocols a `Sec-WebSocket-Protocol` header offers (comma-separated tokens). */
export function offeredSubprotocols(header: string | null | undefined): string[] {
  if (!header) return [];
  return header.split(",").map((p) => p.trim()).filter((p) => p !== "");
}

/**
 * The gateway's reading of an upgrade request (PROTOCOL.md §1): with `pqgate.hello` offered,
 * the ClientHello is the `pqgate_hello` parameter; a value longer than MAX_HELLO_PARAM_LEN is
 * refused before the upgrade (414); a missing, repeated or non-canonical-base64url value is an
 * empty first message (the session closes it with protocol_error, 4011, as it would a malformed
 * first message). Without `pqgate.hello` the parameter is ignored: `pqgate` is selected when
 * offered, else the first offered value (or none).
 */
export function helloFromUpgrade(
  url: string | URL,
  protocolHeader: string | null | undefined,
): UpgradeHello {
  const offered = offeredSubprotocols(protocolHeader);
  if (!offered.includes(HELLO_SUBPROTOCOL)) {
    const protocol = offered.includes(PLAIN_SUBPROTOCOL) ? PLAIN_SUBPROTOCOL : offered[0] ?? null;
    return { kind: "message", protocol };
  }
  let values: string[];
  try {
    values = new URL(url).searchParams.getAll(HELLO_PARAM);
  } catch {
    values = [];
  }
  if (values.some((v) => v.length > MAX_HELLO_PARAM_LEN)) {
    return {
      kind: "refuse",
      status: HELLO_TOO_LONG_STATUS,
      message: "the pqgate_hello parameter is longer than any ClientHello",
    };
  }
  let hello: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  if (values.length === 1) {
    try {
      hello = new Uint8Array(fromBase64Url(values[0]));
    } catch { /* not canonical base64url: an empty, malformed first message */ }
  }
  return { kind: "url", protocol: HELLO_SUBPROTOCOL, hello };
}
