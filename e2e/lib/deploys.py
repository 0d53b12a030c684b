"""The steps every deployment case shares: give a node its image, deploy it
with the CLI, and check what the machine itself shows (its console, its disk)
rather than only what ferrite says."""

import hashlib
import os

from infra import BRIDGE_IP, IMAGE_PORT, log

# Under TCG a deployment takes ~30-40 s; leave room for two VMs at once.
DEPLOY_TIMEOUT = 300
AGENT_BOOT = r"FERRITE-AGENT-START"
OS_BOOTED = r"FERRITE-E2E-OS-BOOTED mode=(\w+)"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def image_url(name, truncated=False):
    return f"http://{BRIDGE_IP}:{IMAGE_PORT}/{'truncated/' if truncated else ''}{name}"


def set_image(bm, vm, images, name, checksum=None, truncated=False):
    """instance_info for a whole-disk image from the image server (the
    conductor fetches, verifies and, for qcow2, converts it once)."""
    bm("node", "set", vm.name,
       "--instance-info", f"image_source={image_url(name, truncated)}",
       "--instance-info", "image_os_hash_algo=sha256",
       "--instance-info", f"image_os_hash_value={checksum or sha256(os.path.join(images, name))}")


def deploy_and_boot(bm, vm, images, name, extra=()):
    """Deploys image `name` to `vm` and checks: the agent network-booted, the
    node went `active`, the disk starts with the image, and the machine
    booted from its own disk in its firmware's mode."""
    set_image(bm, vm, images, name)
    since = vm.mark()
    bm("node", "deploy", vm.name, *extra)
    log(f"{vm.name}: deploy of {name} requested")
    vm.wait_console(AGENT_BOOT, since, DEPLOY_TIMEOUT)
    log(f"{vm.name}: agent ramdisk booted")
    bm.wait_state(vm.name, "active", DEPLOY_TIMEOUT)
    log(f"{vm.name}: active")
    m = vm.wait_console(OS_BOOTED, since, DEPLOY_TIMEOUT)
    assert m.group(1) == vm.firmware.upper(), f"{vm.name} booted in {m.group(1)} mode"
    with open(os.path.join(images, "os.raw"), "rb") as f:
        want = f.read(1 << 20)
    assert vm.head(1 << 20) == want, f"{vm.name}: the disk's first MiB is not the image's"
    log(f"{vm.name}: booted from its disk ({m.group(1)})")


def undeploy_and_clean(bm, vm):
    """Undeploys with automated cleaning: the agent boots again, erases the
    disk, and the node comes back `available` with a disk nothing can boot."""
    bm("node", "set", vm.name, "--automated-clean")
    since = vm.mark()
    bm("node", "undeploy", vm.name)
    vm.wait_console(AGENT_BOOT, since, DEPLOY_TIMEOUT)
    bm.wait_state(vm.name, "available", DEPLOY_TIMEOUT)
    assert not vm.bootable(), f"{vm.name}: the disk still has a boot signature after cleaning"
    assert vm.head(1 << 20) == bytes(1 << 20), f"{vm.name}: the disk's first MiB is not erased"
    bm("node", "set", vm.name, "--no-automated-clean")
    log(f"{vm.name}: cleaned, available")
