#!/usr/bin/env python3
"""Drive a running bmcsim with sushy, the Redfish library Ironic uses.

Not part of the Rust test suite (it needs `pip install sushy`); it checks
that the resources Ironic's redfish driver reads and writes parse and
behave in sushy's object model. Exits non-zero on the first mismatch.

    python3 crates/bmcsim/scripts/sushy_smoke.py http://127.0.0.1:8000 [basic|session]
"""

import sys
import time

import sushy
from sushy import auth as sushy_auth


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok   {what}")


def wait_power(system, want, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        system.refresh()
        if system.power_state == want:
            return
        time.sleep(0.05)
    raise SystemExit(f"FAIL: power never reached {want} (is {system.power_state})")


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    mode = sys.argv[2] if len(sys.argv) > 2 else "session"
    if mode == "basic":
        auth = sushy_auth.BasicAuth(username="admin", password="password")
    else:
        auth = sushy_auth.SessionAuth(username="admin", password="password")
    root = sushy.Sushy(base + "/redfish/v1/", auth=auth)
    check(root.redfish_version is not None, f"service root ({mode} auth), Redfish {root.redfish_version}")

    systems = root.get_system_collection()
    check(len(systems.members_identities) > 0, f"{len(systems.members_identities)} systems listed")
    path = sorted(systems.members_identities)[0]
    system = root.get_system(path)
    check(system.identity == path.rsplit("/", 1)[-1], f"system {system.identity}")

    # Power.
    if system.power_state != sushy.PowerState.OFF:
        system.reset_system(sushy.ResetType.FORCE_OFF)
        wait_power(system, sushy.PowerState.OFF)
    system.reset_system(sushy.ResetType.ON)
    wait_power(system, sushy.PowerState.ON)
    check(True, "power on via ComputerSystem.Reset")
    check(sushy.ResetType.FORCE_RESTART in system.get_allowed_reset_system_values(), "allowed reset values")

    # Boot override.
    system.set_system_boot_options(
        sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE, mode=sushy.BootSourceOverrideMode.UEFI
    )
    system.refresh()
    check(system.boot.target == sushy.BootSource.PXE, "boot target PXE")
    check(system.boot.enabled == sushy.BootSourceOverrideEnabled.ONCE, "boot override Once")
    check(system.boot.mode == sushy.BootSourceOverrideMode.UEFI, "boot mode UEFI")

    # Inventory as Ironic's inspection reads it.
    check(system.processors.summary.count > 0, f"processors summary {system.processors.summary}")
    check(system.memory_summary.size_gib > 0, f"memory {system.memory_summary.size_gib} GiB")
    macs = system.ethernet_interfaces.summary
    check(len(macs) >= 1 and all(m.startswith("52:54:00") for m in macs), f"NICs {sorted(macs)}")
    check(max(system.simple_storage.disks_sizes_bytes) > 0, "simple storage disk sizes")
    storage = system.storage.get_members()[0]
    check(len(storage.drives) >= 2, f"storage drives {[d.identity for d in storage.drives]}")
    check(len(storage.volumes.get_members()) >= 1, "storage volumes")

    # BIOS: staged, applied on reboot.
    bios = system.bios
    check(bios.attributes["ProcTurboMode"] == "Enabled", "BIOS attributes")
    bios.set_attributes({"ProcTurboMode": "Disabled"})
    bios.refresh()
    check(bios.pending_attributes.get("ProcTurboMode") == "Disabled", "BIOS pending attributes")
    system.reset_system(sushy.ResetType.FORCE_RESTART)
    wait_power(system, sushy.PowerState.ON)
    bios.refresh()
    check(bios.attributes["ProcTurboMode"] == "Disabled", "BIOS applied after reboot")
    registry = bios.get_attribute_registry()
    check(registry is not None and len(registry.registry_entries.attributes) > 0, "BIOS attribute registry")
    bios.reset_bios()
    bios.refresh()
    check(bios.attributes["ProcTurboMode"] == "Enabled", "BIOS reset to defaults")

    # Secure boot.
    sb = system.secure_boot
    sb.set_enabled(True)
    sb.refresh()
    check(sb.enabled is True, "secure boot enabled")
    sb.set_enabled(False)

    # Virtual media through the manager, as older Ironic does.
    manager = root.get_manager(system.managers[0].path)
    cd = [v for v in manager.virtual_media.get_members() if sushy.VirtualMediaType.CD in v.media_types][0]
    image = "http://192.0.2.1/deploy.iso"
    cd.insert_media(image, inserted=True, write_protected=True)
    cd.refresh()
    check(cd.inserted and cd.image == image, "virtual media inserted")
    cd.eject_media()
    cd.refresh()
    check(not cd.inserted, "virtual media ejected")
    # And through the system, as newer Ironic does.
    sys_vm = system.virtual_media.get_members()
    check({v.identity for v in sys_vm} == {"Cd", "Floppy"}, "system-level virtual media")

    system.reset_system(sushy.ResetType.FORCE_OFF)
    wait_power(system, sushy.PowerState.OFF)
    check(True, "power off")
    print("sushy smoke: all checks passed")


if __name__ == "__main__":
    main()
