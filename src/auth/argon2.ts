/**
 * Argon2id (RFC 9106) for password verification, from the `argon2id` package (the OpenPGP.js
 * project's WebAssembly build, SIMD). Chosen by measurement (docs/benchmarks.md, "Argon2id"):
 * the fastest implementation that runs unchanged on Deno and in workerd, because its `.wasm`
 * is a separate file that a Worker bundle ships as a module (workerd refuses to compile
 * WebAssembly at run time, which rules out builds that embed their wasm as base64).
 *
 * The host supplies the compiled module: on Deno `loadArgon2Module()` reads the package's file;
 * a Worker bundle imports `argon2id/dist/simd.wasm` as a CompiledWasm module.
 */
import setupWasm, { type computeHash } from "argon2id/lib/setup.js";
import type { Argon2Backend, Argon2Params } from "./options.ts";

/**
 * RFC 9106's salt minimum. (The package's own length checks in lib/argon2id.js compare the
 * arrays rather than their lengths and so check nothing: the bounds that matter are phc.ts's.)
 */
export const ARGON2_MIN_SALT_BYTES = 8;

/**
 * An Argon2id backend on the calling thread. Each call blocks that thread for one whole
 * verification (tens of ms at the default parameters): on Deno use argon2-pool.ts instead.
 */
export async function wasmArgon2(module: WebAssembly.Module): Promise<Argon2Backend> {
  const compute = await argon2idFunction(module);
  return {
    hash(password: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<Uint8Array> {
      try {
        return Promise.resolve(compute({
          password,
          salt,
          parallelism: params.p,
          passes: params.t,
          memorySize: params.m,
          tagLength: params.hashLength,
        }));
      } catch {
        // Opaque: whatever went wrong, nothing about the input goes into an error.
        return Promise.reject(new Error("argon2id computation failed"));
      }
    },
  };
}

/**
 * The package's Argon2id function itself (RFC 9106 inputs, secret and associated data
 * included): what the known-answer tests check, on Deno and in workerd.
 */
export async function argon2idFunction(module: WebAssembly.Module): Promise<computeHash> {
  const instantiate = async (imports: WebAssembly.Imports) => ({
    module,
    instance: await WebAssembly.instantiate(module, imports),
  });
  return await setupWasm(instantiate, instantiate);
}

/** The package's SIMD module, read from node_modules (Deno, Node). */
export async function loadArgon2Module(): Promise<WebAssembly.Module> {
  const url = new URL(import.meta.resolve("argon2id/dist/simd.wasm"));
  const { readFile } = await import("node:fs/promises");
  return await WebAssembly.compile(await readFile(url));
}
