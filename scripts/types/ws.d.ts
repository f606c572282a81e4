// `ws` ships no types; Deno type-checks it as untyped too. For tsc (scripts/build-package.mjs).
declare module "ws";
