#!/usr/bin/env python3
"""Redfish nodes through the API, against the real sushy-tools emulator.

Starts `sushy-emulator --fake` (sushy-tools 2.2.0, pinned, in its own
virtualenv) with 8 fake systems behind HTTP basic auth, and `ferrite serve`;
enrolls one `redfish` node per system and drives every node at once through
what an operator does: manage (verify reads the power state), power on /
reboot / off (the emulator applies each after a random 1-11 s), boot device,
boot mode, secure boot, virtual media, out-of-band inspection (ports created
for the systems' MACs). `redfish_password` must read `******` in every
response and never appear in the server's log.
"""

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrite_server import Api, Server, free_port  # noqa: E402

SUSHY_TOOLS = "sushy-tools==2.2.0"
VENV = os.path.expanduser("~/.cache/ferrite-test/sushy-venv")
SYSTEMS = 8
USER, PASSWORD = "admin", "s3cr3t-Redfish-pw"
POWER_TIMEOUT = 60
# The power sync's freshness bound for this run (seconds).
SYNC_INTERVAL = 3


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def ensure_sushy():
    """The pinned emulator in its own virtualenv (shared with the drivers
    crate's tests, which create it the same way)."""
    marker = os.path.join(VENV, "installed")
    if os.path.exists(marker) and open(marker).read().strip() == SUSHY_TOOLS:
        return
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([os.path.join(VENV, "bin/pip"), "install", "-q", SUSHY_TOOLS], check=True)
    with open(marker, "w") as f:
        f.write(SUSHY_TOOLS)


def system_uuid(i):
    return "%08x-0000-4000-8000-%012x" % (0xE2E00000 + i, i)


def mac(i, n):
    return "52:54:00:e2:%02x:%02x" % (i, n)


class Sushy:
    """sushy-emulator on a free loopback port, stopped by its PID."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="ferrite-sushy-e2e-")
        hashed = subprocess.run(
            [os.path.join(VENV, "bin/python"), "-c",
             "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())",
             PASSWORD], check=True, capture_output=True, text=True).stdout.strip()
        auth = os.path.join(self.dir, "htpasswd")
        with open(auth, "w") as f:
            f.write("%s:%s\n" % (USER, hashed))
        systems = ",\n".join(
            "{'uuid': '%s', 'name': 'e2e-%d', 'power_state': 'Off', 'external_notifier': False,"
            " 'nics': [{'mac': '%s', 'ip': '127.0.3.%d'}, {'mac': '%s', 'ip': '127.0.4.%d'}]}"
            % (system_uuid(i), i, mac(i, 0), i + 1, mac(i, 1), i + 1) for i in range(SYSTEMS))
        config = os.path.join(self.dir, "emulator.conf")
        with open(config, "w") as f:
            f.write("SUSHY_EMULATOR_FAKE_DRIVER = True\n"
                    "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
                    "SUSHY_EMULATOR_STATE_DIR = '%s'\n"
                    "SUSHY_EMULATOR_AUTH_FILE = '%s'\n"
                    "SUSHY_EMULATOR_FAKE_SYSTEMS = [\n%s]\n"
                    % (os.path.join(self.dir, "state"), auth, systems))
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "emulator.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(VENV, "bin/sushy-emulator"), "--config", config,
             "--interface", "127.0.0.1", "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        import requests
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, "sushy-emulator exited: see %s" % self.log.name)
            try:
                if requests.get(self.url + "/redfish/v1/", auth=(USER, PASSWORD), timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("sushy-emulator did not answer on %s" % self.url)

    def reset(self, i, kind):
        """An out-of-band power action, behind Ferrite's back."""
        import requests
        r = requests.post(
            "%s/redfish/v1/Systems/%s/Actions/ComputerSystem.Reset" % (self.url, system_uuid(i)),
            json={"ResetType": kind}, auth=(USER, PASSWORD), timeout=10)
        check(r.status_code in (200, 202, 204), "out-of-band reset: %s" % r.status_code)

    def power(self, i):
        import requests
        r = requests.get("%s/redfish/v1/Systems/%s" % (self.url, system_uuid(i)),
                         auth=(USER, PASSWORD), timeout=10)
        return r.json()["PowerState"]

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def wait_power(api, uuid, state):
    deadline = time.monotonic() + POWER_TIMEOUT + 30
    while time.monotonic() < deadline:
        node = api.ok(api.get("/v1/nodes/%s" % uuid), 200)
        if node["power_state"] == state and node["target_power_state"] is None:
            return node
        if node["target_power_state"] is None and node["last_error"]:
            raise AssertionError("%s: power %s failed: %s" % (uuid, state, node["last_error"]))
        time.sleep(0.5)
    raise AssertionError("%s never reached %s" % (uuid, state))


def each(fn, items):
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


