#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster (see lib/pg.sh):
#   scripts/with-pg.sh COMMAND [ARG...]
# The cluster's admin URL is exported as FERRITE_TEST_PG_URL, and
# FERRITE_TEST_PG_REQUIRED=1 so that PostgreSQL tests fail instead of
# skipping; the cluster is stopped when the command ends, whatever its end.
# Without a command it prints the URL and keeps the cluster up until
# interrupted (for working by hand). When FERRITE_TEST_PG_URL is already set
# that server is used and no cluster is started.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/pg.sh
source "$HERE/lib/pg.sh"

export FERRITE_TEST_PG_REQUIRED=1
if [ -n "${FERRITE_TEST_PG_URL:-}" ]; then
  [ "$#" -gt 0 ] || { echo "$FERRITE_TEST_PG_URL"; exit 0; }
  exec "$@"
fi

trap pg_stop EXIT
trap 'exit 130' INT TERM
pg_start
export FERRITE_TEST_PG_URL="$PG_URL"
echo "# throwaway postgresql at $PG_URL (pid $PG_PID)" >&2
if [ "$#" -eq 0 ]; then
  echo "$PG_URL"
  # Waited on in the background so that a signal runs the trap at once.
  sleep infinity &
  SLEEPER=$!
  trap 'kill "$SLEEPER" 2>/dev/null; pg_stop' EXIT
  wait "$SLEEPER"
fi
rc=0
"$@" || rc=$?
exit "$rc"
