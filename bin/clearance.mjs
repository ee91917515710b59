#!/usr/bin/env node
// The TypeScript sources run directly through tsx's loader, so the CLI never drifts from a stale build.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv.slice(2));
