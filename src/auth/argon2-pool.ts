/**
 * Argon2id off the main thread on Deno: a pool of at most `maxInFlight` Web Workers, started on demand and ended when idle (argon2-worker.ts), one job
 * per worker at a time. The pool holds no queue of its own: the verifier's in-flight bound
 * (limits.ts `VerificationGate`, `maxInFlight`) is what admits a job, and the pool is sized to
 * that bound, so a job always finds an idle worker. Measured effect on the event loop:
 * docs/benchmarks.md, "Argon2id".
 */
import type { Argon2Backend, Argon2Params } from "./options.ts";

/**
 * The worker module beside this one: argon2-worker.ts in the repository, argon2-worker.js in
 * the npm package (scripts/build-package.mjs compiles it into pqgate/deno's output). Computed
 * when a pool starts (Deno only): bundles such as the Worker's have no `import.meta.url`.
 */
function workerUrl(): URL {
  return new URL(
    import.meta.url.endsWith(".ts") ? "./argon2-worker.ts" : "./argon2-worker.js",
    import.meta.url,
  );
}

/**
 * How long a worker stays alive after its last job. Each live worker holds a V8 isolate and the
 * Argon2id memory of its last job (19 MiB at the default m), and a live worker keeps a Deno
 * process from exiting: idle workers exit, and the next job starts one again (a few tens of ms,
 * paid only by the first login after a quiet spell).
 */
export const ARGON2_WORKER_IDLE_MS = 5_000;

interface Slot {
  worker: Worker | null;
  busy: boolean;
  idle: ReturnType<typeof setTimeout> | null;
  job: { resolve: (t: Uint8Array) => void; reject: (e: Error) => void } | null;
}

/** The pool: an Argon2Backend, and (for tests and metrics) how many workers are alive. */
export interface Argon2WorkerPool extends Argon2Backend {
  liveWorkers(): number;
  close(): void;
}

/**
 * A pool of at most `size` workers (1..64), started on demand, one job per worker at a time;
 * a worker exits `idleMs` after its last job. `close()` terminates them and fails jobs in
 * progress. `url` is for tests (a module that fails to load).
 */
export function createArgon2WorkerPool(
  size: number,
  url: URL = workerUrl(),
  idleMs = ARGON2_WORKER_IDLE_MS,
): Argon2WorkerPool {
  if (!Number.isInteger(size) || size < 1 || size > 64) {
    throw new RangeError("argon2 worker pool size must be an integer in 1..64");
  }
  let closed = false;
  const slots: Slot[] = Array.from({ length: size }, () => ({
    worker: null,
    busy: false,
    idle: null,
    job: null,
  }));
  const stop = (slot: Slot) => {
    if (slot.idle !== null) clearTimeout(slot.idle);
    slot.idle = null;
    slot.worker?.terminate();
    slot.worker = null;
  };
  const finish = (slot: Slot) => {
    slot.job = null;
    slot.busy = false;
    if (closed) return;
    slot.idle = setTimeout(() => {
      slot.idle = null;
      if (!slot.busy) stop(slot);
    }, idleMs);
  };
  const start = (slot: Slot): Worker => {
    const worker = new Worker(url, { type: "module" });
    worker.onmessage = (e: MessageEvent<{ tag?: Uint8Array; error?: true }>) => {
      const job = slot.job;
      if (!job) return;
      finish(slot);
      if (e.data.tag instanceof Uint8Array) job.resolve(e.data.tag);
      else job.reject(new Error("argon2id computation failed"));
    };
    // A crash (or a module that cannot load) fails the job in progress and ends that worker;
    // the slot's next job starts a new one, so a broken module costs one failed start per job
    // the verifier admits, never a respawn loop.
    worker.onerror = (e) => {
      e.preventDefault();
      const job = slot.job;
      stop(slot);
      slot.job = null;
      slot.busy = false;
      job?.reject(new Error("argon2id worker failed"));
    };
    return worker;
  };
  return {
    hash(password: Uint8Array, salt: Uint8Array, params: Argon2Params): Promise<Uint8Array> {
      if (closed) return Promise.reject(new Error("argon2id pool closed"));
      const slot = slots.find((s) => !s.busy);
      // The verifier admits at most `size` jobs at once; a caller past that is a bug, not a queue.
      if (!slot) return Promise.reject(new Error("argon2id pool: no idle worker"));
      slot.busy = true;
      if (slot.idle !== null) clearTimeout(slot.idle);
      slot.idle = null;
      const worker = slot.worker ??= start(slot);
      return new Promise((resolve, reject) => {
        slot.job = { resolve, reject };
        worker.postMessage({ id: 0, password: password.slice(), salt: salt.slice(), params });
      });
    },
    close() {
      closed = true;
      for (const s of slots) {
        const job = s.job;
        stop(s);
        s.job = null;
        job?.reject(new Error("argon2id pool closed"));
      }
    },
    liveWorkers: () => slots.filter((s) => s.worker !== null).length,
  };
}
