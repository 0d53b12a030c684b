#!/usr/bin/env bash
# The node lifecycle driven by the real `baremetal` CLI (python-ironicclient
# 6.3.0, from the test virtualenv) against a fresh `ferrite serve`, asserting
# the node's state after every step, as an operator would see it.
#
# Usage: scripts/cli-lifecycle.sh            (scripts/test sets TEST_VENV)
# Env:   TEST_VENV  virtualenv holding `baremetal` (default ~/.cache/ferrite-test/venv)
#        FERRITE_BIN the server binary (default target/release/ferrite)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/server.sh
source "$HERE/lib/server.sh"

TEST_VENV="${TEST_VENV:-$HOME/.cache/ferrite-test/venv}"
BAREMETAL="$TEST_VENV/bin/baremetal"
[ -x "$BAREMETAL" ] || { echo "baremetal CLI not found at $BAREMETAL (run scripts/test)" >&2; exit 1; }
WAIT=120   # seconds any --wait may take before the CLI gives up

STEP=0
CURRENT=""
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "not ok - cli-lifecycle failed at: ${CURRENT:-setup}" >&2
    if [ -n "$FERRITE_LOG" ] && [ -f "$FERRITE_LOG" ]; then
      echo "---- ferrite log (last 40 lines) ----" >&2
      tail -n 40 "$FERRITE_LOG" >&2 || true
    fi
  fi
  server_stop
  exit "$rc"
}
trap on_exit EXIT

step() { STEP=$((STEP + 1)); CURRENT="$*"; echo "# $STEP. $*"; }
pass() { echo "ok $STEP - $CURRENT"; }
bm() { "$BAREMETAL" "$@"; }
fail() { echo "ASSERTION FAILED: $*" >&2; exit 1; }

# field NODE FIELD -> the field's value as the CLI prints it
field() { bm node show "$1" -f value -c "$2"; }

expect() {  # expect NODE FIELD VALUE
  local got
  got="$(field "$1" "$2")"
  [ "$got" = "$3" ] || fail "node $1 $2: expected '$3', got '$got'"
}

expect_soon() {  # expect_soon NODE FIELD VALUE SECONDS: for states that settle asynchronously
  local got deadline=$((SECONDS + $4))
  while :; do
    got="$(field "$1" "$2")"
    [ "$got" = "$3" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && fail "node $1 $2: expected '$3' within $4 s, still '$got'"
    sleep 0.5
  done
}

server_start
export OS_AUTH_TYPE=none OS_ENDPOINT="$FERRITE_URL"
unset OS_CLOUD OS_AUTH_URL OS_TOKEN OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_BAREMETAL_API_VERSION || true
echo "# ferrite at $FERRITE_URL (pid $FERRITE_PID), $($BAREMETAL --version 2>&1 | head -n1)"

step "driver list offers fake-hardware"
bm driver list -f value | grep -q "^fake-hardware\b" || fail "fake-hardware not listed"
pass

step "node create --driver fake-hardware --name n1 --property cpus=4"
UUID="$(bm node create --driver fake-hardware --name n1 --property cpus=4 -f value -c uuid)"
[[ "$UUID" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || fail "bad uuid '$UUID'"
expect n1 provision_state enroll
expect n1 driver fake-hardware
expect "$UUID" name n1
bm node show n1 -f json -c properties | python3 -c 'import json,sys; p=json.load(sys.stdin)["properties"]; assert str(p.get("cpus"))=="4", p' \
  || fail "properties.cpus is not 4"
pass

step "port create 52:54:00:00:00:01 --node UUID"
bm port create 52:54:00:00:00:01 --node "$UUID" -f value -c uuid >/dev/null
bm port list --node n1 -f value -c Address | grep -qx "52:54:00:00:00:01" || fail "port not listed for n1"
bm port list --address 52:54:00:00:00:01 -f value -c UUID | grep -q . || fail "port not found by address"
pass

step "node manage n1 --wait"
bm node manage n1 --wait "$WAIT"
expect n1 provision_state manageable
expect n1 target_provision_state None
pass

step "node provide n1 --wait"
bm node provide n1 --wait "$WAIT"
expect n1 provision_state available
expect n1 last_error None
pass

step "node deploy n1 --wait"
bm node deploy n1 --wait "$WAIT"
expect n1 provision_state active
expect_soon n1 power_state "power on" 30
pass

step "node power off n1"
bm node power off n1
expect_soon n1 power_state "power off" 30
expect n1 target_power_state None
expect n1 provision_state active
pass

step "node power on n1"
bm node power on n1
expect_soon n1 power_state "power on" 30
pass

step "node undeploy n1 --wait"
bm node undeploy n1 --wait "$WAIT"
expect n1 provision_state available
expect n1 reservation None
pass

step "node maintenance set n1 --reason"
bm node maintenance set n1 --reason "cli lifecycle test"
expect n1 maintenance True
expect n1 maintenance_reason "cli lifecycle test"
pass

step "node maintenance unset n1"
bm node maintenance unset n1
expect n1 maintenance False
expect n1 maintenance_reason None
pass

step "node set n1 --extra rack=r1 --extra row=7 (the CLI sends 7 as a JSON number)"
bm node set n1 --extra rack=r1 --extra row=7
bm node show n1 -f json -c extra | python3 -c 'import json,sys; e=json.load(sys.stdin)["extra"]; assert e=={"rack":"r1","row":7}, e' \
  || fail "extra not set"
pass

step "node unset n1 --extra rack"
bm node unset n1 --extra rack
bm node show n1 -f json -c extra | python3 -c 'import json,sys; e=json.load(sys.stdin)["extra"]; assert e=={"row":7}, e' \
  || fail "extra.rack not removed"
pass

step "node list shows n1"
bm node list -f value -c Name | grep -qx n1 || fail "n1 not in node list"
bm node list --provision-state available -f value -c UUID | grep -qx "$UUID" || fail "n1 not in filtered list"
pass

step "node delete n1"
bm node delete n1
if bm node show n1 -f value -c uuid >/dev/null 2>&1; then fail "n1 still exists"; fi
if bm node list -f value -c Name | grep -qx n1; then fail "n1 still listed"; fi
if bm port list --address 52:54:00:00:00:01 -f value -c UUID | grep -q .; then fail "port outlived its node"; fi
pass

CURRENT=""
echo "cli-lifecycle: $STEP steps passed"
