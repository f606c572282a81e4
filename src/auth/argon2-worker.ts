/**
 * One thread of the Argon2id worker pool (argon2-pool.ts): computes tags with the WebAssembly
 * backend (argon2.ts) so that a verification never stalls the gateway's event loop. Receives
 * `{ id, password, salt, params }`, answers `{ id, tag }` or `{ id, error: true }` (no text:
 * nothing about the input leaves this thread except the tag).
 */
import { loadArgon2Module, wasmArgon2 } from "./argon2.ts";
import type { Argon2Params } from "./options.ts";

interface Job {
  id: number;
  password: Uint8Array;
  salt: Uint8Array;
  params: Argon2Params;
}

const backend = loadArgon2Module().then(wasmArgon2);

/** The worker's global scope, typed here so the file compiles without Deno's worker lib. */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = async (e: MessageEvent<Job>) => {
  const { id, password, salt, params } = e.data;
  try {
    const tag = new Uint8Array(await (await backend).hash(password, salt, params));
    password.fill(0);
    scope.postMessage({ id, tag }, [tag.buffer]);
  } catch {
    password.fill(0);
    scope.postMessage({ id, error: true });
  }
};
