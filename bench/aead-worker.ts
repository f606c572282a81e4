/**
 * The bench Worker of bench/aead-backends.ts: the AEAD ops, and `?op=NAME&size=N&n=COUNT`
 * runs one COUNT times. Bench code only.
 */
import * as nc from "node:crypto";
import { nodeAead, type NodeAeadAlgorithm } from "../src/crypto/aead-node.ts";
import type { NodeCrypto } from "../src/crypto/node-crypto.ts";
import { aes256gcm, chacha20poly1305 } from "../src/protocol/aead.ts";

const key = new Uint8Array(32).fill(7), iv = new Uint8Array(12).fill(1);
const aad = new Uint8Array(13);
export type Op = (pt: Uint8Array<ArrayBuffer>) => unknown | Promise<unknown>;

function nodeOp(alg: NodeAeadAlgorithm): Op {
  const a = nodeAead(nc as unknown as NodeCrypto, alg); // the gateway's backend itself
  return (pt) => a.open(key, iv, aad, a.seal(key, iv, aad, pt));
}
let wk: CryptoKey | null = null;
const webAes: Op = async (pt) => {
  wk ??= await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
  const p = { name: "AES-GCM", iv, additionalData: aad };
  await crypto.subtle.decrypt(p, wk, await crypto.subtle.encrypt(p, wk, pt));
};
export const OPS: Record<string, Op> = {
  "AES-256-GCM node:crypto": nodeOp("aes-256-gcm"),
  "ChaCha20-Poly1305 node:crypto": nodeOp("chacha20-poly1305"),
  "AES-256-GCM WebCrypto (async)": webAes,
  "AES-256-GCM noble": (pt) => aes256gcm.open(key, iv, aad, aes256gcm.seal(key, iv, aad, pt)),
  "ChaCha20-Poly1305 noble": (pt) =>
    chacha20poly1305.open(key, iv, aad, chacha20poly1305.seal(key, iv, aad, pt)),
};

/** The Worker side: `?op=NAME&size=N&n=COUNT` runs the op COUNT times. */
export default {
  async fetch(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const op = OPS[u.searchParams.get("op") ?? ""];
    const n = Number(u.searchParams.get("n") ?? 0);
    const pt = new Uint8Array(Number(u.searchParams.get("size") ?? 1024)).fill(3);
    try {
      for (let i = 0; i < n; i++) if (op) await op(pt);
    } catch (e) {
      return new Response(String(e), { status: 500 });
    }
    return new Response("ok");
  },
};
/** Miniflare's config names this Durable Object class; the bench never uses it. */
export class PqgateSession {}
