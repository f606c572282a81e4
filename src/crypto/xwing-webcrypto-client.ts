/**
 * The client role of the native X-Wing (xwing-webcrypto.ts): a per-connection
 * `PreparedClientXWing` (a tunnel `PreparableClientKem`) over a `WebCryptoXWing` chosen by
 * `selectWebCryptoXWing`; src/client/webcrypto-kem.ts makes that choice once per process.
 */
import { type Bytes, ctEqual } from "../protocol/bytes.ts";
import { XWING_SEED_LEN } from "../protocol/constants.ts";
import { decodeServerHello } from "../protocol/hello.ts";
import type { HybridKem } from "../protocol/types.ts";
import { type NativeXWingKey, PreparedXWingBase } from "./xwing-webcrypto.ts";

/**
 * The client's per-connection KEM (a tunnel `PreparableClientKem`): keygen and the
 * encapsulation to the server key while the socket connects, the decapsulation of ct_E when the
 * ServerHello arrives.
 */
export class PreparedClientXWing extends PreparedXWingBase implements HybridKem {
  #kg: { seed: Bytes; publicKey: Bytes; key: NativeXWingKey } | null = null;
  #enc: { pk: Bytes; eseed: Bytes; cipherText: Bytes; sharedSecret: Bytes } | null = null;
  readonly used: { keygen: number; encapsulate: number; decapsulate: number } = {
    keygen: 0,
    encapsulate: 0,
    decapsulate: 0,
  };

  /** Precomputes keygen(seed) and, with a server key, encapsulate(serverPublicKey, eseed). */
  async prepareClient(
    input: { seed: Uint8Array; serverPublicKey: Uint8Array | null; eseed: Uint8Array | null },
  ): Promise<void> {
    this.discard();
    const { seed, serverPublicKey: pk, eseed } = input;
    const jobs: Promise<void>[] = [];
    if (seed instanceof Uint8Array && seed.length === XWING_SEED_LEN) {
      const s = new Uint8Array(seed);
      jobs.push(
        this.xw.keygen(s).then((kg) => {
          this.#kg = { seed: s, publicKey: kg.publicKey, key: kg.secretKey };
        }),
      );
    }
    if (pk instanceof Uint8Array && eseed instanceof Uint8Array) {
      const p = new Uint8Array(pk), e = new Uint8Array(eseed);
      jobs.push(
        this.xw.encapsulate(p, e).then((r) => {
          this.#enc = { pk: p, eseed: e, ...r };
        }),
      );
    }
    await Promise.allSettled(jobs); // a failed job (or invalid input) leaves it to the sync path
  }

  /** Precomputes the decapsulation of the ServerHello's ct_E with the prepared key. */
  async prepareServerHello(serverHello: Uint8Array): Promise<void> {
    const kg = this.#kg;
    if (!kg || this.dec) return;
    let ctE: Uint8Array;
    try {
      ctE = decodeServerHello(serverHello).ctE;
    } catch {
      return;
    }
    await this.prepareDecapsulation(ctE, kg.key);
    if (this.#kg !== kg) this.dropDecapsulation(); // prepareClient ran meanwhile
  }

  override discard(): void {
    super.discard();
    this.#kg?.seed.fill(0);
    if (this.#kg) this.xw.wipe(this.#kg.key);
    this.#enc?.eseed.fill(0);
    this.#enc?.sharedSecret.fill(0);
    this.#kg = this.#enc = null;
  }

  override keygen(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array } {
    const p = this.#kg;
    if (p && seed instanceof Uint8Array && ctEqual(p.seed, seed)) {
      this.used.keygen++;
      return { publicKey: new Uint8Array(p.publicKey), secretKey: new Uint8Array(seed) };
    }
    return this.xw.sync.keygen(seed);
  }

  encapsulate(
    publicKey: Uint8Array,
    eseed: Uint8Array,
  ): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
    const p = this.#enc;
    if (
      p && publicKey instanceof Uint8Array && eseed instanceof Uint8Array &&
      ctEqual(p.pk, publicKey) && ctEqual(p.eseed, eseed)
    ) {
      this.#enc = null;
      p.eseed.fill(0);
      this.used.encapsulate++;
      return { cipherText: p.cipherText, sharedSecret: p.sharedSecret };
    }
    return this.xw.sync.encapsulate(publicKey, eseed);
  }
}
