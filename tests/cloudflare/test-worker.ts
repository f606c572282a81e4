/**
 * Test-only Worker entry (bundled into dist/test-worker/ by miniflare.ts `startWorker` with
 * `testHooks: true`; never deployed): the production Worker (pqgate/cloudflare from source)
 * plus two things the Miniflare tests need and production must not have:
 *
 *   ?__object=NAME on the channel URL         the channel's Durable Object is idFromName(NAME)
 *                                              instead of a fresh unique id, so that
 *   /__pqgate_test/<NAME>/{evict,state,corrupt} can reach it (test-hooks.ts).
 */
import { createWorker, PqgateSession as Production, type WorkerEnv } from "../../src/cloudflare.ts";
import { TEST_HOOK_PREFIX, withTestHooks } from "./test-hooks.ts";

export const PqgateSession = withTestHooks(Production);

const worker = createWorker();

export default {
  fetch(request: Request, env: WorkerEnv, ctx: unknown): Promise<Response> {
    const url = new URL(request.url);
    const ns = env.PQGATE_SESSION;
    if (url.pathname.startsWith(TEST_HOOK_PREFIX)) {
      const [name, hook] = url.pathname.slice(TEST_HOOK_PREFIX.length).split("/");
      if (!name || !hook) return Promise.resolve(new Response("bad hook path", { status: 400 }));
      return ns.get(ns.idFromName(name)).fetch(`https://object${TEST_HOOK_PREFIX}${hook}`);
    }
    const name = url.searchParams.get("__object");
    if (!name) return worker.fetch(request, env, ctx);
    // The production upgrade asks for newUniqueId(): answer with the named object's id.
    const named = {
      newUniqueId: () => ns.idFromName(name),
      idFromName: (n: string) => ns.idFromName(n),
      get: (id: Parameters<typeof ns.get>[0]) => ns.get(id),
    };
    return worker.fetch(request, { ...env, PQGATE_SESSION: named }, ctx);
  },
};
