//! Hardware types and their interfaces.
//!
//! CONTRACT (read by the api through the conductor): `HardwareType`,
//! `InterfaceKind` and `registry()` are fixed; the interface traits and the
//! fake implementations are being written.

use serde::Serialize;

/// The interface kinds of a hardware type, in the order Ironic lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceKind {
    Bios,
    Boot,
    Console,
    Deploy,
    Firmware,
    Inspect,
    Management,
    Network,
    Power,
    Raid,
    Rescue,
    Storage,
    Vendor,
}

impl InterfaceKind {
    pub const ALL: &'static [InterfaceKind] = &[
        InterfaceKind::Bios,
        InterfaceKind::Boot,
        InterfaceKind::Console,
        InterfaceKind::Deploy,
        InterfaceKind::Firmware,
        InterfaceKind::Inspect,
        InterfaceKind::Management,
        InterfaceKind::Network,
        InterfaceKind::Power,
        InterfaceKind::Raid,
        InterfaceKind::Rescue,
        InterfaceKind::Storage,
        InterfaceKind::Vendor,
    ];

    /// `bios`, `boot`, …: the prefix of the node's `<kind>_interface` field.
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceKind::Bios => "bios",
            InterfaceKind::Boot => "boot",
            InterfaceKind::Console => "console",
            InterfaceKind::Deploy => "deploy",
            InterfaceKind::Firmware => "firmware",
            InterfaceKind::Inspect => "inspect",
            InterfaceKind::Management => "management",
            InterfaceKind::Network => "network",
            InterfaceKind::Power => "power",
            InterfaceKind::Raid => "raid",
            InterfaceKind::Rescue => "rescue",
            InterfaceKind::Storage => "storage",
            InterfaceKind::Vendor => "vendor",
        }
    }
}

/// The static description of a hardware type: what `/v1/drivers` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct HardwareType {
    pub name: &'static str,
    /// Per kind: (default implementation, enabled implementations).
    pub interfaces: Vec<(InterfaceKind, &'static str, Vec<&'static str>)>,
    /// `driver_info` keys and their descriptions (`/properties`).
    pub properties: Vec<(&'static str, &'static str)>,
    /// RAID logical-disk properties and descriptions.
    pub raid_logical_disk_properties: Vec<(&'static str, &'static str)>,
}

impl HardwareType {
    /// The default implementation of `kind`.
    pub fn default_interface(&self, kind: InterfaceKind) -> &'static str {
        self.interfaces.iter().find(|(k, _, _)| *k == kind).map(|(_, d, _)| *d).unwrap_or("")
    }

    /// Whether `name` is an enabled implementation of `kind`.
    pub fn supports(&self, kind: InterfaceKind, name: &str) -> bool {
        self.interfaces.iter().any(|(k, _, enabled)| *k == kind && enabled.contains(&name))
    }
}

/// Every hardware type this build offers.
pub fn registry() -> Vec<HardwareType> {
    unimplemented!()
}
