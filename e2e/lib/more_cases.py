"""The cases beyond plain deploy/undeploy: bad images, the agent token,
virtual media without DHCP, a deploy template, poll-only agents."""

import json
import os
import re
import time

from deploys import AGENT_BOOT, DEPLOY_TIMEOUT, deploy_and_boot, set_image, undeploy_and_clean
from infra import BOOT_PORT, BRIDGE_IP, log

# (label, image, served truncated, checksum override, words one of which last_error must hold)
BAD_IMAGES = [
    ("wrong checksum", "os.raw", False, "0" * 64, ("checksum", "hash")),
    ("truncated download", "os.raw", True, None, ("truncat", "incomplete", "short", "length", "eof",
                                                   "checksum", "hash")),
    ("corrupt qcow2", "corrupt.qcow2", False, None, ("qcow2", "convert", "format", "image")),
    ("larger than the disk", "big.raw", False, None, ("larger", "holds only", "too big", "space")),
]


def case_bad_images(ctx):
    """Each bad image ends in `deploy failed` with a last_error that says why,
    and the disk is left with nothing bootable on it."""
    vm, bm = ctx.bios, ctx.bm
    problems = []
    for label, name, truncated, checksum, words in BAD_IMAGES:
        set_image(bm, vm, ctx.images, name, checksum=checksum, truncated=truncated)
        bm("node", "deploy", vm.name)
        n = bm.wait_state(vm.name, "deploy failed", DEPLOY_TIMEOUT, fail_states=("active",))
        err = (n.get("last_error") or "").lower()
        log(f"{label}: deploy failed, last_error: {n.get('last_error')}")
        if not any(w in err for w in words):
            problems.append(f"{label}: last_error does not say why: {n.get('last_error')!r}")
        if vm.bootable():
            problems.append(f"{label}: the disk was left bootable")
    bm("node", "undeploy", vm.name)
    bm.wait_state(vm.name, "available", DEPLOY_TIMEOUT)
    assert not problems, "; ".join(problems)


def case_agent_token(ctx):
    """While the agent runs a deploy: a command without the token is refused,
    and a second lookup does not hand the token out again."""
    vm, bm = ctx.bios, ctx.bm
    set_image(bm, vm, ctx.images, "os.raw")
    since = vm.mark()
    bm("node", "deploy", vm.name)
    vm.wait_console(AGENT_BOOT, since, DEPLOY_TIMEOUT)
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while True:
        info = bm.show(vm.name)["driver_internal_info"]
        if info.get("agent_url"):
            break
        assert time.monotonic() < deadline, f"no agent_url after the agent booted: {info}"
        time.sleep(0.5)
    url = info["agent_url"].rstrip("/")
    assert info.get("agent_secret_token") == "******", f"token not masked: {info.get('agent_secret_token')}"
    status, body = ctx.curl("-X", "POST", "-H", "Content-Type: application/json",
                            "-d", '{"name": "standby.get_partition_uuids", "params": {}}',
                            f"{url}/v1/commands/")
    assert status in (401, 403), f"a command without the token got {status}: {body[:200]}"
    status, body = ctx.curl("-H", "X-OpenStack-Ironic-API-Version: 1.22",
                            f"http://{BRIDGE_IP}:{BOOT_PORT}/v1/lookup?addresses={vm.mac}")
    assert status == 200, f"second lookup: {status} {body[:200]}"
    token = json.loads(body)["config"]["agent_token"]
    assert token == "******", f"a second lookup revealed the token: {token[:6]}..."
    bm.wait_state(vm.name, "active", DEPLOY_TIMEOUT)
    undeploy_and_clean(bm, vm)


