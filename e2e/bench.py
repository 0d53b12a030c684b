#!/usr/bin/env python3
"""Benchmark (not a test): on the e2e test bed, under TCG,
  1. deploy time per VM, BIOS and UEFI: `baremetal node deploy` -> `active`
     -> the instance's marker on the serial console (raw 64 MiB image);
  2. the agent's image write against `dd` of the same image to the same disk:
     a 192 MiB incompressible raw image, deployed by the agent, then written
     by `wget | dd oflag=direct` from a shell booted from the same kernel and
     ramdisk on the same VM disk; both timed by the image server from the first
     to the last byte it sends (what a streaming writer cannot run ahead of).
Prints a markdown table for docs/benchmarks.md. Run through e2e/run's setup:
  e2e/bench.py --work DIR --ferrite BIN --ramdisk DIR --images DIR \\
               --sushy-venv DIR --cli-venv DIR"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from bm import Bm  # noqa: E402
from deploys import DEPLOY_TIMEOUT, OS_BOOTED, set_image  # noqa: E402
from infra import BRIDGE_IP, IMAGE_PORT, Infra, log  # noqa: E402
from vm import Vm  # noqa: E402

BENCH_MIB = 192
DD_INIT = """#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /etc/modules); do insmod /lib/modules/$m.ko 2>/dev/null; done
i=0; while [ ! -e /sys/class/net/eth0 ] || [ ! -b /dev/vda ]; do sleep 0.1; i=$((i+1)); [ $i -gt 100 ] && break; done
ip link set eth0 up; ip addr add 192.168.77.70/24 dev eth0
sleep 2
wget -q -O- URL | dd of=/dev/vda bs=1M oflag=direct 2>/tmp/dd.log
sync; echo "BENCH-DD-DONE $(tail -1 /tmp/dd.log)"
poweroff -f
"""


def download_window(infra, name):
    """(seconds, bytes) of the last completed download of `name`."""
    done = []
    with open(os.path.join(infra.logs, "images-access.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("done") and r["path"].endswith("/" + name):
                done.append(r)
    r = done[-1]
    return r["t"] - r["started"], r["bytes"]


def deploy_time(ctx_bm, vm, images):
    set_image(ctx_bm, vm, images, "os.raw")
    since = vm.mark()
    t0 = time.monotonic()
    ctx_bm("node", "deploy", vm.name)
    ctx_bm.wait_state(vm.name, "active", DEPLOY_TIMEOUT)
    t_active = time.monotonic() - t0
    vm.wait_console(OS_BOOTED, since, DEPLOY_TIMEOUT)
    t_booted = time.monotonic() - t0
    ctx_bm("node", "undeploy", vm.name)
    ctx_bm.wait_state(vm.name, "available", DEPLOY_TIMEOUT)
    return t_active, t_booted


def dd_domain(infra, vm, ramdisk_dir):
    """A direct-kernel-boot domain on `vm`'s disk whose init is the dd script."""
    d = os.path.join(infra.work, "bench-dd")
    os.makedirs(os.path.join(d, "root"), exist_ok=True)
    with open(os.path.join(d, "root", "bench-init"), "w") as f:
        f.write(DD_INIT.replace("URL", f"http://{BRIDGE_IP}:{IMAGE_PORT}/bench.raw"))
    os.chmod(os.path.join(d, "root", "bench-init"), 0o755)
    extra = subprocess.run("find . | cpio -o -H newc --quiet --owner=0:0", shell=True, check=True,
                           cwd=os.path.join(d, "root"), capture_output=True).stdout
    initrd = os.path.join(d, "initrd.gz")
    with open(initrd, "wb") as out:  # the kernel unpacks concatenated archives in order
        with open(os.path.join(ramdisk_dir, "initramfs.gz"), "rb") as f:
            out.write(f.read())
        out.write(gzip.compress(extra))
    serial = os.path.join(d, "serial.log")
    xml = f"""<domain type='qemu'><name>e2e-bench-dd</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{ramdisk_dir}/vmlinuz</kernel>
  <initrd>{initrd}</initrd><cmdline>console=ttyS0,115200 rdinit=/bench-init</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' io='native'/>
      <source file='{vm.disk}'/><target dev='vda' bus='virtio'/></disk>
    <interface type='bridge'><source bridge='br0'/><mac address='52:54:00:77:00:70'/><model type='virtio'/></interface>
    <serial type='file'><source path='{serial}'/><target port='0'/></serial><memballoon model='none'/>
  </devices></domain>"""
    with open(os.path.join(d, "domain.xml"), "w") as f:
        f.write(xml)
    subprocess.run(["virsh", "-q", "-c", infra.uri, "create", os.path.join(d, "domain.xml")], check=True,
                   capture_output=True)
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while not (os.path.exists(serial) and "BENCH-DD-DONE" in open(serial, errors="replace").read()):
        if time.monotonic() > deadline:
            raise RuntimeError("dd run did not finish")
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    for a in ("--work", "--ferrite", "--ramdisk", "--images", "--sushy-venv", "--cli-venv"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    infra = Infra(args.work, args.ferrite, args.sushy_venv)
    os.makedirs(infra.images, exist_ok=True)
    for f in os.listdir(args.images):
        os.symlink(os.path.join(os.path.abspath(args.images), f), os.path.join(infra.images, f))
    with open(os.path.join(infra.images, "bench.raw"), "wb") as f:
        for _ in range(BENCH_MIB):
            f.write(os.urandom(1 << 20))
    bm = Bm(infra, args.cli_venv)
    kernel, ramdisk = os.path.join(args.ramdisk, "vmlinuz"), os.path.join(args.ramdisk, "initramfs.gz")
    rows = []
    try:
        infra.up()
        vms = [Vm(infra, "e2e-bios", "bios", 1), Vm(infra, "e2e-uefi", "uefi", 2)]
        for vm in vms:
            vm.define()
            bm.enroll(vm, kernel, ramdisk)
        for vm in vms:
            active, booted = deploy_time(bm, vm, infra.images)
            rows.append(f"| deploy, {vm.firmware.upper()} (64 MiB raw) | deploy -> active {active:.1f} s, "
                        f"-> instance booted {booted:.1f} s |")
            log(rows[-1])
        vm = vms[0]
        set_image(bm, vm, infra.images, "bench.raw")
        bm("node", "deploy", vm.name)
        bm.wait_state(vm.name, "active", DEPLOY_TIMEOUT)
        agent_s, nbytes = download_window(infra, "bench.raw")
        bm("node", "power", "off", vm.name)
        dd_domain(infra, vm, args.ramdisk)
        dd_s, _ = download_window(infra, "bench.raw")
        mib = nbytes / (1 << 20)
        rows.append(f"| image write, {mib:.0f} MiB raw, same VM disk | agent {mib / agent_s:.1f} MiB/s, "
                    f"dd {mib / dd_s:.1f} MiB/s: agent at {100 * dd_s / agent_s:.0f} % of dd |")
        log(rows[-1])
    finally:
        infra.close()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
