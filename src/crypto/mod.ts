/**
 * Crypto backends for the protocol core (src/protocol stays pure: noble only). Pick them once
 * at start-up with `selectBackends()`; see README.md in this folder.
 */
export {
  type BackendReport,
  type Backends,
  type ConnectionKem,
  selectBackends,
  type SelectOptions,
  type XWingVector,
} from "./select.ts";
export { CachedXWing, XWING_LABEL } from "./xwing.ts";
export {
  hasWebCryptoMlKem,
  PreparedXWing,
  WebCryptoMlKem,
  WebCryptoXWingBackend,
} from "./xwing-webcrypto.ts";
export { nodeAead, type NodeAeadAlgorithm } from "./aead-node.ts";
export {
  type HashOps,
  loadNodeCrypto,
  nobleSha3,
  nobleX25519,
  nodeHashes,
  nodeSha3,
  nodeX25519,
  type Sha3,
  type X25519Ops,
} from "./primitives.ts";
