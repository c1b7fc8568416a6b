#!/usr/bin/env bash
# The README's first command (`npm run demo`): installs what it needs (Node.js 24 and pnpm from the
# npm registry when missing, the workspace's dependencies, the web UI build) and starts the whole
# pipeline in one process with simulated traffic. Extra arguments go to `tidewatch run`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
set -euo pipefail
pnpm install --frozen-lockfile --reporter=append-only | tail -n 1
pnpm --filter @tidewatch/ui build >/dev/null
exec pnpm tidewatch run --demo "$@"
