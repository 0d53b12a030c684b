"""Start, stop and talk to a real `ferrite serve` for black-box tests.

Every server gets a free loopback port and its own temporary data directory,
and is stopped by its PID (never by name), so tests can run next to anything
else on the machine. Requests go through `requests` with Ironic's version
header; helpers decode Ironic's double-encoded error body.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

def _terminate_cleanly(signum, _frame):
    # `timeout` in scripts/test sends SIGTERM: turn it into SystemExit so the
    # `with Server(...)` blocks stop their servers (by PID) on the way out.
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _terminate_cleanly)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERSION_HEADER = "X-OpenStack-Ironic-API-Version"


def _die_with_parent():
    """Runs in the child before exec: ask Linux to SIGKILL the server if
    this test process dies without stopping it (e.g. killed by `timeout`),
    so no server outlives its test. Best effort: ignored where unsupported."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def ferrite_binary():
    """The release binary built by scripts/test (FERRITE_BIN overrides)."""
    if os.environ.get("FERRITE_BIN"):
        return os.environ["FERRITE_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "release", "ferrite")


def free_port():
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `ferrite serve` process on 127.0.0.1 with its own data dir.

    Use as a context manager; `start()` may be called again after `kill9()`
    or `stop()` to restart on the same data directory.
    """

    def __init__(self, env=None, data_dir=None, name="ferrite"):
        self.extra_env = dict(env or {})
        self.own_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ferrite-test-")
        self.name = name
        self.proc = None
        self.port = None
        self.url = None
        self.log_path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".log")
        self.log_path = os.path.abspath(self.log_path)
        self._log = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print("---- %s log (last 40 lines) ----" % self.name, file=sys.stderr)
            print(self.log_tail(40), file=sys.stderr)
        if self.own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
        return False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=15.0):
        """Starts the server and waits until `GET /` answers. Retries on a
        new port if the chosen one was taken in between (bind race)."""
        binary = ferrite_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError("ferrite binary not found at %s (build it first)" % binary)
        last = None
        for _ in range(3):
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            # The test's own FERRITE_* variables must not reach the server as
            # configuration: only what the test passes explicitly.
            env = {k: v for k, v in os.environ.items() if not k.startswith("FERRITE_")}
            env.setdefault("RUST_LOG", "info")
            env["NO_COLOR"] = "1"  # plain log lines, easy to grep
            env.update(self.extra_env)
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
                 "--data-dir", self.data_dir],
                stdout=self._log, stderr=subprocess.STDOUT, env=env,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = requests.get(self.url + "/", timeout=1)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            last = "exited with %s" % self.proc.returncode if self.proc.poll() is not None \
                else "not ready after %.0f s" % timeout
            self._terminate()
        raise RuntimeError("ferrite did not start: %s\n%s" % (last, self.log_tail(30)))

    def _terminate(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        if self._log:
            self._log.close()
            self._log = None

    def stop(self):
        """SIGTERM by PID (SIGKILL after 15 s); returns the exit code."""
        self._terminate()
        code = self.proc.returncode if self.proc else None
        self.proc = None
        return code

    def kill9(self):
        """SIGKILL by PID, no chance to clean up: a crash."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n):
        return "\n".join(self.log_text().splitlines()[-n:])


class Api:
    """A thin `requests` wrapper speaking Ironic's conventions."""

    def __init__(self, url, version="latest", session=None):
        self.url = url.rstrip("/")
        self.version = version
        self.s = session or requests.Session()

    def request(self, method, path, json_body=None, data=None, version=None,
                headers=None, params=None, timeout=30):
        h = {"Accept": "application/json"}
        v = self.version if version is None else version
        if v:
            h[VERSION_HEADER] = v
        if json_body is not None:
            data = json.dumps(json_body)
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        return self.s.request(method, self.url + path, data=data, headers=h,
                              params=params, timeout=timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, json_body=body, **kw)

    def patch(self, path, body, **kw):
        return self.request("PATCH", path, json_body=body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, resp, *codes):
        """Returns the decoded body of a response whose status is one of
        `codes`, or raises with the status and Ironic's faultstring."""
        if resp.status_code not in codes:
            raise AssertionError("%s %s -> %d (expected %s): %s" % (
                resp.request.method, resp.request.path_url, resp.status_code,
                codes, fault(resp)))
        return resp.json() if resp.content else None

    def list_all(self, path, key, params=None):
        """Every item of a collection, following `next` links."""
        params = dict(params or {})
        params.setdefault("limit", 1000)
        out = []
        url = path
        while True:
            body = self.ok(self.get(url, params=params), 200)
            out.extend(body[key])
            nxt = body.get("next")
            if not nxt or not body[key]:
                return out
            # Follow the link's query on our own base URL.
            url, params = path, dict(
                p.split("=", 1) for p in nxt.split("?", 1)[1].split("&") if "=" in p)
            params = {k: requests.utils.unquote(v) for k, v in params.items()}

    def wait_states(self, uuids, expected, timeout, query=None):
        """Polls the node list (two fields) until every node of `uuids` is in
        `expected` or a failure state; returns {uuid: state}."""
        uuids = set(uuids)
        deadline = time.monotonic() + timeout
        params = {"fields": "uuid,provision_state"}
        params.update(query or {})
        while True:
            states = {n["uuid"]: n["provision_state"]
                      for n in self.list_all("/v1/nodes", "nodes", params)
                      if n["uuid"] in uuids}
            settled = all(s == expected or s == "error" or s.endswith(" failed")
                          for s in states.values()) and len(states) == len(uuids)
            if settled or time.monotonic() > deadline:
                return states
            time.sleep(0.2)


def error_parts(resp):
    """Decodes Ironic's error body: returns (outer dict, inner dict) or
    raises AssertionError saying how the shape is wrong."""
    try:
        outer = resp.json()
    except ValueError:
        raise AssertionError("error body is not JSON: %r" % resp.text[:300])
    if not isinstance(outer, dict) or not isinstance(outer.get("error_message"), str):
        raise AssertionError("error body has no string error_message: %r" % resp.text[:300])
    try:
        inner = json.loads(outer["error_message"])
    except ValueError:
        raise AssertionError("error_message is not a JSON string: %r" % outer["error_message"][:300])
    if not isinstance(inner, dict):
        raise AssertionError("error_message is not a JSON object: %r" % inner)
    return outer, inner


def fault(resp):
    """The human-readable message of an error response, whatever its shape."""
    try:
        _, inner = error_parts(resp)
        return inner.get("faultstring") or inner.get("description") or inner.get("title") or ""
    except AssertionError:
        return resp.text[:500]
