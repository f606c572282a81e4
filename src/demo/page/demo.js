// The pqgate demo page (served at / by src/demo/page.ts). Plain ES module, no build:
// it loads the browser client bundle from ./client.js, connects with the pin from the
// gateway's key configuration, sends requests through the channel, and shows the encrypted
// WebSocket messages next to the decrypted responses.

// The client bundle, served next to this page. (A computed URL, so tools that read this file
// do not look for client.js on disk: it exists only as the gateway serves it.)
const CLIENT_URL = new URL("./client.js", import.meta.url).href;
/** @type {Record<string, any>} */
let pq;
try {
  pq = await import(CLIENT_URL);
} catch (err) {
  const boot = document.getElementById("boot");
  if (boot) {
    boot.textContent =
      "The page could not load the pqgate client library (client.js). The gateway may " +
      "not have been able to build it: its log says why. Fix that and reload the page.";
  }
  throw err;
}

/** @type {{ channelPath: string, keyConfigPath: string, targetOrigin: string }} */
const config = JSON.parse(document.getElementById("pqgate-config")?.textContent ?? "{}");

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (
  /** @type {string} */ id,
) => /** @type {HTMLInputElement} */ (document.getElementById(id));
const button = (
  /** @type {string} */ id,
) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

const SUITE_NAMES = {
  1: "X-Wing (ML-KEM-768 + X25519), HKDF-SHA256, AES-256-GCM",
  2: "X-Wing (ML-KEM-768 + X25519), HKDF-SHA256, ChaCha20-Poly1305",
};

/** PROTOCOL.md §9: what each close code means, in words a person can act on. */
const CLOSE_MEANINGS = {
  1000: "the channel was closed normally",
  1001: "the gateway is shutting down or restarting; connect again in a moment",
  1006: "the connection dropped without a close message (network problem, or the gateway stopped)",
  4000: "the handshake did not finish in time",
  4001: "the gateway does not speak this protocol version",
  4002: "the gateway and this page have no cipher suite in common",
  4003:
    "the gateway no longer has the key this page used (it may have rotated keys); reload the page",
  4004:
    "the handshake failed a cryptographic check (wrong key, or the messages were tampered with)",
  4005:
    "an encrypted record failed its integrity check: something between you and the gateway changed the data",
  4006: "records arrived replayed or out of order",
  4007: "the session reached its key-usage or lifetime limit; connect again for fresh keys",
  4008: "the channel was idle for too long; connect again",
  4009: "too many connections from this address; wait and try again",
  4010: "the gateway does not accept unpinned clients",
  4011: "one side sent a malformed message (protocol error)",
  4012: "the peer needed a protocol extension this side does not support",
  4013: "a flow-control or size limit was exceeded",
  4014: "the gateway had an internal error",
};

const PATTERN = (/** @type {number} */ i) => (i * 31 + 7) & 0xff; // /api/stream's byte i

/** @type {any} */
let channel = null;
let connecting = false;

// ---------------------------------------------------------------------------------------------
// What the network sees: every WebSocket message, as bytes.

const wire = { out: 0, in: 0, outBytes: 0, inBytes: 0 };
const WIRE_ROWS = 12;
/** @type {{ dir: "out" | "in", bytes: Uint8Array, n: number, index: number }[]} */
let wireQueue = [];
let wireScheduled = false;

function hex(/** @type {Uint8Array} */ b, /** @type {number} */ max) {
  const parts = [];
  for (let i = 0; i < Math.min(b.length, max); i++) parts.push(b[i].toString(16).padStart(2, "0"));
  return parts.join(" ") + (b.length > max ? " …" : "");
}

function describe(/** @type {Uint8Array} */ b) {
  switch (b[0]) {
    case 0x01:
      return "ClientHello";
    case 0x02:
      return "ServerHello";
    case 0x03:
      return "ClientFinished";
    case 0x04: {
      if (b.length < 10) return "Record";
      let seq = 0;
      for (let i = 2; i < 10; i++) seq = seq * 256 + b[i];
      return b[1] === 0 ? `Record seq ${seq}` : `Record e${b[1]} seq ${seq}`;
    }
    default:
      return "unknown";
  }
}

