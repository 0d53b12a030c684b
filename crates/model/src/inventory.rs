//! The hardware inventory inspection stores for a node: strict (typed
//! fields, no free-form maps) so out-of-band inspection (a BMC) and in-band
//! inspection (the ramdisk agent) produce the same stable document, and the
//! node `properties` Ironic derives from it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Dict;
use crate::Node;

/// Who made the machine (Redfish `Manufacturer`/`Model`/`SerialNumber`/
/// `SKU`; in band, DMI's `sys_vendor`/`product_name`/`product_serial`/
/// `product_sku`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemVendor {
    /// The manufacturer.
    pub manufacturer: Option<String>,
    /// The product (model) name.
    pub product_name: Option<String>,
    /// The chassis serial number.
    pub serial_number: Option<String>,
    /// The SKU.
    pub sku: Option<String>,
}

/// The processors, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// Logical CPUs (threads) when the BMC tells them, else cores or sockets.
    pub count: Option<u32>,
    /// Populated sockets.
    pub sockets: Option<u32>,
    /// Ironic's architecture name (`x86_64`, `aarch64`, …).
    pub architecture: Option<String>,
    /// The model of the first processor.
    pub model_name: Option<String>,
    /// Its maximum frequency.
    pub frequency_mhz: Option<u32>,
}

/// One disk. The identifiers after `serial` are the ones root device
/// hints match on; a BMC rarely knows them, the agent reads them from
/// `/sys/block`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// The BMC's name for it, or the kernel's device path (`/dev/sda`).
    pub name: String,
    /// Its size.
    pub size_bytes: u64,
    /// `HDD` or `SSD`, when known.
    pub media_type: Option<String>,
    /// `SAS`, `SATA`, `NVMe`, …
    pub protocol: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// The serial number.
    pub serial: Option<String>,
    /// The vendor.
    pub vendor: Option<String>,
    /// The World Wide Name.
    pub wwn: Option<String>,
    /// The SCSI address `host:channel:target:lun`.
    pub hctl: Option<String>,
    /// The stable `/dev/disk/by-path/…` name.
    pub by_path: Option<String>,
}

/// One NIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// The BMC's Id for it, or the kernel's interface name.
    pub name: String,
    /// Its MAC address, lower case.
    pub mac_address: String,
    /// Link speed.
    pub speed_mbps: Option<u64>,
    /// `LinkUp`, `LinkDown`, `NoLink`.
    pub link_status: Option<String>,
}

/// What inspection found, out of band or in band.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Vendor, model, serial.
    pub system_vendor: SystemVendor,
    /// Processors.
    pub cpu: Cpu,
    /// Installed memory.
    pub memory_mb: Option<u64>,
    /// Disks (Redfish Storage drives and SimpleStorage devices, or
    /// `/sys/block`).
    pub disks: Vec<Disk>,
    /// NICs with a MAC address.
    pub interfaces: Vec<Nic>,
    /// `uefi` or `bios`.
    pub boot_mode: Option<String>,
}

impl Inventory {
    /// The MACs to create ports for.
    pub fn macs(&self) -> Vec<String> {
        self.interfaces
            .iter()
            .map(|n| n.mac_address.clone())
            .collect()
    }

    /// Ironic's `local_gb`: the largest disk in GiB, less one GiB left for
    /// partitioning; `None` when no disk is known.
    pub fn local_gb(&self) -> Option<u64> {
        self.disks
            .iter()
            .map(|d| d.size_bytes)
            .max()
            .map(|b| (b >> 30).saturating_sub(1))
    }

    /// The `properties` inspection sets. Unknown values are left out so
    /// an operator's own value stays; `capabilities` keeps its other keys.
    pub fn properties(&self, node: &Node) -> Dict {
        let mut out = Dict::new();
        if let Some(count) = self.cpu.count {
            out.insert("cpus".into(), json!(count));
        }
        if let Some(arch) = &self.cpu.architecture {
            out.insert("cpu_arch".into(), json!(arch));
        }
        if let Some(mb) = self.memory_mb {
            out.insert("memory_mb".into(), json!(mb));
        }
        if let Some(gb) = self.local_gb() {
            out.insert("local_gb".into(), json!(gb));
        }
        if let Some(vendor) = &self.system_vendor.manufacturer {
            out.insert("vendor".into(), json!(vendor));
        }
        if let Some(mode) = &self.boot_mode {
            let existing = node
                .properties
                .get("capabilities")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut caps: Vec<String> = existing
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.starts_with("boot_mode:"))
                .map(str::to_string)
                .collect();
            caps.push(format!("boot_mode:{mode}"));
            out.insert("capabilities".into(), json!(caps.join(",")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_keep_other_capabilities() {
        let inventory = Inventory {
            cpu: Cpu {
                count: Some(8),
                architecture: Some("x86_64".into()),
                ..Cpu::default()
            },
            memory_mb: Some(16384),
            disks: vec![Disk {
                name: "d".into(),
                size_bytes: 100 << 30,
                ..Disk::default()
            }],
            boot_mode: Some("uefi".into()),
            ..Inventory::default()
        };
        let mut node = Node::default();
        node.properties
            .insert("capabilities".into(), json!("foo:bar,boot_mode:bios"));
        let p = inventory.properties(&node);
        assert_eq!(p["cpus"], json!(8));
        assert_eq!(p["local_gb"], json!(99));
        assert_eq!(p["memory_mb"], json!(16384));
        assert_eq!(p["capabilities"], json!("foo:bar,boot_mode:uefi"));
    }
}
