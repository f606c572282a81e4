/**
 * `registerPqgate`: registers the pqgate Service Worker (pqgate-sw.js) with a configuration and
 * resolves once the worker controls this page, so that from then on every request matching the
 * rules goes through the worker's channel (docs/service-worker.md). It rejects when the page
 * cannot be controlled (no Service Worker support, an invalid configuration the worker refuses,
 * a page outside the worker's scope, or no control within `timeoutMs`): the page then knows its
 * plain `fetch` calls would NOT be protected, and must not make them.
 */
import {
  encodeServiceWorkerConfig,
  type ServiceWorkerConfig,
  SW_CONFIG_PARAM,
} from "./service-worker-config.ts";
import {
  MSG_CLAIM,
  MSG_STATE,
  type PqgateWorkerState,
  type WorkerReply,
  type WorkerRequest,
} from "./service-worker-messages.ts";

// The parts of the DOM's Service Worker API used here (Deno's types do not have them).
interface SwWorker extends EventTarget {
  readonly scriptURL: string;
  readonly state: string;
  postMessage(message: unknown, transfer: Transferable[]): void;
}
interface SwRegistration {
  readonly scope: string;
  readonly installing: SwWorker | null;
  readonly waiting: SwWorker | null;
  readonly active: SwWorker | null;
  unregister(): Promise<boolean>;
}
interface SwContainer extends EventTarget {
  readonly controller: SwWorker | null;
  register(
    url: string,
    options: { scope?: string; type?: "classic"; updateViaCache?: "none" },
  ): Promise<SwRegistration>;
}

/** Where the worker script is by default (the demo page and `npx pqgate serve` serve it there). */
export const DEFAULT_SW_SCRIPT = "/pqgate-sw.js";
/** How long `registerPqgate` waits for the worker to control the page by default. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 10_000;
/** How long `state()` waits for the worker's answer (a connect may run a handshake). */
export const STATE_TIMEOUT_MS = 30_000;

export interface RegisterPqgateOptions extends ServiceWorkerConfig {
  /** URL of pqgate-sw.js (default "/pqgate-sw.js"); the configuration is added as its query. */
  scriptUrl?: string | URL;
  /** The registration's scope (default: the script's directory, the browser's default). */
  scope?: string;
  /** Longest wait for the worker to control this page (default 10,000 ms). */
  timeoutMs?: number;
}

export interface PqgateRegistration {
  /** The script URL the worker runs from (configuration included). */
  readonly scriptUrl: string;
  /** The registration's scope. */
  readonly scope: string;
  /** The worker's channel state; `{ connect: true }` opens the channel first. */
  state(options?: { connect?: boolean }): Promise<PqgateWorkerState>;
  /**
   * Unregisters the worker. Pages it controls stay controlled until they are reloaded or closed
   * (the browser's rule); a new page then loads without it.
   */
  unregister(): Promise<boolean>;
}

/** Thrown (the promise rejects) when this page is not, or cannot be, controlled by the worker. */
export class ServiceWorkerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(
      `pqgate: ${message}. Requests this page sends with fetch are NOT routed through the channel: do not send them.`,
      options,
    );
    this.name = "ServiceWorkerUnavailableError";
  }
}

function container(): SwContainer {
  const nav = (globalThis as { navigator?: { serviceWorker?: SwContainer } }).navigator;
  const c = nav?.serviceWorker;
  if (!c || typeof c.register !== "function") {
    throw new ServiceWorkerUnavailableError(
      "this page has no Service Worker support (not a secure context, a private window that disables them, or an old browser)",
    );
  }
  return c;
}

