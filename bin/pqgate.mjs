#!/usr/bin/env node
// `npx pqgate ...`: the package's command line (src/cli/main.ts, compiled to dist/pkg/).
import { run } from "../dist/pkg/cli/main.js";

process.exit(await run(process.argv.slice(2)));
