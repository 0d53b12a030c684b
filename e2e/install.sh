#!/usr/bin/env bash
# Installs what the QEMU end-to-end test needs on Debian 12, idempotently, at
# pinned versions: QEMU (TCG), OVMF, iPXE, dnsmasq, libvirtd without its
# network driver (no default NAT network can exist), the GRUB/mtools/sfdisk
# tools that build the test disk image, and a virtualenv with sushy-tools
# 2.2.0 + libvirt-python (the Redfish BMC). Needs root.
#   e2e/install.sh VENV
set -euo pipefail
VENV=${1:?venv dir}
export DEBIAN_FRONTEND=noninteractive
# bookworm's qemu-system-x86; qemu-utils must be the same version (some images
# carry a newer one from backports, hence --allow-downgrades).
QEMU_VER=1:7.2+dfsg-7+deb12u18+b3
LIBVIRT_VER=9.0.0-4+deb12u2
PACKAGES=(
  "qemu-system-x86=$QEMU_VER" "qemu-utils=$QEMU_VER" "qemu-system-common=$QEMU_VER"
  "qemu-system-data=${QEMU_VER%+b3}" "qemu-block-extra=$QEMU_VER"
  "ipxe-qemu=1.0.0+git-20190125.36a4c85-5.1" "ipxe=1.0.0+git-20190125.36a4c85-5.1"
  "ovmf=2022.11-6+deb12u2"
  "libvirt-daemon=$LIBVIRT_VER" "libvirt-daemon-driver-qemu=$LIBVIRT_VER"
  "libvirt-clients=$LIBVIRT_VER" "libvirt-dev=$LIBVIRT_VER" "libvirt0=$LIBVIRT_VER"
  dnsmasq-base cpio grub-pc-bin grub-efi-amd64-bin dosfstools mtools fdisk
  pkg-config gcc python3-venv curl file
)
have_all() {
  command -v qemu-system-x86_64 >/dev/null && command -v libvirtd >/dev/null &&
    command -v virsh >/dev/null && command -v dnsmasq >/dev/null &&
    [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] && [ -f /usr/lib/ipxe/qemu/efi-virtio.rom ] &&
    command -v mformat >/dev/null && command -v sfdisk >/dev/null &&
    command -v mkfs.vfat >/dev/null && [ -d /usr/lib/grub/i386-pc ] && [ -d /usr/lib/grub/x86_64-efi ] &&
    qemu-img --version | grep -q 'version 7\.2'
}
if ! have_all; then
  for try in 1 2; do  # one retry: a one-off "cannot access archive" was seen on these machines
    apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends --allow-downgrades \
        "${PACKAGES[@]}" >/dev/null && break
    [ "$try" = 2 ] && exit 1
  done
  have_all
fi
if [ ! -x "$VENV/bin/sushy-emulator" ] || ! "$VENV/bin/python" -c 'import libvirt' 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check sushy-tools==2.2.0 libvirt-python==9.0.0
fi
