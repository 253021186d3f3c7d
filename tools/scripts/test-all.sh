#!/usr/bin/env bash
# The test command (README: `npm test`). Checks the workspace, then builds, typechecks, lints and tests every
# project with Nx. Container tests need a Docker engine: started here if it isn't answering (root, Debian).
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false NX_VERBOSE_LOGGING=false
export TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
nx=node_modules/.bin/nx
step() { printf '\n=== %s (%ss)\n' "$1" "$SECONDS"; }

if ! docker info >/dev/null 2>&1; then
  step 'docker engine'
  bash tools/scripts/ensure-docker.sh
fi

step 'workspace in sync (TS project references)'
$nx sync:check
step 'contracts: generated code is current, buf lint, breaking-change check (@sarai/proto and every *-contract)'
$nx run-many -t check-generated proto-lint breaking --parallel=2 --outputStyle=static --skip-nx-cache
step 'formatting'
node_modules/.bin/prettier --check . --log-level warn

step 'build, typecheck, lint'
$nx run-many -t build typecheck lint --parallel=2 --outputStyle=static
step 'tests'
find packages tools apps -maxdepth 2 -name test-results.json -delete 2>/dev/null || true
status=0
$nx run-many -t test --parallel=1 --outputStyle=static --skip-nx-cache -- --reporter=default --reporter=json \
  --outputFile.json=test-results.json || status=$?

# One closing line over all projects, in the plain 'N passed, N failed' form.
node -e '
const fs = require("fs"), path = require("path");
let passed = 0, failed = 0, skipped = 0, brokenFiles = 0;
for (const top of ["packages", "tools", "apps"]) {
  if (!fs.existsSync(top)) continue;
  for (const d of fs.readdirSync(top)) {
    const f = path.join(top, d, "test-results.json");
    if (!fs.existsSync(f)) continue;
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests || 0);
    brokenFiles += (r.testResults || []).filter((t) => t.status === "failed" && (t.assertionResults || []).every((a) => a.status !== "failed")).length;
  }
}
failed += brokenFiles; // a test file that failed outside any test (e.g. in beforeAll) counts as a failure
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) { console.error("no test ran"); process.exit(1); }
if (failed > 0) process.exit(1);
'
printf 'total %ss\n' "$SECONDS"
exit $status
