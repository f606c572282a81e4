/** A new Argon2id PHC string for a password (`pqgate passwd add`), default parameters. */
/** Policy for new passwords (`pqgate passwd add`); verification accepts 1..1024 bytes. */
export const NEW_PASSWORD_MIN_BYTES = 8;
import { MAX_PASSWORD_BYTES } from "./password.ts";
import {
  type Argon2Backend,
  type Argon2Params,
  AuthConfigError,
  DEFAULT_ARGON2,
} from "./options.ts";
import { formatPhc } from "./phc.ts";

export async function hashPassword(
  password: Uint8Array,
  backend: Argon2Backend,
  random: (n: number) => Uint8Array,
  params: Argon2Params = DEFAULT_ARGON2,
): Promise<string> {
  if (password.length < NEW_PASSWORD_MIN_BYTES || password.length > MAX_PASSWORD_BYTES) {
    throw new AuthConfigError(
      `a password must be ${NEW_PASSWORD_MIN_BYTES}..${MAX_PASSWORD_BYTES} bytes`,
    );
  }
  const salt = random(16);
  const hash = await backend.hash(password, salt, params);
  return formatPhc({ params: { ...params }, salt, hash });
}
