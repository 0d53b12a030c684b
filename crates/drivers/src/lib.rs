//! Hardware types and their interfaces.
//!
//! CONTRACT (read by the api through the conductor): `HardwareType`,
//! `InterfaceKind` and `registry()` are fixed.
//!
//! The interface traits live in [`interfaces`]; a node's [`Driver`] is
//! built from its hardware type and `<kind>_interface` fields.
//! `fake-hardware` simulates everything; `redfish` drives real BMCs
//! ([`redfish`]); `ipmi` drives IPMI BMCs through `ipmitool` ([`ipmi`]),
//! behind the same traits.

use serde::Serialize;

pub mod agent_deploy;
pub mod bios;
pub mod driver;
pub mod error;
pub mod external;
pub mod fake;
pub mod interfaces;
pub mod ipmi;
pub mod noop;
pub mod raid;
pub mod redfish;

pub use driver::{Driver, node_interface, node_interface_mut, resolve_interface};
pub use error::DriverError;
pub use fake::FakeDelays;
pub use interfaces::{
    BootDevice, Indicator, Interface, NodeUpdate, StepCtx, StepDef, StepOutcome, StepPhase,
    VendorMethod,
};

/// The interface kinds of a hardware type, in the order Ironic lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceKind {
    /// BIOS settings.
    Bios,
    /// Boot preparation (ramdisk or instance).
    Boot,
    /// Serial or graphical console.
    Console,
    /// Deployment orchestration and the core deploy steps.
    Deploy,
    /// Firmware updates.
    Firmware,
    /// Hardware inspection.
    Inspect,
    /// Boot device, boot mode, secure boot, NMI.
    Management,
    /// Port attachment to networks.
    Network,
    /// Power control.
    Power,
    /// RAID configuration.
    Raid,
    /// Rescue ramdisk.
    Rescue,
    /// Boot from volume.
    Storage,
    /// Vendor-specific methods.
    Vendor,
}

impl InterfaceKind {
    /// Every kind, alphabetically (Ironic's order in `/v1/drivers`).
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

    /// The kind named `s` (`bios`, `boot`, …), if any.
    pub fn parse(s: &str) -> Option<InterfaceKind> {
        InterfaceKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

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

impl std::fmt::Display for InterfaceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The static description of a hardware type: what `/v1/drivers` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct HardwareType {
    /// The value of `node.driver` (`fake-hardware`, …).
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
        self.interfaces
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, d, _)| *d)
            .unwrap_or("")
    }

    /// Whether `name` is an enabled implementation of `kind`.
    pub fn supports(&self, kind: InterfaceKind, name: &str) -> bool {
        self.interfaces
            .iter()
            .any(|(k, _, enabled)| *k == kind && enabled.contains(&name))
    }
}

/// Every hardware type this build offers.
pub fn registry() -> Vec<HardwareType> {
    vec![
        fake_hardware(),
        redfish::hardware_type(),
        ipmi::hardware_type(),
    ]
}

