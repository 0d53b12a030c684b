#!/usr/bin/env bash
# ferrite-bench end to end against a fresh `ferrite serve`: a small run
# through every phase must finish with zero errors. This checks the benchmark
# and the lifecycle at once; it asserts nothing about speed (numbers belong in
# docs/benchmarks.md, see there for the full-size runs).
# Usage: scripts/bench-smoke.sh [NODES] [CONCURRENCY]
# With FERRITE_TEST_SERVE_DATABASE=postgresql-split (under scripts/with-pg.sh)
# it runs against `ferrite api` + FERRITE_TEST_CONDUCTORS conductors and
# reports their summed RSS.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/server.sh
source "$HERE/lib/server.sh"
NODES="${1:-200}"
CONCURRENCY="${2:-16}"
BENCH_BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ferrite-bench}"
[ -x "$BENCH_BIN" ] || { echo "ferrite-bench missing: $BENCH_BIN" >&2; exit 1; }

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$FERRITE_LOG" ] && [ -f "$FERRITE_LOG" ]; then
    echo "---- ferrite log (last 40 lines) ----" >&2
    tail -n 40 "$FERRITE_LOG" >&2 || true
  fi
  server_stop
  exit "$rc"
}
trap on_exit EXIT

server_start
"$BENCH_BIN" --url "$FERRITE_URL" --nodes "$NODES" --concurrency "$CONCURRENCY" \
  --pid "$FERRITE_PID" "${FERRITE_CONDUCTOR_PIDS[@]/#/--pid=}" --wait-timeout "${BENCH_WAIT:-300}"
if grep -qi "database is locked" "$FERRITE_LOG"; then
  echo "server log mentions 'database is locked'" >&2
  exit 1
fi
echo "bench-smoke: passed ($NODES nodes, concurrency $CONCURRENCY)"
