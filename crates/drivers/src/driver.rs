//! A node's driver: its hardware type plus one implementation per interface
//! kind, chosen from the node's `<kind>_interface` fields (or the hardware
//! type's defaults). The conductor builds one per operation.

use std::sync::Arc;

use ferrite_model::{Dict, Node};

use crate::fake::*;
use crate::interfaces::*;
use crate::ipmi::{IpmitoolManagement, IpmitoolPower, IpmitoolVendor};
use crate::noop::{Disabled, Noop, Unimplemented};
use crate::redfish::{
    bios::RedfishBios, console::RedfishGraphicalConsole, firmware::RedfishFirmware,
    inspect::RedfishInspect, management::RedfishManagement, power::RedfishPower, raid::RedfishRaid,
    vendor::RedfishVendor,
};
use crate::{DriverError, HardwareType, InterfaceKind, registry};

/// Every interface of one node, ready to use.
pub struct Driver {
    /// The node's hardware type (`fake-hardware`, …).
    pub hardware_type: &'static str,
    /// BIOS settings.
    pub bios: Arc<dyn BiosInterface>,
    /// Boot preparation.
    pub boot: Arc<dyn BootInterface>,
    /// Console.
    pub console: Arc<dyn ConsoleInterface>,
    /// Deployment orchestration.
    pub deploy: Arc<dyn DeployInterface>,
    /// Firmware updates.
    pub firmware: Arc<dyn FirmwareInterface>,
    /// Inspection.
    pub inspect: Arc<dyn InspectInterface>,
    /// Boot device, boot mode, NMI.
    pub management: Arc<dyn ManagementInterface>,
    /// Port attachment.
    pub network: Arc<dyn NetworkInterface>,
    /// Power.
    pub power: Arc<dyn PowerInterface>,
    /// RAID.
    pub raid: Arc<dyn RaidInterface>,
    /// Rescue.
    pub rescue: Arc<dyn RescueInterface>,
    /// Boot from volume.
    pub storage: Arc<dyn StorageInterface>,
    /// Vendor methods.
    pub vendor: Arc<dyn VendorInterface>,
}

/// The implementation name the node asked for, if any.
pub fn node_interface(node: &Node, kind: InterfaceKind) -> Option<&str> {
    let field = match kind {
        InterfaceKind::Bios => &node.bios_interface,
        InterfaceKind::Boot => &node.boot_interface,
        InterfaceKind::Console => &node.console_interface,
        InterfaceKind::Deploy => &node.deploy_interface,
        InterfaceKind::Firmware => &node.firmware_interface,
        InterfaceKind::Inspect => &node.inspect_interface,
        InterfaceKind::Management => &node.management_interface,
        InterfaceKind::Network => &node.network_interface,
        InterfaceKind::Power => &node.power_interface,
        InterfaceKind::Raid => &node.raid_interface,
        InterfaceKind::Rescue => &node.rescue_interface,
        InterfaceKind::Storage => &node.storage_interface,
        InterfaceKind::Vendor => &node.vendor_interface,
    };
    field.as_deref()
}

/// The node's `<kind>_interface` field, for callers that need to reset
/// it (e.g. to validate the other interfaces of a misconfigured node).
pub fn node_interface_mut(node: &mut Node, kind: InterfaceKind) -> &mut Option<String> {
    match kind {
        InterfaceKind::Bios => &mut node.bios_interface,
        InterfaceKind::Boot => &mut node.boot_interface,
        InterfaceKind::Console => &mut node.console_interface,
        InterfaceKind::Deploy => &mut node.deploy_interface,
        InterfaceKind::Firmware => &mut node.firmware_interface,
        InterfaceKind::Inspect => &mut node.inspect_interface,
        InterfaceKind::Management => &mut node.management_interface,
        InterfaceKind::Network => &mut node.network_interface,
        InterfaceKind::Power => &mut node.power_interface,
        InterfaceKind::Raid => &mut node.raid_interface,
        InterfaceKind::Rescue => &mut node.rescue_interface,
        InterfaceKind::Storage => &mut node.storage_interface,
        InterfaceKind::Vendor => &mut node.vendor_interface,
    }
}

