# shellcheck shell=bash
# A throwaway PostgreSQL cluster for tests. Source it, then:
#   pg_start    # sets PG_URL (admin URL, database "postgres"), PG_PID, PG_DIR
#   pg_stop     # `pg_ctl stop` (fast, then immediate), SIGKILL by PID last; removes PG_DIR
# The cluster is made with `initdb` in a fresh temporary directory, runs as
# the `postgres` user (PostgreSQL refuses to run as root) on a free loopback
# port, listens on loopback only and trusts local connections: it lives as
# long as one test run and holds nothing worth protecting. Durability is
# turned off (fsync, full-page writes) because a crash only loses the test.
# Debian's `postgresql` package is installed with apt-get when initdb is
# missing. pg_stop is safe to call twice (use it in a trap).

PG_URL=""
PG_PID=""
PG_DIR=""
PG_CTL=""

# The directory of the server binaries: Debian keeps them out of PATH.
_pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
  return 1
}

_pg_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing postgresql (Debian package)" >&2
  $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq --no-install-recommends postgresql >/dev/null
}

# Runs a server binary as the cluster's owner: `postgres` when we are root.
_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_start() {
  local bindir port attempt
  bindir="$(_pg_bindir)" || { _pg_install && bindir="$(_pg_bindir)"; } || {
    echo "initdb not found and postgresql could not be installed" >&2; return 1; }
  PG_CTL="$bindir/pg_ctl"
  PG_DIR="$(mktemp -d -t ferrite-pg-XXXXXX)"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
  _pg_as_owner "$bindir/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2; return 1; }
  for attempt in 1 2 3; do
    port="$(_pg_free_port)"
    # The socket directory is the temp dir, so nothing outside it is touched.
    if _pg_as_owner "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null; then
      PG_PID="$(head -n1 "$PG_DIR/data/postmaster.pid")"
      PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
      export PG_URL
      return 0
    fi
    echo "postgresql did not start on port $port (attempt $attempt)" >&2
    tail -n 20 "$PG_DIR/server.log" >&2 || true
  done
  return 1
}

pg_stop() {
  [ -n "$PG_DIR" ] || return 0
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    _pg_as_owner "$PG_CTL" -D "$PG_DIR/data" -m fast -w -t 20 stop >/dev/null 2>&1 \
      || _pg_as_owner "$PG_CTL" -D "$PG_DIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 \
      || kill -KILL "$PG_PID" 2>/dev/null || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
  PG_PID=""
  PG_URL=""
}
