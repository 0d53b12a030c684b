//! Out-of-band inspection: the inventory the BMC knows (vendor, CPUs,
//! memory, disks, NICs, boot mode) read without booting the machine, and
//! the node `properties` Ironic derives from it.
//!
//! `ferrite_model` has no inventory type yet, so [`Inventory`] is defined
//! here; it is strict (typed fields, no free-form maps) so whoever stores
//! it later gets a stable shape.

use async_trait::async_trait;
use ferrite_model::{Dict, Node};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::warn;

use super::client::{BmcClient, BmcClientExt};
use super::config::RedfishConfig;
use super::connect_system;
use super::management::ironic_boot_mode;
use super::power::read_system;
use super::resources::{
    ComputerSystem, Drive, EthernetInterface, Processor, SimpleStorage, Status, Storage,
};
use crate::interfaces::{InspectInterface, Interface, NodeUpdate, StepOutcome};
use crate::{DriverError, InterfaceKind};

/// `driver_internal_info` key listing the MACs found, so the conductor can
/// create ports for them (drivers never write ports themselves).
pub const INSPECTED_MACS_KEY: &str = "redfish_inspected_macs";

/// Who made the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemVendor {
    /// `Manufacturer`.
    pub manufacturer: Option<String>,
    /// `Model`.
    pub product_name: Option<String>,
    /// `SerialNumber`.
    pub serial_number: Option<String>,
    /// `SKU`.
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

/// One disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// The BMC's name for it.
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
}

/// One NIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// The BMC's Id for it.
    pub name: String,
    /// Its MAC address, lower case.
    pub mac_address: String,
    /// Link speed.
    pub speed_mbps: Option<u64>,
    /// `LinkUp`, `LinkDown`, `NoLink`.
    pub link_status: Option<String>,
}

/// What out-of-band inspection found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Vendor, model, serial.
    pub system_vendor: SystemVendor,
    /// Processors.
    pub cpu: Cpu,
    /// Installed memory.
    pub memory_mb: Option<u64>,
    /// Disks, from Storage drives and SimpleStorage devices.
    pub disks: Vec<Disk>,
    /// NICs with a MAC address.
    pub interfaces: Vec<Nic>,
    /// `uefi` or `bios`.
    pub boot_mode: Option<String>,
}

/// Ironic's architecture name for a Redfish processor.
pub fn cpu_arch(processor: &Processor) -> Option<&'static str> {
    let by_set = match processor.instruction_set.as_deref() {
        Some("x86") => Some("i686"),
        Some("x86-64") => Some("x86_64"),
        Some("IA-64") => Some("ia64"),
        Some("ARM-A32") => Some("arm"),
        Some("ARM-A64") => Some("aarch64"),
        Some("MIPS32") => Some("mips"),
        Some("MIPS64") => Some("mips64"),
        Some("PowerISA") => Some("ppc64le"),
        _ => None,
    };
    by_set.or(match processor.processor_architecture.as_deref() {
        Some("x86") => Some("x86_64"),
        Some("ARM") => Some("aarch64"),
        Some("Power") => Some("ppc64le"),
        Some("MIPS") => Some("mips64"),
        _ => None,
    })
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

/// What an inspection produced: the inventory, the node update to record
/// and the MACs to create ports for.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// Everything found.
    pub inventory: Inventory,
    /// `properties` (and the MAC list in `driver_internal_info`).
    pub update: NodeUpdate,
    /// MAC addresses of the NICs.
    pub macs: Vec<String>,
}

