/**
 * Admission of WebSocket upgrades for the node:http server (serveDeno, serveNode) and Deno's upgradeWebSocket
 * transports, decided BEFORE the upgrade (no
 * WebSocket exists for a refused request; SECURITY.md, resource accounting):
 *
 *   per process   `maxSockets` upgraded sockets open or closing (counted until their TCP
 *                 connection is gone) and `maxHandshakesInFlight` sockets upgraded but not yet
 *                 established (counted until the session reports "established" or the socket is
 *                 gone); over either → HTTP 503 with `retry-after: 1`.
 *   per address   `maxChannelsPerAddress` open sockets and `maxHandshakesPerAddressPerMinute`
 *                 new ones (a token bucket of that size refilled evenly over a minute, on the
 *                 gateway clock); over either → HTTP 429 with `retry-after` (channels: 5 s;
 *                 handshakes: the seconds until the next token, at least 1).
 *
 * Process limits are checked first, so a 503 takes no handshake token. IPv6 clients are counted
 * per /64, IPv4-mapped IPv6 addresses as their IPv4 address (`addressKey`). Memory: one entry per
 * address with something open or a bucket not yet full again; idle entries are swept at most
 * once a minute, so the table is bounded by the addresses seen within about a minute plus those
 * with open sockets (≤ `maxSockets` when that is set).
 */
import type { GatewayLog } from "../../gateway/options.ts";
import { emit, type EventFields, type EventName } from "../../tunnel/events.ts";
import { TokenBucket } from "../../tunnel/rate-limit.ts";

/** Default `maxChannelsPerAddress`: open channels per client address. */
export const DEFAULT_MAX_CHANNELS_PER_ADDRESS = 256;
/** Default `maxHandshakesPerAddressPerMinute`: new channels per client address per minute. */
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE = 600;
/** Default `maxSockets`: upgraded sockets (open or closing) per process. */
export const DEFAULT_MAX_SOCKETS = 10_000;
/** Default `maxHandshakesInFlight`: sockets upgraded but not yet established, per process. */
export const DEFAULT_MAX_HANDSHAKES_IN_FLIGHT = 1_000;

/** `retry-after` (s) of a 429 for `maxChannelsPerAddress`. */
const CHANNELS_RETRY_AFTER_S = 5;
const SWEEP_MS = 60_000;

export interface AdmissionLimits {
  /** 0 = no limit. */
  maxChannelsPerAddress: number;
  maxHandshakesPerAddressPerMinute: number;
  maxSockets: number;
  maxHandshakesInFlight: number;
}

/** A refused upgrade: the HTTP answer to send instead of upgrading. */
export interface Refusal {
  status: 429 | 503;
  retryAfterSeconds: number;
  /** Which option refused it (for logs). */
  limit: keyof AdmissionLimits | "shutdown";
  /** Response body text (no client data). */
  message: string;
}

/** An admitted upgrade: counted until `release()`. */
export interface Ticket {
  /** The session is established: it no longer counts as a handshake in flight. Idempotent. */
  established(): void;
  /** The socket is gone (its TCP connection closed): every count is released. Idempotent. */
  release(): void;
}

/** What a transport answers to an upgrade while it shuts down. */
export const SHUTTING_DOWN: Readonly<Refusal> = Object.freeze({
  status: 503,
  retryAfterSeconds: 1,
  limit: "shutdown",
  message: "shutting down",
});

/** The response of a refusal (also used by the Deno upgradeWebSocket path). */
export function refusalResponse(r: Refusal): Response {
  return new Response(r.message + "\n", {
    status: r.status,
    headers: {
      "retry-after": String(r.retryAfterSeconds),
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      // Draining (docs/operations.md): this connection is not reused, so the client's retry
      // opens a new one, which a load balancer sends to another instance.
      ...(r === SHUTTING_DOWN ? { connection: "close" } : {}),
    },
  });
}

/**
 * The answer to an upgrade whose ClientHello parameter is longer than any ClientHello
 * (PROTOCOL.md §1: refused before the upgrade, before admission takes a token).
 */
