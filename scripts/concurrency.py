#!/usr/bin/env python3
"""Concurrency: 64 clients at once patch one shared node, create nodes,
patch them (their own and a neighbour's, to collide on purpose) and move
them through manage and provide. The only error answer allowed is 409 (node locked / busy), which the
clients retry as python-ironicclient does; everything else must succeed.
Afterwards every node must be `available`, unlocked, with every patch
applied, the counts must add up, and the server log must not mention
"database is locked".
"""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrite_server import Api, Server, fault  # noqa: E402

CLIENTS = 64
PER_CLIENT = 6
DEADLINE_S = 300


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.conflicts = 0
        self.errors = []

    def add(self, requests_=0, conflicts=0, error=None):
        with self.lock:
            self.requests += requests_
            self.conflicts += conflicts
            if error:
                self.errors.append(error)


STATS = Stats()


def call(api, method, path, body=None, expect=(200,), deadline=None):
    """One request, retrying 409s (and only 409s) until the deadline."""
    delay = 0.02
    while True:
        try:
            resp = api.request(method, path, json_body=body)
        except requests.RequestException as e:
            STATS.add(1, error="%s %s: transport error %r" % (method, path, e))
            raise
        STATS.add(1)
        if resp.status_code in expect:
            return resp.json() if resp.content else None
        if resp.status_code == 409 and time.monotonic() < deadline:
            STATS.add(conflicts=1)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        msg = "%s %s -> %d: %s" % (method, path, resp.status_code, fault(resp))
        STATS.add(error=msg)
        raise AssertionError(msg)


def wait_own(api, uuids, expected, deadline):
    """Polls only this client's nodes (small fields) until all are in
    `expected`; a failure state ends the wait with an error."""
    while True:
        states = {}
        for u in uuids:
            n = call(api, "GET", "/v1/nodes/%s?fields=uuid,provision_state,target_provision_state" % u,
                     deadline=deadline)
            states[u] = (n["provision_state"], n["target_provision_state"])
        if all(s == expected and t is None for s, t in states.values()):
            return
        bad = {u: s for u, (s, _) in states.items() if s == "error" or s.endswith(" failed")}
        if bad:
            raise AssertionError("nodes failed while waiting for %s: %s" % (expected, bad))
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s: %s" % (expected, states))
        time.sleep(0.25)


def client(url, idx, barrier, created, deadline, shared):
    api = Api(url)
    barrier.wait()
    # All 64 at once on one node: every patch must survive (no lost update).
    call(api, "PATCH", "/v1/nodes/%s" % shared,
         [{"op": "add", "path": "/extra/c_%02d" % idx, "value": idx}], deadline=deadline)
    mine = []
    for k in range(PER_CLIENT):
        body = {"driver": "fake-hardware", "name": "cc-%02d-%d" % (idx, k),
                "properties": {"cpus": 2}, "extra": {"client": idx}}
        mine.append(call(api, "POST", "/v1/nodes", body, expect=(201,), deadline=deadline)["uuid"])
    created[idx] = mine
    for k, u in enumerate(mine):
        call(api, "PATCH", "/v1/nodes/%s" % u, [
            {"op": "replace", "path": "/properties/cpus", "value": 8},
            {"op": "add", "path": "/extra/k", "value": k},
        ], deadline=deadline)
    for u in mine:
        call(api, "PUT", "/v1/nodes/%s/states/provision" % u, {"target": "manage"},
             expect=(202,), deadline=deadline)
    # Collide with the neighbour, whose nodes are mid-transition right now.
    neighbour = created.get((idx + 1) % CLIENTS)
    while neighbour is None and time.monotonic() < deadline:
        time.sleep(0.01)
        neighbour = created.get((idx + 1) % CLIENTS)
    if neighbour is None:
        raise AssertionError("neighbour %d never created its nodes" % ((idx + 1) % CLIENTS))
    call(api, "PATCH", "/v1/nodes/%s" % neighbour[0],
         [{"op": "add", "path": "/extra/peer_%02d" % idx, "value": True}], deadline=deadline)
    wait_own(api, mine, "manageable", deadline)
    for u in mine:
        call(api, "PUT", "/v1/nodes/%s/states/provision" % u, {"target": "provide"},
             expect=(202,), deadline=deadline)
    wait_own(api, mine, "available", deadline)
    return mine


def main():
    with Server(name="ferrite (concurrency)") as srv:
        created = {}
        shared = Api(srv.url).ok(Api(srv.url).post(
            "/v1/nodes", {"driver": "fake-hardware", "name": "cc-shared"}), 201)["uuid"]
        barrier = threading.Barrier(CLIENTS)
        deadline = time.monotonic() + DEADLINE_S
        t0 = time.monotonic()
        failures = []
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = [pool.submit(client, srv.url, i, barrier, created, deadline, shared) for i in range(CLIENTS)]
            for i, f in enumerate(futures):
                try:
                    f.result()
                except Exception as e:  # noqa: BLE001 - report every client's failure
                    failures.append("client %d: %s" % (i, e))
        wall = time.monotonic() - t0
        print("# %d clients, %d requests, %d retried 409s, %.1f s" % (
            CLIENTS, STATS.requests, STATS.conflicts, wall))

        problems = list(failures) + [e for e in STATS.errors if e not in " ".join(failures)]
        api = Api(srv.url)
        nodes = {n["name"]: n for n in api.list_all("/v1/nodes", "nodes", {"detail": "true"})}
        want = CLIENTS * PER_CLIENT
        shared_node = nodes.pop("cc-shared", None)
        if shared_node is None:
            problems.append("shared node missing")
        else:
            lost = [i for i in range(CLIENTS) if shared_node["extra"].get("c_%02d" % i) != i]
            if lost:
                problems.append("shared node lost the patches of clients %s" % lost)
        if len(nodes) != want:
            problems.append("expected %d nodes, found %d" % (want, len(nodes)))
        for idx in range(CLIENTS):
            for k in range(PER_CLIENT):
                name = "cc-%02d-%d" % (idx, k)
                n = nodes.get(name)
                if n is None:
                    problems.append("node %s missing" % name)
                    continue
                if n["provision_state"] != "available" or n["target_provision_state"] is not None:
                    problems.append("node %s in %s -> %s" % (name, n["provision_state"], n["target_provision_state"]))
                if n["reservation"] is not None:
                    problems.append("node %s still reserved by %s" % (name, n["reservation"]))
                if n["properties"].get("cpus") != 8:
                    problems.append("node %s lost its properties patch: %r" % (name, n["properties"]))
                extra = n["extra"]
                if extra.get("client") != idx or extra.get("k") != k:
                    problems.append("node %s lost its extra patch: %r" % (name, extra))
                if k == 0:
                    peer = "peer_%02d" % ((idx - 1) % CLIENTS)
                    if extra.get(peer) is not True:
                        problems.append("node %s lost the neighbour's patch %s: %r" % (name, peer, extra))
        states = api.get("/v1/nodes", params={"provision_state": "available", "limit": 1000})
        count = len(api.ok(states, 200)["nodes"])
        if count != want:
            problems.append("provision_state=available filter counts %d, expected %d" % (count, want))

        log = srv.log_text()
        for bad in ("database is locked", "panicked"):
            hits = log.lower().count(bad)
            if hits:
                problems.append("server log mentions %r %d times" % (bad, hits))

    if problems:
        for p in problems[:30]:
            print("not ok - %s" % p)
        print("concurrency: FAILED (%d problems)" % len(problems))
        return 1
    print("concurrency: passed (%d nodes by %d clients, %d retried 409s)" % (want, CLIENTS, STATS.conflicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
