#!/usr/bin/env python3
"""The node lifecycle through openstacksdk's bare-metal proxy (the library
behind metalsmith, Bifrost and the `openstack` CLI), against a fresh
`ferrite serve`: enroll, port, manage, provide, deploy, power off,
undeploy, maintenance, patch, list, delete — checking the node after each
step through the SDK's own objects.

openstacksdk comes with python-ironicclient in the test virtualenv.
Run with that venv's python (scripts/test does).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts", "lib"))
from ferrite_server import Server  # noqa: E402

import openstack  # noqa: E402

WAIT = 120
STEPS = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def step(name):
    STEPS.append(name)
    print("ok %d - %s" % (len(STEPS), name))


def main():
    with Server(name="ferrite (sdk)") as srv:
        # The "none" auth plugin with an endpoint: version discovery works
        # against the endpoint itself, as with Ironic standalone.
        conn = openstack.connect(auth_type="none", auth={"endpoint": srv.url},
                                 baremetal_status_code_retries=5, load_yaml_config=False,
                                 load_envvars=False)
        bm = conn.baremetal

        node = bm.create_node(driver="fake-hardware", name="sdk1", properties={"cpus": 4})
        check(node.provision_state == "enroll", "created in %s" % node.provision_state)
        check(node.properties.get("cpus") == 4, "properties %r" % node.properties)
        step("create_node")

        port = bm.create_port(address="52:54:00:00:5d:01", node_uuid=node.id)
        ports = list(bm.ports(node=node.id))
        check([p.address for p in ports] == ["52:54:00:00:5d:01"], "ports %r" % ports)
        step("create_port / ports(node=)")

        for target, expected in (("manage", "manageable"), ("provide", "available"),
                                 ("active", "active")):
            node = bm.set_node_provision_state(node, target, wait=True, timeout=WAIT)
            check(node.provision_state == expected, "%s -> %s" % (target, node.provision_state))
            check(node.last_error is None, "last_error %r" % node.last_error)
            step("set_node_provision_state %s (wait)" % target)

        bm.set_node_power_state(node, "power off", wait=True, timeout=60)
        node = bm.get_node(node.id)
        check(node.power_state == "power off", "power %s" % node.power_state)
        step("set_node_power_state power off (wait)")

        node = bm.set_node_provision_state(node, "deleted", wait=True, timeout=WAIT)
        check(node.provision_state == "available", "undeploy -> %s" % node.provision_state)
        step("set_node_provision_state deleted (wait)")

        bm.set_node_maintenance(node, reason="sdk test")
        node = bm.get_node(node.id)
        check(node.is_maintenance and node.maintenance_reason == "sdk test",
              "maintenance %r %r" % (node.is_maintenance, node.maintenance_reason))
        bm.unset_node_maintenance(node)
        node = bm.get_node(node.id)
        check(not node.is_maintenance, "maintenance still set")
        step("set/unset_node_maintenance")

        node = bm.patch_node(node, [{"op": "add", "path": "/extra/rack", "value": "r9"}])
        check(node.extra == {"rack": "r9"}, "extra %r" % node.extra)
        node = bm.update_node(node, name="sdk1-renamed")
        check(bm.get_node("sdk1-renamed").id == node.id, "rename not visible")
        step("patch_node / update_node")

        names = [n.name for n in bm.nodes(details=True)]
        check(names == ["sdk1-renamed"], "nodes %r" % names)
        step("nodes(details=True)")

        bm.delete_node(node, ignore_missing=False)
        check(bm.find_node("sdk1-renamed") is None, "node still there")
        check(list(bm.ports()) == [], "port outlived its node")
        step("delete_node")
        del port
    print("sdk-lifecycle: %d steps passed" % len(STEPS))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - any failure fails the suite
        print("sdk-lifecycle: FAILED: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
