/**
 * Preparing the client's hello (handshake, PROTOCOL.md §3.1, §7): builds the ClientHello — the
 * ephemeral X-Wing keygen and, in pinned mode, the encapsulation to the gateway key, the client's
 * most expensive step — ahead of the socket, optionally through a KEM's async step, so that a
 * transport can run it while the WebSocket connects (`ClientSessionOptions.prepared`).
 */
import {
  RANDOM_LEN,
  type SuiteId,
  XWING_ESEED_LEN,
  XWING_SEED_LEN,
} from "../protocol/constants.ts";
import { ClientHandshake } from "../protocol/handshake-client.ts";
import type { HybridKem } from "../protocol/types.ts";
import type { Env } from "./types.ts";

/** What a client handshake is built from (`ClientSessionOptions` carries the same fields). */
export interface ClientHelloOptions {
  server?: { keyId: Uint8Array; publicKey: Uint8Array };
  suites?: SuiteId[];
  kem?: HybridKem;
  random: Env["random"];
}

/** A new client handshake for these options (nothing is sent or computed yet). */
export function newClientHandshake(opts: ClientHelloOptions): ClientHandshake {
  return new ClientHandshake({
    kem: opts.kem,
    suites: opts.suites,
    server: opts.server,
    random: opts.random,
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
