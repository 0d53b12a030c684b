# shellcheck shell=bash
# Start and stop one `ferrite serve` for a bash test suite. Source it, then:
#   server_start [ENV=VALUE ...]   # sets FERRITE_URL, FERRITE_PID, FERRITE_DATA, FERRITE_LOG
#   server_stop                    # SIGTERM by PID, SIGKILL after 15 s; removes the data dir
# The server gets a free loopback port and a temporary data directory, and is
# stopped by its PID only. server_stop is safe to call twice (use it in a trap).
# With FERRITE_TEST_SERVE_DATABASE=postgresql the server runs on a fresh
# database of its own on the PostgreSQL server FERRITE_TEST_PG_URL names
# (scripts/with-pg.sh starts one), dropped again by server_stop. With
# FERRITE_TEST_SERVE_DATABASE=postgresql-split the site is split as in
# production: `ferrite api` plus FERRITE_TEST_CONDUCTORS (default 2)
# `ferrite conductor` processes (c1, c2, …) on that database, their PIDs in
# FERRITE_CONDUCTOR_PIDS, all stopped by PID by server_stop.

REPO_ROOT="${REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
FERRITE_BIN="${FERRITE_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ferrite}"
FERRITE_PID=""
FERRITE_DATA=""
FERRITE_LOG=""
FERRITE_URL=""
FERRITE_DB_URL=""
FERRITE_CONDUCTOR_PIDS=()

_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_ready() {
  python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

server_start() {
  [ -x "$FERRITE_BIN" ] || { echo "ferrite binary missing: $FERRITE_BIN" >&2; return 1; }
  FERRITE_DATA="$(mktemp -d -t ferrite-test-XXXXXX)"
  FERRITE_LOG="$FERRITE_DATA.log"
  local attempt port database=() verb=serve mode="${FERRITE_TEST_SERVE_DATABASE:-sqlite}"
  if [ "$mode" = postgresql ] || [ "$mode" = postgresql-split ]; then
    [ -n "${FERRITE_TEST_PG_URL:-}" ] || { echo "FERRITE_TEST_PG_URL is not set" >&2; return 1; }
    local name="ferrite_serve_$$_${RANDOM}"
    psql -qX "$FERRITE_TEST_PG_URL" -c "CREATE DATABASE $name" >/dev/null || return 1
    FERRITE_DB_URL="${FERRITE_TEST_PG_URL%/*}/$name"
    database=(--database "$FERRITE_DB_URL")
    echo "# ferrite $mode on postgresql database $name" >&2
  fi
  # The test's own FERRITE_* variables (FERRITE_BIN, FERRITE_TEST_ONLY, …)
  # must not reach the server as configuration: only what the caller passes.
  local unset_args=() v c
  for v in $(compgen -e); do
    case "$v" in FERRITE_*) unset_args+=(-u "$v") ;; esac
  done
  if [ "$mode" = postgresql-split ]; then
    verb=api
    for c in $(seq -f 'c%g' 1 "${FERRITE_TEST_CONDUCTORS:-2}"); do
      env "${unset_args[@]}" RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "$@" "$FERRITE_BIN" \
        conductor --name "$c" --data-dir "$FERRITE_DATA/$c" "${database[@]}" \
        </dev/null >>"$FERRITE_LOG" 2>&1 &
      FERRITE_CONDUCTOR_PIDS+=($!)
    done
    # The API refuses nodes in groups no live conductor serves: wait for all.
    for _ in $(seq 1 150); do
      [ "$(grep -c 'conductor started' "$FERRITE_LOG" 2>/dev/null)" -ge "${#FERRITE_CONDUCTOR_PIDS[@]}" ] && break
      sleep 0.1
    done
  fi
  for attempt in 1 2 3; do
    port="$(_free_port)"
    FERRITE_URL="http://127.0.0.1:$port"
    env "${unset_args[@]}" RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "$@" "$FERRITE_BIN" "$verb" \
      --listen "127.0.0.1:$port" --data-dir "$FERRITE_DATA" "${database[@]}" \
      </dev/null >>"$FERRITE_LOG" 2>&1 &
    FERRITE_PID=$!
    for _ in $(seq 1 150); do
      if ! kill -0 "$FERRITE_PID" 2>/dev/null; then break; fi
      if _ready "$FERRITE_URL"; then return 0; fi
      sleep 0.1
    done
    echo "ferrite did not start on port $port (attempt $attempt)" >&2
    _server_kill
  done
  tail -n 30 "$FERRITE_LOG" >&2 || true
  return 1
}

_server_kill() {
  local pid="$FERRITE_PID"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
  FERRITE_PID=""
}

server_stop() {
  _server_kill
  local pid
  for pid in "${FERRITE_CONDUCTOR_PIDS[@]}"; do
    FERRITE_PID="$pid" _server_kill
  done
  FERRITE_CONDUCTOR_PIDS=()
  if [ -n "$FERRITE_DB_URL" ]; then
    psql -qX "${FERRITE_TEST_PG_URL%/*}/postgres" \
      -c "DROP DATABASE IF EXISTS ${FERRITE_DB_URL##*/} WITH (FORCE)" >/dev/null 2>&1 || true
    FERRITE_DB_URL=""
  fi
  if [ -n "$FERRITE_DATA" ]; then
    rm -rf "$FERRITE_DATA"
    FERRITE_DATA=""
  fi
  if [ -n "$FERRITE_LOG" ] && [ -z "${KEEP_LOG:-}" ]; then
    rm -f "$FERRITE_LOG"
  fi
}
