/**
 * The Service Worker mode in real Chromium (docs/service-worker.md): a page whose code is plain
 * `fetch` gets its API answers through the worker's channel, against a real gateway and a
 * RECORDING origin that the browser could also reach in the clear (the page's matched API base
 * is that same origin, so a cleartext fallback would reach it and be counted).
 *
 * Checked: GET, POST with a body, a streamed response, a streamed request body; cookies of the
 * API origin are not forwarded; the browser's own network view (DevTools protocol, on the page
 * and on the worker) shows every request to the API origin answered by the worker, and the
 * worker's own requests going only to the gateway; two tabs share one channel; an abort from
 * the page cancels the origin's stream; a hard reload and a worker stopped by the browser; with
 * the gateway stopped, a matching request fails with a network error and the origin receives
 * nothing, while unmatched requests still work; a worker without configuration never installs.
 *
 * Needs /usr/bin/chromium (`bash scripts/install-chromium.sh`): FAILS under CI=true without it,
 * ignored otherwise.
 */
import assert from "node:assert/strict";
import type { CDPSession, Page } from "playwright-core";
import { createGateway } from "../../src/gateway/create-gateway.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { toHex } from "../../src/protocol/bytes.ts";
import type { PqgateWorkerState } from "../../src/client/mod.ts";
import { launchChromium } from "./chromium.ts";
import { chromiumTest, serveDemoPage } from "./testing.ts";

const GATEWAY_SECRET = "sw-test-" + crypto.randomUUID();
const STREAM_BYTES = 2 * 1024 * 1024;

interface Seen {
  method: string;
  path: string;
  viaGateway: boolean;
  session: string | null;
  cookie: string | null;
  contentLength: string | null;
  bodyBytes: number;
}

