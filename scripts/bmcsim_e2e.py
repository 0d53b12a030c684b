#!/usr/bin/env python3
"""Redfish features sushy-tools' fake driver lacks, through the API against
bmcsim (Ferrite's BMC simulator, the release binary):

- Redfish events: with a 600 s power-sync interval, an out-of-band power
  change on the simulator reaches Ferrite through the EventService within
  seconds; a forged event (wrong Context) is refused; subscriptions the BMC
  loses are re-created; deleting a node or moving it to another system
  removes its subscription;
- RAID (`raid_interface` redfish): target_raid_config, manual cleaning with
  raid.delete_configuration + raid.create_configuration, the volumes on the
  simulated controller, node raid_config; a level the controller lacks
  fails cleaning with a clear last_error;
- the `redfish-graphical` console: console_info {type, url};
- BIOS: /v1/nodes/{n}/bios read from the machine, bios.apply_configuration
  and bios.factory_reset as clean steps;
- `redfish_password` shown as `******` everywhere and absent from the log.
"""

import os
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrite_server import REPO, Api, Server, free_port  # noqa: E402

SYSTEMS = 8
USER, PASSWORD = "admin", "bmcsim-Secret-pw"
# Far longer than the test: only events can explain a prompt update.
SYNC_INTERVAL = 600
EVENT_DEADLINE = 30
GIB = 1024 ** 3


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def bmcsim_binary():
    if os.environ.get("BMCSIM_BIN"):
        return os.environ["BMCSIM_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "release", "bmcsim")


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        check(time.monotonic() < deadline, "%s: not within %d s" % (what, timeout))
        time.sleep(0.2)


class Bmcsim:
    """bmcsim on a free loopback port, stopped by its PID."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="ferrite-bmcsim-e2e-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(self.dir, "bmcsim.log"), "w")
        env = dict(os.environ, BMCSIM_PASSWORD=PASSWORD)
        self.proc = subprocess.Popen(
            [bmcsim_binary(), "--listen", "127.0.0.1:%d" % self.port,
             "--systems", str(SYSTEMS), "--username", USER],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("bmcsim answering", self._up, 30)
        return self

    def _up(self):
        check(self.proc.poll() is None, "bmcsim exited: see %s" % self.log.name)
        try:
            return requests.get(self.url + "/bmcsim/stats", timeout=2).ok
        except requests.RequestException:
            return False

    def rf(self, path):
        r = requests.get(self.url + path, auth=(USER, PASSWORD), timeout=10)
        check(r.ok, "GET %s: %s" % (path, r.status_code))
        return r.json()

    def system(self, i):
        return "/redfish/v1/Systems/sys-%05d" % i

    def power(self, i):
        return self.rf(self.system(i))["PowerState"]

    def flip(self, i, state):
        r = requests.post("%s/bmcsim/systems/%d/power" % (self.url, i),
                          json={"state": state}, timeout=10)
        check(r.ok, "out-of-band power %s: %s %s" % (state, r.status_code, r.text))

    def subscriptions(self):
        return requests.get(self.url + "/bmcsim/subscriptions", timeout=10).json()

    def volumes(self, i):
        base = self.system(i) + "/Storage/1/Volumes"
        return [self.rf(m["@odata.id"]) for m in self.rf(base)["Members"]]

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def node_body(sim, i, name, **interfaces):
    body = {"driver": "redfish", "name": name,
            "driver_info": {"redfish_address": sim.url,
                            "redfish_system_id": sim.system(i),
                            "redfish_username": USER, "redfish_password": PASSWORD}}
    body.update(interfaces)
    return body


def manual_clean(api, uuid, steps, expect="manageable"):
    api.ok(api.put("/v1/nodes/%s/states/provision" % uuid,
                   {"target": "clean", "clean_steps": steps}), 202)
    state = api.wait_states([uuid], expect, timeout=120)[uuid]
    node = api.ok(api.get("/v1/nodes/%s" % uuid), 200)
    check(state == expect, "clean %s ended %s: %s" % (steps, state, node["last_error"]))
    return node


def subscribed(sim, uuid):
    return [s for s in sim.subscriptions()["subscriptions"]
            if s["destination"].endswith("/redfish-events/%s" % uuid)]


def test_events(api, sim, nodes):
    """nodes: [(system index, uuid)] of manageable nodes, all powered off."""
    for _, u in nodes:
        wait_for("subscription of %s" % u, lambda u=u: subscribed(sim, u), 30)
    i, u = nodes[0]
    sub = subscribed(sim, u)[0]
    check(sub["origins"] == [sim.system(i)], "origin resources: %s" % sub)
    forged = requests.post(sub["destination"], json={"Context": "guess", "Events": []}, timeout=5)
    check(forged.status_code == 403, "a forged event was answered %s" % forged.status_code)
    print("# %d nodes subscribed; a forged event is refused (403)" % len(nodes))

    def oob(i, u, state, expected):
        sim.flip(i, state)
        t0 = time.monotonic()
        wait_for("%s recorded after an out-of-band %s" % (u, state),
                 lambda: api.ok(api.get("/v1/nodes/%s" % u), 200)["power_state"] == expected,
                 EVENT_DEADLINE)
        return time.monotonic() - t0

    took = oob(i, u, "On", "power on")
    print("# out-of-band power on recorded in %.2f s (sync interval %d s)" % (took, SYNC_INTERVAL))

    removed = requests.delete(sim.url + "/bmcsim/subscriptions", timeout=10).json()["removed"]
    check(removed >= len(nodes), "the simulator forgot %s subscriptions" % removed)
    for _, n in nodes:
        wait_for("re-subscription of %s" % n, lambda n=n: subscribed(sim, n), 60)
    took = oob(i, u, "Off", "power off")
    print("# lost subscriptions re-created; the next change recorded in %.2f s" % took)

    # A node moved to another system: old subscription gone, new one there.
    j, v = nodes[1]
    old = subscribed(sim, v)[0]["id"]
    target = SYSTEMS - 1
    api.ok(api.patch("/v1/nodes/%s" % v, [{"op": "replace", "path": "/driver_info/redfish_system_id",
                                          "value": sim.system(target)}]), 200)
    wait_for("re-subscription after a BMC change",
             lambda: [s for s in subscribed(sim, v)
                      if s["id"] != old and s["origins"] == [sim.system(target)]]
             and not [s for s in subscribed(sim, v) if s["id"] == old], 30)
    oob(target, v, "On", "power on")
    print("# changing the node's system moved its subscription; events follow it")

    # A deleted node: its subscription is removed from the BMC.
    _, w = nodes[2]
    api.ok(api.delete("/v1/nodes/%s" % w), 204)
    wait_for("unsubscription of a deleted node", lambda: not subscribed(sim, w), 30)
    print("# deleting a node removed its subscription")


def test_raid(api, sim, i, u):
    drives = sim.rf(sim.system(i) + "/Storage/1")["Drives"]
    check(len(drives) == 4, "system %d has %d drives" % (i, len(drives)))
    target = {"logical_disks": [
        {"size_gb": "MAX", "raid_level": "0"},
        {"size_gb": 100, "raid_level": "1", "is_root_volume": True, "volume_name": "root"},
    ]}
    api.ok(api.put("/v1/nodes/%s/states/raid" % u, target), 204)
    node = manual_clean(api, u, [{"interface": "raid", "step": "delete_configuration"},
                                 {"interface": "raid", "step": "create_configuration"}])
    disks = node["raid_config"]["logical_disks"]
    check(len(disks) == 2, "raid_config: %s" % node["raid_config"])
    root, rest = disks
    check(root["is_root_volume"] and root["size_gb"] == 100 and root["raid_level"] == "1",
          "root disk: %s" % root)
    check(len(root["physical_disks"]) == 2 and len(rest["physical_disks"]) == 2
          and not set(root["physical_disks"]) & set(rest["physical_disks"]),
          "drives shared or missing: %s" % disks)
    check(rest["size_gb"] > 0 and rest["controller"].endswith("/Storage/1"), "MAX disk: %s" % rest)
    vols = sim.volumes(i)
    got = sorted((v["RAIDType"], v["CapacityBytes"]) for v in vols)
    check(len(vols) == 2 and got[1] == ("RAID1", 100 * GIB) and got[0][0] == "RAID0",
          "volumes on the BMC: %s" % got)
    check(any(v["Name"] == "root" for v in vols), "volume names: %s" % [v["Name"] for v in vols])
    print("# RAID: %s built on the simulated controller; raid_config recorded" % got)

    node = manual_clean(api, u, [{"interface": "raid", "step": "delete_configuration"}])
    check(node["raid_config"] == {} and sim.volumes(i) == [],
          "after delete: %s, %s" % (node["raid_config"], sim.volumes(i)))
    print("# RAID: delete_configuration removed every volume")

    api.ok(api.put("/v1/nodes/%s/states/raid" % u,
                   {"logical_disks": [{"size_gb": 10, "raid_level": "6"}]}), 204)
    node = manual_clean(api, u, [{"interface": "raid", "step": "create_configuration"}],
                        expect="clean failed")
    check("RAID6" in (node["last_error"] or ""), "last_error: %s" % node["last_error"])
    api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "manage"}), 202)
    check(api.wait_states([u], "manageable", timeout=60)[u] == "manageable", "re-manage")
    print("# RAID: an unsupported level fails cleaning: %s" % node["last_error"])


def test_console(api, sim, u):
    api.ok(api.put("/v1/nodes/%s/states/console" % u, {"enabled": True}), 202)
    wait_for("console enabled",
             lambda: api.ok(api.get("/v1/nodes/%s" % u), 200)["console_enabled"], 30)
    info = api.ok(api.get("/v1/nodes/%s/states/console" % u), 200)
    check(info["console_enabled"] and info["console_info"]["type"] == "vnc"
          and info["console_info"]["url"] == sim.url + "/", "console: %s" % info)
    check(PASSWORD not in str(info), "the console info shows the password")
    api.ok(api.put("/v1/nodes/%s/states/console" % u, {"enabled": False}), 202)
    wait_for("console disabled",
             lambda: not api.ok(api.get("/v1/nodes/%s" % u), 200)["console_enabled"], 30)
    print("# redfish-graphical console: %s" % info["console_info"])


def test_bios(api, u):
    def settings():
        listed = api.ok(api.get("/v1/nodes/%s/bios" % u), 200)["bios"]
        return {s["name"]: s["value"] for s in listed}

    before = settings()
    check(before.get("ProcVirtualization") == "Enabled" and before.get("PxeRetryCount") == 3,
          "BIOS settings: %s" % before)
    one = api.ok(api.get("/v1/nodes/%s/bios/PxeRetryCount" % u), 200)["PxeRetryCount"]
    check(one["value"] == 3 and one["links"], "one setting: %s" % one)
    api.ok(api.get("/v1/nodes/%s/bios/NoSuchThing" % u), 404)
    manual_clean(api, u, [{"interface": "bios", "step": "apply_configuration",
                           "args": {"settings": [{"name": "ProcVirtualization", "value": "Disabled"},
                                                 {"name": "PxeRetryCount", "value": 7}]}}])
    after = settings()
    check(after["ProcVirtualization"] == "Disabled" and after["PxeRetryCount"] == 7,
          "after apply_configuration: %s" % after)
    manual_clean(api, u, [{"interface": "bios", "step": "factory_reset"}])
    check(settings() == before, "after factory_reset: %s" % settings())
    print("# BIOS: %d settings read; apply_configuration and factory_reset took effect"
          % len(before))


def main():
    env = {"FERRITE_CONDUCTOR_SYNC_POWER_STATE_INTERVAL": str(SYNC_INTERVAL),
           "FERRITE_CONDUCTOR_REDFISH_EVENT_RECONCILE_INTERVAL": "1"}
    with Bmcsim() as sim, Server(env=env, name="ferrite (bmcsim)") as srv:
        api = Api(srv.url)
        four = [i for i in range(SYSTEMS - 1)
                if len(sim.rf(sim.system(i) + "/Storage/1")["Drives"]) == 4]
        check(four, "no simulated system with four drives")
        raid_sys = four[0]
        others = [i for i in range(SYSTEMS - 1) if i != raid_sys][:3]
        uuids = {}
        created = api.ok(api.post("/v1/nodes", node_body(
            sim, raid_sys, "raid-node", raid_interface="redfish",
            console_interface="redfish-graphical")), 201)
        uuids[raid_sys] = created["uuid"]
        for i in others:
            created = api.ok(api.post("/v1/nodes", node_body(sim, i, "ev-%d" % i)), 201)
            check(created["driver_info"]["redfish_password"] == "******",
                  "password shown on create: %s" % created["driver_info"])
            uuids[i] = created["uuid"]
        for u in uuids.values():
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "manage"}), 202)
        states = api.wait_states(list(uuids.values()), "manageable", timeout=120)
        check(set(states.values()) == {"manageable"}, "manage: %s" % states)
        print("# %d redfish nodes on bmcsim manageable" % len(uuids))

        test_events(api, sim, [(i, uuids[i]) for i in others])
        u = uuids[raid_sys]
        test_raid(api, sim, raid_sys, u)
        test_console(api, sim, u)
        test_bios(api, u)

        for n in api.list_all("/v1/nodes", "nodes", {"detail": "true"}):
            check(n["driver_info"].get("redfish_password") == "******",
                  "password shown in list: %s" % n["driver_info"])
        srv.stop()
        check(PASSWORD not in srv.log_text(), "the password is in the server log")
        print("# redfish_password masked in every response and absent from the log")
    print("bmcsim-e2e: ok")


if __name__ == "__main__":
    main()
