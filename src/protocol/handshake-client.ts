/**
 * §3, §4, §7 Client side of the pqgate/1 handshake as an explicit state machine:
 *
 *   start ──start()──▶ clientHelloSent ──receiveServerHello()──▶ established
 *     any error, or close() ──▶ closed (every later call throws protocol_error)
 *
 * Mode: with `server` (a gateway key the caller has already matched against its pin, §8) the
 * client ALWAYS uses pinned mode; without it, anonymous mode. There is no fallback from
 * pinned to anonymous inside this class, so a caller holding a pin MUST resolve it to `server`
 * (see `pinMatches`) and refuse to connect when no key matches — never construct without it.
 *
 * Every method throws only PqgateError.
 */
import type { Bytes } from "./bytes.ts";
import {
  AUTH_ANONYMOUS,
  AUTH_PINNED,
  KEY_ID_LEN,
  PSK_LEN,
  RANDOM_LEN,
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
  XWING_ESEED_LEN,
  XWING_PK_LEN,
  XWING_SEED_LEN,
} from "./constants.ts";
import { PqgateError } from "./errors.ts";
import { encodeExtensions, type Extension } from "./extensions.ts";
import { clientAuthExtension, type FrameAuthMethod, pskExtension } from "./client-auth.ts";
import { decodeServerHello, encodeClientFinished, encodeClientHello } from "./hello.ts";
import { asPqgateError, checkSuites, randomBytes, wipe } from "./handshake-common.ts";
import { xwingNoble } from "./kem.ts";
import {
  clientFinishedKey,
  deriveSessionKeys,
  finishedMac,
  handshakeSecret,
  serverFinishedKey,
  transcriptHashes,
  verifyFinished,
} from "./key-schedule.ts";
import type { HybridKem, RandomSource, SessionKeys } from "./types.ts";

export type ClientHandshakeState = "start" | "clientHelloSent" | "established" | "closed";

export interface ClientHandshakeOptions {
  /** Hybrid KEM backend; default `xwingNoble`. */
  kem?: HybridKem;
  /** Offered suites in preference order; default [AES-256-GCM, ChaCha20-Poly1305]. */
  suites?: SuiteId[];
  /** Pinned gateway key. Set = pinned mode (always); omitted = anonymous mode. */
  server?: { keyId: Uint8Array; publicKey: Uint8Array };
  random: RandomSource;
  /** ClientHello extensions (§3.4), e.g. `paddingExtension(n)`. */
  extensions?: Extension[];
  /**
   * Client authentication (§3.4.1, §3.4.2): a PSK (its identity goes in the `psk` extension and
   * the 32-byte key into the key schedule), or the method announced by `client_auth` (the
   * credentials follow in an AUTH frame, §6.7). At most one.
   */
  auth?: { psk: Uint8Array; identity: string } | { method: FrameAuthMethod };
}

export class ClientHandshake {
  #state: ClientHandshakeState = "start";
  readonly #kem: HybridKem;
  readonly #suites: SuiteId[];
  readonly #server: { keyId: Bytes; publicKey: Bytes } | null;
  readonly #random: RandomSource;
  readonly #extensions: Extension[];
  #psk: Bytes | null = null;
  // Live only in clientHelloSent:
  #clientHello: Bytes | null = null;
  #ekSecret: Bytes | null = null; // ephemeral X-Wing secret key (seed)
  #ssS: Bytes | null = null;
  #serverExtensions: Extension[] = [];