/** Called for every WebSocket message sent ("out") or received ("in"). */
function onWire(/** @type {"out" | "in"} */ dir, /** @type {Uint8Array} */ bytes) {
  if (dir === "out") {
    wire.out++;
    wire.outBytes += bytes.length;
  } else {
    wire.in++;
    wire.inBytes += bytes.length;
  }
  const entry = { dir, bytes: bytes.slice(0, 32), n: bytes.length, index: wire.out + wire.in };
  if (bytes[0] === 0x01) wireHandshake = [entry]; // a new handshake starts
  else if (bytes[0] === 0x02 || bytes[0] === 0x03) wireHandshake.push(entry);
  else {
    wireQueue.push(entry);
    if (wireQueue.length > WIRE_ROWS) wireQueue = wireQueue.slice(-WIRE_ROWS);
  }
  if (!wireScheduled) {
    wireScheduled = true;
    requestAnimationFrame(flushWire);
  }
}

/** @type {{ dir: "out" | "in", bytes: Uint8Array, n: number, index: number }[]} */
let wireHandshake = [];

function wireRow(
  /** @type {{ dir: "out" | "in", bytes: Uint8Array, n: number, index: number }} */ m,
) {
  const tr = document.createElement("tr");
  const cells = [
    [String(m.index), "num"],
    [`${m.dir === "out" ? "→" : "←"} ${describe(m.bytes)}`, m.dir === "out" ? "dir-out" : "dir-in"],
    [m.n.toLocaleString("en"), "num"],
    [hex(m.bytes, 14), "hex"],
  ];
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    td.className = cls;
    tr.append(td);
  }
  tr.title = m.dir === "out" ? "sent by this page" : "received from the gateway";
  return tr;
}

function flushWire() {
  wireScheduled = false;
  $("wire-handshake").replaceChildren(...wireHandshake.map(wireRow));
  const tbody = $("wire-log");
  for (const m of wireQueue) tbody.prepend(wireRow(m));
  while (tbody.children.length > WIRE_ROWS) tbody.lastElementChild?.remove();
  wireQueue = [];
  $("wire-totals").textContent =
    `Sent ${wire.out.toLocaleString("en")} messages (${
      wire.outBytes.toLocaleString("en")
    } bytes), ` +
    `received ${wire.in.toLocaleString("en")} (${wire.inBytes.toLocaleString("en")} bytes). ` +
    "The handshake (highlighted) carries only public keys and KEM ciphertexts; every Record after it " +
    "is AEAD ciphertext: the method, path, headers and bodies are not visible. Latest records first.";
}

function toBytes(/** @type {unknown} */ data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (typeof data === "string") return new TextEncoder().encode(data);
  return null;
}

/**
 * A WebSocket constructor that reports every frame to onWire, for clients without an `onWire`
 * option: the client uses it like the real one.
 */
