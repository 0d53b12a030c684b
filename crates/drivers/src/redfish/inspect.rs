//! Out-of-band inspection: the inventory the BMC knows (vendor, CPUs,
//! memory, disks, NICs, boot mode) read without booting the machine, and
//! the node `properties` Ironic derives from it.
//! The inventory's shape is `ferrite_model::inventory`, shared with the
//! in-band agent so both inspections store the same strict document.

use async_trait::async_trait;
use ferrite_model::Node;
pub use ferrite_model::inventory::{Cpu, Disk, Inventory, Nic, SystemVendor};
use serde_json::json;
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
                        ..Disk::default()
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
    fn processor_architectures_use_ironic_names() {
        let arm = Processor {
            instruction_set: Some("ARM-A64".into()),
            ..Processor::default()
        };
        assert_eq!(cpu_arch(&arm), Some("aarch64"));
        let x86 = Processor {
            processor_architecture: Some("x86".into()),
            ..Processor::default()
        };
        assert_eq!(cpu_arch(&x86), Some("x86_64"));
    }
}
