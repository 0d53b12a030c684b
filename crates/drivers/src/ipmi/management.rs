//! Boot device and NMI through IPMI chassis commands.
//!
//! The boot device is written as the raw "Set System Boot Options"
//! request for parameter 5 (`raw 0x00 0x08 0x05 <flags> <device> 0 0 0`),
//! which is also what Ironic sends for UEFI nodes, rather than through
//! `ipmitool chassis bootdev`:
//! - one request carries device, persistence and the EFI flag together,
//!   whatever ipmitool version is installed;
//! - ipmitool's exit status reflects the BMC's completion code: `chassis
//!   bootdev` exits 0 even when the BMC refuses parameter 5 (seen with
//!   OpenIPMI's simulator for `safe`), which would make a refused boot
//!   device look set.
//!
//! It is read back with `chassis bootparam get 5`.

use std::sync::Arc;

use async_trait::async_trait;
use ferrite_model::Node;
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::config::IpmiConfig;
use super::tool::IpmiTool;
use crate::interfaces::{BootDevice, Interface, ManagementInterface, NodeUpdate};
use crate::{DriverError, InterfaceKind};

/// Ironic's boot devices for IPMI and their boot device selector values
/// (bits 5:2 of byte 2 of boot parameter 5, already shifted).
pub const BOOT_DEVICES: &[(&str, u8)] = &[
    ("pxe", 0x04),
    ("disk", 0x08),
    ("cdrom", 0x14),
    ("bios", 0x18),
    ("safe", 0x0c),
];

/// `driver_internal_info` key (Ironic's) of the device re-sent before each
/// power on when `ipmi_force_boot_device` is set.
pub const PERSISTENT_BOOT_DEVICE: &str = "persistent_boot_device";

/// `driver_internal_info` key (Ironic's): `false` while the device last
/// set applies to the next boot only, so it is not replaced on power on.
pub const NEXT_BOOT_PERSISTENT: &str = "is_next_boot_persistent";

/// Boot flags: the override is valid.
const FLAG_VALID: u8 = 0x80;
/// Boot flags: the override applies to all future boots.
const FLAG_PERSISTENT: u8 = 0x40;
/// Boot flags: boot in EFI mode.
const FLAG_EFI: u8 = 0x20;

/// The `raw` arguments setting `device` (one of [`BOOT_DEVICES`]).
pub fn boot_device_command(device: &str, persistent: bool, uefi: bool) -> Option<Vec<String>> {
    let (_, selector) = BOOT_DEVICES.iter().find(|(d, _)| *d == device)?;
    let mut flags = FLAG_VALID;
    if persistent {
        flags |= FLAG_PERSISTENT;
    }
    if uefi {
        flags |= FLAG_EFI;
    }
    Some(
        ["raw", "0x00", "0x08", "0x05"]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("0x{flags:02x}"), format!("0x{selector:02x}")])
            .chain(["0x00", "0x00", "0x00"].iter().map(|s| s.to_string()))
            .collect(),
    )
}

/// Reads `ipmitool chassis bootparam get 5`. `None` when the output has no
/// boot device selector line at all.
pub fn parse_boot_device(output: &str) -> Option<BootDevice> {
    let selector = output.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.contains("Boot Device Selector")
            .then(|| value.trim().to_string())
    })?;
    let device = if selector.contains("PXE") {
        Some("pxe")
    } else if selector.contains("Hard-Drive") && selector.contains("Safe") {
        Some("safe")
    } else if selector.contains("Hard-Drive") {
        Some("disk")
    } else if selector.contains("CD/DVD") {
        Some("cdrom")
    } else if selector.contains("BIOS") {
        Some("bios")
    } else {
        None
    };
    let persistent = if output.contains("Options apply to all future boots") {
        Some(true)
    } else if output.contains("Options apply to only next boot") {
        Some(false)
    } else {
        None
    };
    Some(BootDevice {
        boot_device: device.map(str::to_string),
        persistent,
    })
}