/// Reads a list of members, skipping (with a warning) members that fail:
/// one broken drive must not fail the whole inspection.
async fn read_members<T: serde::de::DeserializeOwned + Send>(
    client: &dyn BmcClient,
    collection: &str,
) -> Vec<T> {
    let members = match client.members(collection).await {
        Ok(m) => m,
        Err(e) => {
            warn!(collection, error = %e, "cannot list a collection during inspection");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for member in members {
        match client.get_as::<T>(&member).await {
            Ok(item) => out.push(item),
            Err(e) => warn!(member, error = %e, "cannot read a resource during inspection"),
        }
    }
    out
}

/// Reads the whole inventory of the system.
pub async fn read_inventory(
    client: &dyn BmcClient,
    system_path: &str,
) -> Result<Inventory, DriverError> {
    let system: ComputerSystem = read_system(client, system_path).await?;
    let mut inventory = Inventory {
        system_vendor: SystemVendor {
            manufacturer: system.manufacturer.clone(),
            product_name: system.model.clone(),
            serial_number: system.serial_number.clone(),
            sku: system.sku.clone(),
        },
        boot_mode: system
            .boot
            .as_ref()
            .and_then(|b| b.boot_source_override_mode.as_deref())
            .and_then(ironic_boot_mode)
            .map(str::to_string),
        memory_mb: system
            .memory_summary
            .as_ref()
            .and_then(|m| m.total_system_memory_gib)
            .filter(|g| g.is_finite() && *g > 0.0)
            .map(|g| (g * 1024.0).round() as u64),
        ..Inventory::default()
    };

    let summary = system.processor_summary.clone().unwrap_or_default();
    let processors: Vec<Processor> = match &system.processors {
        Some(link) => read_members(client, &link.id).await,
        None => Vec::new(),
    };
    let cpus: Vec<&Processor> = processors
        .iter()
        .filter(|p| !Status::is_absent(&p.status))
        .filter(|p| p.processor_type.as_deref().is_none_or(|t| t == "CPU"))
        .collect();
    let threads: u32 = cpus
        .iter()
        .map(|p| p.total_threads.or(p.total_cores).unwrap_or(1))
        .sum();
    inventory.cpu = Cpu {
        count: (threads > 0)
            .then_some(threads)
            .or(summary.logical_processor_count)
            .or(summary.count),
        sockets: (!cpus.is_empty())
            .then_some(cpus.len() as u32)
            .or(summary.count),
        architecture: cpus.iter().find_map(|p| cpu_arch(p)).map(str::to_string),
        model_name: cpus.iter().find_map(|p| p.model.clone()).or(summary.model),
        frequency_mhz: cpus.iter().find_map(|p| p.max_speed_mhz),
    };

    if let Some(link) = &system.storage {
        for storage in read_members::<Storage>(client, &link.id).await {
            for drive in storage.drives {
                match client.get_as::<Drive>(&drive.id).await {
                    Ok(d) if !Status::is_absent(&d.status) => inventory.disks.push(Disk {
                        name: d.name.or(d.id).unwrap_or(drive.id),
                        size_bytes: d.capacity_bytes.unwrap_or(0),
                        media_type: d.media_type,
                        protocol: d.protocol,
                        model: d.model,
                        serial: d.serial_number,
                    }),
                    Ok(_) => {}
                    Err(e) => warn!(drive = %drive.id, error = %e, "cannot read a drive"),
                }
            }
        }
    }
    if inventory.disks.is_empty()
        && let Some(link) = &system.simple_storage
    {
        for controller in read_members::<SimpleStorage>(client, &link.id).await {
            for device in controller.devices {
                if Status::is_absent(&device.status) {
                    continue;
                }
                if let Some(size) = device.capacity_bytes {
                    inventory.disks.push(Disk {
                        name: device.name.unwrap_or_default(),
                        size_bytes: size,
                        ..Disk::default()
                    });
                }
            }
        }
    }

    if let Some(link) = &system.ethernet_interfaces {
        for nic in read_members::<EthernetInterface>(client, &link.id).await {
            let mac = nic
                .mac_address
                .or(nic.permanent_mac_address)
                .map(|m| m.to_ascii_lowercase())
                .filter(|m| !m.is_empty());
            if let Some(mac) = mac
                && !inventory.interfaces.iter().any(|n| n.mac_address == mac)
            {
                inventory.interfaces.push(Nic {
                    name: nic.id.unwrap_or_default(),
                    mac_address: mac,
                    speed_mbps: nic.speed_mbps,
                    link_status: nic.link_status,
                });
            }
        }
    }
    Ok(inventory)
}

/// The `redfish` inspect interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishInspect;

impl RedfishInspect {
    /// Inspects the node and returns everything found, typed; the trait's
    /// `inspect_hardware` returns only the update part of it.
    pub async fn inspect(&self, node: &Node) -> Result<Inspection, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let inventory = read_inventory(&*client, &path).await?;
        let properties = inventory.properties(node);
        for key in ["cpus", "memory_mb", "local_gb", "cpu_arch"] {
            if !properties.contains_key(key) {
                warn!(node = %node.uuid, key, "the BMC did not report this property");
            }
        }
        let macs = inventory.macs();
        let mut update = NodeUpdate {
            properties,
            ..NodeUpdate::default()
        };
        update
            .driver_internal_info
            .insert(INSPECTED_MACS_KEY.into(), json!(macs));
        Ok(Inspection {
            inventory,
            update,
            macs,
        })
    }
}

#[async_trait]
impl Interface for RedfishInspect {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Inspect
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl InspectInterface for RedfishInspect {
    async fn inspect_hardware(&self, node: &Node) -> Result<StepOutcome, DriverError> {
        let found = self.inspect(node).await?;
        let mut update = found.update;
        update.inventory = serde_json::to_value(&found.inventory).ok();
        Ok(StepOutcome::Done(update))
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
        let arm = Processor {
            instruction_set: Some("ARM-A64".into()),
            ..Processor::default()
        };
        assert_eq!(cpu_arch(&arm), Some("aarch64"));
    }
}
