#!/usr/bin/env python3
"""Crash test: kill -9 the server while 20 nodes deploy, restart it on the
same data directory, and check nothing was lost and nothing is stuck.

After the restart every node must still exist, hold no reservation (lock),
and — once in-flight work settles — be `active` or `deploy failed` with a
non-empty `last_error`; a node in `deploy failed` must be deployable again.
A fake deploy delay (FERRITE_FAKE_DEPLOY_DELAY=3) makes sure the kill lands
mid-deploy.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrite_server import Api, Server  # noqa: E402

N = 20
ENV = {"FERRITE_FAKE_DEPLOY_DELAY": "3"}
IN_FLIGHT = {"deploying", "wait call-back", "deploy hold"}


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def all_nodes(api, prefix):
    nodes = api.list_all("/v1/nodes", "nodes", {"detail": "true"})
    return {n["uuid"]: n for n in nodes if (n.get("name") or "").startswith(prefix)}


def main():
    prefix = "crash-"
    with Server(env=ENV, name="ferrite (crash)") as srv:
        api = Api(srv.url)
        uuids = []
        for i in range(N):
            body = {"driver": "fake-hardware", "name": "%s%02d" % (prefix, i),
                    "properties": {"cpus": 2}, "extra": {"i": i}}
            uuids.append(api.ok(api.post("/v1/nodes", body), 201)["uuid"])
        print("# enrolled %d nodes" % N)
        for verb, expected in (("manage", "manageable"), ("provide", "available")):
            for u in uuids:
                api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": verb}), 202)
            states = api.wait_states(uuids, expected, timeout=120)
            bad = {u: s for u, s in states.items() if s != expected}
            check(not bad and len(states) == N, "%s: not all %s: %s" % (verb, expected, bad))
            print("# all %d %s" % (N, expected))

        for u in uuids:
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "active"}), 202)
        time.sleep(1.0)
        before = all_nodes(api, prefix)
        mid = sorted(n["provision_state"] for n in before.values())
        in_flight = [s for s in mid if s in IN_FLIGHT]
        check(in_flight, "no node was mid-deploy when the server was killed: %s" % mid)
        print("# killing pid %d with %d nodes mid-deploy" % (srv.pid, len(in_flight)))
        srv.kill9()

        t0 = time.monotonic()
        srv.start()
        print("# restarted on the same data dir in %.2f s (pid %d)" % (time.monotonic() - t0, srv.pid))
        api = Api(srv.url)

        after = all_nodes(api, prefix)
        check(set(after) == set(uuids), "nodes lost or added: %d present, missing %s" % (
            len(after), sorted(set(uuids) - set(after))))
        for u, n in after.items():
            check(n["extra"] == before[u]["extra"] and n["name"] == before[u]["name"],
                  "node %s data changed across the crash" % u)

        # Whatever the conductor does with interrupted work, it must end.
        deadline = time.monotonic() + 120
        while True:
            after = all_nodes(api, prefix)
            # (`deploy failed` keeps target `active`, as in Ironic: only the
            # state itself says whether work is still running.)
            busy = {u: n["provision_state"] for u, n in after.items()
                    if n["provision_state"] in IN_FLIGHT}
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        check(not busy, "nodes stuck after restart: %s" % busy)

        counts = {}
        for u, n in after.items():
            s = n["provision_state"]
            counts[s] = counts.get(s, 0) + 1
            check(s in ("active", "deploy failed"), "node %s in unexpected state %r" % (u, s))
            if s == "deploy failed":
                check(n["last_error"], "node %s deploy failed without last_error" % u)
            check(n["reservation"] is None, "node %s still reserved by %r" % (u, n["reservation"]))
        print("# after restart: %s" % counts)
        failed = [u for u, n in after.items() if n["provision_state"] == "deploy failed"]
        if failed:
            print("# e.g. last_error: %s" % after[failed[0]]["last_error"])

        # Nothing is left in a state it cannot leave: redeploy the failures,
        # and the nodes accept writes (no stale lock).
        for u in failed:
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "active"}), 202)
        if failed:
            states = api.wait_states(failed, "active", timeout=120)
            bad = {u: s for u, s in states.items() if s != "active"}
            check(not bad, "redeploy after crash failed: %s" % bad)
            print("# redeployed %d failed nodes to active" % len(failed))
        for u in uuids:
            api.ok(api.patch("/v1/nodes/%s" % u,
                             [{"op": "add", "path": "/extra/after_crash", "value": True}]), 200)
        log = srv.log_text()
        check("panicked" not in log, "server log contains a panic")
    print("crash: passed (%d nodes)" % N)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("crash: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
