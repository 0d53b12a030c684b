"""The end-to-end cases, in run order: (name, prerequisites, function). The
two VMs are reused from case to case (cleaning returns them blank), which
keeps the run within its time budget under TCG."""

import os
import threading
import time
from urllib.parse import urlsplit

from deploys import (AGENT_BOOT, DEPLOY_TIMEOUT, OS_BOOTED, deploy_and_boot, set_image,
                     undeploy_and_clean)
from infra import log
from more_cases import (case_agent_token, case_bad_images, case_deploy_template, case_poll_only,
                        case_virtual_media)


def case_infra(ctx):
    """Namespace, dnsmasq, libvirtd, sushy-emulator, image server and ferrite
    up; both VMs enrolled as redfish nodes; power through Redfish works."""
    ctx.infra.up()
    for vm in (ctx.bios, ctx.uefi):
        vm.define()
    errors = []

    def enroll(vm):
        try:
            ctx.bm.enroll(vm, ctx.kernel, ctx.ramdisk)
        except AssertionError as e:
            errors.append(e)
    threads = [threading.Thread(target=enroll, args=(vm,)) for vm in (ctx.bios, ctx.uefi)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for vm in (ctx.bios, ctx.uefi):
        n = ctx.bm.show(vm.name)
        assert n["provision_state"] == "available", n["provision_state"]
        assert n["driver_info"]["redfish_password"] == "******", "BMC password shown by the API"
    ctx.bm("node", "power", "on", ctx.bios.name)
    ctx.bios.wait_power("running")
    ctx.bm("node", "power", "off", ctx.bios.name)
    ctx.bios.wait_power("shut off")
    with open(os.path.join(ctx.infra.logs, "ferrite.log")) as f:
        assert "e2e-secret" not in f.read(), "the BMC password is in ferrite's log"


def case_netboot(ctx):
    """A deploy makes ferrite write the node's DHCP files; the BIOS VM
    network-boots ferrite's iPXE script into the agent ramdisk, and the
    agent's lookup reaches ferrite and is answered."""
    vm = ctx.bios
    set_image(ctx.bm, vm, ctx.images, "os.raw")
    since = vm.mark()
    ctx.bm("node", "deploy", vm.name)
    uuid = ctx.bm.show(vm.name)["uuid"]
    host_file = os.path.join(ctx.infra.hostsdir, f"ferrite-{uuid}")
    deadline = time.monotonic() + 60
    while not os.path.exists(host_file):
        n = ctx.bm.show(vm.name)
        assert n["provision_state"] != "deploy failed", n["last_error"]
        assert time.monotonic() < deadline, f"no DHCP host file for the node; state {n['provision_state']}"
        time.sleep(0.5)
    assert vm.mac in open(host_file).read(), open(host_file).read()
    vm.wait_console(AGENT_BOOT, since, DEPLOY_TIMEOUT)
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while not ctx.bm.show(vm.name)["driver_internal_info"].get("agent_url"):
        assert time.monotonic() < deadline, "the agent never reached ferrite (no agent_url on the node)"
        time.sleep(1)
    # dnsmasq keeps this lease: the poll-only case tells the conductor this address
    ctx.agent_ip = urlsplit(ctx.bm.show(vm.name)["driver_internal_info"]["agent_url"]).hostname
    assert [r for r in ctx.infra.ferrite_requests() if r.get("path", "").endswith("/lookup")
            and r.get("status") == 200], "no lookup answered 200 in ferrite's log"
    log("agent lookup answered 200 by ferrite; agent_url recorded")


def case_deploy_bios_raw(ctx):
    """(continues netboot's deploy) raw image -> active -> boots from disk, BIOS."""
    vm = ctx.bios
    ctx.bm.wait_state(vm.name, "active", DEPLOY_TIMEOUT)
    m = vm.wait_console(OS_BOOTED, 0, DEPLOY_TIMEOUT)
    assert m.group(1) == vm.firmware.upper(), m.group(1)
    with open(os.path.join(ctx.images, "os.raw"), "rb") as f:
        assert vm.head(1 << 20) == f.read(1 << 20), "the disk does not start with the image"


def case_undeploy_bios(ctx):
    undeploy_and_clean(ctx.bm, ctx.bios)


def case_deploy_uefi_qcow2(ctx):
    """qcow2 image -> active -> boots from disk in UEFI mode."""
    deploy_and_boot(ctx.bm, ctx.uefi, ctx.images, "os.qcow2")


def case_undeploy_uefi(ctx):
    undeploy_and_clean(ctx.bm, ctx.uefi)


# (name, prerequisites, function): `INFRA` first, then the two tracks side by
# side, one thread per VM (2 VMs at a time is what 2 cores carry under TCG).
INFRA = ("infra", [], case_infra)
TRACKS = {
    "bios": [
        ("netboot", ["infra"], case_netboot),
        ("deploy-bios-raw", ["netboot"], case_deploy_bios_raw),
        ("undeploy-clean-bios", ["deploy-bios-raw"], case_undeploy_bios),
        ("agent-token", ["undeploy-clean-bios"], case_agent_token),
        ("bad-images", ["undeploy-clean-bios"], case_bad_images),
        ("poll-only", ["undeploy-clean-bios"], case_poll_only),
    ],
    "uefi": [
        ("deploy-uefi-qcow2", ["infra"], case_deploy_uefi_qcow2),
        ("undeploy-clean-uefi", ["deploy-uefi-qcow2"], case_undeploy_uefi),
        ("virtual-media", ["undeploy-clean-uefi"], case_virtual_media),
        ("deploy-template", ["undeploy-clean-uefi"], case_deploy_template),
    ],
}
