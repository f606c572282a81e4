/**
 * §3, §4, §7 Gateway side of the pqgate/1 handshake as an explicit state machine:
 *
 *   start ──receiveClientHello()──▶ serverHelloSent ──receiveClientFinished()──▶ established
 *     any error, or close() ──▶ closed (every later call throws protocol_error)
 *
 * ClientHello checks run in the order of §3.1: type, version, layout, extensions, suite
 * selection (gateway preference), anonymous permission, key id, then cryptography. The session
 * keys are derived while building the ServerHello but released only after ClientFinished
 * verified (§3: no Record is processed before that).
 *
 * Every method throws only PqgateError.
 */
import { type Bytes, concat } from "./bytes.ts";
import {
  AUTH_ANONYMOUS,
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
import type { ClientAuthRequest } from "./client-auth.ts";
import { decodeClientFinished, decodeClientHello, encodeServerHelloUnfinished } from "./hello.ts";
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
import type { HybridKem, RandomSource, SessionKeys, StaticKey } from "./types.ts";

export type ServerHandshakeState = "start" | "serverHelloSent" | "established" | "closed";

export interface ServerHandshakeOptions {
  /** Hybrid KEM backend; default `xwingNoble`. */
  kem?: HybridKem;
  /** The live static keys (several during a rotation, §8). May be empty if only anonymous. */
  keys: StaticKey[];
  /** Enabled suites in the gateway's preference order; default [AES-256-GCM, ChaCha20-Poly1305]. */
  suites?: SuiteId[];
  /** Accept anonymous mode (§3.1 auth_mode 0x00). Default false → `unauthorized`. */
  allowAnonymous?: boolean;
  random: RandomSource;
  /** ServerHello extensions (§3.4). */
  extensions?: Extension[];
  /**
   * The 32-byte PSK of a `psk` identity (§3.4.1), synchronous, or null when there is none. A
   * ClientHello with `psk` whose identity has no key (null, no lookup, a lookup that throws or
   * returns another length) runs on a random dummy key: the client's server_finished check
   * fails, the same 4004 as a wrong PSK (§3.4.1).
   */
  psk?: (identity: string) => Uint8Array | null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class ServerHandshake {
  #state: ServerHandshakeState = "start";
  readonly #kem: HybridKem;
  readonly #keys: StaticKey[];
  readonly #suites: SuiteId[];
  readonly #allowAnonymous: boolean;
  readonly #random: RandomSource;
  readonly #extensions: Extension[];
  // Set by receiveClientHello:
  #suite: SuiteId | null = null;
  #mode: "pinned" | "anonymous" | null = null;
  #keyId: Bytes | null = null;
  #clientExtensions: Extension[] = [];
  #clientAuth: ClientAuthRequest = null;
  readonly #psk: ((identity: string) => Uint8Array | null) | null;
  #expectedClientFinished: Bytes | null = null;
  #pendingKeys: SessionKeys | null = null;

  constructor(opts: ServerHandshakeOptions) {
    this.#kem = opts.kem ?? xwingNoble;
    if (!Array.isArray(opts.keys)) throw new PqgateError("internal_error", "keys: array required");
    for (const k of opts.keys) {
      if (!(k.keyId instanceof Uint8Array) || k.keyId.length !== KEY_ID_LEN) {
        throw new PqgateError("internal_error", "keys[].keyId: expected 8 bytes");
      }
      if (!(k.publicKey instanceof Uint8Array) || k.publicKey.length !== XWING_PK_LEN) {
        throw new PqgateError("internal_error", "keys[].publicKey: expected 1216 bytes");
      }
      if (!(k.secretKey instanceof Uint8Array) || k.secretKey.length !== XWING_SEED_LEN) {
        throw new PqgateError("internal_error", "keys[].secretKey: expected 32 bytes");
      }
    }
    this.#keys = opts.keys;
    this.#suites = checkSuites(
      opts.suites ?? [SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305],
      "suites",
    );
    this.#allowAnonymous = opts.allowAnonymous ?? false;
    if (typeof opts.random !== "function") {
      throw new PqgateError("internal_error", "random: function required");
    }
    this.#random = opts.random;
    this.#psk = typeof opts.psk === "function" ? opts.psk : null;
    this.#extensions = (opts.extensions ?? []).map((e) => ({
      type: e.type,
      data: new Uint8Array(e.data),
    }));
    encodeExtensions(this.#extensions); // validate now
  }

  get state(): ServerHandshakeState {
    return this.#state;
  }
  /** The selected suite (after receiveClientHello). */
  get suite(): SuiteId | null {
    return this.#suite;
  }
  /** The client's mode (after receiveClientHello). */
  get mode(): "pinned" | "anonymous" | null {
    return this.#mode;
  }
  /** The static key id used (pinned mode, after receiveClientHello). */
  get keyId(): Bytes | null {
    return this.#keyId;
  }
  /**
   * What the client asked for with `psk` / `client_auth` (after receiveClientHello), null for
   * neither. A `psk` identity is authenticated only once ClientFinished verified.
   */
  get clientAuth(): ClientAuthRequest {
    return this.#clientAuth;
  }
  /** Extensions the client sent (after receiveClientHello). */
  get clientExtensions(): Extension[] {
    return this.#clientExtensions;
  }

  /** Processes a ClientHello (§3.1) and returns the ServerHello (§3.2). start → serverHelloSent. */
  receiveClientHello(msg: Uint8Array): Bytes {
    this.#expect("start");
    let ssS: Bytes | null = null;
    let ssE: Bytes | null = null;
    let eseed: Bytes | null = null;
    let hs2: Bytes | null = null;
    let sFin: Bytes | null = null;
    let cFin: Bytes | null = null;
    let psk: Bytes | null = null;
    try {
      const ch = decodeClientHello(msg);
      // Suite: first in the gateway's preference list that the client offered.
      const suite = this.#suites.find((s) => ch.suites.includes(s));
      if (suite === undefined) throw new PqgateError("no_common_suite");
      if (ch.authMode === AUTH_ANONYMOUS) {
        if (!this.#allowAnonymous) throw new PqgateError("unauthorized");
      } else {
        const key = this.#keys.find((k) => sameBytes(k.keyId, ch.keyId));
        if (!key) throw new PqgateError("unknown_key_id");
        try {
          ssS = new Uint8Array(this.#kem.decapsulate(ch.ctS!, key.secretKey));
        } catch {
          throw new PqgateError("handshake_failed");
        }
        this.#keyId = new Uint8Array(key.keyId);
      }
      if (ch.auth?.method === "psk") psk = this.#pskFor(ch.auth.identity);
      eseed = randomBytes(this.#random, XWING_ESEED_LEN);
      let enc: { cipherText: Uint8Array; sharedSecret: Uint8Array };
      try {
        enc = this.#kem.encapsulate(ch.ekC, eseed);
      } catch {
        throw new PqgateError("handshake_failed");
      }
      ssE = new Uint8Array(enc.sharedSecret);
      wipe(enc.sharedSecret);
      const shStar = encodeServerHelloUnfinished({
        suite,
        serverRandom: randomBytes(this.#random, RANDOM_LEN),
        ctE: new Uint8Array(enc.cipherText),
        extensions: this.#extensions,
      });
      const transcript = transcriptHashes(msg, shStar);
      const th1 = transcript.th1;
      hs2 = handshakeSecret(suite, ssS, ssE, psk);
      sFin = serverFinishedKey(hs2, th1);
      const serverFinished = finishedMac(sFin, th1);
      const sh = concat(shStar, serverFinished);
      const th2 = transcript.next(serverFinished); // = H(CH || SH)
      cFin = clientFinishedKey(hs2, th2);
      this.#expectedClientFinished = finishedMac(cFin, th2);
      this.#pendingKeys = deriveSessionKeys(suite, hs2, th2);
      this.#suite = suite;
      this.#mode = ch.authMode === AUTH_ANONYMOUS ? "anonymous" : "pinned";
      this.#clientExtensions = ch.extensions;
      this.#clientAuth = ch.auth ?? null;
      this.#state = "serverHelloSent";
      return sh;
    } catch (e) {
      this.#fail();
      throw asPqgateError(e);
    } finally {
      wipe(ssS, ssE, eseed, hs2, sFin, cFin, psk);
    }
  }

  /** A copy of the identity's PSK, or a random dummy (§3.4.1: unknown = wrong, uniformly). */
  #pskFor(identity: string): Bytes {
    let key: Uint8Array | null = null;
    try {
      key = this.#psk ? this.#psk(identity) : null;
    } catch {
      key = null;
    }
    if (key instanceof Uint8Array && key.length === PSK_LEN) return new Uint8Array(key);
    return randomBytes(this.#random, PSK_LEN);
  }

  /** Verifies ClientFinished (§3.3, §4.3) and releases the session keys. → established. */
  receiveClientFinished(msg: Uint8Array): SessionKeys {
    this.#expect("serverHelloSent");
    try {
      const mac = decodeClientFinished(msg);
      if (!verifyFinished(this.#expectedClientFinished!, mac)) {
        throw new PqgateError("handshake_failed");
      }
      const keys = this.#pendingKeys!;
      this.#pendingKeys = null;
      wipe(this.#expectedClientFinished);
      this.#expectedClientFinished = null;
      this.#state = "established";
      return keys;
    } catch (e) {
      this.#fail();
      throw asPqgateError(e);
    }
  }

  /** Abandons the handshake and wipes pending secrets. Idempotent. */
  close(): void {
    const k = this.#pendingKeys;
    if (k) wipe(k.clientSecret, k.serverSecret, k.exporterSecret);
    this.#pendingKeys = null;
    wipe(this.#expectedClientFinished);
    this.#expectedClientFinished = null;
    this.#state = "closed";
  }

  #expect(s: ServerHandshakeState): void {
    if (this.#state !== s) {
      this.#fail();
      throw new PqgateError("protocol_error", "unexpected call in state");
    }
  }

  #fail(): void {
    this.close();
  }
}
