//! In-band inspection: the machine's hardware read from `/proc` and
//! `/sys` into the strict inventory Ferrite stores for every node
//! (`ferrite_model::inventory`), so in-band and out-of-band inspection
//! produce the same document. Everything is read under a root directory
//! so tests can point it at a fake tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ferrite_model::ident::normalize_mac;
use ferrite_model::inventory::{Cpu, Disk, Inventory, Nic, SystemVendor};

/// Block devices that are never install targets: loop, RAM and
/// compressed-RAM disks, optical drives, floppies, device-mapper and
/// network block devices.
const SKIPPED_BLOCK_PREFIXES: [&str; 7] = ["loop", "ram", "zram", "sr", "fd", "dm-", "nbd"];

/// Reads the inventory of the machine whose `/proc`, `/sys` and `/dev`
/// are under `root`. Missing files leave fields empty rather than fail:
/// hardware differs and a partial inventory is still useful.
pub fn read(root: &Path) -> Inventory {
    Inventory {
        system_vendor: system_vendor(root),
        cpu: cpu(root),
        memory_mb: memory_mb(root),
        disks: disks(root),
        interfaces: interfaces(root),
        boot_mode: Some(boot_mode(root).to_string()),
    }
}

/// A trimmed, non-empty line of text from a file.
fn text(path: &Path) -> Option<String> {
    let raw = std::fs::read_to_string(path).ok()?;
    let value = raw.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// A number from a file, in the given radix.
fn number(path: &Path, radix: u32) -> Option<u64> {
    let raw = text(path)?;
    u64::from_str_radix(raw.trim_start_matches("0x"), radix).ok()
}

/// The entries of a directory, sorted by name (stable inventories).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|list| {
            list.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn system_vendor(root: &Path) -> SystemVendor {
    let dmi = root.join("sys/class/dmi/id");
    SystemVendor {
        manufacturer: text(&dmi.join("sys_vendor")),
        product_name: text(&dmi.join("product_name")),
        serial_number: text(&dmi.join("product_serial")),
        sku: text(&dmi.join("product_sku")),
    }
}

fn cpu(root: &Path) -> Cpu {
    let info = std::fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let mut count = 0u32;
    let mut sockets = BTreeSet::new();
    let mut model_name = None;
    let mut mhz = None;
    for line in info.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "processor" => count += 1,
            "physical id" => {
                sockets.insert(value.to_string());
            }
            "model name" if model_name.is_none() => model_name = Some(value.to_string()),
            "cpu MHz" if mhz.is_none() => mhz = value.parse::<f64>().ok(),
            _ => {}
        }
    }
    let max_khz = number(
        &root.join("sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"),
        10,
    );
    Cpu {
        count: (count > 0).then_some(count),
        sockets: Some(sockets.len() as u32).filter(|n| *n > 0),
        architecture: Some(std::env::consts::ARCH.to_string()),
        model_name,
        frequency_mhz: max_khz.map(|k| (k / 1000) as u32).or(mhz
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(|m| m.round() as u32)),
    }
}

/// Installed memory: the online memory blocks of
/// `/sys/devices/system/memory` (what the hardware has, as Ironic's
/// `memory_mb` means), else `MemTotal` (what the kernel kept, a little
/// less) rounded up to a whole MiB.
fn memory_mb(root: &Path) -> Option<u64> {
    let dir = root.join("sys/devices/system/memory");
    let block = number(&dir.join("block_size_bytes"), 16);
    let online = entries(&dir)
        .into_iter()
        .filter(|n| n.starts_with("memory"))
        .filter(|n| text(&dir.join(n).join("state")).as_deref() == Some("online"))
        .count() as u64;
    if let Some(block) = block
        && online > 0
    {
        return Some(block * online / (1 << 20));
    }
    let meminfo = std::fs::read_to_string(root.join("proc/meminfo")).ok()?;
    meminfo.lines().find_map(|line| {
        let kb: u64 = line
            .strip_prefix("MemTotal:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb.div_ceil(1024))
    })
}

/// The disks under `root`'s `/sys/block`, in name order (cleaning and
/// root device selection read them without the rest of the inventory).
pub fn disks(root: &Path) -> Vec<Disk> {
    let block = root.join("sys/block");
    let by_path = by_path_links(root);
    entries(&block)
        .into_iter()
        .filter(|name| !SKIPPED_BLOCK_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter_map(|name| {
            let dir = block.join(&name);
            let sectors = number(&dir.join("size"), 10)?;
            if sectors == 0 {
                return None;
            }
            let device = dir.join("device");
            let rotational = text(&dir.join("queue/rotational"));
            Some(Disk {
                name: format!("/dev/{name}"),
                // The kernel counts 512-byte sectors whatever the disk's own.
                size_bytes: sectors * 512,
                media_type: rotational.map(|r| if r == "1" { "HDD" } else { "SSD" }.into()),
                protocol: None,
                model: text(&device.join("model")),
                serial: text(&device.join("serial")).or_else(|| text(&dir.join("serial"))),
                vendor: text(&device.join("vendor")),
                wwn: text(&dir.join("wwid"))
                    .or_else(|| text(&device.join("wwid")))
                    .map(|w| w.trim_start_matches("naa.").to_string()),
                hctl: hctl(&device),
                by_path: by_path
                    .iter()
                    .find(|(_, target)| *target == name)
                    .map(|(link, _)| link.clone()),
            })
        })
        .collect()
}

/// A SCSI disk's `device` link ends in its `host:channel:target:lun`.
fn hctl(device: &Path) -> Option<String> {
    let target = std::fs::read_link(device).ok()?;
    let last = target.file_name()?.to_string_lossy().into_owned();
    let parts: Vec<&str> = last.split(':').collect();
    (parts.len() == 4 && parts.iter().all(|p| p.parse::<u32>().is_ok())).then_some(last)
}

/// `/dev/disk/by-path` links and the device name each points at (present
/// when udev runs; a bare busybox ramdisk has none).
fn by_path_links(root: &Path) -> Vec<(String, String)> {
    let dir = root.join("dev/disk/by-path");
    entries(&dir)
        .into_iter()
        .filter_map(|link| {
            let target = std::fs::read_link(dir.join(&link)).ok()?;
            let device = target.file_name()?.to_string_lossy().into_owned();
            Some((format!("/dev/disk/by-path/{link}"), device))
        })
        .collect()
}

fn interfaces(root: &Path) -> Vec<Nic> {
    let net = root.join("sys/class/net");
    entries(&net)
        .into_iter()
        .filter_map(|name| {
            let dir: PathBuf = net.join(&name);
            // Only NICs backed by a device: no loopback, bridges or veths.
            if !dir.join("device").exists() {
                return None;
            }
            let mac = normalize_mac(&text(&dir.join("address"))?)?;
            let speed = text(&dir.join("speed")).and_then(|s| s.parse::<i64>().ok());
            let link = text(&dir.join("carrier"))
                .map(|c| if c == "1" { "LinkUp" } else { "LinkDown" }.to_string());
            Some(Nic {
                name,
                mac_address: mac,
                speed_mbps: speed.filter(|s| *s > 0).map(|s| s as u64),
                link_status: link,
            })
        })
        .collect()
}

/// `uefi` when the kernel was started by UEFI firmware, else `bios`.
pub fn boot_mode(root: &Path) -> &'static str {
    if root.join("sys/firmware/efi").exists() {
        "uefi"
    } else {
        "bios"
    }
}
