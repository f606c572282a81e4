/**
 * The environment half of the one configuration parser, under its earlier module name (the
 * Worker and older imports use it). Everything lives in config.ts, which parses config files
 * and PQGATE_* variables into the same options with the same checks and the one ConfigError.
 */
export {
  ConfigError,
  envCacheKey,
  type EnvGatewayOptions,
  GATEWAY_ENV_VARS,
  type GatewayEnv,
  gatewayOptionsFromEnv,
  parseAllowedOrigins,
  parseBool,
  parseCrypto,
  parseKeys,
  parseLimits,
  parseMs,
  parseRoutes,
} from "./config.ts";
