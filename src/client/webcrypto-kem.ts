/**
 * The client's native X-Wing: src/crypto's `WebCryptoXWing` (ML-KEM-768 and X25519 through
 * WebCrypto, X25519 noble where WebCrypto's fails the self-test), chosen once per process by
 * `selectWebCryptoXWing` (self-test against noble); null → the Channel uses noble.
 */
import { selectWebCryptoXWing, type WebCryptoXWing } from "../crypto/xwing-webcrypto.ts";
import { PreparedClientXWing } from "../crypto/xwing-webcrypto-client.ts";

let choice: Promise<WebCryptoXWing | null> | null = null;
let reason: string | null = null;

/** A fresh per-connection native client KEM, or null when the runtime has none (use noble). */
export async function nativeClientXWing(): Promise<PreparedClientXWing | null> {
  choice ??= selectWebCryptoXWing().then((r) => {
    reason = r.fallbacks.join("; ") || null;
    return r.kem;
  });
  const xw = await choice;
  return xw ? new PreparedClientXWing(xw) : null;
}

/** Why the native client KEM is not used, or which X25519 fell back (null: none, or undecided). */
export function nativeClientXWingFallbackReason(): string | null {
  return reason;
}
