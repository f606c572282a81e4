/**
 * Crypto backends for the protocol core (src/protocol stays pure: noble only). The gateway picks
 * them once at start-up with `selectBackends()`; the client uses the WebCrypto X-Wing alone
 * (`selectWebCryptoXWing`). See README.md in this folder.
 */
export {
  type BackendReport,
  type Backends,
  type ConnectionKem,
  selectBackends,
  type SelectOptions,
} from "./select.ts";
export {
  type SelfTestResult,
  selfTestXWing,
  type XWingCandidate,
  type XWingVector,
} from "./self-test.ts";
export { CachedXWing } from "./xwing.ts";
export {
  asyncX25519,
  hasWebCryptoMlKem,
  selectWebCryptoXWing,
  WebCryptoMlKem,
  webCryptoX25519,
  WebCryptoXWing,
} from "./xwing-webcrypto.ts";
export { PreparedClientXWing } from "./xwing-webcrypto-client.ts";
export { PreparedXWing, WebCryptoXWingBackend } from "./xwing-webcrypto-server.ts";
export { nodeAead, type NodeAeadAlgorithm } from "./aead-node.ts";
export { loadNodeCrypto, nodeSha3, nodeX25519 } from "./node-crypto.ts";
export { nobleSha3, nobleX25519, type Sha3, type X25519Ops, XWING_LABEL } from "./primitives.ts";