/// The implementation a node gets for `kind`: its own field when set,
/// otherwise the hardware type's default; `Err` when the hardware type does
/// not support the name.
pub fn resolve_interface(
    hw: &HardwareType,
    node: &Node,
    kind: InterfaceKind,
) -> Result<&'static str, DriverError> {
    let wanted = node_interface(node, kind).unwrap_or_else(|| hw.default_interface(kind));
    hw.interfaces
        .iter()
        .find(|(k, _, _)| *k == kind)
        .and_then(|(_, _, enabled)| enabled.iter().find(|n| **n == wanted).copied())
        .ok_or_else(|| DriverError::InterfaceNotSupported {
            kind: kind.as_str(),
            name: wanted.to_string(),
            hardware_type: hw.name.to_string(),
            supported: hw
                .interfaces
                .iter()
                .find(|(k, _, _)| *k == kind)
                .map(|(_, _, e)| e.join(", "))
                .unwrap_or_default(),
        })
}

fn todo(kind: InterfaceKind, name: &'static str) -> Arc<Unimplemented> {
    Arc::new(Unimplemented { kind, name })
}

fn disabled(kind: InterfaceKind, name: &'static str) -> Arc<Disabled> {
    Arc::new(Disabled { kind, name })
}

impl Driver {
    /// Builds the driver of `node`: `Err` when its hardware type is unknown
    /// or one of its interfaces is not supported by that hardware type.
    /// Listed-but-unimplemented names get a placeholder that fails loudly.
    pub fn build(node: &Node, delays: &FakeDelays) -> Result<Driver, DriverError> {
        let types = registry();
        let hw = types
            .iter()
            .find(|h| h.name == node.driver)
            .ok_or_else(|| DriverError::UnknownHardwareType(node.driver.clone()))?;
        let d = *delays;
        let pick = |kind| resolve_interface(hw, node, kind);
        use InterfaceKind as K;
        Ok(Driver {
            hardware_type: hw.name,
            bios: match pick(K::Bios)? {
                "fake" => Arc::new(FakeBios::new(d)),
                "no-bios" => disabled(K::Bios, "no-bios"),
                "redfish" => Arc::new(RedfishBios),
                other => todo(K::Bios, other),
            },
            boot: match pick(K::Boot)? {
                "fake" => Arc::new(FakeBoot::new(d)),
                other => {
                    crate::external::boot_interface(other).unwrap_or_else(|| todo(K::Boot, other))
                }
            },
            console: match pick(K::Console)? {
                "fake" => Arc::new(FakeConsole),
                "fake-graphical" => Arc::new(FakeGraphicalConsole),
                "no-console" => disabled(K::Console, "no-console"),
                "redfish-graphical" => Arc::new(RedfishGraphicalConsole),
                other => todo(K::Console, other),
            },
            deploy: match pick(K::Deploy)? {
                "fake" => Arc::new(FakeDeploy::new(d)),
                "direct" => Arc::new(crate::agent_deploy::AgentDeploy),
                other => todo(K::Deploy, other),
            },
            firmware: match pick(K::Firmware)? {
                "fake" => Arc::new(FakeFirmware),
                "no-firmware" => disabled(K::Firmware, "no-firmware"),
                "redfish" => Arc::new(RedfishFirmware),
                other => todo(K::Firmware, other),
            },
            inspect: match pick(K::Inspect)? {
                "fake" => Arc::new(FakeInspect::new(d)),
                "no-inspect" => disabled(K::Inspect, "no-inspect"),
                "redfish" => Arc::new(RedfishInspect),
                other => todo(K::Inspect, other),
            },
            management: match pick(K::Management)? {
                "fake" => Arc::new(FakeManagement::new(d)),
                "redfish" => Arc::new(RedfishManagement),
                "ipmitool" => Arc::new(IpmitoolManagement::default()),
                other => todo(K::Management, other),
            },
            network: match pick(K::Network)? {
                name @ ("noop" | "flat") => Arc::new(Noop {
                    kind: K::Network,
                    name,
                }),
                other => todo(K::Network, other),
            },
            power: match pick(K::Power)? {
                "fake" => Arc::new(FakePower::new(d)),
                "redfish" => Arc::new(RedfishPower),
                "ipmitool" => Arc::new(IpmitoolPower::default()),
                other => todo(K::Power, other),
            },
            raid: match pick(K::Raid)? {
                "fake" => Arc::new(FakeRaid::new(d)),
                "no-raid" => disabled(K::Raid, "no-raid"),
                "redfish" => Arc::new(RedfishRaid),
                other => todo(K::Raid, other),
            },
            rescue: match pick(K::Rescue)? {
                "fake" => Arc::new(FakeRescue::new(d)),
                "no-rescue" => disabled(K::Rescue, "no-rescue"),
                other => todo(K::Rescue, other),
            },
            storage: match pick(K::Storage)? {
                "noop" => Arc::new(Noop {
                    kind: K::Storage,
                    name: "noop",
                }),
                "fake" => Arc::new(FakeStorage),
                other => todo(K::Storage, other),
            },
            vendor: match pick(K::Vendor)? {
                "fake" => Arc::new(FakeVendor { delays: d }),
                "no-vendor" => disabled(K::Vendor, "no-vendor"),
                "redfish" => Arc::new(RedfishVendor),
                "ipmitool" => Arc::new(IpmitoolVendor::default()),
                other => todo(K::Vendor, other),
            },
        })
    }

