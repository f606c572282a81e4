/**
 * A Worker for the Argon2id checks in workerd (argon2-workerd.test.ts, bench/argon2.ts): the
 * package's WebAssembly module is imported as a CompiledWasm module by a two-line entry
 * (argon2-workerd.ts) and handed in as `env.ARGON2_WASM`, since workerd refuses to compile
 * WebAssembly at run time.
 *
 *   GET /kat            the RFC 9106 tag (hex) and whether the reference PHC vector verifies
 *   GET /hash?n=N       N verifications at the default parameters (CPU measured from outside)
 *   GET /verify?u=&p=   createAuthVerifier's password outcome (users from the USERS binding)
 */
import { equalBytes } from "@noble/ciphers/utils.js";
import { argon2idFunction, wasmArgon2 } from "../../src/auth/argon2.ts";
import { REFERENCE_PHC, rfc9106Tag } from "../../src/auth/argon2-vectors.ts";
import { createAuthVerifier } from "../../src/auth/create-verifier.ts";
import { DEFAULT_ARGON2 } from "../../src/auth/options.ts";
import { parsePhc } from "../../src/auth/phc.ts";
import { parseUsersFile } from "../../src/auth/users-file.ts";

interface Env {
  ARGON2_WASM: WebAssembly.Module;
  USERS: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const enc = new TextEncoder();
    if (url.pathname === "/kat") {
      const phc = parsePhc(REFERENCE_PHC);
      const backend = await wasmArgon2(env.ARGON2_WASM);
      const tag = await backend.hash(enc.encode("password"), phc.salt, phc.params);
      return Response.json({
        rfc9106: rfc9106Tag(await argon2idFunction(env.ARGON2_WASM)),
        referencePhc: equalBytes(tag, phc.hash),
        runtime: navigator.userAgent,
      });
    }
    if (url.pathname === "/hash") {
      const n = Math.min(50, Number(url.searchParams.get("n") ?? "1"));
      const backend = await wasmArgon2(env.ARGON2_WASM);
      const salt = new Uint8Array(16).fill(5);
      let last: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < n; i++) {
        last = await backend.hash(enc.encode(`pw${i}-xxxxxx`), salt, DEFAULT_ARGON2);
      }
      return Response.json({ n, tagBytes: last.length });
    }
    if (url.pathname === "/verify") {
      const v = createAuthVerifier({ password: { users: parseUsersFile(env.USERS) } }, {
        argon2: await wasmArgon2(env.ARGON2_WASM),
      });
      const u = url.searchParams.get("u") ?? "";
      const p = url.searchParams.get("p") ?? "";
      return Response.json(await v.password!(u, enc.encode(p), "192.0.2.1"));
    }
    return new Response("not found", { status: 404 });
  },
};
