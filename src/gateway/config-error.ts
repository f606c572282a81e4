/**
 * The one configuration error: whatever the source (a config file, an environment variable,
 * `createGateway` options), a value that does not validate throws a `ConfigError` whose
 * message and `path` name the setting:
 *
 *   pqgate.json: routes[0].origin: scheme must be http or https (got ftp:)   path routes[0].origin
 *   PQGATE_LIMITS.maxStreams must be an integer from 1 to 4294967295, got 0   path PQGATE_LIMITS.maxStreams
 *   createGateway: options.keys[1].keyId ... is used by two keys             path options.keys[1].keyId
 *
 * Neither ever holds a secret value (key seeds, a route's gatewayAuth): checks of secret
 * settings say what is wrong, never what was given.
 */

/** A setting's location: names and array indexes, outermost first. */
export type ConfigPath = readonly (string | number)[];

/** Where a value was read from: the message's prefix and the value's path. */
export interface Where {
  /** "pqgate.json", "createGateway"; none for an environment variable (its name starts the path). */
  readonly source?: string;
  readonly path: ConfigPath;
}

/** A configuration value that does not validate; `message` and `path` name the setting. */
export class ConfigError extends TypeError {
  /** The setting, as the message names it: `routes[2].origin`, `PQGATE_KEYS[0]`, ... */
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.path = path;
  }
}

const NAME = /^[A-Za-z_$][\w$-]*$/;

/** `["routes", 2, "origin"]` → `routes[2].origin`; odd names quoted: `limits["a b"]`. */
export function formatConfigPath(path: ConfigPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (NAME.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** `where` one level (or more) down. */
export function within(where: Where, ...path: ConfigPath): Where {
  return { source: where.source, path: [...where.path, ...path] };
}

/**
 * Throws the ConfigError of `where`: `<source>: <path><sep><detail>` (`detail` says what is
 * wrong: "must be a boolean"; `sep` is ": " for a statement: "routes[0].origin: scheme ...").
 */
export function configFail(where: Where, detail: string, sep = " "): never {
  const path = formatConfigPath(where.path);
  const text = path === "" ? detail : `${path}${sep}${detail}`;
  throw new ConfigError(path, where.source ? `${where.source}: ${text}` : text);
}

/** Throws the ConfigError of `where` for a message that already names the value. */
export function configFailWith(where: Where, message: string): never {
  throw new ConfigError(
    formatConfigPath(where.path),
    where.source ? `${where.source}: ${message}` : message,
  );
}