    /// The interface serving `kind`, seen through the common trait.
    pub fn interface(&self, kind: InterfaceKind) -> &dyn Interface {
        match kind {
            InterfaceKind::Bios => &*self.bios,
            InterfaceKind::Boot => &*self.boot,
            InterfaceKind::Console => &*self.console,
            InterfaceKind::Deploy => &*self.deploy,
            InterfaceKind::Firmware => &*self.firmware,
            InterfaceKind::Inspect => &*self.inspect,
            InterfaceKind::Management => &*self.management,
            InterfaceKind::Network => &*self.network,
            InterfaceKind::Power => &*self.power,
            InterfaceKind::Raid => &*self.raid,
            InterfaceKind::Rescue => &*self.rescue,
            InterfaceKind::Storage => &*self.storage,
            InterfaceKind::Vendor => &*self.vendor,
        }
    }

    /// Every step any interface offers in `phase`, in [`InterfaceKind::ALL`]
    /// order (the conductor sorts them).
    pub fn steps(&self, phase: StepPhase) -> Vec<StepDef> {
        InterfaceKind::ALL
            .iter()
            .flat_map(|k| self.interface(*k).steps(phase))
            .collect()
    }

    /// The definition of `interface.step` in `phase`, if the driver has it.
    pub fn find_step(&self, phase: StepPhase, kind: InterfaceKind, step: &str) -> Option<StepDef> {
        self.interface(kind)
            .steps(phase)
            .into_iter()
            .find(|s| s.step == step)
    }

