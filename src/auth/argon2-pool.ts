/**
 * Argon2id off the main thread on Deno: a fixed pool of Web Workers (argon2-worker.ts), one job
 * per worker at a time. The pool holds no queue of its own: the verifier's in-flight bound
 * (limits.ts `VerificationGate`, `maxInFlight`) is what admits a job, and the pool is sized to
 * that bound, so a job always finds an idle worker. Measured effect on the event loop:
 * docs/benchmarks.md, "Argon2id".
 */
import type { Argon2Backend, Argon2Params } from "./options.ts";

interface Slot {
  worker: Worker;
  busy: boolean;
  pending: Map<number, { resolve: (t: Uint8Array) => void; reject: (e: Error) => void }>;
}

/** A pool of `size` workers (1..64). `close()` terminates them and fails jobs in progress. */
export function createArgon2WorkerPool(size: number): Argon2Backend {
  if (!Number.isInteger(size) || size < 1 || size > 64) {
    throw new RangeError("argon2 worker pool size must be an integer in 1..64");
  }
  let nextId = 0;
  let closed = false;
  const slots: Slot[] = [];
  const spawn = (): Slot => {
    const slot: Slot = {
      worker: new Worker(new URL("./argon2-worker.ts", import.meta.url), { type: "module" }),
      busy: false,
      pending: new Map(),
    };
    slot.worker.onmessage = (e: MessageEvent<{ id: number; tag?: Uint8Array; error?: true }>) => {
      const job = slot.pending.get(e.data.id);
      if (!job) return;
      slot.pending.delete(e.data.id);
      slot.busy = false;
      if (e.data.tag instanceof Uint8Array) job.resolve(e.data.tag);
      else job.reject(new Error("argon2id computation failed"));
    };
    slot.worker.onerror = (e) => {
      e.preventDefault();
      for (const job of slot.pending.values()) job.reject(new Error("argon2id worker failed"));
      slot.pending.clear();
      slot.worker.terminate();
      const i = slots.indexOf(slot);
      if (i >= 0 && !closed) slots[i] = spawn();
    };
    return slot;
  };
  for (let i = 0; i < size; i++) slots.push(spawn());
  return {
    hash(password: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<Uint8Array> {
      if (closed) return Promise.reject(new Error("argon2id pool closed"));
      const slot = slots.find((s) => !s.busy);
      // The verifier admits at most `size` jobs at once; a caller past that is a bug, not a queue.
      if (!slot) return Promise.reject(new Error("argon2id pool: no idle worker"));
      slot.busy = true;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.postMessage({ id, password: password.slice(), salt: salt.slice(), params });
      });
    },
    close() {
      closed = true;
      for (const s of slots) {
        s.worker.terminate();
        for (const job of s.pending.values()) job.reject(new Error("argon2id pool closed"));
        s.pending.clear();
      }
    },
  };
}
