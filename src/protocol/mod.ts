/** Public API of the pqgate/1 protocol core (pure: no I/O, no clock, no ambient randomness). */

export * from "./constants.ts";
export * from "./errors.ts";
export type * from "./types.ts";
export {
  type Bytes,
  concat,
  ctEqual,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
} from "./bytes.ts";

// §2 hybrid KEM
export { mlkemModulusCheck, xwingNoble, xwingPublicKeyValid } from "./kem.ts";
// §3 handshake messages
export {
  checkCriticalExtensions,
  CLIENT_HELLO_EXTENSIONS,
  decodeExtensions,
  encodeExtensions,
  type Extension,
  KNOWN_EXTENSIONS,
  paddingExtension,
} from "./extensions.ts";
export {
  type AuthMode,
  CLIENT_FINISHED_LEN,
  type ClientHello,
  decodeClientFinished,
  decodeClientHello,
  decodeServerHello,
  encodeClientFinished,
  encodeClientHello,
  encodeServerHello,
  encodeServerHelloUnfinished,
  SERVER_HELLO_BASE_LEN,
  type ServerHello,
} from "./hello.ts";
// §3.4.1-§3.4.2, §6.7-§6.8 client authentication: extensions, AUTH / AUTH_RESULT, binding
export {
  AUTH_STATUSES,
  authBinding,
  type AuthPayload,
  type AuthResultPayload,
  type AuthStatus,
  bindingMatches,
  clientAuthExtension,
  type ClientAuthRequest,
  clientAuthRequestOf,
  decodeAuthPayload,
  decodeAuthResultPayload,
  decodeClientAuthExtension,
  decodePskExtension,
  encodeAuthPayload,
  encodeAuthResultPayload,
  type FrameAuthMethod,
  pskExtension,
} from "./client-auth.ts";
// §4 key schedule. expandLabel, trafficKeys and nextTrafficSecret are defined in
// traffic-keys.ts and exported in the record layer section below (one HkdfLabel encoder).
export {
  clientFinishedKey,
  deriveSecret,
  deriveSessionKeys,
  EMPTY_HASH,
  exportKeyingMaterial,
  finishedMac,
  handshakeSecret,
  hash,
  hkdfExpand,
  hkdfExtract,
  initialChainingKey,
  serverFinishedKey,
  SESSION_ID_LEN,
  sessionIdFrom,
  transcriptHash,
  verifyFinished,
} from "./key-schedule.ts";
// §7 handshake state machines
export {
  ClientHandshake,
  type ClientHandshakeOptions,
  type ClientHandshakeState,
} from "./handshake-client.ts";
export {
  ServerHandshake,
  type ServerHandshakeOptions,
  type ServerHandshakeState,
} from "./handshake-server.ts";
// §8 gateway keys and pins
export {
  generateStaticKey,
  keyIdFor,
  parsePin,
  PIN_PREFIX,
  pinFor,
  pinMatches,
} from "./static-keys.ts";

// ---- record layer exports below ----
// §4.2 ExpandLabel, §4.4 traffic keys and KeyUpdate secrets
export { expandLabel, nextTrafficSecret, type TrafficKeys, trafficKeys } from "./traffic-keys.ts";
// §2 / §5.1 AEADs
export { aeadForSuite, aes256gcm, chacha20poly1305 } from "./aead.ts";
// §5 records, §5.5-§5.6 reservation and snapshots
export {
  DEFAULT_RECORD_LIMITS,
  RecordLayer,
  type RecordLayerOptions,
  type RecordLimits,
  type RestoreOptions,
  SNAPSHOT_LEN,
  SNAPSHOT_VERSION,
} from "./record-layer.ts";
// §6 frames
export {
  dataFrames,
  decodeFrames,
  decodeSessionInfo,
  encodeFrame,
  encodeFrames,
  encodeSessionInfo,
  type Frame,
  type FrameType,
  MAX_FRAME_PAYLOAD,
  packFrames,
  type SessionInfo,
  STREAM_CANCEL,
  STREAM_ERROR_NAMES,
  STREAM_FLOW_CONTROL,
  STREAM_INTERNAL,
  STREAM_REFUSED,
  STREAM_TOO_LARGE,
} from "./frames.ts";
export { utf8Decode, utf8Encode } from "./bytes.ts";
