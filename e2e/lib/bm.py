"""The operator's side: the real `baremetal` CLI (python-ironicclient from
scripts/requirements-test.txt), run inside the test's namespace against
ferrite's API on that namespace's loopback."""

import json
import os
import subprocess
import time

from infra import API_URL, SUSHY_URL


class Bm:
    """`baremetal` with noauth against the test bed's ferrite."""

    def __init__(self, infra, venv):
        self.infra = infra
        self.exe = os.path.join(venv, "bin", "baremetal")
        self.env = dict(os.environ, OS_AUTH_TYPE="none", OS_ENDPOINT=API_URL,
                        OS_BAREMETAL_API_VERSION="latest")

    def __call__(self, *args, check=True):
        """Runs one CLI command; returns stdout (parsed when `-f json` was asked)."""
        p = subprocess.run(self.infra.nsexec(self.exe, *args), env=self.env,
                           capture_output=True, text=True)
        if check and p.returncode:
            raise AssertionError(f"baremetal {' '.join(args)} failed ({p.returncode}): "
                                 f"{p.stderr.strip()[-800:]}")
        if "json" in args and p.returncode == 0:
            return json.loads(p.stdout)
        return p

    def show(self, node):
        """The node as the API returns it, read with curl: the CLI's ~5 s start-up
        (under TCG load) would make every poll slow."""
        p = subprocess.run(self.infra.nsexec("curl", "-sf", "--max-time", "10", "-H",
                                             "X-OpenStack-Ironic-API-Version: latest",
                                             f"{API_URL}/v1/nodes/{node}"),
                           capture_output=True, text=True)
        if p.returncode:
            raise AssertionError(f"GET /v1/nodes/{node} failed: curl exit {p.returncode}")
        return json.loads(p.stdout)

    def wait_state(self, node, wanted, timeout, fail_states=("deploy failed", "clean failed")):
        """Polls the node until its provision_state is `wanted`; a failure
        state other than the wanted one ends the wait with last_error."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.show(node)
            state = n["provision_state"]
            if state == wanted:
                return n
            if state in fail_states:
                raise AssertionError(f"{node}: {state}, last_error: {n.get('last_error')}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{node}: still {state} (target {n.get('target_provision_state')}) "
                                     f"after {timeout} s, last_error: {n.get('last_error')}")
            time.sleep(1)

    def enroll(self, vm, kernel, ramdisk, boot_interface="ipxe"):
        """A redfish node for `vm` with one PXE-enabled port, made `available`
        without cleaning (the disk is blank already)."""
        n = self("node", "create", "--driver", "redfish", "--name", vm.name,
                 "--driver-info", f"redfish_address={SUSHY_URL}",
                 "--driver-info", f"redfish_system_id=/redfish/v1/Systems/{vm.uuid}",
                 "--driver-info", "redfish_username=admin",
                 "--driver-info", "redfish_password=e2e-secret",
                 "--driver-info", f"deploy_kernel={kernel}",
                 "--driver-info", f"deploy_ramdisk={ramdisk}",
                 "--boot-interface", boot_interface, "--deploy-interface", "direct",
                 "--property", f"capabilities=boot_mode:{vm.firmware}",
                 # the agent's default (smallest disk >= 4 GiB) would find none
                 "--property", 'root_device={"name": "/dev/vda"}',
                 "-f", "json")
        self("port", "create", vm.mac, "--node", n["uuid"], "--pxe-enabled", "true")
        self("node", "set", vm.name, "--no-automated-clean")
        self("node", "manage", vm.name, "--wait", "60")
        self("node", "provide", vm.name, "--wait", "60")
        return n
