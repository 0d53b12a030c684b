#!/usr/bin/env bash
# Builds the whole-disk "instance" images the e2e test deploys, without loop
# devices or mounts: an MBR disk with one FAT32 partition (made with mtools)
# holding the ramdisk's Debian kernel, a tiny busybox initramfs that prints
# FERRITE-E2E-OS-BOOTED and the firmware mode on the serial console, and GRUB
# for both firmwares (BIOS: boot.img + core.img in the MBR gap; UEFI:
# \EFI\BOOT\BOOTX64.EFI, found without any NVRAM entry).
#   e2e/make-image.sh KERNEL BUSYBOX OUT_DIR
# Writes OUT_DIR/os.raw (64 MiB), os.qcow2, corrupt.qcow2, big.raw (larger
# than the VMs' disks). Rebuilt only when missing.
set -euo pipefail
KERNEL=${1:?kernel}; BUSYBOX=${2:?busybox}; OUT=${3:?out dir}
SIZE_MIB=64
mkdir -p "$OUT"
[ -s "$OUT/os.raw" ] && [ -s "$OUT/os.qcow2" ] && [ -s "$OUT/corrupt.qcow2" ] && [ -s "$OUT/big.raw" ] && exit 0
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

# The instance's initramfs: proves it was booted from the deployed disk.
R=$T/root; mkdir -p "$R"/{bin,proc,sys,dev}
cp "$BUSYBOX" "$R/bin/busybox"
for a in sh mount cat echo sleep; do ln -s busybox "$R/bin/$a"; done
cat > "$R/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys
mode=BIOS; [ -d /sys/firmware/efi ] && mode=UEFI
echo "FERRITE-E2E-OS-BOOTED mode=$mode"
while :; do sleep 3600; done
INIT
chmod +x "$R/init"
(cd "$R" && find . | sort | cpio -o -H newc --quiet --owner=0:0) | gzip -9 > "$T/initrd.img"

cat > "$T/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
echo "FERRITE-E2E-GRUB"
menuentry os {
  linux /boot/vmlinuz console=ttyS0,115200 quiet panic=-1
  initrd /boot/initrd.img
}
CFG
MODS="part_msdos fat normal linux echo serial terminal configfile test"
grub-mkimage -O x86_64-efi -p /boot/grub -o "$T/BOOTX64.EFI" $MODS
grub-mkimage -O i386-pc -p '(hd0,msdos1)/boot/grub' -o "$T/core.img" biosdisk $MODS

mkfs.vfat -F 32 -s 1 -n E2EOS -C "$T/part.img" $(( (SIZE_MIB - 1) * 1024 )) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$T/part.img" ::/boot ::/boot/grub ::/EFI ::/EFI/BOOT
mcopy -i "$T/part.img" "$KERNEL" ::/boot/vmlinuz
mcopy -i "$T/part.img" "$T/initrd.img" ::/boot/initrd.img
mcopy -i "$T/part.img" "$T/grub.cfg" ::/boot/grub/grub.cfg
mcopy -i "$T/part.img" "$T/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

truncate -s "${SIZE_MIB}M" "$T/os.raw"
printf 'label: dos\nstart=2048, type=ef, bootable\n' | sfdisk -q "$T/os.raw"
dd if="$T/part.img" of="$T/os.raw" bs=1M seek=1 conv=notrunc status=none
dd if=/usr/lib/grub/i386-pc/boot.img of="$T/os.raw" bs=440 count=1 conv=notrunc status=none
dd if="$T/core.img" of="$T/os.raw" bs=512 seek=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 "$T/os.raw" "$T/os.qcow2"
# A qcow2 whose header is intact but whose tables are garbage.
cp "$T/os.qcow2" "$T/corrupt.qcow2"
dd if=/dev/urandom of="$T/corrupt.qcow2" bs=1 seek=48 count=64 conv=notrunc status=none
# Bootable, but larger than the VMs' disks (whose size is e2e's DISK_MIB).
cp "$T/os.raw" "$T/big.raw"; truncate -s 512M "$T/big.raw"
mv "$T/os.raw" "$T/os.qcow2" "$T/corrupt.qcow2" "$T/big.raw" "$OUT/"
echo "built $OUT: os.raw ${SIZE_MIB} MiB, os.qcow2 $(stat -c %s "$OUT/os.qcow2") B"