def case_virtual_media(ctx):
    """UEFI VM, boot interface redfish-virtual-media, static network_data: the
    BMC attaches ferrite's ISO, the agent configures its NIC from the baked-in
    network_data, dnsmasq answers no DHCP for the VM, the deploy completes."""
    vm, bm = ctx.uefi, ctx.bm
    network_data = {
        "links": [{"id": "nic0", "type": "phy", "ethernet_mac_address": vm.mac}],
        "networks": [{"id": "prov", "type": "ipv4", "link": "nic0", "ip_address": "192.168.77.60",
                      "netmask": "255.255.255.0"}],
        "services": [],
    }
    path = os.path.join(ctx.infra.work, "network_data.json")
    with open(path, "w") as f:
        json.dump(network_data, f)
    bm("node", "set", vm.name, "--boot-interface", "redfish-virtual-media", "--network-data", path)
    dhcp_before = dhcp_acks(ctx, vm.mac)
    deploy_and_boot(bm, vm, ctx.images, "os.raw")
    assert dhcp_acks(ctx, vm.mac) == dhcp_before, "dnsmasq answered the virtual-media VM's DHCP"
    undeploy_and_clean(bm, vm)
    bm("node", "set", vm.name, "--boot-interface", "ipxe")


def dhcp_acks(ctx, mac):
    with open(os.path.join(ctx.infra.logs, "dnsmasq.log"), errors="replace") as f:
        return len(re.findall(rf"DHCPACK\(br0\) \S+ {re.escape(mac)}", f.read()))


# One agent step between the core deploy (100) and write_image (80).
TEMPLATE_STEPS = [{"interface": "deploy", "step": "erase_devices_metadata", "args": {}, "priority": 90}]


def case_deploy_template(ctx):
    """A deploy template matched by the instance trait CUSTOM_E2E adds its
    step, which runs in priority order: after deploy.deploy, before
    write_image, in the agent's log and in the node's deploy steps."""
    vm, bm = ctx.uefi, ctx.bm
    bm("deploy", "template", "create", "CUSTOM_E2E", "--steps", json.dumps(TEMPLATE_STEPS))
    bm("node", "add", "trait", vm.name, "CUSTOM_E2E")
    bm("node", "set", vm.name, "--instance-info", 'traits=["CUSTOM_E2E"]')
    since = vm.mark()
    deploy_and_boot(bm, vm, ctx.images, "os.raw")
    console = vm.console()[since:]
    at = [console.find(s) for s in ("erase_devices_metadata", "write_image")]
    assert all(i >= 0 for i in at), f"steps missing from the agent's log: {at}"
    assert at == sorted(at), f"the template's step did not run before write_image: {at}"
    history = json.dumps(bm("node", "history", "list", vm.name, "--long", "-f", "json"))
    log(f"{vm.name} history: {history[:1500]}")
    bm("node", "remove", "trait", vm.name, "CUSTOM_E2E")
    bm("node", "unset", vm.name, "--instance-info", "traits")
    undeploy_and_clean(bm, vm)


def case_poll_only(ctx):
    """A deploy with a poll-only agent (ferrite.poll_only on its kernel command
    line; driver_info.agent_poll_only + agent_address, the address dnsmasq
    leased the VM before): the conductor finds and drives the agent, which
    makes no request to ferrite."""
    vm, bm = ctx.bios, ctx.bm
    assert ctx.agent_ip, "the VM's address was not learnt from an earlier deploy"
    bm("node", "set", vm.name, "--driver-info", "agent_poll_only=true",
       "--driver-info", f"agent_address={ctx.agent_ip}",
       "--driver-info", "kernel_append_params=console=ttyS0,115200n8 ferrite.poll_only")
    before = len(agent_requests(ctx))
    deploy_and_boot(bm, vm, ctx.images, "os.raw")
    calls = agent_requests(ctx)[before:]
    assert not calls, f"the poll-only agent called ferrite: {calls[:5]}"
    bm("node", "unset", vm.name, "--driver-info", "agent_poll_only",
       "--driver-info", "agent_address", "--driver-info", "kernel_append_params")
    undeploy_and_clean(bm, vm)


def agent_requests(ctx):
    """Requests to the agent endpoints (lookup, heartbeat) in ferrite's log."""
    return [r for r in ctx.infra.ferrite_requests()
            if re.search(r"/(lookup|heartbeat)", r.get("path", ""))]