function ask(worker: SwWorker, request: WorkerRequest, timeoutMs: number): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const { port1, port2 } = new MessageChannel();
    const timer = setTimeout(() => {
      port1.close();
      reject(new Error(`pqgate: the service worker did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    port1.onmessage = (e) => {
      clearTimeout(timer);
      port1.close();
      resolve(e.data as WorkerReply);
    };
    worker.postMessage(request, [port2]);
  });
}

/** Resolves when `c.controller` runs `scriptUrl`; asks an active worker to claim this page. */
function untilControlled(
  c: SwContainer,
  reg: SwRegistration,
  scriptUrl: string,
  timeoutMs: number,
): Promise<void> {
  const controlled = () => c.controller?.scriptURL === scriptUrl;
  if (controlled()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let asked = false;
    const watched = new Set<SwWorker>();
    const cleanup = () => {
      clearTimeout(timer);
      c.removeEventListener("controllerchange", check);
      for (const w of watched) w.removeEventListener("statechange", check);
    };
    function check(): void {
      if (controlled()) {
        cleanup();
        resolve();
        return;
      }
      const pending = [reg.installing, reg.waiting].filter((w) => w !== null) as SwWorker[];
      for (const w of pending) {
        if (!watched.has(w)) {
          watched.add(w);
          w.addEventListener("statechange", check);
        }
        if (
          w.state === "redundant" && w.scriptURL === scriptUrl &&
          reg.active?.scriptURL !== scriptUrl
        ) {
          cleanup();
          reject(new ServiceWorkerUnavailableError("the service worker failed to install"));
          return;
        }
      }
      // Already active but not controlling this page (a hard reload loads a page without its
      // worker; clients.claim() in the worker takes it over): ask once.
      const active = reg.active;
      if (!asked && active && active.scriptURL === scriptUrl && active.state === "activated") {
        asked = true;
        ask(active, { type: MSG_CLAIM }, timeoutMs).then(check, () => {});
      }
    }
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new ServiceWorkerUnavailableError(
          `the service worker did not take control of this page within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    c.addEventListener("controllerchange", check);
    check();
  });
}

/**
 * Registers the pqgate Service Worker with `options` as its configuration and resolves when it
 * controls this page. Await it before the page's first request to a matched origin.
 */
export async function registerPqgate(options: RegisterPqgateOptions): Promise<PqgateRegistration> {
  const { scriptUrl, scope, timeoutMs, ...config } = options ?? ({} as RegisterPqgateOptions);
  const encoded = encodeServiceWorkerConfig(config); // TypeError on an invalid configuration
  const wait = timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS;
  if (!Number.isFinite(wait) || wait <= 0) {
    throw new TypeError("pqgate: timeoutMs must be a positive number of milliseconds");
  }
  const c = container();
  const here = (globalThis as { location?: { href: string } }).location?.href;
  const url = new URL(scriptUrl ?? DEFAULT_SW_SCRIPT, here);
  url.searchParams.set(SW_CONFIG_PARAM, encoded);
  let reg: SwRegistration;
  try {
    reg = await c.register(url.href, {
      ...(scope === undefined ? {} : { scope }),
      // The script is always revalidated: a new pqgate-sw.js replaces the old one promptly.
      updateViaCache: "none",
    });
  } catch (e) {
    throw new ServiceWorkerUnavailableError(
      `registering the service worker failed (${(e as Error)?.message ?? e})`,
      { cause: e },
    );
  }
  if (here !== undefined && !here.startsWith(reg.scope)) {
    throw new ServiceWorkerUnavailableError(
      `this page (${here}) is outside the worker's scope ${reg.scope}`,
    );
  }
  await untilControlled(c, reg, url.href, wait);
  return {
    scriptUrl: url.href,
    scope: reg.scope,
    async state(opts?: { connect?: boolean }): Promise<PqgateWorkerState> {
      const w = c.controller?.scriptURL === url.href ? c.controller : reg.active;
      if (!w) throw new ServiceWorkerUnavailableError("the service worker is gone");
      const r = await ask(
        w,
        { type: MSG_STATE, connect: opts?.connect === true },
        STATE_TIMEOUT_MS,
      );
      if (r.type !== MSG_STATE || !r.ok || !("state" in r)) {
        throw new Error(
          `pqgate: the service worker could not report its state: ${
            "error" in r ? r.error : "unexpected answer"
          }`,
        );
      }
      return r.state;
    },
    unregister: () => reg.unregister(),
  };
}