/// Sends the device to the BMC (after disabling the 60 s boot flag
/// timeout when configured).
async fn send_boot_device(
    tool: &dyn IpmiTool,
    config: &IpmiConfig,
    device: &str,
    persistent: bool,
    uefi: bool,
) -> Result<(), DriverError> {
    let Some(command) = boot_device_command(device, persistent, uefi) else {
        return Err(DriverError::InvalidParameter(format!(
            "Invalid boot device {device} specified; supported: {}.",
            supported().join(", ")
        )));
    };
    if config.disable_boot_timeout {
        tool.run(config, &["raw", "0x00", "0x08", "0x03", "0x08"])
            .await
            .map_err(DriverError::from)?;
    }
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    tool.run(config, &args).await.map_err(|e| {
        DriverError::Failed(format!("Setting the boot device to {device} failed: {e}"))
    })?;
    Ok(())
}

/// Re-sends the recorded device before a power on when the node has
/// `ipmi_force_boot_device` (the power interface calls this), unless the
/// device last set was for the next boot only.
pub(crate) async fn reapply_boot_device(
    tool: &dyn IpmiTool,
    config: &IpmiConfig,
    node: &Node,
) -> Result<(), DriverError> {
    if !config.force_boot_device {
        return Ok(());
    }
    let info = &node.driver_internal_info;
    if info.get(NEXT_BOOT_PERSISTENT) == Some(&Value::Bool(false)) {
        return Ok(());
    }
    let Some(device) = info.get(PERSISTENT_BOOT_DEVICE).and_then(Value::as_str) else {
        return Ok(());
    };
    if boot_device_command(device, false, false).is_none() {
        warn!(node = %node.uuid, device, "ignoring an unknown recorded boot device");
        return Ok(());
    }
    debug!(node = %node.uuid, device, "re-sending the boot device before power on");
    let uefi = super::boot_mode(node) == "uefi";
    send_boot_device(tool, config, device, false, uefi).await
}

fn supported() -> Vec<String> {
    BOOT_DEVICES.iter().map(|(d, _)| d.to_string()).collect()
}

/// The `ipmitool` management interface.
#[derive(Clone)]
pub struct IpmitoolManagement {
    tool: Arc<dyn IpmiTool>,
}

impl Default for IpmitoolManagement {
    fn default() -> Self {
        IpmitoolManagement::new(super::default_tool())
    }
}

impl IpmitoolManagement {
    /// The interface over `tool` (a scripted BMC in tests).
    pub fn new(tool: Arc<dyn IpmiTool>) -> IpmitoolManagement {
        IpmitoolManagement { tool }
    }
}

