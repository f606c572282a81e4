/**
 * Test-only Durable Object endpoints, kept out of the production class: `withTestHooks(Base)`
 * adds `/__pqgate_test/{evict,state,corrupt}` to a SessionObject subclass. Used by the
 * test Worker (test-worker.ts, loaded into Miniflare) and the unit tests under Deno.
 */
import type { DurableObjectContext } from "../../src/transport/cloudflare/platform.ts";
import {
  type AttachmentError,
  parseAttachment,
} from "../../src/transport/cloudflare/attachment.ts";
import type { SessionObject } from "../../src/transport/cloudflare/session-object.ts";

/** Hook path prefix, in the Worker (`/__pqgate_test/<object>/<hook>`) and in the object. */
export const TEST_HOOK_PREFIX = "/__pqgate_test/";

type ObjectClass<E> = new (ctx: DurableObjectContext, env: E) => SessionObject<E>;

export function withTestHooks<E>(Base: ObjectClass<E>): ObjectClass<E> {
  return class WithTestHooks extends Base {
    override fetch(request: Request): Promise<Response> {
      const { pathname } = new URL(request.url);
      if (!pathname.startsWith(TEST_HOOK_PREFIX)) return super.fetch(request);
      return Promise.resolve(this.hook(pathname.slice(TEST_HOOK_PREFIX.length)));
    }

    private hook(name: string): Response {
      if (name === "evict") {
        // Drop in-memory state exactly as hibernation does; the next event goes through the
        // attachment path.
        const n = this.sessions.size;
        this.sessions.clear();
        this.deadlineAlarm.forget();
        return Response.json({ evicted: n });
      }
      if (name === "state") {
        const sockets = this.ctx.getWebSockets().map((ws) => {
          try {
            const a = parseAttachment(ws.deserializeAttachment());
            return { st: a.st, snapshotBytes: a.st === "e" ? a.ss.length : 0 };
          } catch (e) {
            return { invalid: String((e as AttachmentError).message) };
          }
        });
        return Response.json({ live: this.sessions.size, sockets });
      }
      if (name === "corrupt") {
        for (const ws of this.ctx.getWebSockets()) ws.serializeAttachment({ v: 99 });
        this.sessions.clear();
        return Response.json({ ok: true });
      }
      return new Response("unknown hook", { status: 404 });
    }
  };
}
