/**
 * PROTOCOL.md 1.1 §8.1/§8.2 on the client side (src/client/key-config.ts): where the client
 * looks for the key configuration, what it sends, which documents it can use and which entries
 * it skips. The gateway side (what a gateway writes) is checked over the wire in
 * tests/conformance/wire-cases.ts on Deno and workerd.
 */
import assert from "node:assert/strict";
import { fetchPinnedKey, selectPinnedKey } from "../../src/client/key-config.ts";
import { toBase64Url, toHex } from "../../src/protocol/bytes.ts";
import { generateStaticKey, pinFor } from "../../src/protocol/static-keys.ts";
import { seededRandom } from "../../src/protocol/testing.ts";

const K = generateStaticKey(seededRandom("conformance key config")(32));
const K2 = generateStaticKey(seededRandom("conformance key config 2")(32));
const PIN = pinFor(K.publicKey);
const entry = (o: Record<string, unknown> = {}) => ({
  key_id: toHex(K.keyId),
  kem: "X-Wing",
  public_key: toBase64Url(K.publicKey),
  pin: PIN,
  ...o,
});

Deno.test("§8.2 client: a well-formed entry is used; key_id is accepted in either case; unknown fields and missing version/suites are fine", () => {
  assert.deepEqual(selectPinnedKey({ keys: [entry()] }, PIN).keyId, K.keyId);
  assert.deepEqual(
    selectPinnedKey({ keys: [entry({ key_id: toHex(K.keyId).toUpperCase() })] }, PIN).keyId,
    K.keyId,
  );
  assert.deepEqual(
    selectPinnedKey({ future: { x: 1 }, keys: [{ ...entry(), later: true }] }, PIN).publicKey,
    K.publicKey,
  );
});

Deno.test("§8.2 client: malformed entries are skipped without failing; the first matching entry is used", () => {
  const otherId = "0011223344556677";
  const doc = {
    keys: [
      { kem: "X-Wing", public_key: toBase64Url(K.publicKey) }, // no key_id
      entry({ kem: "x-wing" }), // kem not exactly "X-Wing"
      entry({ key_id: toHex(K.keyId).slice(1) }), // 15 hex characters
      entry({ key_id: toHex(K.keyId) + "0" }), // 17
      entry({ key_id: "zz" + toHex(K.keyId).slice(2) }), // not hex
      entry({ public_key: toBase64Url(K.publicKey).slice(0, 100) }), // not 1,216 bytes
      entry({ public_key: 42 }),
      entry({ key_id: otherId }), // the first well-formed match
      entry(),
    ],
  };
  assert.equal(toHex(selectPinnedKey(doc, PIN).keyId), otherId);
});

Deno.test("§8.2 client: public_key must be canonical base64url (no padding, no +/, zero unused bits)", () => {
  const b64u = toBase64Url(K.publicKey); // 1,622 characters
  const forms: [string, string][] = [
    ["padding", b64u + "=="],
    ["standard alphabet", b64u.replace(/-/g, "+").replace(/_/g, "/")],
    ["whitespace", b64u.slice(0, 800) + "\n" + b64u.slice(800)],
  ];
  // Non-zero unused low bits of the last character (1,216 bytes leave 4 unused bits).
  const last = b64u[b64u.length - 1];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  forms.push(["non-zero unused bits", b64u.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1]]);
  for (const [what, pk] of forms) {
    if (pk === b64u) continue;
    assert.throws(
      () => selectPinnedKey({ keys: [entry({ public_key: pk })] }, PIN),
      /pin|match/i,
      what,
    );
  }
});

Deno.test("§8.2 client: a document without a keys array, or without a matching entry, is unusable", () => {
  for (const doc of [null, [], "x", { keys: {} }, { key: [entry()] }]) {
    assert.throws(() => selectPinnedKey(doc, PIN), Error, JSON.stringify(doc));
  }
  assert.throws(() => selectPinnedKey({ keys: [entry()] }, pinFor(K2.publicKey)));
});

Deno.test("§8.1 client: GET <scheme-mapped host root>/.well-known/pqgate with accept: application/json; any 2xx JSON is usable", async () => {
  const seen: { url: string; accept: string | null }[] = [];
  const fake = (status: number, body: string, type = "text/plain") =>
    ((input: URL | RequestInfo, init?: RequestInit) => {
      seen.push({ url: String(input), accept: new Headers(init?.headers).get("accept") });
      return Promise.resolve(new Response(body, { status, headers: { "content-type": type } }));
    }) as typeof fetch;
  const doc = JSON.stringify({ keys: [entry()] });
  const k = await fetchPinnedKey("wss://gw.example:8443/pq/pqgate?x=1#f", PIN, fake(203, doc));
  assert.deepEqual(k.keyId, K.keyId);
  assert.deepEqual(seen.at(-1), {
    url: "https://gw.example:8443/.well-known/pqgate",
    accept: "application/json",
  });
  await fetchPinnedKey("ws://gw.example/pqgate", PIN, fake(200, doc, "application/json"));
  assert.equal(seen.at(-1)!.url, "http://gw.example/.well-known/pqgate");
  // keyConfigUrl: used with its query, fragment dropped.
  await fetchPinnedKey(
    "wss://gw.example/pq/pqgate",
    PIN,
    fake(200, doc),
    "https://keys.example/k.json?v=2#frag",
  );
  assert.equal(seen.at(-1)!.url, "https://keys.example/k.json?v=2");
  await assert.rejects(fetchPinnedKey("wss://gw.example/pqgate", PIN, fake(404, doc)));
  await assert.rejects(fetchPinnedKey("wss://gw.example/pqgate", PIN, fake(200, "<html>")));
});
