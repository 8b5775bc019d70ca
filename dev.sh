#!/usr/bin/env bash
# Builds the plugin and runs a local cluster: Redis, Elasticsearch, 3 Kuzzle
# nodes with the plugin, HAProxy on port 7512 (LB_PORT). Rebuilds and restarts
# the nodes one by one when src/ changes. Ctrl-C stops everything.
# Commands on stdin: status | kill N | freeze N | thaw N | restart N | add | stop
set -euo pipefail
cd "$(dirname "$0")"
npm run --silent build
exec node dist/test/harness/cli.js start --nodes "${NODES:-3}" --lb-port "${LB_PORT:-7512}" --watch
