#!/usr/bin/env bash
# `npm run sarai -- <args>`: builds the CLI and what it composes (quietly, errors shown), then runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
if ! out=$(node_modules/.bin/nx run-many -t build -p @sarai/cli 'tag:type:skill' --skip-sync --outputStyle=static 2>&1); then
  printf '%s\n' "$out" >&2
  echo "sarai: build failed (see above)" >&2
  exit 1
fi
exec node apps/sarai/dist/main.js "$@"
