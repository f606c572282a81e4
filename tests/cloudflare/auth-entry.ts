/**
 * The production Worker plus the Argon2id module for password authentication. A user's Worker
 * writes `import argon2Wasm from "argon2id/dist/simd.wasm"; export default createWorker({
 * argon2Wasm })` (docs/cloudflare.md); here the module comes from the wrapper module the test
 * loads first (workers-auth.test.ts), because Deno's type checker cannot import a .wasm file as
 * a WebAssembly.Module. The options function runs when the gateway is built, after the wrapper.
 */
export { PqgateSession } from "../../src/cloudflare.ts";
import { createWorker } from "../../src/cloudflare.ts";

export default createWorker(() => ({
  argon2Wasm: (globalThis as { pqgateArgon2Wasm?: WebAssembly.Module }).pqgateArgon2Wasm,
}));
