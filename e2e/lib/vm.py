"""The "bare-metal servers": libvirt domains (TCG, 1 vCPU) with a blank raw
disk, a virtio NIC on the namespace's bridge (QEMU's iPXE option ROM does the
network boot) and the serial console in a file, BIOS (SeaBIOS) or UEFI
(OVMF). sushy-emulator's libvirt driver turns them into Redfish systems."""

import os
import re
import subprocess
import time

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
DISK_MIB = 256
MEMORY_MIB = 1024
VCPUS = int(os.environ.get('E2E_VCPUS', '1'))


class Vm:
    """One domain; `serial` is its console log, `disk` its raw disk file."""

    def __init__(self, infra, name, firmware, index):
        self.infra, self.name, self.firmware = infra, name, firmware
        self.mac = f"52:54:00:77:00:{index:02x}"
        self.dir = os.path.join(infra.work, "vms", name)
        self.disk = os.path.join(self.dir, "disk.raw")
        self.serial = os.path.join(self.dir, "serial.log")
        self.uuid = None

    def define(self):
        """Defines the domain with a blank disk; the node's Redfish id is its UUID."""
        os.makedirs(self.dir, exist_ok=True)
        self.blank_disk()
        loader = ""
        if self.firmware == "uefi":
            loader = (f"<loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>"
                      f"<nvram template='{OVMF_VARS}'>{self.dir}/vars.fd</nvram>")
        xml = f"""<domain type='qemu'>
  <name>{self.name}</name>
  <memory unit='MiB'>{MEMORY_MIB}</memory>
  <vcpu>{VCPUS}</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>{loader}</os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' io='native'/>
      <source file='{self.disk}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='bridge'><source bridge='br0'/><mac address='{self.mac}'/><model type='virtio'/></interface>
    <serial type='file'><source path='{self.serial}' append='on'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>"""
        path = os.path.join(self.dir, "domain.xml")
        with open(path, "w") as f:
            f.write(xml)
        subprocess.run(["virsh", "-q", "-c", self.infra.uri, "define", path], check=True,
                       capture_output=True)
        self.uuid = subprocess.run(["virsh", "-c", self.infra.uri, "domuuid", self.name], check=True,
                                   capture_output=True, text=True).stdout.strip()

    def blank_disk(self):
        """A sparse all-zero disk: nothing on it can boot."""
        with open(self.disk, "wb") as f:
            f.truncate(DISK_MIB << 20)

    def head(self, n=1 << 20):
        """The first `n` bytes of the disk, as the machine would read them."""
        with open(self.disk, "rb") as f:
            return f.read(n)

    def bootable(self):
        """Whether firmware could boot the disk: an MBR boot signature."""
        return self.head(512)[510:512] == b"\x55\xaa"

    def console(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode("latin-1")
        except FileNotFoundError:
            return ""

    def mark(self):
        """The console's current length: wait_console looks only after it."""
        return len(self.console())

    def wait_console(self, pattern, since, timeout, fail_on=None):
        """Waits for `pattern` (regex) to appear on the console after offset
        `since`; returns the match. Raises on timeout or on `fail_on`."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.console()[since:]
            m = re.search(pattern, text)
            if m:
                return m
            if fail_on and re.search(fail_on, text):
                raise AssertionError(f"{self.name}: console shows {fail_on!r}: ...{text[-600:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {pattern!r} not on the console within {timeout} s; "
                                     f"last lines: ...{text[-600:]}")
            time.sleep(0.5)

    def power_state(self):
        """libvirt's state of the domain, with its reason ("running (booted)")."""
        return subprocess.run(["virsh", "-c", self.infra.uri, "domstate", "--reason", self.name],
                              capture_output=True, text=True).stdout.strip()

    def wait_power(self, state, timeout=30):
        """Waits for the domain to settle in `state` ("running", "shut off")."""
        deadline = time.monotonic() + timeout
        while not self.power_state().startswith(state):
            assert time.monotonic() < deadline, f"{self.name}: {self.power_state()}, not {state}"
            time.sleep(0.2)