/// `fake-hardware`: every interface simulated, for tests, demos and
/// benchmarks. Enabled implementations are Ironic's, so enrollment files
/// that name them are accepted; those without code yet fail validation.
fn fake_hardware() -> HardwareType {
    use InterfaceKind as K;
    HardwareType {
        name: "fake-hardware",
        interfaces: vec![
            (K::Bios, "fake", vec!["fake", "no-bios"]),
            (
                K::Boot,
                "fake",
                vec!["pxe", "ipxe", "http-ipxe", "redfish-virtual-media", "fake"],
            ),
            (
                K::Console,
                "fake",
                vec!["fake", "fake-graphical", "no-console"],
            ),
            (K::Deploy, "fake", vec!["fake", "direct", "ramdisk"]),
            (K::Firmware, "fake", vec!["fake", "no-firmware"]),
            (K::Inspect, "fake", vec!["fake", "no-inspect"]),
            (K::Management, "fake", vec!["fake"]),
            (K::Network, "noop", vec!["flat", "noop"]),
            (K::Power, "fake", vec!["fake"]),
            (K::Raid, "fake", vec!["agent", "no-raid", "fake"]),
            (K::Rescue, "fake", vec!["no-rescue", "fake"]),
            (K::Storage, "noop", vec!["noop", "fake"]),
            (K::Vendor, "fake", vec!["no-vendor", "fake"]),
        ],
        properties: vec![
            (
                "deploy_kernel",
                "URL or image UUID of the kernel of the deployment ramdisk. Needed by boot \
                 interfaces that network-boot the agent.",
            ),
            (
                "deploy_ramdisk",
                "URL or image UUID of the initramfs of the deployment ramdisk. Needed by boot \
                 interfaces that network-boot the agent.",
            ),
            (
                "rescue_kernel",
                "URL or image UUID of the kernel of the rescue ramdisk. Optional.",
            ),
            (
                "rescue_ramdisk",
                "URL or image UUID of the initramfs of the rescue ramdisk. Optional.",
            ),
            (
                "kernel_append_params",
                "Extra kernel command-line arguments for the ramdisks. Optional.",
            ),
            (
                "force_persistent_boot_device",
                "Always, Default or Never: whether boot device changes persist across reboots. \
                 Optional.",
            ),
        ],
        raid_logical_disk_properties: raid::LOGICAL_DISK_PROPERTIES.to_vec(),
    }
}

/// Checks shared by the BMC hardware types' tests: every default enabled,
/// `property` documented, the `implemented` interfaces built under the
/// name `iface`, and power validation naming `address_key` until it is
/// set (to a valid address, after which it passes). Returns the driver
/// and the node with the address set, for type-specific checks.
#[cfg(test)]
pub(crate) async fn check_bmc_hardware_type(
    hw: &HardwareType,
    implemented: &[InterfaceKind],
    iface: &str,
    property: &str,
    address_key: &str,
) -> (Driver, ferrite_model::Node) {
    for kind in InterfaceKind::ALL {
        let default = hw.default_interface(*kind);
        assert!(hw.supports(*kind, default), "{kind:?} default {default}");
    }
    assert!(hw.properties.iter().any(|(k, _)| *k == property));
    let mut node = ferrite_model::Node {
        driver: hw.name.into(),
        ..ferrite_model::Node::default()
    };
    let Ok(d) = Driver::build(&node, &FakeDelays::default()) else {
        panic!("build")
    };
    for kind in implemented {
        assert_eq!(d.interface(*kind).name(), iface, "{kind:?}");
    }
    // Without the address, validation names the missing key.
    let Err(e) = d.power.validate(&node).await else {
        panic!("validated without an address")
    };
    assert!(e.to_string().contains(address_key), "{e}");
    node.driver_info
        .insert(address_key.into(), serde_json::json!("bmc.example"));
    assert!(d.power.validate(&node).await.is_ok());
    // Boot has no code yet and says so.
    assert!(d.boot.validate(&node).await.is_err());
    (d, node)
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn fake_hardware_matches_ironic() {
        let types = registry();
        assert_eq!(types.len(), 3);
        let hw = &types[0];
        assert_eq!(hw.name, "fake-hardware");
        assert_eq!(hw.interfaces.len(), InterfaceKind::ALL.len());
        for kind in InterfaceKind::ALL {
            let default = hw.default_interface(*kind);
            assert!(
                hw.supports(*kind, default),
                "{kind:?} default {default} not enabled"
            );
        }
        assert_eq!(hw.default_interface(InterfaceKind::Network), "noop");
        assert_eq!(hw.default_interface(InterfaceKind::Storage), "noop");
        assert_eq!(hw.default_interface(InterfaceKind::Power), "fake");
        assert!(hw.supports(InterfaceKind::Raid, "agent"));
        assert!(!hw.supports(InterfaceKind::Power, "redfish"));
        assert!(hw.properties.iter().any(|(k, _)| *k == "deploy_kernel"));
        let raid: Vec<_> = hw
            .raid_logical_disk_properties
            .iter()
            .map(|(k, _)| *k)
            .collect();
        assert!(
            raid.contains(&"size_gb") && raid.contains(&"raid_level"),
            "{raid:?}"
        );
    }
}
