#!/usr/bin/env node
// Launcher of the compiled CLI (src/cli.ts → dist/cli.js). Committed with its executable bit so that
// `sarai-signer` works in the workspace even though tsc writes dist/cli.js without one.
await import('../dist/cli.js');
