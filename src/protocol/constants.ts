/** Wire constants of pqgate/1. Each cites its PROTOCOL.md section. */

/** §3 Protocol version carried in byte 1 of every handshake message. */
export const VERSION = 0x01;

/** §3 Message types (byte 0 of every WebSocket binary message). */
export const MSG_CLIENT_HELLO = 0x01;
export const MSG_SERVER_HELLO = 0x02;
export const MSG_CLIENT_FINISHED = 0x03;
export const MSG_RECORD = 0x04;

/** §3.1 Authentication modes. */
export const AUTH_ANONYMOUS = 0x00;
export const AUTH_PINNED = 0x01;

/** §2 Cipher suites (u16). Both use X-Wing and HKDF-SHA256. */
export const SUITE_XWING_AES256GCM = 0x0001;
export const SUITE_XWING_CHACHA20POLY1305 = 0x0002;
export const SUITES = [SUITE_XWING_AES256GCM, SUITE_XWING_CHACHA20POLY1305] as const;
export type SuiteId = typeof SUITES[number];

/** §2 Protocol names: ck0 = SHA-256(protocol name). */
export const PROTOCOL_NAMES: Record<SuiteId, string> = {
  [SUITE_XWING_AES256GCM]: "pqgate/1 X-Wing HKDF-SHA256 AES-256-GCM",
  [SUITE_XWING_CHACHA20POLY1305]: "pqgate/1 X-Wing HKDF-SHA256 ChaCha20-Poly1305",
};

/** §2 X-Wing (draft-connolly-cfrg-xwing-kem) sizes. */
export const XWING_PK_LEN = 1216;
export const XWING_CT_LEN = 1120;
export const XWING_SEED_LEN = 32;
export const XWING_SS_LEN = 32;
export const XWING_ESEED_LEN = 64;

/** §3 Field sizes. */
export const RANDOM_LEN = 32;
export const KEY_ID_LEN = 8;
export const FINISHED_LEN = 32;
export const MAX_SUITES = 8;
export const MAX_EXTENSIONS_LEN = 1024;
/** Largest valid ClientHello (§3.1): 8 suites, pinned, 1,024 extension bytes = 3,422 bytes. */
export const MAX_CLIENT_HELLO_LEN = 4 + 2 * MAX_SUITES + RANDOM_LEN + KEY_ID_LEN + XWING_PK_LEN +
  XWING_CT_LEN + 2 + MAX_EXTENSIONS_LEN;

/** §3.4 Extensions: high bit of the type marks a critical extension. */
export const EXT_CRITICAL = 0x8000;
export const EXT_PADDING = 0x0001;

/** §4 Key schedule label prefix (ExpandLabel, like RFC 8446 §7.1 with "tls13 " replaced). */
export const LABEL_PREFIX = "pqgate1 ";

/** §5 Records. */
export const RECORD_HEADER_LEN = 10; // type(1) | epoch(1) | seq(8)
export const AEAD_KEY_LEN = 32;
export const AEAD_IV_LEN = 12;
export const AEAD_TAG_LEN = 16;
export const MAX_PLAINTEXT = 16384;
export const MAX_RECORD_LEN = RECORD_HEADER_LEN + MAX_PLAINTEXT + AEAD_TAG_LEN;

/** §5.4 Key-usage limits (defaults; an implementation may be stricter). */
export const SOFT_RECORDS_PER_EPOCH = 2 ** 20;
export const SOFT_BYTES_PER_EPOCH = 2 ** 30;
export const SOFT_EPOCH_AGE_MS = 60 * 60 * 1000;
export const HARD_RECORDS_PER_EPOCH = 2 ** 23;
export const HARD_BYTES_PER_EPOCH = 2 ** 36;
export const MAX_EPOCH = 255;
export const SESSION_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** §6 Frames. */
export const FRAME_HEADER_LEN = 8; // type(1) | flags(1) | stream(4) | length(2)
export const FRAME_PADDING = 0x00;
export const FRAME_PING = 0x01;
export const FRAME_PONG = 0x02;
export const FRAME_SESSION_INFO = 0x03;
export const FRAME_HEADERS = 0x04;
export const FRAME_DATA = 0x05;
export const FRAME_RESET_STREAM = 0x06;
export const FRAME_WINDOW_UPDATE = 0x07;
export const FRAME_KEY_UPDATE = 0x08;
export const FRAME_CLOSE = 0x09;
export const FLAG_END_STREAM = 0x01;
export const PING_LEN = 8;
/** §6.3 SESSION_INFO payload: 44 bytes since 1.1 (max_window); 1.0 gateways sent 40. */
export const SESSION_INFO_LEN = 44;
export const SESSION_INFO_LEN_1_0 = 40;
/** SESSION_INFO with max_ws_message (1.4, §6.9). */
export const SESSION_INFO_LEN_1_4 = 48;
export const INITIAL_STREAM_WINDOW = 65536;
export const MAX_WINDOW = 2 ** 31 - 1;
export const MAX_CLOSE_REASON = 123;

/** §3.4 Client authentication extensions (1.3), ClientHello only, both critical. */
export const EXT_PSK = 0x8002;
export const EXT_CLIENT_AUTH = 0x8003;
/** §3.4.1 PSK identity length (bytes, UTF-8) and PSK length. */
export const MIN_PSK_IDENTITY_LEN = 1;
export const MAX_PSK_IDENTITY_LEN = 128;
export const PSK_LEN = 32;
/** §3.4.2 / §6.7 Client authentication methods (the `client_auth` and AUTH `method` byte). */
export const AUTH_METHOD_PASSWORD = 0x01;
export const AUTH_METHOD_TOKEN = 0x02;
/** §6.7 AUTH / AUTH_RESULT frames (1.3). */
export const FRAME_AUTH = 0x0a;
export const FRAME_AUTH_RESULT = 0x0b;
/** §6.7 The AUTH binding: Export(AUTH_EXPORTER_LABEL, method byte, 32) (§4.5). */
export const AUTH_EXPORTER_LABEL = "pqgate client auth";
export const AUTH_BINDING_LEN = 32;
export const MAX_AUTH_USERNAME_LEN = 255;
export const MAX_AUTH_PASSWORD_LEN = 1024;
export const MAX_AUTH_TOKEN_LEN = 8192;
/** §6.8 AUTH_RESULT subject: 1..255 UTF-8 bytes on ok, absent otherwise. */
export const MAX_AUTH_SUBJECT_LEN = 255;
