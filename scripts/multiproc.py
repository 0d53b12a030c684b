#!/usr/bin/env python3
"""Split processes on PostgreSQL (issue 4): one `ferrite api`, conductors
c1..c3 of the default group and `edge` of group edge-1, on the throwaway
cluster scripts/multiproc.sh started (PG_URL, PG_CTL, PG_DIR).

1. 300 fake-hardware nodes (20 of them in edge-1) are enrolled, managed,
   provided, and deployed with a fake deploy delay; c2 is killed with
   SIGKILL mid-deploy. Within heartbeat_timeout + 10 s every node must
   name a live conductor and no lock of c2 may remain; every node ends
   `active` or `deploy failed` with a last_error.
2. PostgreSQL is restarted (pg_ctl restart) while undeploy requests are
   sent: every request answered 202 must take effect (node `available`, or
   for an operation whose writes failed while the database was away, its
   failure state with last_error), no lock may remain, and the processes
   must keep working afterwards.
3. Nodes of edge-1 are never touched by a conductor of another group (node
   history and the conductors' logs), and other nodes never by `edge`.
4. A synchronous driver call from the API process (boot device) is run by
   the owning conductor; with every conductor of the node's group stopped,
   the API answers 503 in Ironic's error format.
"""

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrite_server import (Api, Server, _die_with_parent, fault,  # noqa: E402
                            ferrite_binary, free_port)

