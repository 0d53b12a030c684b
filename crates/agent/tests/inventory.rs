//! In-band inventory read from a fake /proc and /sys tree.

mod common;

use common::FakeRoot;
use ferrite_agent::inventory;
use ferrite_model::records::interface_macs;

#[test]
fn inventory_reads_cpu_memory_disks_nics_dmi_and_boot_mode() {
    let root = FakeRoot::new();
    root.add_disk("vda", 8 << 30, false, "V1");
    root.add_disk("sda", 20 << 30, true, "S1");
    root.add_disk("loop0", 1 << 20, false, "L");
    std::fs::create_dir_all(root.path().join("sys/block/sr0")).unwrap();
    root.add_by_path("pci-0000:00:04.0", "vda");
    // hctl comes from where the device link points.
    let dev = root.path().join("sys/block/sda/device");
    let real = root.path().join("sys/devices/pci0000:00/host0/0:0:1:0");
    std::fs::create_dir_all(&real).unwrap();
    for f in ["model", "vendor", "serial"] {
        std::fs::rename(dev.join(f), real.join(f)).unwrap();
    }
    std::fs::remove_dir(&dev).unwrap();
    std::os::unix::fs::symlink(&real, &dev).unwrap();
    root.add_nic("eth1", "52:54:00:AA:BB:CC", false);

    let inv = inventory::read(root.path());
    assert_eq!(inv.cpu.count, Some(2));
    assert_eq!(inv.cpu.sockets, Some(1));
    assert_eq!(inv.cpu.model_name.as_deref(), Some("QEMU Virtual CPU"));
    assert_eq!(inv.cpu.frequency_mhz, Some(2400));
    assert_eq!(
        inv.cpu.architecture.as_deref(),
        Some(std::env::consts::ARCH)
    );
    // 16 online blocks of 128 MiB: the offline one is not installed memory.
    assert_eq!(inv.memory_mb, Some(2048));
    assert_eq!(inv.boot_mode.as_deref(), Some("uefi"));
    assert_eq!(inv.system_vendor.manufacturer.as_deref(), Some("QEMU"));
    assert_eq!(inv.system_vendor.serial_number.as_deref(), Some("SN-1"));

    let names: Vec<&str> = inv.disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["/dev/sda", "/dev/vda"],
        "loop and optical devices are skipped"
    );
    let sda = &inv.disks[0];
    assert_eq!(sda.size_bytes, 20 << 30);
    assert_eq!(sda.media_type.as_deref(), Some("HDD"));
    assert_eq!(sda.model.as_deref(), Some("QEMU HARDDISK"));
    assert_eq!(sda.vendor.as_deref(), Some("ATA"));
    assert_eq!(sda.serial.as_deref(), Some("S1"));
    assert_eq!(sda.wwn.as_deref(), Some("5000c500S1"));
    assert_eq!(sda.hctl.as_deref(), Some("0:0:1:0"));
    let vda = &inv.disks[1];
    assert_eq!(vda.media_type.as_deref(), Some("SSD"));
    assert_eq!(
        vda.by_path.as_deref(),
        Some("/dev/disk/by-path/pci-0000:00:04.0")
    );
    assert_eq!(vda.hctl, None);

    assert_eq!(
        inv.interfaces.len(),
        2,
        "loopback has no device and is skipped"
    );
    assert_eq!(inv.interfaces[0].name, "eth0");
    assert_eq!(inv.interfaces[0].speed_mbps, Some(1000));
    assert_eq!(inv.interfaces[0].link_status.as_deref(), Some("LinkUp"));
    assert_eq!(inv.interfaces[1].mac_address, "52:54:00:aa:bb:cc");
    assert_eq!(inv.interfaces[1].link_status.as_deref(), Some("LinkDown"));

    // The document is the strict one Ferrite stores, and inspection finds
    // the MACs in it.
    let doc = serde_json::to_value(&inv).unwrap();
    let back: ferrite_model::inventory::Inventory = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(back, inv);
    assert_eq!(
        interface_macs(&doc),
        ["52:54:00:12:34:56", "52:54:00:aa:bb:cc"]
    );
}

#[test]
fn memory_falls_back_to_meminfo_and_bios_without_efi() {
    let root = FakeRoot::new();
    std::fs::remove_dir_all(root.path().join("sys/devices/system/memory")).unwrap();
    std::fs::remove_dir_all(root.path().join("sys/firmware/efi")).unwrap();
    let inv = inventory::read(root.path());
    assert_eq!(inv.memory_mb, Some(1954), "2000000 kB rounded up to MiB");
    assert_eq!(inv.boot_mode.as_deref(), Some("bios"));
    assert!(inv.disks.is_empty());
}
