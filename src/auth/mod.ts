/**
 * Credential verifiers of client authentication (docs/client-auth.md): what the gateway wires
 * into its sessions. See options.ts for the configuration and create-verifier.ts for the factory.
 */
export { type AuthVerifierHandle, createAuthVerifier } from "./create-verifier.ts";
export * from "./options.ts";
export { loadArgon2Module, wasmArgon2 } from "./argon2.ts";
export { createArgon2WorkerPool } from "./argon2-pool.ts";
export { formatPhc, parsePhc, PHC_BOUNDS, PhcError, type PhcHash } from "./phc.ts";
export {
  MAX_USERS,
  MAX_USERS_FILE_BYTES,
  parseUsersFile,
  removeUserLine,
  setUserLine,
  type UsersTable,
} from "./users-file.ts";
export { MAX_PSKS, newPskLine, parsePskFile, PSK_BYTES } from "./psk-file.ts";
export { hashPassword } from "./hash-password.ts";