/** An HTTP origin on loopback that records every request it gets (and who sent it). */
function recordingOrigin() {
  const seen: Seen[] = [];
  let cancelled = 0;
  const cors = { "access-control-allow-origin": "*" };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : new Uint8Array(0);
    seen.push({
      method: req.method,
      path: url.pathname,
      viaGateway: req.headers.get("pqgate-gateway-auth") === GATEWAY_SECRET,
      session: req.headers.get("pqgate-session"),
      cookie: req.headers.get("cookie"),
      contentLength: req.headers.get("content-length"),
      bodyBytes: body.length,
    });
    if (url.pathname === "/v1/hello") {
      return Response.json({ hello: "through the channel", path: url.pathname }, { headers: cors });
    }
    if (url.pathname === "/v1/echo") {
      return new Response(body, {
        headers: {
          ...cors,
          "content-type": req.headers.get("content-type") ?? "application/octet-stream",
          "x-echo-method": req.method,
          "x-echo-bytes": String(body.length),
          "x-echo-content-length": req.headers.get("content-length") ?? "none",
        },
      });
    }
    if (url.pathname === "/v1/stream") {
      const n = Number(url.searchParams.get("bytes") ?? 0);
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= n) return c.close();
            const k = Math.min(64 * 1024, n - sent);
            const chunk = new Uint8Array(k);
            for (let i = 0; i < k; i++) chunk[i] = ((sent + i) * 31 + 7) & 0xff;
            sent += k;
            c.enqueue(chunk);
          },
        }),
        { headers: { ...cors, "content-type": "application/octet-stream" } },
      );
    }
    if (url.pathname === "/v1/endless") {
      // One chunk every 50 ms until the reader goes away.
      let timer: ReturnType<typeof setInterval> | undefined;
      return new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            timer = setInterval(() => {
              try {
                c.enqueue(new TextEncoder().encode("tick\n"));
              } catch { /* closed */ }
            }, 50);
          },
          cancel() {
            clearInterval(timer);
            cancelled++;
          },
        }),
        { headers: { ...cors, "content-type": "text/plain" } },
      );
    }
    if (url.pathname === "/unmatched/ping") return new Response("pong", { headers: cors });
    return new Response("not found", { status: 404, headers: cors });
  });
  return {
    seen,
    get cancelled() {
      return cancelled;
    },
    url: `http://127.0.0.1:${server.addr.port}`,
    authority: `127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>sw test</title>
<script type="module">
import * as pq from "/client.js";
globalThis.pq = pq;
document.body.dataset.ready = "true";
</script><body></body>`;

/** The script URL of the worker controlling the page, or "none". */
const CONTROLLER = `navigator.serviceWorker.controller?.scriptURL ?? "none"`;

/** Waits until `cond()` is true (polling), or fails with `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface NetEvent {
  target: "page" | "worker";
  method: string;
  url: string;
  fromServiceWorker?: boolean;
  failed?: boolean;
}

/**
 * The browser's network view over CDP: Network on the page (its session), and on every service
 * worker through the browser session's auto-attach (Target.sendMessageToTarget; playwright's
 * CDPSession has no flat child sessions).
 */
async function watchNetwork(page: Page, browserCdp: CDPSession) {
  const events: NetEvent[] = [];
  const urls = new Map<string, string>();
  const pageCdp = await page.context().newCDPSession(page);
  pageCdp.on("Network.requestWillBeSent", (e) => {
    urls.set(e.requestId, e.request.url);
    events.push({ target: "page", method: "requestWillBeSent", url: e.request.url });
  });
  pageCdp.on("Network.responseReceived", (e) => {
    events.push({
      target: "page",
      method: "responseReceived",
      url: e.response.url,
      fromServiceWorker: e.response.fromServiceWorker === true,
    });
  });
  pageCdp.on("Network.loadingFailed", (e) => {
    events.push({
      target: "page",
      method: "loadingFailed",
      url: urls.get(e.requestId) ?? "?",
      failed: true,
    });
  });
  await pageCdp.send("Network.enable");

  let nextId = 1;
  const workerSessions = new Set<string>();
  const enabled: Promise<unknown>[] = [];
  const sendTo = (sessionId: string, method: string, params: object = {}) =>
    browserCdp.send("Target.sendMessageToTarget", {
      sessionId,
      message: JSON.stringify({ id: nextId++, method, params }),
    });
  // Browser-level auto-attach is flat-only; attach to each worker target as it appears.
  const attaching = new Set<string>();
  browserCdp.on("Target.targetCreated", (e) => {
    if (e.targetInfo.type !== "service_worker" || attaching.has(e.targetInfo.targetId)) return;
    attaching.add(e.targetInfo.targetId);
    enabled.push(
      browserCdp.send("Target.attachToTarget", { targetId: e.targetInfo.targetId, flatten: false })
        .then(({ sessionId }) => {
          workerSessions.add(sessionId);
          return sendTo(sessionId, "Network.enable");
        }),
    );
  });
  browserCdp.on("Target.receivedMessageFromTarget", (e) => {
    if (!workerSessions.has(e.sessionId)) return;
    const m = JSON.parse(e.message);
    if (m.method === "Network.requestWillBeSent") {
      events.push({ target: "worker", method: m.method, url: m.params.request.url });
    } else if (m.method === "Network.webSocketCreated") {
      events.push({ target: "worker", method: m.method, url: m.params.url });
    }
  });
  await browserCdp.send("Target.setDiscoverTargets", { discover: true });
  return {
    events,
    pageCdp,
    workers: () => workerSessions.size,
    enabled: () => Promise.all(enabled),
  };
}

type Pq = {
  registerPqgate(o: unknown): Promise<{ state(o?: unknown): Promise<PqgateWorkerState> }>;
};

/** registerPqgate in the page; the registration is kept as globalThis.reg. */
function register(page: Page, config: object): Promise<string> {
  return page.evaluate(async (cfg) => {
    const g = globalThis as unknown as { pq: Pq; reg: unknown };
    try {
      g.reg = await g.pq.registerPqgate(cfg);
      return "ok";
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  }, config);
}

function workerState(page: Page, connect = false): Promise<PqgateWorkerState> {
  return page.evaluate(
    (c) =>
      (globalThis as unknown as { reg: { state(o: unknown): Promise<PqgateWorkerState> } }).reg
        .state({ connect: c }),
    connect,
  );
}

chromiumTest(
  "browser: Service Worker mode routes a page's plain fetch through one channel, fail-closed",
  async () => {
    const origin = recordingOrigin();
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const pin = pinFor(key.publicKey);
    const gateway = createGateway({
      keys: key,
      routes: [{
        match: { authority: origin.authority },
        origin: origin.url,
        gatewayAuth: GATEWAY_SECRET,
      }],
    });
    gateway.app.get("/sw-test.html", (c) => c.html(TEST_PAGE));
    const { server } = await serveDemoPage(gateway);
    let serverUp = true;
    const chromium = await launchChromium();
    const api = origin.url;
    const config = {
      gateway: `ws://127.0.0.1:${server.addr.port}${gateway.channelPath}`,
      pin,
      match: [{ origin: api, pathPrefix: "/v1" }],
    };
    try {
      const context = chromium.browser.contexts()[0];
      const browserCdp = await chromium.browser.newBrowserCDPSession();
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      const net = await watchNetwork(page, browserCdp);
      await page.goto(`${server.url}/sw-test.html`);
      await page.waitForSelector("body[data-ready='true']", { state: "attached" });

      // Fail closed at registration: a worker without (or with a broken) configuration does
      // not install, and registerPqgate refuses an invalid one before registering anything.
      const raw = await page.evaluate(
        `navigator.serviceWorker.register("/pqgate-sw.js").then(() => "installed", (e) => e.name)`,
      );
      assert.notEqual(raw, "installed", "a worker without ?config= must not install");
      // Registration may resolve before the install fails: wait for the worker's outcome.
      const broken = await page.evaluate(
        `navigator.serviceWorker.register("/pqgate-sw.js?config=e30")
        .then(async (r) => {
          const w = r.installing ?? r.waiting ?? r.active;
          if (!w) return "none";
          if (w.state === "activated") return "activated";
          return await new Promise((res) => w.addEventListener("statechange", () => {
            if (w.state === "redundant" || w.state === "activated") res(w.state);
          }));
        }, (e) => e.name)`,
      );
      assert.notEqual(broken, "activated", "a worker with an invalid ?config= must not activate");
      assert.match(
        await register(page, { ...config, pin: "sha256:nope" }),
        /^TypeError: pqgate service worker: pin/,
      );
      assert.equal(
        await page.evaluate("navigator.serviceWorker.controller"),
        null,
        "nothing controls the page yet",
      );

      // registerPqgate resolves once the worker controls this page (first load: claim()).
      assert.equal(await register(page, config), "ok");
      assert.match(
        await page.evaluate(CONTROLLER),
        /\/pqgate-sw\.js\?config=/,
      );
      await until(() => net.workers() > 0, "the worker's DevTools target");
      await net.enabled();
      const before = await workerState(page);
      assert.equal(before.connected, false, "the channel opens on the first matching request");
      assert.equal(before.pinConfigured, pin);

      // (a) Plain fetch: GET, POST with a body, a 2 MiB streamed response.
      const hello = await page.evaluate(
        (base) => fetch(`${base}/v1/hello`).then((r) => r.json()),
        api,
      );
      assert.deepEqual(hello, { hello: "through the channel", path: "/v1/hello" });
      const marker = `marker-${crypto.randomUUID()}`;
      const echo = await page.evaluate(
        async ([base, m]) => {
          const r = await fetch(`${base}/v1/echo`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ m }),
          });
          return {
            status: r.status,
            method: r.headers.get("x-echo-method"),
            cl: r.headers.get("x-echo-content-length"),
            body: await r.text(),
          };
        },
        [api, marker],
      );
      assert.equal(echo.status, 200);
      assert.equal(echo.method, "POST");
      assert.deepEqual(JSON.parse(echo.body), { m: marker });
      const streamed = await page.evaluate(async ([base, n]) => {
        const r = await fetch(`${base}/v1/stream?bytes=${n}`);
        const reader = r.body!.getReader();
        let total = 0, bad = -1, chunks = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks++;
          for (let i = 0; i < value.length && bad < 0; i++) {
            if (value[i] !== (((total + i) * 31 + 7) & 0xff)) bad = total + i;
          }
          total += value.length;
        }
        return { total, bad, chunks };
      }, [api, STREAM_BYTES] as const);
      assert.equal(streamed.total, STREAM_BYTES);
      assert.equal(streamed.bad, -1, "every streamed byte matches");
      assert.ok(streamed.chunks > 1, "the response arrives in several chunks");

      // A streamed request body (duplex: "half"): what Chromium gives the worker.
      const upload = await page.evaluate(async (base) => {
        const parts = ["alpha-", "beta-", "gamma"];
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            const p = parts.shift();
            if (p === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(p));
          },
        });
        try {
          const r = await fetch(`${base}/v1/echo`, {
            method: "POST",
            body,
            duplex: "half",
          } as RequestInit);
          return { ok: true, text: await r.text(), cl: r.headers.get("x-echo-content-length") };
        } catch (e) {
          return { ok: false, text: String(e), cl: null };
        }
      }, api);
      assert.deepEqual(upload, { ok: true, text: "alpha-beta-gamma", cl: "none" });

      // Cookies of the API origin's host (127.0.0.1: cookies ignore the port) are not
      // forwarded, even with credentials: "include": the worker never sees them.
      await page.evaluate(`document.cookie = "pqsecret=do-not-forward; path=/"`);
      const withCreds = await page.evaluate(
        (base) => fetch(`${base}/v1/hello`, { credentials: "include" }).then((r) => r.status),
        api,
      );
      assert.equal(withCreds, 200);

      const state1 = await workerState(page);
      assert.equal(state1.connected, true);
      assert.equal(state1.keyId, toHex(key.keyId));
      assert.equal(state1.pin, pin);
      assert.match(state1.sessionId ?? "", /^[0-9a-f]{32}$/);
      assert.ok(state1.suite === 1 || state1.suite === 2, `suite ${state1.suite}`);
      assert.equal(state1.sessions, 1);
      assert.equal(state1.failed, 0);

      // What the origin saw: only requests from the gateway, one session, no cookie, and the
      // streamed upload without content-length (a length-known body arrives as a stream too).
      assert.ok(origin.seen.length >= 5, `origin saw ${origin.seen.length}`);
      for (const s of origin.seen) {
        assert.ok(s.viaGateway, `${s.method} ${s.path} reached the origin NOT via the gateway`);
        assert.equal(s.cookie, null, "no cookie reaches the origin");
        assert.equal(s.session, state1.sessionId);
      }
      const posted = origin.seen.find((s) => s.method === "POST");
      assert.equal(posted?.bodyBytes, JSON.stringify({ m: marker }).length);
      assert.equal(echo.cl, "none", "the worker sees the body as a stream: no content-length");

      // (d) A second tab shares the worker's channel: same session, one channel at the gateway.
      const page2 = await context.newPage();
      page2.setDefaultTimeout(30_000);
      await page2.goto(`${server.url}/sw-test.html`);
      await page2.waitForSelector("body[data-ready='true']", { state: "attached" });
      assert.match(
        await page2.evaluate(CONTROLLER),
        /\/pqgate-sw\.js\?config=/,
        "a new tab in scope loads controlled",
      );
      assert.equal(await register(page2, config), "ok");
      const hello2 = await page2.evaluate((b) => fetch(`${b}/v1/hello`).then((r) => r.json()), api);
      assert.equal(hello2.hello, "through the channel");
      const state2 = await workerState(page2);
      assert.equal(state2.sessionId, state1.sessionId, "both tabs use the same session");
      assert.equal(state2.instance, state1.instance, "and the same worker");
      assert.equal(state2.sessions, 1);
      assert.deepEqual([...new Set(origin.seen.map((s) => s.session))], [state1.sessionId]);

      // (e) Abort from the page cancels the stream, up to the origin.
      const cancelledBefore = origin.cancelled;
      const aborted = await page2.evaluate(async (base) => {
        const ac = new AbortController();
        const r = await fetch(`${base}/v1/endless`, { signal: ac.signal });
        const reader = r.body!.getReader();
        const first = await reader.read();
        ac.abort();
        try {
          await reader.read();
          return `read after abort; first ${first.value?.length}`;
        } catch (e) {
          return (e as Error).name;
        }
      }, api);
      assert.equal(aborted, "AbortError");
      await until(() => origin.cancelled > cancelledBefore, "the origin's stream to be cancelled");
      await page2.close();

      // (b) The network view: every page request to the API origin's matched paths was
      // answered by the worker; the worker's own requests went only to the gateway.
      const gatewayHttp = `${server.url}/`;
      const gatewayWs = config.gateway;
      const pageToApi = net.events.filter((e) => e.target === "page" && e.url.startsWith(api));
      assert.ok(pageToApi.length >= 10, `page events to the API: ${pageToApi.length}`);
      for (const e of pageToApi.filter((e) => e.method === "responseReceived")) {
        assert.equal(e.fromServiceWorker, true, `${e.url} was answered by the network`);
      }
      const workerEvents = net.events.filter((e) => e.target === "worker");
      assert.ok(workerEvents.some((e) => e.url.startsWith(gatewayWs)), "the worker's channel");
      for (const e of workerEvents) {
        assert.ok(
          e.url.startsWith(gatewayWs) || e.url === `${gatewayHttp}.well-known/pqgate`,
          `the worker sent ${e.method} ${e.url}`,
        );
      }

      // A hard reload (shift-reload: Page.reload ignoreCache) loads the page without its
      // worker; registerPqgate then asks the active worker to claim it.
      await net.pageCdp.send("Page.reload", { ignoreCache: true });
      await page.waitForSelector("body[data-ready='true']", { state: "attached" });
      const afterHardReload = await page.evaluate("navigator.serviceWorker.controller");
      assert.equal(await register(page, config), "ok");
      assert.match(
        await page.evaluate(CONTROLLER),
        /\/pqgate-sw\.js\?config=/,
      );
      const reloaded = await page.evaluate(
        (b) => fetch(`${b}/v1/hello`).then((r) => r.json()),
        api,
      );
      assert.equal(reloaded.hello, "through the channel");
      console.log(
        `hard reload: controller after load ${afterHardReload === null ? "null" : "set"}; ` +
          "after registerPqgate (claim): controlled",
      );

      // The browser stops the worker (as it does when idle): the next request starts it again
      // from the same script URL (the configuration survives) and opens a new channel.
      await net.pageCdp.send("ServiceWorker.enable");
      await net.pageCdp.send("ServiceWorker.stopAllWorkers");
      const t0 = performance.now();
      const restarted = await page.evaluate(
        (b) => fetch(`${b}/v1/hello`).then((r) => r.json()),
        api,
      );
      const restartMs = performance.now() - t0;
      assert.equal(restarted.hello, "through the channel");
      const state3 = await workerState(page);
      assert.notEqual(state3.instance, state1.instance, "a new worker instance");
      assert.equal(state3.connected, true);
      assert.notEqual(state3.sessionId, state1.sessionId, "with a new channel");
      assert.equal(state3.pinConfigured, pin, "and the configuration of its script URL");
      console.log(`worker restarted by the browser: first request ${restartMs.toFixed(0)} ms`);

      // (c) The gateway goes down: a matching request fails with a network error and the
      // origin receives nothing; an unmatched request to the same origin still works (it is
      // not intercepted: the browser sends it itself, in the clear, which is what proves a
      // fallback would have been seen).
      await server.shutdown();
      serverUp = false;
      const seenBefore = origin.seen.length;
      const down = await page.evaluate(async (base) => {
        const out: string[] = [];
        for (const path of ["/v1/hello", "/v1/echo"]) {
          try {
            const r = await fetch(`${base}${path}`, {
              method: path.endsWith("echo") ? "POST" : "GET",
              body: path.endsWith("echo") ? "x" : undefined,
            });
            out.push(`answered ${r.status}`);
          } catch (e) {
            out.push(`${(e as Error).name}: ${(e as Error).message}`);
          }
        }
        return out;
      }, api);
      assert.deepEqual(down, ["TypeError: Failed to fetch", "TypeError: Failed to fetch"]);
      assert.equal(origin.seen.length, seenBefore, "nothing reached the origin");
      const unmatched = await page.evaluate(
        (b) => fetch(`${b}/unmatched/ping`).then((r) => r.text()),
        api,
      );
      assert.equal(unmatched, "pong");
      assert.equal(origin.seen.length, seenBefore + 1);
      const last = origin.seen[origin.seen.length - 1];
      assert.equal(last.viaGateway, false, "the unmatched request came straight from the browser");
      assert.equal(last.path, "/unmatched/ping");
      const state4 = await workerState(page);
      assert.equal(state4.connected, false);
      assert.ok(state4.failed >= 2, `failed ${state4.failed}`);
      assert.ok(state4.lastError !== null, "the worker reports why");
      const failedEvents = net.events.filter((e) =>
        e.target === "page" && e.method === "loadingFailed" && e.url.startsWith(`${api}/v1/`)
      );
      assert.ok(failedEvents.length >= 2, "the page saw network errors");

      assert.deepEqual(problems, []);
    } finally {
      await chromium.close();
      if (serverUp) await server.shutdown();
      await origin.close();
    }
  },
);

