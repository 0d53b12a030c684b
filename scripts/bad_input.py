#!/usr/bin/env python3
"""Bad input: every malformed or disallowed request gets a 4xx in Ironic's
error shape that names the problem, never a 5xx, and changes nothing.

Ironic's shape: the body is {"error_message": "<JSON text>"} and the inner
JSON has `faultstring` (or, for framework-level errors such as an unknown
path or a bad version header, `code`/`title`/`description`). Each case
compares the test nodes (every field) and the node count before and after.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from ferrite_server import VERSION_HEADER, Api, Server, error_parts, fault  # noqa: E402

RESULTS = []


def vmin(a, b):
    """The lower of two `1.N` versions."""
    return min(a, b, key=lambda v: tuple(int(x) for x in v.split(".")))


def snapshot(api, uuids):
    nodes = {u: api.ok(api.get("/v1/nodes/%s" % u), 200) for u in uuids}
    count = len(api.list_all("/v1/nodes", "nodes"))
    ports = len(api.list_all("/v1/ports", "ports"))
    return nodes, count, ports


def case(api, uuids, name, method, path, body=None, raw=None, version=None,
         status=(400,), names=(), headers=None, params=None):
    """Sends one bad request and checks status, shape, message, no change.

    `names`: the faultstring must contain at least one of these
    (case-insensitive) — the thing that is wrong.
    """
    before = snapshot(api, uuids)
    try:
        resp = api.request(method, path, json_body=body, data=raw, version=version,
                           headers=headers, params=params)
        problems = []
        if resp.status_code >= 500:
            problems.append("server error %d" % resp.status_code)
        elif resp.status_code not in status:
            problems.append("status %d, expected %s" % (resp.status_code, status))
        try:
            _, inner = error_parts(resp)
            # Framework-level errors (unknown path) carry an empty
            # description and only a title, exactly as Ironic's do.
            msg = inner.get("faultstring") or inner.get("description") or inner.get("title") or ""
            if not msg:
                problems.append("no faultstring/description/title in %r" % inner)
        except AssertionError as e:
            problems.append(str(e))
            msg = resp.text[:200]
        if names and not any(n.lower() in msg.lower() for n in names):
            problems.append("message %r names none of %s" % (msg, list(names)))
        after = snapshot(api, uuids)
        if after != before:
            changed = [u for u in uuids if after[0].get(u) != before[0].get(u)]
            problems.append("state changed (nodes changed: %s, nodes %d->%d, ports %d->%d)" % (
                changed, before[1], after[1], before[2], after[2]))
    except Exception as e:  # a transport error is a failure of this case too
        problems = ["request failed: %r" % e]
        resp, msg = None, ""
    ok = not problems
    RESULTS.append((name, ok))
    code = resp.status_code if resp is not None else "-"
    if ok:
        print("ok - %s -> %s %s" % (name, code, json.dumps(msg)[:150]))
    else:
        print("not ok - %s -> %s: %s" % (name, code, "; ".join(problems)))


def main():
    with Server(name="ferrite (bad input)") as srv:
        api = Api(srv.url)
        root = api.ok(api.get("/", version=""), 200)
        max_version = root["default_version"]["version"]
        print("# server max version %s" % max_version)

        # Fixtures: one node in each of enroll, manageable and available.
        enroll = api.ok(api.post("/v1/nodes", {"driver": "fake-hardware", "name": "bad-enroll"}), 201)["uuid"]
        manageable = api.ok(api.post("/v1/nodes", {"driver": "fake-hardware", "name": "bad-manageable"}), 201)["uuid"]
        available = api.ok(api.post("/v1/nodes", {"driver": "fake-hardware", "name": "bad-available"}), 201)["uuid"]
        api.ok(api.post("/v1/ports", {"address": "52:54:00:00:0b:01", "node_uuid": enroll}), 201)
        for u in (manageable, available):
            api.ok(api.put("/v1/nodes/%s/states/provision" % u, {"target": "manage"}), 202)
        api.wait_states([manageable, available], "manageable", 60)
        api.ok(api.put("/v1/nodes/%s/states/provision" % available, {"target": "provide"}), 202)
        states = api.wait_states([available], "available", 60)
        assert states.get(available) == "available", states
        uuids = [enroll, manageable, available]
        N = "/v1/nodes/%s" % enroll

        def c(*a, **kw):
            case(api, uuids, *a, **kw)

        # --- POST /v1/nodes bodies
        c("malformed JSON", "POST", "/v1/nodes", raw='{"driver": "fake-hardware",', names=("json",))
        c("body is a list", "POST", "/v1/nodes", body=[{"driver": "fake-hardware"}], names=("object", "dict", "type", "json"))
        c("empty body", "POST", "/v1/nodes", raw="", names=("json", "body", "driver"))
        c("wrong type: driver 5", "POST", "/v1/nodes", body={"driver": 5}, names=("driver", "string", "type"))
        c("wrong type: properties list", "POST", "/v1/nodes", body={"driver": "fake-hardware", "properties": [1]},
          names=("properties", "object", "type"))
        c("missing driver", "POST", "/v1/nodes", body={"name": "x"}, names=("driver",))
        c("unknown field", "POST", "/v1/nodes", body={"driver": "fake-hardware", "bogus_field": 1},
          names=("Additional properties are not allowed ('bogus_field' was unexpected)",))
        c("unknown driver", "POST", "/v1/nodes", body={"driver": "no-such-driver"}, names=("no-such-driver",))
        c("malformed uuid in body: uuid", "POST", "/v1/nodes", body={"driver": "fake-hardware", "uuid": "1234"},
          names=("1234", "uuid"))
        c("malformed uuid in body: chassis_uuid", "POST", "/v1/nodes",
          body={"driver": "fake-hardware", "chassis_uuid": "not-a-uuid"}, names=("not-a-uuid", "chassis_uuid"))
        c("malformed uuid in body: instance_uuid", "POST", "/v1/nodes",
          body={"driver": "fake-hardware", "instance_uuid": "zzz"}, names=("zzz", "instance_uuid"))
        c("invalid name", "POST", "/v1/nodes",
          body={"driver": "fake-hardware", "name": "bad name!"}, names=("bad name!", "name"))
        c("duplicate name", "POST", "/v1/nodes", body={"driver": "fake-hardware", "name": "bad-enroll"},
          status=(409,), names=("bad-enroll",))

        # --- identifiers in the path
        c("unknown uuid in path", "GET", "/v1/nodes/00000000-0000-0000-0000-000000000000", status=(404,),
          names=("00000000-0000-0000-0000-000000000000",))
        c("malformed ident in path", "GET", "/v1/nodes/not%20a%20uuid!", status=(400, 404),
          names=("not a uuid!",))
        c("malformed uuid-ish ident in path (PATCH)", "PATCH", "/v1/nodes/1234-not-a-uuid",
          body=[{"op": "add", "path": "/extra/a", "value": 1}], status=(400, 404), names=("1234-not-a-uuid",))
        c("unknown path", "GET", "/v1/nosuchthing", status=(404,))

        # --- JSON Patch
        c("patch: malformed JSON", "PATCH", N, raw="[{", names=("json",))
        c("patch: not a list", "PATCH", N, body={"op": "add", "path": "/extra/a", "value": 1},
          names=("list", "array", "patch", "type"))
        c("patch: unknown op", "PATCH", N, body=[{"op": "frobnicate", "path": "/extra/a", "value": 1}],
          names=("frobnicate", "op"))
        c("patch: missing value", "PATCH", N, body=[{"op": "add", "path": "/extra/a"}], names=("value",))
        c("patch: path without slash", "PATCH", N, body=[{"op": "add", "path": "extra/a", "value": 1}],
          names=("extra/a", "path"))
        c("patch: read-only /provision_state", "PATCH", N,
          body=[{"op": "replace", "path": "/provision_state", "value": "active"}], names=("provision_state",))
        c("patch: read-only /uuid", "PATCH", N,
          body=[{"op": "replace", "path": "/uuid", "value": "00000000-0000-0000-0000-000000000001"}],
          names=("uuid",))
        c("patch: unknown root", "PATCH", N, body=[{"op": "add", "path": "/bogus", "value": 1}], names=("bogus",))
        c("patch: remove missing key", "PATCH", N, body=[{"op": "remove", "path": "/extra/nope"}],
          names=("nope", "extra"))
        c("patch: wrong type for driver", "PATCH", N, body=[{"op": "replace", "path": "/driver", "value": 5}],
          names=("driver", "string", "type"))
        c("patch: unknown driver", "PATCH", N,
          body=[{"op": "replace", "path": "/driver", "value": "no-such-driver"}], names=("no-such-driver",))
        c("patch: malformed chassis_uuid", "PATCH", N,
          body=[{"op": "add", "path": "/chassis_uuid", "value": "not-a-uuid"}], names=("not-a-uuid", "chassis"))
        c("patch: malformed instance_uuid", "PATCH", N,
          body=[{"op": "add", "path": "/instance_uuid", "value": "zzz"}], names=("zzz", "instance_uuid"))
        c("patch: second op fails, first not applied", "PATCH", N,
          body=[{"op": "add", "path": "/extra/ok", "value": 1},
                {"op": "replace", "path": "/provision_state", "value": "active"}], names=("provision_state",))

        # --- provision states
        P = "/v1/nodes/%s/states/provision"
        c("invalid transition: active from manageable", "PUT", P % manageable, body={"target": "active"},
          names=('The requested action "active" can not be performed on node "%s" while it is in state "manageable".'
                 % manageable,))
        c("invalid transition: provide from enroll", "PUT", P % enroll, body={"target": "provide"},
          names=("provide",))
        c("unknown verb", "PUT", P % manageable, body={"target": "frobnicate"}, names=("frobnicate",))
        c("verb of wrong type", "PUT", P % manageable, body={"target": 5}, names=("target", "type", "5"))
        c("missing target", "PUT", P % manageable, body={}, names=("target",))
        c("provision: malformed JSON", "PUT", P % manageable, raw="{", names=("json",))
        c("provision: unknown extra field", "PUT", P % available, body={"target": "active", "bogus": 1},
          names=("bogus",))
        c("clean without clean_steps", "PUT", P % manageable, body={"target": "clean"},
          names=("clean_steps", "clean"))
        c("unknown power target", "PUT", "/v1/nodes/%s/states/power" % enroll, body={"target": "power sideways"},
          names=("power sideways",))

        # --- microversions
        c("field newer than version in fields= (owner @1.49)", "GET", "/v1/nodes", params={"fields": "uuid,owner"},
          version="1.49", status=(406,), names=("owner",))
        c("field newer than version in GET one (conductor_group @1.45)", "GET", N,
          params={"fields": "conductor_group"}, version="1.45", status=(406,), names=("conductor_group",))
        # Versions below the server's maximum, so the 406 comes from the
        # field or verb and not from version negotiation.
        v150 = vmin(max_version, "1.50")
        v172 = vmin(max_version, "1.72")
        c("field newer than version in POST (description @%s)" % v150, "POST", "/v1/nodes",
          body={"driver": "fake-hardware", "description": "d"}, version=v150, status=(406,),
          names=("description",))
        c("field newer than version in POST (resource_class @1.20)", "POST", "/v1/nodes",
          body={"driver": "fake-hardware", "resource_class": "rc"}, version="1.20", status=(406,),
          names=("resource_class",))
        c("field newer than version in PATCH (conductor_group @1.45)", "PATCH", N,
          body=[{"op": "add", "path": "/conductor_group", "value": "g"}], version="1.45", status=(406,),
          names=("conductor_group",))
        c("filter newer than version (provision_state @1.8)", "GET", "/v1/nodes",
          params={"provision_state": "available"}, version="1.8", status=(406,), names=("provision_state",))
        c("verb newer than version (deploy alias @%s)" % v172, "PUT", P % available, body={"target": "deploy"},
          version=v172, status=(406,), names=("deploy",))
        c("verb newer than version (manage @1.3)", "PUT", P % enroll, body={"target": "manage"},
          version="1.3", status=(406,), names=("manage",))
        c("unparseable version header", "GET", "/v1/nodes", version="one.two", status=(406, 400),
          names=("version",))
        c("major version 2", "GET", "/v1/nodes", version="2.0", status=(406,), names=("version",))

        # The exact shape of Ironic's 406 for a too-new version.
        name = "version 1.999 -> 406 exactly like Ironic"
        resp = api.get("/v1/nodes", version="1.999")
        problems = []
        if resp.status_code != 406:
            problems.append("status %d" % resp.status_code)
        try:
            outer, inner = error_parts(resp)
            want = {"code": 406, "title": "Not Acceptable",
                    "description": "Version 1.999 was requested but the minor version is not supported by "
                                   "this service. The supported version range is: [1.1, %s]." % max_version}
            if inner != want:
                problems.append("inner %r != %r" % (inner, want))
            if list(outer) != ["error_message"]:
                problems.append("outer keys %r" % list(outer))
        except AssertionError as e:
            problems.append(str(e))
        if resp.headers.get("X-OpenStack-Ironic-API-Minimum-Version") != "1.1" or \
                resp.headers.get("X-OpenStack-Ironic-API-Maximum-Version") != max_version:
            problems.append("min/max headers %r/%r" % (resp.headers.get("X-OpenStack-Ironic-API-Minimum-Version"),
                                                       resp.headers.get("X-OpenStack-Ironic-API-Maximum-Version")))
        if VERSION_HEADER in resp.headers:
            problems.append("negotiated version header present on a failed negotiation")
        if not resp.headers.get("Content-Type", "").startswith("application/json"):
            problems.append("content type %r" % resp.headers.get("Content-Type"))
        RESULTS.append((name, not problems))
        print(("ok - %s" % name) if not problems else ("not ok - %s: %s" % (name, "; ".join(problems))))

        # --- list parameters
        c("limit=0", "GET", "/v1/nodes", params={"limit": "0"}, names=("limit",))
        c("limit=abc", "GET", "/v1/nodes", params={"limit": "abc"}, names=("limit", "abc"))
        c("sort_dir=sideways", "GET", "/v1/nodes", params={"sort_dir": "sideways"}, names=("sideways", "sort_dir"))
        c("sort_key=properties (dict column)", "GET", "/v1/nodes", params={"sort_key": "properties"},
          names=("properties", "sort_key"))
        c("fields=bogus", "GET", "/v1/nodes", params={"fields": "uuid,bogus"}, names=("bogus",))
        c("fields with detail", "GET", "/v1/nodes", params={"fields": "uuid", "detail": "true"},
          names=("fields", "detail"))
        c("provision_state filter not a state", "GET", "/v1/nodes", params={"provision_state": "sideways"},
          names=("sideways", "provision_state"))
        c("unknown marker", "GET", "/v1/nodes", params={"marker": "00000000-0000-0000-0000-0000000000aa"},
          status=(400, 404), names=("00000000-0000-0000-0000-0000000000aa", "marker"))
        c("maintenance=maybe", "GET", "/v1/nodes", params={"maintenance": "maybe"}, names=("maybe", "maintenance"))

        # --- ports
        c("port: malformed node_uuid", "POST", "/v1/ports", body={"address": "52:54:00:00:0b:02", "node_uuid": "nope"},
          names=("nope", "node_uuid"))
        c("port: unknown node", "POST", "/v1/ports",
          body={"address": "52:54:00:00:0b:03", "node_uuid": "00000000-0000-0000-0000-0000000000bb"},
          status=(400, 404), names=("00000000-0000-0000-0000-0000000000bb",))
        c("port: invalid MAC", "POST", "/v1/ports", body={"address": "zz:zz", "node_uuid": enroll},
          names=("zz:zz", "mac", "address"))
        c("port: duplicate MAC", "POST", "/v1/ports", body={"address": "52:54:00:00:0b:01", "node_uuid": enroll},
          status=(409,), names=("52:54:00:00:0b:01",))

        # --- size limits
        big = "x" * (2 * 1024 * 1024)
        c("oversized POST (2 MiB extra)", "POST", "/v1/nodes", body={"driver": "fake-hardware", "extra": {"b": big}},
          status=(413, 400))
        c("oversized PATCH (2 MiB value)", "PATCH", N, body=[{"op": "add", "path": "/extra/b", "value": big}],
          status=(413, 400))
        deep = "[" * 5000 + "]" * 5000
        c("deeply nested JSON", "POST", "/v1/nodes", raw='{"driver": "fake-hardware", "extra": {"d": %s}}' % deep,
          status=(400, 413))

        log = srv.log_text()
        for bad in ("panicked", "database is locked"):
            ok = bad not in log
            RESULTS.append(("server log has no %r" % bad, ok))
            print(("ok - " if ok else "not ok - ") + "server log has no %r" % bad)

    failed = [n for n, ok in RESULTS if not ok]
    print("bad-input: %d cases, %d passed, %d failed" % (len(RESULTS), len(RESULTS) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