export function helloRefusalResponse(r: { status: number; message: string }): Response {
  return new Response(r.message + "\n", {
    status: r.status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/**
 * The key per-address limits count under: an IPv4 address as is, an IPv6 address's /64 prefix
 * ("2001:db8:0:1::/64"), an IPv4-mapped IPv6 address as its IPv4 address; null when none.
 */
export function addressKey(hostname: string | null | undefined): string | null {
  if (!hostname) return null;
  let h = hostname.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  const zone = h.indexOf("%");
  if (zone >= 0) h = h.slice(0, zone);
  if (!h.includes(":")) return h;
  // An embedded IPv4 tail ("::ffff:192.0.2.1") becomes two hex groups.
  let v4: string | null = null;
  const dot = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (dot) {
    v4 = dot.slice(1, 5).map(Number).join(".");
    const [a, b, c, d] = dot.slice(1, 5).map(Number);
    h = h.slice(0, dot.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const halves = h.split("::");
  if (halves.length > 2) return h; // not IPv6 text: count it as given
  const parts = (x: string) => (x === "" ? [] : x.split(":"));
  let groups = parts(halves[0]);
  if (halves.length === 2) {
    const tail = parts(halves[1]);
    groups = [...groups, ...Array(Math.max(0, 8 - groups.length - tail.length)).fill("0"), ...tail];
  }
  const n = groups.map((g) => parseInt(g, 16) || 0);
  if (v4 !== null && n.length === 8 && n.slice(0, 5).every((x) => x === 0) && n[5] === 0xffff) {
    return v4;
  }
  while (n.length < 4) n.push(0);
  return `${n.slice(0, 4).map((x) => x.toString(16)).join(":")}::/64`;
}

/** An integer option from 0 (no limit) to 2^32-1, or its default. */
export function validateCount(name: string, v: unknown, dflt: number, who = "serveDeno"): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new TypeError(
      `${who}: options.${name} must be an integer from 0 (no limit) to 4294967295, got ${
        JSON.stringify(v)
      }`,
    );
  }
  return v;
}

interface AddressEntry {
  open: number;
  bucket: TokenBucket | null;
  loggedAt: number | null;
}

export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #log?: GatewayLog;
  readonly #addresses = new Map<string, AddressEntry>();
  #sockets = 0;
  #inFlight = 0;
  #lastSweep = -Infinity;
  #clock: (() => number) | null = null;
  #processLoggedAt: number | null = null;

  constructor(limits: AdmissionLimits, log?: GatewayLog) {
    this.#limits = limits;
    this.#log = log;
  }

  /** Upgraded sockets not yet gone. */
  get sockets(): number {
    return this.#sockets;
  }
  /** Upgraded sockets not yet established nor gone. */
  get handshakesInFlight(): number {
    return this.#inFlight;
  }
  /** Client addresses currently remembered (idle ones are forgotten first). */
  get trackedAddresses(): number {
    if (this.#clock !== null) this.#sweep(this.#clock(), true);
    return this.#addresses.size;
  }

  /** Counts the upgrade and returns its ticket, or the refusal (nothing counted). */
  admit(clientAddress: string | null, clock: () => number): Ticket | Refusal {
    this.#clock = clock;
    const now = clock();
    const l = this.#limits;
    if (l.maxSockets > 0 && this.#sockets >= l.maxSockets) {
      return this.#refuseProcess("maxSockets", now);
    }
    if (l.maxHandshakesInFlight > 0 && this.#inFlight >= l.maxHandshakesInFlight) {
      return this.#refuseProcess("maxHandshakesInFlight", now);
    }
    const perAddress = l.maxChannelsPerAddress > 0 || l.maxHandshakesPerAddressPerMinute > 0;
    const key = perAddress ? addressKey(clientAddress) : null;
    let entry: AddressEntry | null = null;
    if (key !== null) {
      this.#sweep(now);
      entry = this.#addresses.get(key) ?? null;
      if (!entry) {
        const perMinute = l.maxHandshakesPerAddressPerMinute;
        entry = {
          open: 0,
          bucket: perMinute > 0 ? new TokenBucket(perMinute / 60, perMinute, now) : null,
          loggedAt: null,
        };
        this.#addresses.set(key, entry);
      }
      let refused: Refusal | null = null;
      if (l.maxChannelsPerAddress > 0 && entry.open >= l.maxChannelsPerAddress) {
        refused = {
          status: 429,
          retryAfterSeconds: CHANNELS_RETRY_AFTER_S,
          limit: "maxChannelsPerAddress",
          message: "rate limited: too many channels from this address",
        };
      } else if (entry.bucket && !entry.bucket.take(now)) {
        refused = {
          status: 429,
          retryAfterSeconds: Math.max(1, Math.ceil(60 / l.maxHandshakesPerAddressPerMinute)),
          limit: "maxHandshakesPerAddressPerMinute",
          message: "rate limited: too many handshakes from this address",
        };
      }
      if (refused) {
        this.#emit("refused", {
          reason: refused.limit === "maxChannelsPerAddress"
            ? "rate_limit_channels"
            : "rate_limit_handshakes",
          status: 429,
        });
        if (entry.loggedAt === null || now - entry.loggedAt >= 60_000 || now < entry.loggedAt) {
          entry.loggedAt = now;
          this.#emit("transport.rate_limited", { limit: refused.limit, open: entry.open });
        }
        return refused;
      }
      entry.open++;
    }
    this.#sockets++;
    this.#inFlight++;
    let handshaking = true;
    let released = false;
    const e = entry;
    return {
      established: () => {
        if (!handshaking || released) return;
        handshaking = false;
        this.#inFlight--;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#sockets--;
        if (handshaking) {
          handshaking = false;
          this.#inFlight--;
        }
        if (e && key !== null) {
          e.open = Math.max(0, e.open - 1);
          const t = clock();
          if (this.#idle(e, t) && this.#addresses.get(key) === e) this.#addresses.delete(key);
        }
      },
    };
  }

  #refuseProcess(limit: "maxSockets" | "maxHandshakesInFlight", now: number): Refusal {
    this.#emit("refused", {
      reason: limit === "maxSockets" ? "max_sockets" : "max_handshakes_in_flight",
      status: 503,
    });
    if (
      this.#processLoggedAt === null || now - this.#processLoggedAt >= 60_000 ||
      now < this.#processLoggedAt
    ) {
      this.#processLoggedAt = now;
      this.#emit("transport.overloaded", {
        limit,
        sockets: this.#sockets,
        handshakesInFlight: this.#inFlight,
      });
    }
    return {
      status: 503,
      retryAfterSeconds: 1,
      limit,
      message: limit === "maxSockets"
        ? "overloaded: too many open sockets"
        : "overloaded: too many handshakes in progress",
    };
  }

  #idle(e: AddressEntry, now: number): boolean {
    return e.open === 0 && (e.bucket === null || e.bucket.full(now));
  }

  /** Forgets addresses with nothing open and a full bucket (at most one pass per minute). */
  #sweep(now: number, force = false): void {
    if (!force && now - this.#lastSweep < SWEEP_MS && now >= this.#lastSweep) return;
    this.#lastSweep = now;
    for (const [k, e] of this.#addresses) if (this.#idle(e, now)) this.#addresses.delete(k);
  }

  /** A refusal decided outside `admit` (shutdown, a bad upgrade-URL hello): counted too. */
  refused(reason: "shutting_down" | "upgrade_hello", status: number): void {
    this.#emit("refused", { reason, status });
  }

  #emit<E extends EventName>(event: E, fields: EventFields[E]): void {
    emit(this.#log, event, fields);
  }
}

/** True if `admit` returned a refusal. */
export function isRefusal(x: Ticket | Refusal): x is Refusal {
  return (x as Refusal).status !== undefined;
}
