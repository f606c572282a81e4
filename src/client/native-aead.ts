/**
 * The client's record AEADs (PROTOCOL.md §2, §5.1): where the runtime has `node:crypto` (Deno,
 * Node) its AES-256-GCM and ChaCha20-Poly1305, each used only after the known-answer self-test
 * against noble and a short timing that the gateway's start-up selection runs too
 * (src/crypto/aead-select.ts); noble otherwise. Browsers and Service Workers have no
 * `node:crypto` (and WebCrypto's AES-GCM is asynchronous while the record layer is not), so
 * they keep noble. Selected once per process, at the first `connect`.
 */
import { type AeadSelection, selectAeads } from "../crypto/aead-select.ts";
import { loadNodeCrypto } from "../crypto/node-crypto.ts";

let selection: Promise<AeadSelection> | null = null;

/** Whether this looks like a runtime with `node:crypto` (not a browser or Service Worker). */
function hasNodeCrypto(): boolean {
  const g = globalThis as { Deno?: unknown; process?: { versions?: { node?: unknown } } };
  return g.Deno !== undefined || typeof g.process?.versions?.node === "string";
}

/** The AEAD of each suite for this process (started once, shared by every channel). */
export function clientAeads(): Promise<AeadSelection> {
  return selection ??= (async () => {
    const nc = hasNodeCrypto() ? await loadNodeCrypto() : null;
    // Two 16 KiB seals per candidate: native and noble differ 3-10× where both exist
    // (docs/benchmarks.md "AEAD per runtime"), far beyond what two samples can misjudge.
    return selectAeads(nc, { reps: 2 }, []);
  })();
}
