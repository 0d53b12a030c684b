#!/usr/bin/env bash
# Installs what the ipmi driver and its tests need, idempotently:
#   ipmitool  - the program the `ipmi` hardware type runs;
#   openipmi  - ipmi_sim, the BMC simulator the drivers tests talk to.
# Does nothing when both are on PATH. Needs root (or sudo) and Debian's apt.
set -euo pipefail

if command -v ipmitool >/dev/null 2>&1 && command -v ipmi_sim >/dev/null 2>&1; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ipmitool and openipmi"
# Wait for another apt run (a parallel test, unattended upgrades) instead of failing.
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
  install -y -qq --no-install-recommends ipmitool openipmi >/dev/null
command -v ipmitool >/dev/null && command -v ipmi_sim >/dev/null
