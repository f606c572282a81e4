/**
 * The gateway role of the native X-Wing (xwing-webcrypto.ts): `WebCryptoXWingBackend` holds the
 * gateway's static keys in native form (and registers them in the sync `CachedXWing` too);
 * `forConnection()` gives each connection a `PreparedXWing`, whose `prepareServer(clientHello)`
 * runs the native work before the sync core (see xwing-webcrypto.ts). Only select.ts uses this.
 */
import { type Bytes, ctEqual } from "../protocol/bytes.ts";
import { AUTH_PINNED, XWING_ESEED_LEN } from "../protocol/constants.ts";
import { decodeClientHello } from "../protocol/hello.ts";
import { xwingPublicKeyValid } from "../protocol/kem.ts";
import type { HybridKem, StaticKey } from "../protocol/types.ts";
import { type NativeXWingKey, PreparedXWingBase, type WebCryptoXWing } from "./xwing-webcrypto.ts";

/** Gateway-wide state: the native X-Wing and each static key's native form, by key id. */
export class WebCryptoXWingBackend {
  readonly name: string;
  readonly xw: WebCryptoXWing;
  readonly #keys: { keyId: Bytes; key: NativeXWingKey }[] = [];

  constructor(xw: WebCryptoXWing) {
    this.xw = xw;
    this.name = xw.name;
  }

  /** Registers the gateway's static keys: in the sync KEM (its cache) and natively. */
  async addStaticKeys(keys: readonly StaticKey[]): Promise<void> {
    this.xw.sync.addStaticKeys?.(keys);
    for (const k of keys) {
      const known = this.#keys.some((e) =>
        ctEqual(e.keyId, k.keyId) && ctEqual(e.key.seed, k.secretKey)
      );
      if (!known) {
        const key = await this.xw.importKey(k.secretKey);
        this.#keys.push({ keyId: new Uint8Array(k.keyId), key });
      }
    }
  }

  /** The registered static key with this key id, or null. */
  staticKey(keyId: Uint8Array): NativeXWingKey | null {
    return this.#keys.find((e) => ctEqual(e.keyId, keyId))?.key ?? null;
  }

  /** Forgets every registered key (the sync cache included). */
  clearStaticKeys(): void {
    for (const e of this.#keys) this.xw.wipe(e.key);
    this.#keys.length = 0;
    this.xw.sync.clearStaticKeys?.();
  }

  /** A fresh per-connection KEM (ServerHandshake/ServerSession `kem`). */
  forConnection(): PreparedXWing {
    return new PreparedXWing(this);
  }
}

/**
 * The gateway's per-connection KEM. `prepareServer(clientHello)` decodes the ClientHello with the
 * core's decoder and runs, natively and in parallel, the decapsulation of ct_S (pinned mode, key
 * registered) and the ML-KEM half of an encapsulation to ek_C. Never throws and never changes
 * what the core decides: a malformed ClientHello, an unknown key or an invalid ek_C leave
 * nothing prepared, and the core reports the error as usual.
 */
export class PreparedXWing extends PreparedXWingBase implements HybridKem {
  readonly #keys: WebCryptoXWingBackend;
  #enc: { pk: Bytes; ctM: Bytes; ssM: Bytes } | null = null;
  readonly used: { decapsulate: number; encapsulate: number } = { decapsulate: 0, encapsulate: 0 };

  constructor(backend: WebCryptoXWingBackend) {
    super(backend.xw);
    this.#keys = backend;
  }

  async prepareServer(clientHello: Uint8Array): Promise<void> {
    this.discard();
    let ch;
    try {
      ch = decodeClientHello(clientHello);
    } catch {
      return;
    }
    const jobs: Promise<void>[] = [];
    // Only a speculation: the core still selects the key by key_id itself, and uses this
    // result only if it then decapsulates exactly this ct_S with exactly this seed.
    const key = ch.authMode === AUTH_PINNED && ch.ctS ? this.#keys.staticKey(ch.keyId) : null;
    if (key && ch.ctS) jobs.push(this.prepareDecapsulation(ch.ctS, key));
    if (this.xw.sync.finishEncapsulate && xwingPublicKeyValid(ch.ekC)) {
      const pk = new Uint8Array(ch.ekC);
      jobs.push(
        this.xw.encapsulateMlKem(pk).then(({ ctM, ssM }) => {
          this.#enc = { pk, ctM, ssM };
        }),
      );
    }
    await Promise.allSettled(jobs); // a failed job leaves its half to the sync path
  }

  override discard(): void {
    super.discard();
    this.#enc?.ssM.fill(0);
    this.#enc = null;
  }

  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
    const p = this.#enc, finish = this.xw.sync.finishEncapsulate;
    if (
      p && finish && publicKey instanceof Uint8Array && ctEqual(p.pk, publicKey) &&
      eseed instanceof Uint8Array && eseed.length === XWING_ESEED_LEN
    ) {
      this.#enc = null;
      try {
        const r = finish.call(this.xw.sync, publicKey, p.ctM, p.ssM, eseed.subarray(32, 64));
        this.used.encapsulate++;
        return r;
      } finally {
        p.ssM.fill(0);
      }
    }
    return this.xw.sync.encapsulate(publicKey, eseed);
  }
}
