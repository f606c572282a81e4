/**
 * Isolate warm-up at module evaluation (Worker start-up, which has its own CPU allowance)
 * rather than inside the first request or the first WebSocket message (10 ms of CPU on Workers
 * Free). One throwaway pinned handshake between an in-memory client and gateway, and one
 * record each way, so the first real handshake runs on compiled code (`NOBLE_WARM_UP_ROUNDS` of
 * them with PQGATE_CRYPTO=noble). Deterministic inputs:
 * Workers forbids randomness in the global scope, and nothing here is ever used on the wire.
 */
import { ClientHandshake } from "../../protocol/handshake-client.ts";
import { ServerHandshake } from "../../protocol/handshake-server.ts";
import { generateStaticKey } from "../../protocol/static-keys.ts";
import { RecordLayer } from "../../protocol/record-layer.ts";
import { deterministicRandom } from "../../protocol/deterministic-random.ts";
import type { RandomSource } from "../../protocol/types.ts";
import type { SessionConfig } from "../../gateway/create-gateway.ts";

/**
 * Throwaway handshakes at start-up when the gateway keeps noble (PQGATE_CRYPTO=noble): V8 has
 * not optimized noble's ML-KEM and X25519 after one: the first real handshake cost 8.8 / 8.4 ms
 * of workerd CPU (pinned / native workerd) after one round against 6.6 / 6.2 ms after four
 * (median of 5 alternating A/B rounds × 3 fresh isolates, the bench's cold sample, loaded
 * machine), for ~55 ms more start-up CPU (its own allowance, not a request's).
 */
export const NOBLE_WARM_UP_ROUNDS = 4;

/** Deterministic bytes for the throwaway handshakes only (src/protocol/deterministic-random.ts). */
const warmUpRandom = (label: string): RandomSource =>
  deterministicRandom("pqgate warm-up rng", label);

export function warmUp(rounds = 1): void {
  for (let i = 0; i < rounds; i++) warmUpOnce();
}

function warmUpOnce(): void {
  const random = warmUpRandom("pqgate worker warm-up");
  const key = generateStaticKey(random(32));
  const client = new ClientHandshake({ server: key, random });
  const server = new ServerHandshake({ keys: [key], random });
  const serverHello = server.receiveClientHello(client.start());
  const { clientFinished, keys } = client.receiveServerHello(serverHello);
  const serverKeys = server.receiveClientFinished(clientFinished);
  const a = new RecordLayer({ role: "client", keys, now: 0 });
  const b = new RecordLayer({ role: "server", keys: serverKeys, now: 0 });
  b.open(a.seal(new Uint8Array(1024), 0), 0);
  a.open(b.seal(new Uint8Array(1024), 0), 0);
}

/**
 * The same throwaway handshake on the backends the gateway selected (PQGATE_CRYPTO=auto: the
 * native path, prepared WebCrypto ML-KEM, node:crypto X25519 and AEAD; noble: the cached X-Wing
 * on noble parts), so that the first real connection finds them compiled. Runs at start-up
 * after the selection; no-op when no backend was selected. Native ML-KEM encapsulation draws from the platform CSPRNG, which
 * workerd allows here; nothing of it is used on the wire.
 */
export async function warmUpSelected(config: SessionConfig): Promise<void> {
  const kem = config.crypto.kem();
  const aead = config.crypto.aead();
  if (!kem && !aead) return;
  // The gateway's own first key, so that the prepared (native) decapsulation of ct_S runs too:
  // it only serves registered keys. The ClientHello is an encapsulation to the public key that
  // anyone could make, and every secret derived here is dropped.
  const random = warmUpRandom("pqgate worker warm-up (selected backends)");
  const key = config.keys[0];
  if (!key) return;
  const client = new ClientHandshake({ server: key, random });
  const server = new ServerHandshake({ keys: [key], random, ...(kem ? { kem } : {}) });
  const hello = client.start();
  await kem?.prepareServer?.(hello);
  const { clientFinished, keys } = client.receiveServerHello(server.receiveClientHello(hello));
  const serverKeys = server.receiveClientFinished(clientFinished);
  const a = new RecordLayer({ role: "client", keys, now: 0, ...(aead ? { aead } : {}) });
  const b = new RecordLayer({
    role: "server",
    keys: serverKeys,
    now: 0,
    ...(aead ? { aead } : {}),
  });
  b.open(a.seal(new Uint8Array(1024), 0), 0);
  a.open(b.seal(new Uint8Array(1024), 0), 0);
}