N = 300
EDGE = 20
HEARTBEAT_TIMEOUT = 6.0
ENV = {
    "FERRITE_DATABASE": os.environ["PG_URL"],
    "FERRITE_FAKE_DEPLOY_DELAY": "4",
    "FERRITE_CONDUCTOR_AUTOMATED_CLEAN": "false",
    "FERRITE_CONDUCTOR_HEARTBEAT_INTERVAL": "1",
    "FERRITE_CONDUCTOR_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
    "FERRITE_CONDUCTOR_SWEEP_INTERVAL": "2",
    "FERRITE_CONDUCTOR_CALL_TIMEOUT": "5",
    "FERRITE_CONDUCTOR_SYNC_POWER_STATE_INTERVAL": "20",
}


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Proc(Server):
    """A `ferrite api` or `ferrite conductor` process (the life cycle of
    Server: its own log and data dir, stopped by PID)."""

    def __init__(self, command, args, name):
        super().__init__(env=ENV, name=name)
        self.command = command
        self.args = args

    def start(self, timeout=30.0):
        argv = [ferrite_binary(), self.command, "--data-dir", self.data_dir] + self.args
        if self.command == "api":
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            argv += ["--listen", "127.0.0.1:%d" % self.port]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRITE_")}
        env.update({"RUST_LOG": "info", "NO_COLOR": "1"}, **self.extra_env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        ready = "ferrite listening on" if self.command == "api" else "ferrite conductor"
        deadline = time.monotonic() + timeout
        while ready not in self.log_text():
            check(self.proc.poll() is None, "%s exited:\n%s" % (self.name, self.log_tail(20)))
            check(time.monotonic() < deadline, "%s not ready:\n%s" % (
                self.name, self.log_tail(20)))
            time.sleep(0.1)
        return self


def nodes(api):
    return {n["uuid"]: n for n in api.list_all(
        "/v1/nodes", "nodes", {"fields": "uuid,name,provision_state,conductor,"
                                         "conductor_group,reservation,last_error"})}


def pg(action):
    cmd = [os.environ["PG_CTL"], "-D", os.path.join(os.environ["PG_DIR"], "data"),
           "-m", "fast", "-w", "-t", "60", action]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def move_all(api, uuids, verb, expected, timeout=300):
    for u in uuids:
        api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": verb}), 202)
    states = api.wait_states(uuids, expected, timeout=timeout)
    bad = {u: s for u, s in states.items() if s != expected}
    check(not bad, "%s: not all %s: %s" % (verb, expected, sorted(set(bad.values()))))


def main():
    conductors = {name: Proc("conductor", ["--name", name] + extra, name)
                  for name, extra in (("c1", []), ("c2", []), ("c3", []),
                                      ("edge", ["--group", "edge-1"]))}
    api_proc = Proc("api", [], "api")
    procs = list(conductors.values()) + [api_proc]
    try:
        for p in conductors.values():
            p.start()
        api_proc.start()
        api = Api(api_proc.url)
        live = api.ok(api.get("/v1/conductors", params={"detail": "true"}), 200)["conductors"]
        check({c["hostname"] for c in live if c["alive"]} == set(conductors),
              "conductors not all alive: %s" % live)
        check({c["hostname"]: c["conductor_group"] for c in live}["edge"] == "edge-1",
              "edge conductor's group: %s" % live)

        uuids, edge = [], set()
        for i in range(N):
            body = {"driver": "fake-hardware", "name": "mp-%03d" % i}
            if i < EDGE:
                body["conductor_group"] = "edge-1"
            u = api.ok(api.post("/v1/nodes", body), 201)["uuid"]
            uuids.append(u)
            if i < EDGE:
                edge.add(u)
        print("# enrolled %d nodes (%d in edge-1)" % (N, EDGE))
        move_all(api, uuids, "manage", "manageable")
        move_all(api, uuids, "provide", "available")
        print("# all available")

        # A driver call from the API process, run by the owning conductor.
        boot = api.ok(api.get("/v1/nodes/%s/management/boot_device" % uuids[-1]), 200)
        check("boot_device" in boot, "boot device answer: %s" % boot)

        # 1. kill -9 one conductor mid-deploy.
        for u in uuids:
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "active"}), 202)
        time.sleep(1.5)
        held = [n for n in nodes(api).values() if n["reservation"] == "c2"]
        check(held, "c2 held no lock when it was to be killed")
        conductors["c2"].kill9()
        killed = time.monotonic()
        print("# killed c2 (SIGKILL) holding %d locks" % len(held))
        limit = HEARTBEAT_TIMEOUT + 10
        while True:
            now = nodes(api)
            orphans = [u for u, n in now.items() if n["conductor"] not in ("c1", "c3", "edge")]
            locked = [u for u, n in now.items() if n["reservation"] == "c2"]
            if not orphans and not locked:
                break
            check(time.monotonic() - killed < limit,
                  "%.0f s after the kill: %d nodes without a live owner, %d still locked by "
                  "c2" % (limit, len(orphans), len(locked)))
            time.sleep(0.5)
        took = time.monotonic() - killed
        print("# every node has a live owner and no lock of c2 remains %.1f s after the kill "
              "(bound %.0f s)" % (took, limit))
        states = api.wait_states(uuids, "active", timeout=300)
        final = nodes(api)
        for u, s in states.items():
            check(s in ("active", "deploy failed"), "node %s ended in %s" % (u, s))
            if s == "deploy failed":
                check(final[u]["last_error"], "node %s failed without last_error" % u)
        failed = [u for u, s in states.items() if s == "deploy failed"]
        print("# after the kill: %d active, %d deploy failed (with last_error)" % (
            N - len(failed), len(failed)))
        check(all(final[u]["reservation"] is None for u in uuids), "locks left behind")

        # 2. PostgreSQL restart while undeploy requests are answered.
        active = [u for u, s in states.items() if s == "active"]
        accepted, refused = [], []

        def send():
            for u in active:
                try:
                    r = api.put("/v1/nodes/%s/states/provision" % u, {"target": "deleted"},
                                timeout=60)
                    (accepted if r.status_code == 202 else refused).append((u, r.status_code))
                except Exception as e:  # connection reset while the DB restarts
                    refused.append((u, repr(e)))
                time.sleep(0.01)
        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.3)
        pg("restart")
        print("# postgresql restarted")
        sender.join()
        print("# undeploy: %d answered 202, %d refused while the database was away" % (
            len(accepted), len(refused)))
        check(accepted, "no undeploy request was accepted")
        # Requests refused while it was away are simply sent again.
        for u, _ in refused:
            while True:
                try:
                    r = api.put("/v1/nodes/%s/states/provision" % u, {"target": "deleted"})
                except Exception:
                    time.sleep(0.5)
                    continue
                if r.status_code == 202:
                    accepted.append((u, 202))
                    break
                check(r.status_code >= 500, "undeploy of %s refused: %s" % (u, fault(r)))
                time.sleep(0.5)
        done = api.wait_states([u for u, _ in accepted], "available", timeout=300)
        final = nodes(api)
        # An operation whose database writes failed while PostgreSQL was
        # away ends in its failure state with last_error (as after any
        # crash); it is never silently dropped.
        failed = {u: s for u, s in done.items() if s != "available"}
        lost = {u: s for u, s in failed.items()
                if not (s in ("error", "clean failed") and final[u]["last_error"])}
        check(not lost, "accepted undeploys without effect: %s" % lost)
        check(all(final[u]["reservation"] is None for u in uuids), "locks left behind")
        print("# every accepted undeploy took effect: %d available, %d failed with last_error"
              % (len(done) - len(failed), len(failed)))
        for p in procs:
            check(p.proc is None or p.proc.poll() is None, "%s died" % p.name)

        # 3. conductor groups: history and logs.
        for u in uuids:
            entries = api.ok(api.get("/v1/nodes/%s/history" % u,
                                     params={"detail": "true"}), 200)["history"]
            who = {e.get("conductor") for e in entries} - {None}
            if u in edge:
                check(who <= {"edge"}, "edge-1 node %s touched by %s" % (u, who))
            else:
                check("edge" not in who, "node %s touched by the edge conductor" % u)
        for name in ("c1", "c2", "c3"):
            text = conductors[name].log_text()
            touched = [u for u in edge if u in text]
            check(not touched, "%s's log mentions edge-1 nodes %s" % (name, touched[:3]))
        check(any(u in conductors["edge"].log_text() for u in edge)
              or all(api.ok(api.get("/v1/nodes/%s" % u), 200)["conductor"] == "edge"
                     for u in edge), "edge conductor never owned its nodes")
        print("# edge-1 nodes only ever handled by the edge conductor")

        # 4. no live conductor for a group: driver calls answer 503.
        conductors["edge"].stop()
        target = sorted(edge)[0]
        deadline = time.monotonic() + HEARTBEAT_TIMEOUT + 10
        while True:
            r = api.get("/v1/nodes/%s/management/boot_device" % target)
            if r.status_code == 503:
                break
            check(time.monotonic() < deadline, "expected 503, got %d" % r.status_code)
            time.sleep(0.5)
        check(fault(r), "503 without Ironic's error body")
        print("# driver call with no live conductor of the group: 503 (%s)" % fault(r)[:80])
        for p in procs:
            log = p.log_text()
            check(not re.search(r"password|secret", log, re.I) or "***" in log,
                  "%s's log may show a secret" % p.name)
    finally:
        for p in procs:
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print("# stopping %s: %s" % (p.name, e), file=sys.stderr)
    print("multiproc: ok")


if __name__ == "__main__":
    main()