#[async_trait]
impl Interface for IpmitoolManagement {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Management
    }
    fn name(&self) -> &'static str {
        "ipmitool"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        IpmiConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl ManagementInterface for IpmitoolManagement {
    async fn get_boot_device(&self, node: &Node) -> Result<BootDevice, DriverError> {
        let config = IpmiConfig::from_node(node)?;
        let info = &node.driver_internal_info;
        // With a forced device the BMC only ever holds one-time settings;
        // the persistent device is the one the driver keeps re-sending.
        if config.force_boot_device
            && info.get(NEXT_BOOT_PERSISTENT) != Some(&Value::Bool(false))
            && let Some(device) = info.get(PERSISTENT_BOOT_DEVICE).and_then(Value::as_str)
        {
            return Ok(BootDevice {
                boot_device: Some(device.to_string()),
                persistent: Some(true),
            });
        }
        let out = self
            .tool
            .run(&config, &["chassis", "bootparam", "get", "5"])
            .await
            .map_err(DriverError::from)?;
        parse_boot_device(&out).ok_or_else(|| {
            DriverError::Failed(format!(
                "The BMC at {} answered chassis bootparam get 5 without a boot device \
                 selector: {:?}",
                config.endpoint(),
                out.trim()
            ))
        })
    }

    async fn set_boot_device(
        &self,
        node: &Node,
        device: &str,
        persistent: bool,
    ) -> Result<NodeUpdate, DriverError> {
        if boot_device_command(device, persistent, false).is_none() {
            return Err(DriverError::InvalidParameter(format!(
                "Invalid boot device {device} specified; supported: {}.",
                supported().join(", ")
            )));
        }
        let config = IpmiConfig::from_node(node)?;
        let persistent = match node
            .driver_info
            .get("force_persistent_boot_device")
            .and_then(Value::as_str)
        {
            Some("Always") => true,
            Some("Never") => false,
            _ => persistent,
        };
        let uefi = super::boot_mode(node) == "uefi";
        // A BMC that needs the device forced would not keep it anyway, so
        // it gets a one-time setting and the driver remembers the rest.
        let on_bmc = persistent && !config.force_boot_device;
        send_boot_device(&*self.tool, &config, device, on_bmc, uefi).await?;
        let mut update = NodeUpdate::default();
        let info = &mut update.driver_internal_info;
        if config.force_boot_device && persistent {
            info.insert(PERSISTENT_BOOT_DEVICE.into(), json!(device));
            info.insert(NEXT_BOOT_PERSISTENT.into(), Value::Null);
        } else if config.force_boot_device {
            info.insert(NEXT_BOOT_PERSISTENT.into(), json!(false));
        } else {
            for key in [PERSISTENT_BOOT_DEVICE, NEXT_BOOT_PERSISTENT] {
                if node.driver_internal_info.contains_key(key) {
                    info.insert(key.into(), Value::Null);
                }
            }
        }
        Ok(update)
    }

    fn supported_boot_devices(&self, _node: &Node) -> Vec<String> {
        supported()
    }

    async fn inject_nmi(&self, node: &Node) -> Result<(), DriverError> {
        let config = IpmiConfig::from_node(node)?;
        self.tool
            .run(&config, &["chassis", "power", "diag"])
            .await
            .map(|_| ())
            .map_err(|e| DriverError::Failed(format!("Injecting an NMI failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::PowerInterface;
    use crate::ipmi::power::IpmitoolPower;
    use crate::ipmi::testing::ScriptedBmc;
    use ferrite_model::PowerTarget;
    use std::time::Duration;

    fn node(extra: Value) -> Node {
        let mut info = json!({"ipmi_address": "10.1.2.3"});
        if let (Some(i), Value::Object(e)) = (info.as_object_mut(), extra) {
            i.extend(e);
        }
        let Value::Object(info) = info else {
            panic!("object")
        };
        Node {
            driver: "ipmi".into(),
            driver_info: info,
            ..Node::default()
        }
    }

    #[test]
    fn raw_bytes_follow_the_ipmi_spec() {
        assert_eq!(
            boot_device_command("pxe", false, false).map(|v| v.join(" ")),
            Some("raw 0x00 0x08 0x05 0x80 0x04 0x00 0x00 0x00".into())
        );
        assert_eq!(
            boot_device_command("disk", true, true).map(|v| v.join(" ")),
            Some("raw 0x00 0x08 0x05 0xe0 0x08 0x00 0x00 0x00".into())
        );
        assert_eq!(
            boot_device_command("bios", false, true).map(|v| v.join(" ")),
            Some("raw 0x00 0x08 0x05 0xa0 0x18 0x00 0x00 0x00".into())
        );
        assert!(boot_device_command("floppy", false, false).is_none());
    }

    #[test]
    fn bootparam_output_is_parsed() {
        let out = " Boot Flags :\n   - Boot Flag Valid\n   - Options apply to all future \
                   boots\n   - BIOS EFI boot\n   - Boot Device Selector : Force Boot from \
                   default Hard-Drive, request Safe-Mode\n";
        assert_eq!(
            parse_boot_device(out),
            Some(BootDevice {
                boot_device: Some("safe".into()),
                persistent: Some(true)
            })
        );
        let none = "   - Options apply to only next boot\n   - Boot Device Selector : No override";
        assert_eq!(
            parse_boot_device(none),
            Some(BootDevice {
                boot_device: None,
                persistent: Some(false)
            })
        );
        assert_eq!(parse_boot_device("garbage"), None);
    }

    #[tokio::test]
    async fn boot_devices_round_trip_with_efi_and_persistence() {
        let bmc = Arc::new(ScriptedBmc::default());
        let m = IpmitoolManagement::new(bmc.clone());
        let mut n = node(json!({}));
        n.boot_mode = Some("bios".into());
        assert_eq!(
            m.set_boot_device(&n, "cdrom", true).await,
            Ok(NodeUpdate::default())
        );
        assert_eq!(
            bmc.log(),
            [
                "raw 0x00 0x08 0x03 0x08",
                "raw 0x00 0x08 0x05 0xc0 0x14 0x00 0x00 0x00"
            ]
        );
        let got = m.get_boot_device(&n).await;
        assert_eq!(
            got,
            Ok(BootDevice {
                boot_device: Some("cdrom".into()),
                persistent: Some(true)
            })
        );
        n.boot_mode = Some("uefi".into());
        assert!(m.set_boot_device(&n, "pxe", false).await.is_ok());
        assert_eq!(bmc.lock().flags, 0xa0);
        let Err(DriverError::InvalidParameter(e)) = m.set_boot_device(&n, "floppy", true).await
        else {
            panic!("floppy accepted")
        };
        assert!(e.contains("pxe, disk, cdrom, bios, safe"), "{e}");
        // Without the boot timeout workaround only parameter 5 is sent.
        let n = node(json!({"ipmi_disable_boot_timeout": false}));
        bmc.lock().log.clear();
        assert!(m.set_boot_device(&n, "disk", false).await.is_ok());
        assert_eq!(bmc.log().len(), 1);
    }

    #[tokio::test]
    async fn forced_boot_devices_are_resent_before_power_on() {
        let bmc = Arc::new(ScriptedBmc::default());
        let m = IpmitoolManagement::new(bmc.clone());
        let p = IpmitoolPower::new(bmc.clone()).with_poll_interval(Duration::from_millis(5));
        let mut n = node(json!({"ipmi_force_boot_device": true}));
        let Ok(update) = m.set_boot_device(&n, "pxe", true).await else {
            panic!("set")
        };
        // The BMC got a one-time setting; the driver keeps the persistence.
        assert_eq!(bmc.lock().flags & FLAG_PERSISTENT, 0);
        assert_eq!(
            update.driver_internal_info.get(PERSISTENT_BOOT_DEVICE),
            Some(&json!("pxe"))
        );
        update.apply(&mut n);
        assert_eq!(
            m.get_boot_device(&n).await,
            Ok(BootDevice {
                boot_device: Some("pxe".into()),
                persistent: Some(true)
            })
        );
        bmc.lock().device = 0;
        bmc.lock().log.clear();
        let t = Some(Duration::from_secs(2));
        assert!(p.set_power_state(&n, PowerTarget::On, t).await.is_ok());
        let log = bmc.log();
        let sent = log.iter().position(|c| c.starts_with("raw 0x00 0x08 0x05"));
        let on = log.iter().position(|c| c == "chassis power on");
        assert!(sent.is_some() && sent < on, "{log:?}");
        assert_eq!(bmc.lock().device, 0x04);
        // A one-time device is left alone at the next power on.
        let Ok(update) = m.set_boot_device(&n, "cdrom", false).await else {
            panic!("set once")
        };
        update.apply(&mut n);
        bmc.lock().log.clear();
        assert!(p.set_power_state(&n, PowerTarget::Reboot, t).await.is_ok());
        assert!(
            !bmc.log().iter().any(|c| c.starts_with("raw")),
            "{:?}",
            bmc.log()
        );
        assert_eq!(bmc.lock().device, 0x14);
    }

    #[tokio::test]
    async fn nmi_and_its_refusal() {
        let bmc = Arc::new(ScriptedBmc::default());
        let m = IpmitoolManagement::new(bmc.clone());
        let n = node(json!({}));
        assert_eq!(m.inject_nmi(&n).await, Ok(()));
        bmc.lock().refuse_diag = true;
        let Err(DriverError::Failed(e)) = m.inject_nmi(&n).await else {
            panic!("refusal hidden")
        };
        assert!(e.contains("NMI") && e.contains("Invalid data field"), "{e}");
    }
}