chromiumTest(
  "browser: the demo page's Service Worker mode answers a plain fetch('https://demo/...')",
  async () => {
    const key = generateStaticKey(crypto.getRandomValues(new Uint8Array(32)));
    const gateway = createGateway({ keys: key }); // the demo origin at https://demo/
    const { server } = await serveDemoPage(gateway);
    const chromium = await launchChromium();
    try {
      const page = await chromium.browser.contexts()[0].newPage();
      page.setDefaultTimeout(30_000);
      const problems: string[] = [];
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console error: ${m.text()}`);
      });
      await page.goto(`${server.url}/`);
      await page.waitForSelector("body[data-ready='true']");
      await page.click("#sw-register");
      await page.waitForSelector("body[data-sw='connected']");
      assert.match((await page.textContent("#sw-session")) ?? "", /^[0-9a-f]{32}$/);
      assert.equal(await page.textContent("#sw-key-id"), toHex(key.keyId));
      assert.equal(await page.textContent("#sw-pin"), pinFor(key.publicKey));
      assert.equal(
        await page.textContent("#sw-code"),
        'const res = await fetch("https://demo/api/hello");',
      );
      await page.click("#sw-fetch");
      await page.waitForSelector("#sw-summary[data-status='200']");
      assert.match((await page.textContent("#sw-body")) ?? "", /hello from the pqgate demo origin/);
      assert.match(
        (await page.textContent("#sw-requests")) ?? "",
        /^1 through the channel, 0 failed/,
      );
      // POST with the page's body field.
      await page.selectOption("#sw-method", "POST");
      await page.fill("#sw-path", "/api/echo");
      await page.click("#sw-fetch");
      await page.waitForSelector("#sw-summary:has-text('POST https://demo/api/echo → 200')");
      assert.match((await page.textContent("#sw-body")) ?? "", /post-quantum world/);
      // The first mode still works on the same (now controlled) page.
      await page.click("#connect");
      await page.waitForSelector("body[data-state='connected']");
      assert.deepEqual(problems, []);
    } finally {
      await chromium.close();
      await server.shutdown();
    }
  },
);