  constructor(opts: ClientHandshakeOptions) {
    this.#kem = opts.kem ?? xwingNoble;
    this.#suites = checkSuites(
      opts.suites ?? [SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305],
      "suites",
    );
    if (typeof opts.random !== "function") {
      throw new PqgateError("internal_error", "random: function required");
    }
    this.#random = opts.random;
    if (opts.server) {
      const { keyId, publicKey } = opts.server;
      if (!(keyId instanceof Uint8Array) || keyId.length !== KEY_ID_LEN) {
        throw new PqgateError("internal_error", "server.keyId: expected 8 bytes");
      }
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== XWING_PK_LEN) {
        throw new PqgateError("internal_error", "server.publicKey: expected 1216 bytes");
      }
      this.#server = { keyId: new Uint8Array(keyId), publicKey: new Uint8Array(publicKey) };
    } else {
      this.#server = null;
    }
    this.#extensions = (opts.extensions ?? []).map((e) => ({
      type: e.type,
      data: new Uint8Array(e.data),
    }));
    const auth = opts.auth;
    if (auth !== undefined) {
      if ("psk" in auth) {
        if (!(auth.psk instanceof Uint8Array) || auth.psk.length !== PSK_LEN) {
          throw new PqgateError("internal_error", "auth.psk: expected 32 bytes");
        }
        this.#extensions.unshift(pskExtension(auth.identity));
        this.#psk = new Uint8Array(auth.psk);
      } else {
        this.#extensions.unshift(clientAuthExtension(auth.method));
      }
    }
    encodeExtensions(this.#extensions); // validate now (internal_error on misuse)
  }

  get state(): ClientHandshakeState {
    return this.#state;
  }

  /** "pinned" or "anonymous". */
  get mode(): "pinned" | "anonymous" {
    return this.#server ? "pinned" : "anonymous";
  }

  /** Extensions the gateway sent in its ServerHello (after receiveServerHello). */
  get serverExtensions(): Extension[] {
    return this.#serverExtensions;
  }

  /** Builds the ClientHello (§3.1). start → clientHelloSent. */
  start(): Bytes {
    this.#expect("start");
    let eseed: Bytes | null = null;
    let ekSeed: Bytes | null = null;
    try {
      const clientRandom = randomBytes(this.#random, RANDOM_LEN);
      ekSeed = randomBytes(this.#random, XWING_SEED_LEN);
      const ek = this.#kem.keygen(ekSeed);
      let ctS: Bytes | null = null;
      if (this.#server) {
        eseed = randomBytes(this.#random, XWING_ESEED_LEN);
        let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
        try {
          enc = this.#kem.encapsulate(this.#server.publicKey, eseed);
        } catch (e) {
          throw asPqgateError(e, "handshake_failed");
        }
        ctS = new Uint8Array(enc.cipherText);
        this.#ssS = new Uint8Array(enc.sharedSecret);
        wipe(enc.sharedSecret);
      }
      const ch = encodeClientHello({
        authMode: this.#server ? AUTH_PINNED : AUTH_ANONYMOUS,
        suites: this.#suites,
        clientRandom,
        keyId: this.#server ? this.#server.keyId : new Uint8Array(KEY_ID_LEN),
        ekC: new Uint8Array(ek.publicKey),
        ctS,
        extensions: this.#extensions,
      });
      this.#ekSecret = new Uint8Array(ek.secretKey);
      wipe(ek.secretKey);
      this.#clientHello = new Uint8Array(ch); // own copy: the caller may reuse the returned buffer
      this.#state = "clientHelloSent";
      return ch;
    } catch (e) {
      this.#fail();
      throw asPqgateError(e);
    } finally {
      wipe(eseed, ekSeed);
    }
  }

  /**
   * Processes the ServerHello (§3.2), verifies server_finished (§4.3) and returns the
   * ClientFinished to send plus the session keys. clientHelloSent → established.
   */
  receiveServerHello(msg: Uint8Array): { clientFinished: Bytes; keys: SessionKeys } {
    this.#expect("clientHelloSent");
    let ssE: Bytes | null = null;
    let hs2: Bytes | null = null;
    let sFin: Bytes | null = null;
    let cFin: Bytes | null = null;
    try {
      const sh = decodeServerHello(msg);
      if (!this.#suites.includes(sh.suite as SuiteId)) {
        throw new PqgateError("handshake_failed", "suite not offered");
      }
      const suite = sh.suite as SuiteId;
      try {
        ssE = new Uint8Array(this.#kem.decapsulate(sh.ctE, this.#ekSecret!));
      } catch {
        throw new PqgateError("handshake_failed");
      }
      const ch = this.#clientHello!;
      const shStar = msg.subarray(0, msg.length - sh.serverFinished.length);
      const transcript = transcriptHashes(ch, shStar);
      const th1 = transcript.th1;
      hs2 = handshakeSecret(suite, this.#ssS, ssE, this.#psk);
      sFin = serverFinishedKey(hs2, th1);
      if (!verifyFinished(finishedMac(sFin, th1), sh.serverFinished)) {
        throw new PqgateError("handshake_failed");
      }
      const th2 = transcript.next(sh.serverFinished); // = H(CH || SH)
      cFin = clientFinishedKey(hs2, th2);
      const clientFinished = encodeClientFinished(finishedMac(cFin, th2));
      const keys = deriveSessionKeys(suite, hs2, th2);
      this.#serverExtensions = sh.extensions;
      this.#clear();
      this.#state = "established";
      return { clientFinished, keys };
    } catch (e) {
      this.#fail();
      throw asPqgateError(e);
    } finally {
      wipe(ssE, hs2, sFin, cFin);
    }
  }

  /** Abandons the handshake and wipes its secrets. Idempotent. */
  close(): void {
    this.#clear();
    this.#state = "closed";
  }

  #expect(s: ClientHandshakeState): void {
    if (this.#state !== s) {
      this.#fail();
      throw new PqgateError("protocol_error", "unexpected call in state");
    }
  }

  #fail(): void {
    this.close();
  }

  #clear(): void {
    wipe(this.#ekSecret, this.#ssS, this.#psk);
    this.#psk = null;
    this.#ekSecret = null;
    this.#ssS = null;
    this.#clientHello = null;
  }
}
