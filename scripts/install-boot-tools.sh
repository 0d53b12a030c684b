#!/usr/bin/env bash
# Installs what the boot crate and its tests need, idempotently, at pinned
# versions (Debian 12 "bookworm"):
#   dnsmasq-base        - the DHCP/TFTP server Ferrite writes host and option
#                         files for; its tests run a real one in a namespace;
#   busybox             - udhcpc, the DHCP client those tests ask with;
#   xorriso, mtools,    - grub-mkrescue's tools: the ISO image, and the FAT
#   grub-efi-amd64-bin, - EFI system partition inside it; GRUB for UEFI and
#   grub-pc-bin           for BIOS El Torito boot of virtual-media ISOs;
#   qemu-utils          - qemu-img, which converts qcow2 images on the
#                         conductor (images crate, agent deploy tests).
# Does nothing when every program is on PATH. Needs root (or sudo) and apt.
set -euo pipefail

PACKAGES=(
  "dnsmasq-base=2.90-4~deb12u2"
  "busybox=1:1.35.0-4+deb12u1+b1"
  "xorriso=1.5.4-4"
  "mtools=4.0.33-1+really4.0.32-1"
  "grub-common=2.06-13+deb12u2"
  "grub-efi-amd64-bin=2.06-13+deb12u2"
  "grub-pc-bin=2.06-13+deb12u2"
  "qemu-utils=1:7.2+dfsg-7+deb12u18+b3"
)

have_all() {
  command -v dnsmasq >/dev/null 2>&1 && command -v busybox >/dev/null 2>&1 &&
    command -v xorriso >/dev/null 2>&1 && command -v mformat >/dev/null 2>&1 &&
    command -v grub-mkrescue >/dev/null 2>&1 && command -v qemu-img >/dev/null 2>&1 &&
    [ -d /usr/lib/grub/x86_64-efi ] && [ -d /usr/lib/grub/i386-pc ]
}

if have_all; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${PACKAGES[*]}"
# Wait for another apt run (a parallel test, unattended upgrades) instead of failing.
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
  install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
have_all