def main():
    ensure_sushy()
    env = {"FERRITE_CONDUCTOR_SYNC_POWER_STATE_INTERVAL": str(SYNC_INTERVAL)}
    with Sushy() as sushy, Server(env=env, name="ferrite (redfish)") as srv:
        api = Api(srv.url)
        nodes = []
        for i in range(SYSTEMS):
            body = {"driver": "redfish", "name": "rf-%d" % i,
                    "driver_info": {"redfish_address": sushy.url,
                                    "redfish_system_id": "/redfish/v1/Systems/%s" % system_uuid(i),
                                    "redfish_username": USER, "redfish_password": PASSWORD}}
            created = api.ok(api.post("/v1/nodes", body), 201)
            check(created["driver_info"]["redfish_password"] == "******",
                  "password shown on create: %s" % created["driver_info"])
            nodes.append(created["uuid"])
        print("# enrolled %d redfish nodes against %s" % (SYSTEMS, sushy.url))

        for u in nodes:
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "manage"}), 202)
        states = api.wait_states(nodes, "manageable", timeout=120)
        check(set(states.values()) == {"manageable"}, "manage: %s" % states)
        for u in nodes:
            check(api.ok(api.get("/v1/nodes/%s" % u), 200)["power_state"] == "power off",
                  "verify did not read the power state of %s" % u)
        print("# all manageable; power read from the BMC")

        def power(target, expected):
            def one(idx_uuid):
                i, u = idx_uuid
                api.ok(api.put("/v1/nodes/%s/states/power" % u,
                               {"target": target, "timeout": POWER_TIMEOUT}), 202)
                wait_power(api, u, expected)
                bmc = sushy.power(i)
                check(bmc == ("On" if expected == "power on" else "Off"),
                      "%s: BMC says %s after %s" % (u, bmc, target))
            each(one, list(enumerate(nodes)))
            print("# %s reached the emulator on all %d systems" % (target, SYSTEMS))

        power("power on", "power on")
        power("rebooting", "power on")

        u0 = nodes[0]
        api.ok(api.put("/v1/nodes/%s/management/boot_device" % u0,
                       {"boot_device": "pxe", "persistent": True}), 204)
        dev = api.ok(api.get("/v1/nodes/%s/management/boot_device" % u0), 200)
        check(dev["boot_device"] == "pxe", "boot device: %s" % dev)
        supported = api.ok(api.get("/v1/nodes/%s/management/boot_device/supported" % u0), 200)
        check("pxe" in supported["supported_boot_devices"], "supported: %s" % supported)
        print("# boot device pxe set and read back")

        def settle(field, value):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                node = api.ok(api.get("/v1/nodes/%s" % u0), 200)
                if node[field] == value and node["reservation"] is None:
                    return
                check(not node["last_error"], "%s: %s" % (field, node["last_error"]))
                time.sleep(0.5)
            raise AssertionError("%s never became %s" % (field, value))

        # Each change holds the node's lock until the BMC reports it.
        api.ok(api.put("/v1/nodes/%s/states/boot_mode" % u0, {"target": "uefi"}), 202)
        settle("boot_mode", "uefi")
        api.ok(api.put("/v1/nodes/%s/states/secure_boot" % u0, {"target": True}), 202)
        settle("secure_boot", True)
        print("# boot mode uefi, secure boot on")

        image = "%s/redfish/v1/" % sushy.url  # any URL the emulator can fetch
        api.ok(api.post("/v1/nodes/%s/vmedia" % u0,
                        {"device_type": "cdrom", "image_url": image}), 204)
        media = api.ok(api.get("/v1/nodes/%s/vmedia" % u0), 200)["vmedia"]
        check(media and media[0]["device_type"] == "cdrom", "vmedia: %s" % media)
        api.ok(api.delete("/v1/nodes/%s/vmedia" % u0), 204)
        print("# virtual media inserted and ejected")

        power("power off", "power off")

        # Out of band: the emulator powers system 1 on after 1-11 s; the
        # power sync must notice within its bound once the BMC says so.
        sushy.reset(1, "On")
        deadline = time.monotonic() + 60
        while sushy.power(1) != "On":
            check(time.monotonic() < deadline, "the emulator never powered on")
            time.sleep(0.2)
        seen_on = time.monotonic()
        while api.ok(api.get("/v1/nodes/%s" % nodes[1]), 200)["power_state"] != "power on":
            check(time.monotonic() - seen_on < SYNC_INTERVAL + 2,
                  "out-of-band power on not recorded within %d s" % SYNC_INTERVAL)
            time.sleep(0.1)
        print("# out-of-band power on recorded %.1f s after the BMC reported it (bound %d s)"
              % (time.monotonic() - seen_on, SYNC_INTERVAL))
        api.ok(api.put("/v1/nodes/%s/states/power" % nodes[1],
                       {"target": "power off", "timeout": POWER_TIMEOUT}), 202)
        wait_power(api, nodes[1], "power off")

        for u in nodes:
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "inspect"}), 202)
        states = api.wait_states(nodes, "manageable", timeout=120)
        check(set(states.values()) == {"manageable"}, "inspect: %s" % states)
        for i, u in enumerate(nodes):
            ports = api.ok(api.get("/v1/nodes/%s/ports" % u), 200)["ports"]
            got = sorted(p["address"] for p in ports)
            check(got == [mac(i, 0), mac(i, 1)], "%s ports %s" % (u, got))
            inventory = api.ok(api.get("/v1/nodes/%s/inventory" % u), 200)["inventory"]
            check(len(inventory["interfaces"]) == 2, "inventory: %s" % inventory)
        print("# inspection stored inventories and created %d ports" % (2 * SYSTEMS))

        listed = api.list_all("/v1/nodes", "nodes", {"detail": "true"})
        for n in listed:
            check(n["driver_info"].get("redfish_password") == "******",
                  "password shown in list: %s" % n["driver_info"])
        srv.stop()
        check(PASSWORD not in srv.log_text(), "the password is in the server log")
        print("# redfish_password masked in every response and absent from the log")
    print("redfish-e2e: ok")


if __name__ == "__main__":
    main()
