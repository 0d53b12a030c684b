#!/usr/bin/env bash
# Split-process fault test (issue 4): `ferrite api` + 3 `ferrite conductor`
# (+ one of group edge-1) on a throwaway PostgreSQL cluster; a conductor is
# killed with SIGKILL mid-deploy and PostgreSQL is restarted mid-run. The
# scenario is scripts/multiproc.py; this wrapper owns the cluster so the
# scenario can restart it (PG_CTL, PG_DIR) and stops it whatever happens.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/pg.sh
source "$HERE/lib/pg.sh"
# The scenario restarts the server, so its PID is re-read before stopping.
stop() {
  if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    PG_PID="$(head -n1 "$PG_DIR/data/postmaster.pid")"
  fi
  pg_stop
}
trap stop EXIT
trap 'exit 130' INT TERM
pg_start
export PG_URL PG_DIR PG_CTL
echo "# throwaway postgresql at $PG_URL (pid $PG_PID)" >&2
PY="${TEST_VENV:-${FERRITE_TEST_VENV:-$HOME/.cache/ferrite-test/venv}}/bin/python"
[ -x "$PY" ] || PY=python3
"$PY" "$HERE/multiproc.py" "$@"