class TapWebSocket extends WebSocket {
  constructor(
    /** @type {string | URL} */ url,
    /** @type {string | string[] | undefined} */ protocols,
  ) {
    super(url, protocols);
    // The ClientHello may travel in the upgrade URL (PROTOCOL.md §1): show it as sent.
    const hello = new URL(String(url)).searchParams.get("pqgate_hello");
    if (hello !== null) {
      try {
        const bin = atob(hello.replaceAll("-", "+").replaceAll("_", "/"));
        onWire("out", Uint8Array.from(bin, (c) => c.charCodeAt(0)));
      } catch { /* not base64url: nothing to show */ }
    }
    this.addEventListener("message", (e) => {
      const b = toBytes(e.data);
      if (b) onWire("in", b);
      else if (e.data instanceof Blob) {
        void e.data.arrayBuffer().then((ab) => onWire("in", new Uint8Array(ab)));
      }
    });
  }
  send(/** @type {any} */ data) {
    const b = toBytes(data);
    if (b) onWire("out", b);
    super.send(data);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors a person can act on.

function closeSentence(/** @type {number} */ code, /** @type {string} */ reason) {
  const meaning = CLOSE_MEANINGS[/** @type {keyof typeof CLOSE_MEANINGS} */ (code)] ??
    "an unexpected close code";
  return `The channel closed (code ${code}${reason ? `, "${reason}"` : ""}): ${meaning}.`;
}

function explain(/** @type {any} */ err) {
  const name = err?.name ?? "";
  const is = (/** @type {string} */ cls) =>
    (typeof pq[cls] === "function" && err instanceof pq[cls]) || name === cls;
  const url = input("gateway-url").value;
  if (is("AuthError")) {
    const reason = String(err.reason ?? "");
    const retry = typeof err.retryAfterMs === "number" && err.retryAfterMs > 0
      ? ` Try again in ${Math.ceil(err.retryAfterMs / 1000)} s.`
      : "";
    const words = {
      bad_credentials: "The user name or password is wrong.",
      rate_limited: "Too many failed sign-ins from here or for this user.",
      busy: "The gateway is busy checking other sign-ins.",
      method_not_enabled: "This gateway does not accept password sign-in.",
    };
    return `Sign-in refused: ${
      words[/** @type {keyof typeof words} */ (reason)] ?? reason
    }${retry} The channel itself was authenticated (pinned); nothing was sent.`;
  }
  if (is("PinMismatchError")) {
    return "The gateway's key does not match the pin you entered. Someone may be intercepting the " +
      "connection, or the gateway's key has changed. Check the pin with the gateway's operator; " +
      "the page did not connect and sent nothing.";
  }
  if (is("VersionRefusedError")) {
    const offered = Array.isArray(err.supported)
      ? ` It supports version ${err.supported.join(", ")}.`
      : "";
    return `The gateway refused this client's protocol version.${offered} Update the client ` +
      "(reload the page) or the gateway so that both speak the same version.";
  }
  if (is("HandshakeTimeoutError")) {
    return `The gateway at ${url} did not finish the handshake in time. Check that it is running ` +
      "and reachable, then connect again.";
  }
  if (is("ChannelClosedError")) {
    return closeSentence(Number(err.code), String(err.reason ?? ""));
  }
  if (name === "AbortError") return "The request was cancelled.";
  if (
    is("ConnectError") || (err instanceof TypeError && /fetch|network/i.test(String(err.message)))
  ) {
    return `The page could not reach the gateway at ${url}. Check the address and that the gateway ` +
      `is running, then connect again. (${String(err.message).replace(/^pqgate: /, "")})`;
  }
  if (err instanceof TypeError && /malformed pin/.test(String(err.message))) {
    return 'That pin is not in the right form. A pin looks like "sha256:" followed by 43 letters, ' +
      "digits, - or _ (the SHA-256 of the gateway's public key). Copy it again from the gateway's operator.";
  }
  if (is("StreamResetError")) {
    return `The gateway cancelled this request (${
      String(err.message).replace(/^pqgate: /, "")
    }). The channel is still open; try again.`;
  }
  if (err instanceof TypeError && /must be ws: or wss:|Invalid URL/i.test(String(err.message))) {
    return `"${url}" is not a gateway channel address: it should start with ws:// or wss://.`;
  }
  return `Something went wrong: ${err?.message ?? String(err)}`;
}

function showError(/** @type {string | null} */ text) {
  const box = $("error");
  box.hidden = text === null;
  box.textContent = text ?? "";
}

function setStatus(
  /** @type {"idle" | "connecting" | "connected" | "failed" | "closed"} */ state,
  /** @type {string} */ text,
) {
  const s = $("status");
  s.className = `status ${state}`;
  s.textContent = text;
  document.body.dataset.state = state;
  const live = state === "connected";
  button("connect").disabled = live || state === "connecting";
  button("disconnect").disabled = !live;
  for (const id of ["send", "send-10", "stream", "whoami"]) button(id).disabled = !live;
  button("login-connect").disabled = state === "connecting";
}

// ---------------------------------------------------------------------------------------------
// The channel.

function get(/** @type {any} */ obj, /** @type {string[]} */ names) {
  for (const n of names) {
    const v = n.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

function bytesText(/** @type {unknown} */ n) {
  return typeof n === "number" ? `${n.toLocaleString("en")} bytes` : "—";
}

function showChannelInfo(/** @type {any} */ ch) {
  const suite = get(ch, ["suite"]);
  $("info-suite").textContent = typeof suite === "number"
    ? `${SUITE_NAMES[/** @type {1 | 2} */ (suite)] ?? "suite"} (0x${
      suite.toString(16).padStart(4, "0")
    })`
    : String(suite ?? "—");
  $("info-key-id").textContent = String(get(ch, ["keyId"]) ?? "—");
  $("info-pin").textContent = `${get(ch, ["pin"]) ?? "—"}  (pinned)`;
  $("info-session").textContent = String(get(ch, ["sessionId"]) ?? "—");
  const ms = get(ch, ["handshakeMs", "handshake.durationMs", "timing.handshakeMs"]);
  $("info-time").textContent = typeof ms === "number"
    ? `${ms.toFixed(1)} ms (one round trip)`
    : "—";
  $("info-ch").textContent = bytesText(
    get(ch, ["clientHelloBytes", "sizes.clientHello", "handshake.clientHelloBytes"]),
  );
  $("info-sh").textContent = bytesText(
    get(ch, ["serverHelloBytes", "sizes.serverHello", "handshake.serverHelloBytes"]),
  );
  $("info-cf").textContent = bytesText(
    get(ch, ["clientFinishedBytes", "sizes.clientFinished", "handshake.clientFinishedBytes"]),
  );
}

/** "connected · pinned", plus who the channel signed in as. */
let connectedText = "connected · pinned";

async function doConnect(/** @type {boolean} */ signIn = false) {
  if (connecting) return;
  connecting = true;
  showError(null);
  setStatus("connecting", signIn ? "handshaking and signing in…" : "handshaking…");
  const url = input("gateway-url").value.trim();
  const pin = input("pin").value.trim();
  const username = input("username").value.trim();
  try {
    /** @type {Record<string, unknown>} */
    const options = { pin };
    // Client authentication (docs/client-auth.md): sent inside the channel, after the
    // gateway proved its key; the page never keeps the password.
    if (signIn) options.auth = { username, password: input("password").value };
    // The wire view: the client takes a WebSocket constructor; ours reports every message.
    options.WebSocket = TapWebSocket;
    const old = channel; // signing in (again) opens a new channel: its identity is its own
    channel = null;
    try {
      old?.close();
    } catch { /* already closed */ }
    const ch = await pq.connect(url, options);
    channel = ch;
    input("password").value = "";
    connectedText = signIn ? `connected · pinned · signed in as ${username}` : "connected · pinned";
    $("info-identity").textContent = signIn ? `${username} (password)` : "— (not signed in)";
    showChannelInfo(ch);
    setStatus("connected", connectedText);
    watchClose(ch);
    if (signIn) await whoAmI();
  } catch (err) {
    channel = null;
    setStatus("failed", "not connected");
    showError(explain(err));
  } finally {
    connecting = false;
  }
}

/**
 * The client reconnects by itself on the next request when the gateway closed the channel
 * (idle timeout, restart, session lifetime): show that, and refresh the details after it.
 */
function watchClose(/** @type {any} */ ch) {
  let wasConnected = true;
  const timer = setInterval(() => {
    if (channel !== ch) {
      clearInterval(timer);
      return;
    }
    const now = Boolean(ch.connected);
    if (now === wasConnected) return;
    wasConnected = now;
    if (now) {
      setStatus("connected", connectedText);
      showChannelInfo(ch);
    } else {
      setStatus("connected", "idle · reconnects on the next request");
    }
  }, 500);
}

function doDisconnect() {
  $("info-identity").textContent = "— (not signed in)";
  const ch = channel;
  channel = null;
  try {
    ch?.close();
  } catch { /* already closed */ }
  setStatus("closed", "closed");
}

// ---------------------------------------------------------------------------------------------
// Requests.

function targetUrl(/** @type {string} */ path) {
  const p = path.trim() || "/";
  return config.targetOrigin + (p.startsWith("/") ? p : `/${p}`);
}

function requestInit() {
  const method = /** @type {HTMLSelectElement} */ ($("method")).value;
  /** @type {RequestInit} */
  const init = { method };
  if (method === "POST" || method === "PUT") {
    init.body = /** @type {HTMLTextAreaElement} */ ($("body")).value;
    init.headers = { "content-type": "application/json" };
  }
  return init;
}

function isTextual(/** @type {string} */ type) {
  return /^text\/|json|xml|javascript|x-www-form-urlencoded/.test(type);
}

/** Reads a response body, updating the summary line while it streams. */
async function readBody(/** @type {Response} */ res, /** @type {(n: number) => void} */ progress) {
  const chunks = [];
  let n = 0;
  let check = true;
  let verified = true;
  const reader = res.body?.getReader();
  if (!reader) return { bytes: new Uint8Array(0), verified: false };
  let lastPaint = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (check) {
      for (let i = 0; i < value.length; i++) {
        if (value[i] !== PATTERN(n + i)) {
          verified = false;
          check = false;
          break;
        }
      }
    }
    if (chunks.length < 16 || n < 65536) chunks.push(value); // keep only the beginning
    n += value.length;
    const now = performance.now();
    if (now - lastPaint > 100) {
      lastPaint = now;
      progress(n);
    }
  }
  const head = new Uint8Array(Math.min(n, 65536));
  let off = 0;
  for (const c of chunks) {
    if (off >= head.length) break;
    const take = Math.min(c.length, head.length - off);
    head.set(c.subarray(0, take), off);
    off += take;
  }
  return { bytes: head, total: n, verified: verified && n > 0 };
}

async function send(/** @type {string} */ path, /** @type {RequestInit} */ init) {
  const ch = channel;
  if (!ch) return;
  showError(null);
  const url = targetUrl(path);
  const summary = $("result-summary");
  const headersEl = $("result-headers");
  const bodyEl = $("result-body");
  summary.textContent = `${init.method ?? "GET"} ${url} …`;
  headersEl.hidden = true;
  bodyEl.hidden = true;
  const t0 = performance.now();
  try {
    const res = await ch.fetch(url, init);
    const type = res.headers.get("content-type") ?? "";
    const body = await readBody(res, (n) => {
      summary.textContent = `${res.status} ${res.statusText} · receiving… ${
        n.toLocaleString("en")
      } bytes`;
    });
    const ms = performance.now() - t0;
    const total = body.total ?? body.bytes.length;
    const rate = total > 1_000_000 ? ` (${(total / 1048576 / (ms / 1000)).toFixed(1)} MiB/s)` : "";
    const isStream = new URL(url).pathname === "/api/stream";
    summary.textContent =
      `${init.method ?? "GET"} ${new URL(url).pathname}${
        new URL(url).search
      } → ${res.status} ${res.statusText}`.trim() +
      ` · ${total.toLocaleString("en")} bytes in ${ms.toFixed(0)} ms${rate}` +
      (isStream && res.ok
        ? (body.verified ? " · every byte matches the expected pattern" : " · DATA MISMATCH")
        : "");
    summary.dataset.status = String(res.status);
    summary.dataset.bytes = String(total);
    headersEl.textContent = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n");
    headersEl.hidden = false;
    if (total === 0) bodyEl.textContent = "(empty body)";
    else if (isTextual(type)) {
      let text = new TextDecoder().decode(body.bytes);
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch { /* not JSON */ }
      bodyEl.textContent = text + (total > body.bytes.length ? "\n… (truncated)" : "");
    } else {
      bodyEl.textContent = `${total.toLocaleString("en")} bytes of ${
        type || "binary data"
      }. First 64 bytes (hex):\n${hex(body.bytes, 64)}`;
    }
    bodyEl.hidden = false;
    showChannelInfo(ch);
  } catch (err) {
    summary.textContent = `${init.method ?? "GET"} ${url} failed.`;
    summary.dataset.status = "error";
    showError(explain(err));
  }
}

/** GET /api/me: the identity the origin saw (the gateway's pqgate-auth-* headers), or 401. */
async function whoAmI() {
  await send("/api/me", { method: "GET" });
}

async function sendMany(/** @type {number} */ count) {
  const ch = channel;
  if (!ch) return;
  showError(null);
  const path = input("path").value;
  const init = requestInit();
  const summary = $("result-summary");
  summary.textContent = `${count} × ${init.method} ${path} at once …`;
  const t0 = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: count }, async () => {
      const res = await ch.fetch(targetUrl(path), init);
      const n = (await res.arrayBuffer()).byteLength;
      return { status: res.status, n };
    }),
  );
  const ms = performance.now() - t0;
  const ok = results.filter((r) => r.status === "fulfilled" && r.value.status < 400).length;
  summary.textContent =
    `${count} concurrent requests on one channel: ${ok} of ${count} succeeded in ${
      ms.toFixed(0)
    } ms.`;
  summary.dataset.status = ok === count ? "concurrent-ok" : "concurrent-failed";
  $("result-headers").hidden = true;
  const lines = results.map((r, i) =>
    r.status === "fulfilled"
      ? `#${i + 1}  ${r.value.status}  ${r.value.n} bytes`
      : `#${i + 1}  failed: ${explain(r.reason)}`
  );
  const bodyEl = $("result-body");
  bodyEl.textContent = lines.join("\n");
  bodyEl.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Service Worker mode (docs/service-worker.md): the page registers pqgate-sw.js and then uses
// plain fetch; the worker sends every request to the target origin through its channel.

/** @type {any} */
let swReg = null;

function swError(/** @type {string | null} */ text) {
  const el = $("sw-error");
  el.hidden = text === null;
  el.textContent = text ?? "";
}

function swStatus(/** @type {string} */ state, /** @type {string} */ text) {
  const el = $("sw-status");
  el.textContent = text;
  el.dataset.state = state;
  document.body.dataset.sw = state;
}

function showSwState(/** @type {any} */ s) {
  $("sw-connected").textContent = s.connected
    ? "connected"
    : "not connected (opens on the next request)";
  $("sw-suite").textContent = s.suite === null
    ? "—"
    : `${get(SUITE_NAMES, [String(s.suite)]) ?? "suite"} (0x${
      s.suite.toString(16).padStart(4, "0")
    })`;
  $("sw-key-id").textContent = s.keyId ?? "—";
  $("sw-pin").textContent = s.pin ?? s.pinConfigured;
  $("sw-session").textContent = s.sessionId ?? "—";
  $("sw-requests").textContent =
    `${s.requests} through the channel, ${s.failed} failed (worker ${s.instance}, ${s.sessions} session${
      s.sessions === 1 ? "" : "s"
    })`;
  $("sw-last-error").textContent = s.lastError
    ? `${s.lastError.name}: ${s.lastError.message}`
    : "—";
  $("sw-info").dataset.session = s.sessionId ?? "";
}

async function refreshSwState(/** @type {boolean} */ connect = false) {
  if (!swReg) return;
  try {
    showSwState(await swReg.state({ connect }));
  } catch (err) {
    swError(explain(err));
  }
}

async function swRegister() {
  swError(null);
  button("sw-register").disabled = true;
  swStatus("connecting", "registering…");
  try {
    swReg = await pq.registerPqgate({
      gateway: input("gateway-url").value.trim(),
      pin: input("pin").value.trim(),
      match: [{ origin: config.targetOrigin }],
    });
    await refreshSwState(true);
    swStatus("connected", "controls this page");
    button("sw-fetch").disabled = false;
    button("sw-refresh").disabled = false;
    button("sw-unregister").disabled = false;
  } catch (err) {
    swReg = null;
    swStatus("failed", "not active");
    swError(explain(err));
    button("sw-register").disabled = false;
  }
}

async function swUnregister() {
  if (!swReg) return;
  await swReg.unregister();
  swReg = null;
  swStatus("idle", "unregistered (this page stays controlled until it reloads)");
  button("sw-register").disabled = false;
  button("sw-unregister").disabled = true;
}

function swCode() {
  const method = /** @type {HTMLSelectElement} */ ($("sw-method")).value;
  const url = config.targetOrigin + input("sw-path").value;
  $("sw-code").textContent = method === "GET"
    ? `const res = await fetch(${JSON.stringify(url)});`
    : `const res = await fetch(${JSON.stringify(url)}, { method: "POST", body });`;
}

/** The "unmodified script": plain fetch, nothing of pqgate in it. */
async function plainFetch() {
  swError(null);
  const method = /** @type {HTMLSelectElement} */ ($("sw-method")).value;
  const url = config.targetOrigin + input("sw-path").value;
  const summary = $("sw-summary");
  const started = performance.now();
  try {
    const res = await fetch(
      url,
      method === "GET" ? {} : {
        method,
        headers: { "content-type": "application/json" },
        body: /** @type {HTMLTextAreaElement} */ ($("body")).value,
      },
    );
    const text = await res.text();
    summary.textContent = `${method} ${url} → ${res.status} in ${
      Math.round(performance.now() - started)
    } ms, ${text.length} characters, answered through the worker's channel`;
    summary.dataset.status = String(res.status);
    const body = $("sw-body");
    body.textContent = text.length > 4000 ? text.slice(0, 4000) + " …" : text;
    body.hidden = false;
  } catch (err) {
    summary.textContent = `${method} ${url} failed: a network error (fail closed)`;
    summary.dataset.status = "failed";
    swError(
      `fetch failed: ${/** @type {Error} */ (err).message}. The worker answers a network error ` +
        "when its channel cannot be established; it never sends the request in the clear.",
    );
  }
  await refreshSwState();
}

function initSw() {
  $("sw-origin").textContent = config.targetOrigin;
  swCode();
  $("sw-method").addEventListener("change", swCode);
  input("sw-path").addEventListener("input", swCode);
  button("sw-register").addEventListener("click", () => void swRegister());
  button("sw-unregister").addEventListener("click", () => void swUnregister());
  button("sw-fetch").addEventListener("click", () => void plainFetch());
  button("sw-refresh").addEventListener("click", () => void refreshSwState());
  if (!("serviceWorker" in navigator)) {
    swStatus("failed", "not available");
    swError("This browser gives this page no Service Workers (a secure context is needed).");
    return;
  }
  button("sw-register").disabled = false;
  swStatus("idle", "not registered");
}

// ---------------------------------------------------------------------------------------------
// Start: fill in the gateway URL and the pin from /.well-known/pqgate.

async function init() {
  $("boot").remove();
  const ws = new URL(config.channelPath, location.href);
  ws.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  input("gateway-url").value = ws.href;
  $("target-origin").textContent = config.targetOrigin;
  setStatus("idle", "not connected");
  button("connect").addEventListener("click", () => void doConnect());
  button("login-connect").addEventListener("click", () => void doConnect(true));
  button("whoami").addEventListener("click", () => void whoAmI());
  button("disconnect").addEventListener("click", doDisconnect);
  button("send").addEventListener("click", () => void send(input("path").value, requestInit()));
  button("send-10").addEventListener("click", () => void sendMany(10));
  button("stream").addEventListener(
    "click",
    () => void send("/api/stream?bytes=4194304", { method: "GET" }),
  );
  /** @type {HTMLSelectElement} */ ($("method")).addEventListener("change", (e) => {
    const m = /** @type {HTMLSelectElement} */ (e.target).value;
    if (m === "POST" && input("path").value === "/api/hello") input("path").value = "/api/echo";
  });
  const note = $("pin-note");
  try {
    const res = await fetch(new URL(config.keyConfigPath, location.href), { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const kc = await res.json();
    const key = kc.keys?.[0];
    if (!key) throw new Error("no keys");
    if (!input("pin").value) input("pin").value = key.pin;
    note.innerHTML = "";
    note.append(
      "The gateway announces key ",
      Object.assign(document.createElement("span"), { className: "mono", textContent: key.key_id }),
      ". ",
      Object.assign(document.createElement("span"), {
        className: "pinned",
        textContent: "Pinned:",
      }),
      " the page connects only if the gateway proves it holds the key whose SHA-256 is this pin. " +
        "In a real app the pin ships with the app, not from the server.",
    );
  } catch (err) {
    note.textContent = `Could not read the gateway's key configuration (${
      /** @type {Error} */ (err).message
    }); enter the pin yourself.`;
  }
  button("connect").disabled = false;
  button("login-connect").disabled = false;
  initSw();
  document.body.dataset.ready = "true";
}

// For the browser tests and the devtools console: how the page words an error.
Object.assign(globalThis, { pqgateDemo: { explain } });

void init();
