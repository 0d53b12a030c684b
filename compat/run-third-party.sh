#!/usr/bin/env bash
# Runs the third-party clients' own functional suites against a fresh
# `ferrite serve`: python-ironicclient's CLI suite (109 tests) and
# openstacksdk's bare-metal suite (96 tests). The suites and their installer
# live in the shared tools folder beside the repository
# (../shared/tools/compat, override with FERRITE_COMPAT_TOOLS); this script
# only starts the server, points them at it and stops it by its PID.
# Opt-in from scripts/test with FERRITE_TEST_COMPAT=1 (about 10 minutes).
# Usage: compat/run-third-party.sh [ironicclient|sdk]...
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=../scripts/lib/server.sh
source "$REPO_ROOT/scripts/lib/server.sh"
TOOLS="${FERRITE_COMPAT_TOOLS:-$REPO_ROOT/../shared/tools/compat}"
[ -x "$TOOLS/run-ironicclient-functional.sh" ] || [ -f "$TOOLS/run-ironicclient-functional.sh" ] \
  || { echo "third-party suites not found in $TOOLS (set FERRITE_COMPAT_TOOLS)" >&2; exit 1; }
SUITES=("$@")
[ "${#SUITES[@]}" -gt 0 ] || SUITES=(ironicclient sdk)

trap server_stop EXIT
bash "$TOOLS/setup.sh"
rc=0
for suite in "${SUITES[@]}"; do
  server_start   # a fresh server (and database) per suite
  echo "# $suite against $FERRITE_URL (pid $FERRITE_PID)"
  case "$suite" in
    ironicclient) bash "$TOOLS/run-ironicclient-functional.sh" "$FERRITE_URL" || rc=1 ;;
    sdk) bash "$TOOLS/run-sdk-functional.sh" "$FERRITE_URL" || rc=1 ;;
    *) echo "unknown suite $suite" >&2; rc=1 ;;
  esac
  server_stop
done
exit "$rc"
