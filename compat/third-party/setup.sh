#!/usr/bin/env bash
# (From the shared compat tools, with every package pinned.)
# Install the third-party Ironic API clients and their functional test suites
# into $COMPAT_HOME (default ~/.cache/ferrite-compat). Idempotent.
#   .venv     openstacksdk 4.22.0 + its functional-test dependencies
#   .venv-ic  python-ironicclient 5.8.0 + python-openstackclient (the CLI suite
#             asserts on 5.8.0's column names)
#   src/      the sdists that still ship the functional tests
set -euo pipefail
COMPAT_HOME="${COMPAT_HOME:-$HOME/.cache/ferrite-compat}"
mkdir -p "$COMPAT_HOME/src"; cd "$COMPAT_HOME"
if [ ! -x .venv/bin/stestr ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q -U pip setuptools wheel
  .venv/bin/pip install -q openstacksdk==4.22.0 python-ironicclient==6.3.0 stestr==4.2.1 \
      coverage==7.17.4 ddt==1.7.2 oslotest==6.1.1 requests-mock==1.12.1 testscenarios==0.7.0 keyring==25.7.0
fi
if [ ! -x .venv-ic/bin/stestr ]; then
  python3 -m venv .venv-ic
  .venv-ic/bin/pip install -q -U pip setuptools wheel
  .venv-ic/bin/pip install -q python-ironicclient==5.8.0 python-openstackclient==10.5.0 tempest==47.0.0 stestr==4.2.1 ddt==1.7.2
fi
cd src
[ -d openstacksdk-4.22.0 ] || { ../.venv/bin/pip download -q --no-binary :all: --no-deps openstacksdk==4.22.0 && tar xzf openstacksdk-4.22.0.tar.gz; }
[ -d python-ironicclient-5.8.0 ] || { ../.venv/bin/pip download -q --no-binary :all: --no-deps python-ironicclient==5.8.0 && tar xzf python_ironicclient-5.8.0.tar.gz 2>/dev/null || tar xzf python-ironicclient-5.8.0.tar.gz; }
echo "compat clients ready in $COMPAT_HOME"
