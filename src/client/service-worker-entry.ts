/**
 * The pqgate Service Worker (built to pqgate-sw.js by scripts/build-client.mjs; registered by
 * `registerPqgate`, docs/service-worker.md). Its configuration is the `?config=` of its own
 * script URL (service-worker-config.ts), read at every start: the browser stops idle workers
 * and starts them again with the same URL, so nothing has to be stored. An invalid or missing
 * configuration throws during the script's evaluation: the browser then refuses to install the
 * worker (registration rejects), so no page is ever controlled by a worker that does not know
 * its rules.
 *
 * One channel (the client library's `Channel`) for every page of the scope, opened on the first
 * matching request and re-opened by the next request after it closed or failed, as the client
 * does. Requests that match go through it (service-worker-handler.ts); the others are not
 * intercepted at all (no respondWith: the browser handles them as without a worker).
 */
import { Channel } from "./channel.ts";
import { configFromScriptUrl } from "./service-worker-config.ts";
import { PqgateWorkerHandler } from "./service-worker-handler.ts";
import {
  isWorkerRequest,
  MSG_CLAIM,
  MSG_STATE,
  type WorkerReply,
} from "./service-worker-messages.ts";

// The few parts of the Service Worker global this script uses (Deno's types have none of them).
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(r: Response | Promise<Response>): void;
}
interface ExtendableMessageEvent extends ExtendableEvent {
  readonly data: unknown;
  readonly ports: readonly MessagePort[];
}
interface WorkerGlobal {
  readonly location: { readonly href: string };
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install" | "activate", fn: (e: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", fn: (e: FetchEvent) => void): void;
  addEventListener(type: "message", fn: (e: ExtendableMessageEvent) => void): void;
}

const sw = globalThis as unknown as WorkerGlobal;

// Throws on an invalid configuration: evaluation fails, the worker is not installed.
const config = configFromScriptUrl(sw.location.href);
const channel = new Channel(config.gateway, {
  pin: config.pin,
  ...(config.keyConfigUrl === undefined ? {} : { keyConfigUrl: config.keyConfigUrl }),
});
const handler = new PqgateWorkerHandler(config, channel);

// A new configuration (a new script URL) takes over at once, and so do the pages in scope.
sw.addEventListener("install", (e) => e.waitUntil(sw.skipWaiting()));
sw.addEventListener("activate", (e) => e.waitUntil(sw.clients.claim()));

sw.addEventListener("fetch", (e) => {
  if (!handler.handles(e.request)) return; // not intercepted: the network, as without a worker
  e.respondWith(handler.respond(e.request, { waitUntil: (p) => e.waitUntil(p) }));
});

sw.addEventListener("message", (e) => {
  const data = e.data;
  const port = e.ports[0];
  if (!isWorkerRequest(data) || port === undefined) return;
  const reply = (m: WorkerReply) => port.postMessage(m);
  const failed = (err: unknown) =>
    reply({ type: data.type, ok: false, error: (err as Error)?.message ?? String(err) });
  if (data.type === MSG_CLAIM) {
    e.waitUntil(sw.clients.claim().then(() => reply({ type: MSG_CLAIM, ok: true }), failed));
    return;
  }
  e.waitUntil(
    handler.state(data.connect === true).then(
      (state) => reply({ type: MSG_STATE, ok: true, state }),
      failed,
    ),
  );
});
