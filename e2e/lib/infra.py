"""The test bed, all inside one network namespace this test creates: a bridge
(the provisioning network, with an IPv6 ULA and router advertisements so iPXE
does not wait for IPv6), dnsmasq reading the host and option files ferrite
writes, libvirtd (in its own mount namespace, with no network driver, so no
NAT network can exist), sushy-emulator (Redfish over libvirt) on the
namespace's loopback, an image server, and `ferrite serve` with its API on the
namespace's loopback and its provisioning listener on the bridge.

Every process is started here, remembered by PID and stopped by PID in
`close()`, which also deletes the namespace; `close()` is safe to call after a
partial start."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from vm import OVMF_CODE, OVMF_VARS

BRIDGE_IP = "192.168.77.1"
BOOT_PORT = 8080
IMAGE_PORT = 8081
API_URL = "http://127.0.0.1:6385"
SUSHY_URL = "http://127.0.0.1:8001"
# The tags ferrite's per-node option files rely on: the lines of
# ferrite_boot::dhcp::DNSMASQ_MATCHES, as docs/boot.md tells operators to write them.
DNSMASQ_MATCHES = """dhcp-match=set:bios,option:client-arch,0
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-match=set:efihttp,option:client-arch,16
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:ipxe,175
"""
HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    """Progress lines go to stdout with the time since the run started."""
    print(f"[e2e +{time.monotonic() - START:6.1f}s] {msg}", flush=True)


START = time.monotonic()


class Infra:
    """Owns the namespace and every daemon of the test bed."""

    def __init__(self, work, ferrite_bin, sushy_venv):
        self.work = work
        self.ns = f"fe2e{os.getpid()}"
        self.ferrite_bin = ferrite_bin
        self.sushy_venv = sushy_venv
        self.procs = {}  # name -> Popen
        self.ns_made = False
        self.libvirt_dir = os.path.join(work, "libvirt")
        self.uri = f"qemu:///system?socket={self.libvirt_dir}/run/libvirt-sock"
        self.boot_dir = os.path.join(work, "ferrite", "boot")
        self.hostsdir = os.path.join(work, "dnsmasq", "hosts")
        self.optsdir = os.path.join(work, "dnsmasq", "opts")
        self.logs = os.path.join(work, "logs")
        self.images = os.path.join(work, "images")
        os.makedirs(self.logs, exist_ok=True)
        # dnsmasq serves TFTP as 'nobody': the path to the boot directory must be readable
        os.chmod(work, 0o755)

    # ---- helpers -------------------------------------------------------
    def nsexec(self, *cmd):
        """The command line that runs `cmd` inside the namespace."""
        return ["ip", "netns", "exec", self.ns, *cmd]

    def run(self, *cmd, check=True, capture=False):
        """Runs a host command to completion."""
        return subprocess.run(cmd, check=check, text=True, capture_output=capture)

    def spawn(self, name, cmd, env=None):
        """Starts a daemon whose PID is its own (every wrapper used execs)."""
        out = open(os.path.join(self.logs, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        log(f"{name} started, pid {self.procs[name].pid}")

    def wait_http(self, url, what, timeout=60):
        """Waits until `url` answers inside the namespace (any HTTP status)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(self.nsexec("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                               "--max-time", "2", url),
                                   capture_output=True, text=True)
            if probe.stdout.strip() not in ("", "000"):
                return
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode} (see {self.logs}/{name}.log)")
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not answer at {url} within {timeout} s")

    # ---- bring-up ------------------------------------------------------
    def up(self):
        self.network()
        self.dnsmasq()
        self.libvirtd()
        self.sushy()
        self.image_server()
        self.ferrite()

    def network(self):
        self.run("ip", "netns", "add", self.ns)
        self.ns_made = True
        ip = ["ip", "-n", self.ns]
        self.run(*ip, "link", "set", "lo", "up")
        self.run(*ip, "link", "add", "br0", "type", "bridge")
        self.run(*ip, "addr", "add", f"{BRIDGE_IP}/24", "dev", "br0")
        self.run(*ip, "addr", "add", "fd77::1/64", "dev", "br0", "nodad")
        self.run(*ip, "link", "set", "br0", "up")
        log(f"netns {self.ns}: br0 {BRIDGE_IP}/24 + fd77::1/64")

    def dnsmasq(self):
        for d in (self.hostsdir, self.optsdir, self.boot_dir):
            os.makedirs(d, exist_ok=True)
        # the iPXE loaders, for firmware that is not iPXE already
        for f in ("undionly.kpxe", "snponly.efi", "ipxe.efi"):
            shutil.copy(f"/usr/lib/ipxe/{f}", self.boot_dir)
        conf = os.path.join(self.work, "dnsmasq", "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write(f"""port=0
interface=br0
bind-interfaces
except-interface=lo
dhcp-range=192.168.77.100,192.168.77.199,255.255.255.0,1h
dhcp-leasefile={self.work}/dnsmasq/leases
dhcp-authoritative
# only the MACs ferrite wrote host files for get an answer: virtual media must do without
dhcp-ignore=tag:!known
enable-ra
dhcp-range=::,constructor:br0,ra-only
log-dhcp
enable-tftp
tftp-root={self.boot_dir}
dhcp-hostsdir={self.hostsdir}
dhcp-optsdir={self.optsdir}
{DNSMASQ_MATCHES}""")
        self.spawn("dnsmasq", self.nsexec("dnsmasq", "-k", f"--conf-file={conf}",
                                          "--log-facility=-"))

    def libvirtd(self):
        w = self.libvirt_dir
        for d in ("etc", "run", "lib", "log", "cache"):
            os.makedirs(os.path.join(w, d), exist_ok=True)
        with open(os.path.join(w, "etc", "libvirtd.conf"), "w") as f:
            f.write('unix_sock_group = "root"\nunix_sock_rw_perms = "0700"\nauth_unix_rw = "none"\n'
                    'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')
        with open(os.path.join(w, "etc", "qemu.conf"), "w") as f:
            f.write('user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\n'
                    'security_driver = "none"\ncgroup_controllers = [ ]\nnamespaces = [ ]\n'
                    'stdio_handler = "file"\n')
        # libvirtd resolves its default user libvirt-qemu before reading qemu.conf: give it
        # private passwd/group copies that have it, bind-mounted in its mount namespace only
        for src, line in (("passwd", "libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n"),
                          ("group", "libvirt-qemu:x:64055:\n")):
            shutil.copy(f"/etc/{src}", os.path.join(w, src))
            with open(os.path.join(w, src), "a") as f:
                f.write(line)
        script = f"""set -e
for d in /run /var/lib /var/log /var/cache; do mount -t tmpfs tmpfs $d; done
mount --bind {w}/passwd /etc/passwd
mount --bind {w}/group /etc/group
mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
mount --bind {w}/run /run/libvirt
mount --bind {w}/lib /var/lib/libvirt
mount --bind {w}/log /var/log/libvirt
mount --bind {w}/cache /var/cache/libvirt
mount --bind {w}/etc /etc/libvirt
exec libvirtd -f /etc/libvirt/libvirtd.conf"""
        self.spawn("libvirtd", self.nsexec("unshare", "-m", "--propagation", "private",
                                           "bash", "-c", script))
        deadline = time.monotonic() + 30
        while subprocess.run(["virsh", "-c", self.uri, "version"], capture_output=True).returncode:
            if time.monotonic() > deadline or self.procs["libvirtd"].poll() is not None:
                raise RuntimeError(f"libvirtd did not start (see {self.logs}/libvirtd.log)")
            time.sleep(0.2)

    def sushy(self):
        conf = os.path.join(self.libvirt_dir, "sushy.conf")
        with open(conf, "w") as f:
            f.write(f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = 8001\n"
                    f"SUSHY_EMULATOR_LIBVIRT_URI = '{self.uri}'\n"
                    "SUSHY_EMULATOR_IGNORE_BOOT_DEVICE = False\n"
                    # a boot-mode change must keep the plain (not Secure Boot) 4M OVMF the
                    # VMs were defined with: sushy's default is the secboot build
                    f"SUSHY_EMULATOR_BOOT_LOADER_MAP = {{'UEFI': {{'x86_64': '{OVMF_CODE}'}}, "
                    "'Legacy': {'x86_64': None}}\n"
                    f"SUSHY_EMULATOR_SECURE_BOOT_DISABLED_NVRAM = '{OVMF_VARS}'\n")
        self.spawn("sushy", self.nsexec(f"{self.sushy_venv}/bin/sushy-emulator", "--config", conf))
        self.wait_http(f"{SUSHY_URL}/redfish/v1/", "sushy-emulator")

    def image_server(self):
        self.spawn("images", self.nsexec(sys.executable, os.path.join(HERE, "imgserver.py"),
                                         self.images, BRIDGE_IP, str(IMAGE_PORT),
                                         os.path.join(self.logs, "images-access.jsonl")))
        self.wait_http(f"http://{BRIDGE_IP}:{IMAGE_PORT}/", "image server")

    def ferrite(self):
        data = os.path.join(self.work, "ferrite")
        conf = os.path.join(data, "ferrite.toml")
        with open(conf, "w") as f:
            f.write(f"""listen = ["127.0.0.1:6385"]
data_dir = "{data}"
log_format = "json"
boot_listen = "{BRIDGE_IP}:{BOOT_PORT}"

[conductor]
sync_power_state_interval = 0

[boot]
boot_dir = "{self.boot_dir}"
dhcp_hostsdir = "{self.hostsdir}"
dhcp_optsdir = "{self.optsdir}"
""")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.spawn("ferrite", self.nsexec(self.ferrite_bin, "serve", "--config", conf), env=env)
        self.wait_http(f"{API_URL}/v1", "ferrite API")
        self.wait_http(f"http://{BRIDGE_IP}:{BOOT_PORT}/v1", "ferrite provisioning listener")

    # ---- observation ---------------------------------------------------
    def ferrite_requests(self):
        """Every request line ferrite logged: dicts with method, path, status."""
        out = []
        with open(os.path.join(self.logs, "ferrite.log"), errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                fields = rec.get("fields", rec)  # flattened or not, by log_format settings
                if fields.get("message") == "request":
                    out.append(fields)
        return out

    # ---- tear-down -----------------------------------------------------
    def close(self):
        """Stops domains, then every daemon by PID (reverse start order), and
        deletes the namespace. Never raises."""
        if "libvirtd" in self.procs and self.procs["libvirtd"].poll() is None:
            names = subprocess.run(["virsh", "-c", self.uri, "list", "--all", "--name"],
                                   capture_output=True, text=True).stdout.split()
            for d in names:
                subprocess.run(["virsh", "-c", self.uri, "destroy", d], capture_output=True)
                subprocess.run(["virsh", "-c", self.uri, "undefine", "--nvram", d], capture_output=True)
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()
        if self.ns_made:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            self.ns_made = False
        log("test bed stopped, namespace deleted")