    /// Runs `interface.step` after checking it exists in `phase` and that
    /// its required arguments are present.
    pub async fn execute_step(
        &self,
        node: &Node,
        phase: StepPhase,
        kind: InterfaceKind,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        let iface = self.interface(kind);
        let Some(def) = self.find_step(phase, kind, step) else {
            return Err(DriverError::Unsupported(format!(
                "The {} interface {} has no {} step named {step}.",
                kind.as_str(),
                iface.name(),
                phase.as_str()
            )));
        };
        if let Some(missing) = def
            .argsinfo
            .iter()
            .find(|a| a.required && !args.contains_key(a.name))
        {
            return Err(DriverError::InvalidParameter(format!(
                "The {} step {}.{step} requires the argument {}.",
                phase.as_str(),
                kind.as_str(),
                missing.name
            )));
        }
        let ctx = StepCtx {
            node,
            driver: self,
            phase,
        };
        iface.execute_step(&ctx, step, args).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::{PowerState, PowerTarget};
    use serde_json::json;

    fn node() -> Node {
        Node {
            driver: "fake-hardware".into(),
            ..Node::default()
        }
    }

    #[test]
    fn defaults_follow_the_hardware_type() {
        let Ok(d) = Driver::build(&node(), &FakeDelays::default()) else {
            panic!("build")
        };
        assert_eq!(d.hardware_type, "fake-hardware");
        for kind in InterfaceKind::ALL {
            let expected = match kind {
                InterfaceKind::Network | InterfaceKind::Storage => "noop",
                _ => "fake",
            };
            assert_eq!(d.interface(*kind).name(), expected, "{kind:?}");
            assert_eq!(d.interface(*kind).kind(), *kind);
        }
    }

    #[test]
    fn node_fields_choose_and_unknown_names_are_refused() {
        let mut n = node();
        n.raid_interface = Some("no-raid".into());
        n.network_interface = Some("flat".into());
        let Ok(d) = Driver::build(&n, &FakeDelays::default()) else {
            panic!("build")
        };
        assert_eq!(d.raid.name(), "no-raid");
        assert_eq!(d.network.name(), "flat");

        n.power_interface = Some("redfish".into());
        match Driver::build(&n, &FakeDelays::default()) {
            Err(e @ DriverError::InterfaceNotSupported { .. }) => {
                assert!(e.to_string().contains("redfish"), "{e}")
            }
            _ => panic!("redfish power accepted for fake-hardware"),
        }
        let other = Node {
            driver: "nope".into(),
            ..Node::default()
        };
        assert!(matches!(
            Driver::build(&other, &FakeDelays::default()),
            Err(DriverError::UnknownHardwareType(_))
        ));
    }

    #[tokio::test]
    async fn unimplemented_names_fail_validation_with_a_reason() {
        let mut n = node();
        n.boot_interface = Some("ipxe".into());
        let Ok(d) = Driver::build(&n, &FakeDelays::default()) else {
            panic!("build")
        };
        let Err(e) = d.boot.validate(&n).await else {
            panic!("ipxe validated")
        };
        assert!(e.to_string().contains("ipxe"), "{e}");
        assert!(d.power.validate(&n).await.is_ok());
    }

    #[tokio::test]
    async fn fake_deploy_steps_power_the_node() {
        let n = node();
        let Ok(d) = Driver::build(&n, &FakeDelays::default()) else {
            panic!("build")
        };
        let names: Vec<_> = d.steps(StepPhase::Deploy).iter().map(|s| s.step).collect();
        assert!(
            names.contains(&"deploy") && names.contains(&"boot_instance"),
            "{names:?}"
        );
        let out = d
            .execute_step(
                &n,
                StepPhase::Deploy,
                InterfaceKind::Deploy,
                "boot_instance",
                &Dict::new(),
            )
            .await;
        assert_eq!(
            out,
            Ok(StepOutcome::Done(NodeUpdate {
                power_state: Some(PowerState::On),
                ..NodeUpdate::default()
            }))
        );
        let bad = d
            .execute_step(
                &n,
                StepPhase::Deploy,
                InterfaceKind::Deploy,
                "nope",
                &Dict::new(),
            )
            .await;
        assert!(matches!(bad, Err(DriverError::Unsupported(m)) if m.contains("nope")));
        let missing = d
            .execute_step(
                &n,
                StepPhase::Service,
                InterfaceKind::Bios,
                "apply_configuration",
                &Dict::new(),
            )
            .await;
        assert!(matches!(missing, Err(DriverError::InvalidParameter(m)) if m.contains("settings")));
        assert_eq!(
            d.power
                .set_power_state(&n, PowerTarget::SoftOff, None)
                .await,
            Ok(PowerState::Off)
        );
    }

    #[tokio::test]
    async fn fake_management_remembers_the_boot_device() {
        let mut n = node();
        let Ok(d) = Driver::build(&n, &FakeDelays::default()) else {
            panic!("build")
        };
        let Ok(update) = d.management.set_boot_device(&n, "disk", true).await else {
            panic!("set")
        };
        update.apply(&mut n);
        let Ok(dev) = d.management.get_boot_device(&n).await else {
            panic!("get")
        };
        assert_eq!(dev.boot_device.as_deref(), Some("disk"));
        assert_eq!(dev.persistent, Some(true));
        assert!(
            d.management
                .set_boot_device(&n, "floppy", false)
                .await
                .is_err()
        );
        let raid = json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1"}]});
        assert!(d.raid.validate_raid_config(&raid).is_ok());
    }
}
