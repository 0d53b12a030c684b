//! The `ipmi` hardware type: servers whose BMC speaks IPMI over the LAN,
//! driven through the `ipmitool` program as Ironic's `ipmi` driver drives
//! them, with the same interface names and `driver_info` keys so existing
//! enrollment files work.
//!
//! Layers, bottom up:
//! - [`tool`]: the [`IpmiTool`] trait (what the interfaces need: "run this
//!   ipmitool command against this BMC") and [`Ipmitool`], its subprocess
//!   implementation: password in a private file, never in argv; `-N/-R`
//!   retries and a wall-clock timeout that kills the child; one invocation
//!   at a time per BMC;
//! - [`config`]: `driver_info` parsed and checked ([`IpmiConfig`]);
//! - one module per interface kind ([`power`], [`management`], [`vendor`]).
//!
//! Why a subprocess rather than an IPMI library: ipmitool is what Ironic
//! runs, so the wire behaviour (cipher suite negotiation, RMCP+ quirks of
//! real BMCs, bridging) is the one operators already trust, and the Rust
//! IPMI crates cover only fragments of RMCP+.

pub mod config;
pub mod management;
pub mod power;
pub mod tool;
pub mod vendor;

#[cfg(test)]
pub(crate) mod testing;

use std::sync::{Arc, LazyLock};

use ferrite_model::Node;

pub use config::{Bridging, IpmiConfig, PrivLevel, Protocol};
pub use management::IpmitoolManagement;
pub use power::IpmitoolPower;
pub use tool::{
    Invocation, IpmiError, IpmiTool, Ipmitool, IpmitoolOptions, ProcessOutput, ProcessRunner,
    RunError, TokioRunner,
};
pub use vendor::IpmitoolVendor;

use crate::{HardwareType, InterfaceKind};

/// The `driver_info` keys of the `ipmi` hardware type and what they mean
/// (`/v1/drivers/ipmi/properties`).
pub const PROPERTIES: &[(&str, &str)] = &[
    (
        "ipmi_address",
        "IP address or host name of the BMC. Required.",
    ),
    (
        "ipmi_port",
        "UDP port of the BMC's IPMI LAN service. Defaults to 623. Optional.",
    ),
    (
        "ipmi_username",
        "User name on the BMC; the anonymous (null) user when absent. Optional.",
    ),
    (
        "ipmi_password",
        "Password of that user; handed to ipmitool in a private file, never on its \
         command line. Optional.",
    ),
    (
        "ipmi_protocol_version",
        "The IPMI LAN protocol: \"2.0\" (RMCP+, ipmitool -I lanplus) or \"1.5\" (RMCP, \
         -I lan). Defaults to \"2.0\". Optional.",
    ),
    (
        "ipmi_priv_level",
        "Privilege level of the session: ADMINISTRATOR, CALLBACK, OPERATOR or USER. \
         Defaults to ADMINISTRATOR. Optional.",
    ),
    (
        "ipmi_cipher_suite",
        "The IPMI 2.0 cipher suite id (ipmitool -C), e.g. 3 or 17; negotiated by ipmitool \
         when absent. Optional.",
    ),
    (
        "ipmi_bridging",
        "Bridging type: no, single or dual. Defaults to no. Optional.",
    ),
    (
        "ipmi_local_address",
        "Local IPMB address for bridged requests (ipmitool -m). Used only with bridging. \
         Optional.",
    ),
    (
        "ipmi_transit_channel",
        "Transit channel for dual bridging (ipmitool -B). Required for dual bridging.",
    ),
    (
        "ipmi_transit_address",
        "Transit address for dual bridging (ipmitool -T). Required for dual bridging.",
    ),
    (
        "ipmi_target_channel",
        "Destination channel for bridged requests (ipmitool -b). Required for single and \
         dual bridging.",
    ),
    (
        "ipmi_target_address",
        "Destination address for bridged requests (ipmitool -t). Required for single and \
         dual bridging.",
    ),
    (
        "ipmi_force_boot_device",
        "Whether the boot device is sent again before every power on, for BMCs that forget \
         it across power cycles. Defaults to False. Optional.",
    ),
    (
        "ipmi_disable_boot_timeout",
        "Whether to send the raw IPMI command that stops the BMC from dropping the boot \
         device after 60 seconds. Defaults to True. Optional.",
    ),
    (
        "ipmi_terminal_port",
        "TCP port of the serial console (ipmitool-socat console). Optional.",
    ),
];

/// `driver_info` keys every boot interface of the type reads.
const BOOT_PROPERTIES: &[(&str, &str)] = &[
    (
        "deploy_kernel",
        "URL or image UUID of the kernel of the deployment ramdisk. Required for \
         deployment and cleaning.",
    ),
    (
        "deploy_ramdisk",
        "URL or image UUID of the initramfs of the deployment ramdisk. Required for \
         deployment and cleaning.",
    ),
    (
        "rescue_kernel",
        "URL or image UUID of the kernel of the rescue ramdisk. Optional.",
    ),
    (
        "rescue_ramdisk",
        "URL or image UUID of the initramfs of the rescue ramdisk. Optional.",
    ),
];

/// `ipmi`: Ironic's interface lists for the hardware type. Names Ferrite
/// has no code for yet (network boot, the socat console, agent steps) are
/// listed so enrollment files naming them are accepted, and fail
/// validation loudly, as in the `redfish` entry.
pub fn hardware_type() -> HardwareType {
    use InterfaceKind as K;
    let mut properties = PROPERTIES.to_vec();
    properties.extend_from_slice(BOOT_PROPERTIES);
    HardwareType {
        name: "ipmi",
        interfaces: vec![
            (K::Bios, "no-bios", vec!["no-bios"]),
            (K::Boot, "ipxe", vec!["ipxe", "pxe", "http-ipxe", "http"]),
            (
                K::Console,
                "no-console",
                vec!["ipmitool-socat", "no-console"],
            ),
            (K::Deploy, "direct", vec!["direct", "ramdisk"]),
            (K::Firmware, "no-firmware", vec!["no-firmware"]),
            (K::Inspect, "no-inspect", vec!["agent", "no-inspect"]),
            (K::Management, "ipmitool", vec!["ipmitool", "noop"]),
            (K::Network, "noop", vec!["flat", "noop"]),
            (K::Power, "ipmitool", vec!["ipmitool"]),
            (K::Raid, "no-raid", vec!["agent", "no-raid"]),
            (K::Rescue, "no-rescue", vec!["no-rescue", "agent"]),
            (K::Storage, "noop", vec!["noop"]),
            (K::Vendor, "ipmitool", vec!["ipmitool", "no-vendor"]),
        ],
        properties,
        raid_logical_disk_properties: crate::raid::LOGICAL_DISK_PROPERTIES.to_vec(),
    }
}

/// The process-wide [`Ipmitool`]: one instance, so the per-BMC cap holds
/// across every node and interface.
static DEFAULT_TOOL: LazyLock<Arc<Ipmitool>> = LazyLock::new(|| Arc::new(Ipmitool::new()));

/// The tool the registry's interfaces use (the real ipmitool).
pub fn default_tool() -> Arc<dyn IpmiTool> {
    DEFAULT_TOOL.clone()
}

/// Reads a `capabilities` value (`"k:v,k2:v2"` or an object) for `key`.
fn capability(caps: Option<&serde_json::Value>, key: &str) -> Option<String> {
    match caps? {
        serde_json::Value::String(s) => {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(s) {
                return map.get(key).and_then(|v| v.as_str()).map(str::to_string);
            }
            s.split(',').find_map(|kv| {
                let (k, v) = kv.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        }
        serde_json::Value::Object(map) => map.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        _ => None,
    }
}

/// The boot mode (`uefi` or `bios`) the node is deployed in, in Ironic's
/// order of precedence: secure boot implies UEFI, then the instance's
/// requested mode, the node's `capabilities`, the mode the BMC last
/// reported (`node.boot_mode`), and finally Ironic's default, UEFI. It
/// decides whether boot devices are set with the EFI flag.
pub fn boot_mode(node: &Node) -> &'static str {
    let pick = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "uefi" => Some("uefi"),
        "bios" => Some("bios"),
        _ => None,
    };
    let instance_caps = node.instance_info.get("capabilities");
    let node_caps = node.properties.get("capabilities");
    let secure = [instance_caps, node_caps]
        .into_iter()
        .filter_map(|c| capability(c, "secure_boot"))
        .any(|v| v.eq_ignore_ascii_case("true"));
    if secure {
        return "uefi";
    }
    node.instance_info
        .get("deploy_boot_mode")
        .and_then(|v| v.as_str())
        .and_then(pick)
        .or_else(|| capability(instance_caps, "boot_mode").and_then(|m| pick(&m)))
        .or_else(|| capability(node_caps, "boot_mode").and_then(|m| pick(&m)))
        .or_else(|| node.boot_mode.as_deref().and_then(pick))
        .unwrap_or("uefi")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_hardware_type_builds_with_ironic_defaults() {
        use InterfaceKind as K;
        let (d, node) = crate::check_bmc_hardware_type(
            &hardware_type(),
            &[K::Power, K::Management, K::Vendor],
            "ipmitool",
            "ipmi_bridging",
            "ipmi_address",
        )
        .await;
        assert!(d.management.validate(&node).await.is_ok());
        // The console is off.
        assert_eq!(d.console.name(), "no-console");
    }

    #[test]
    fn boot_mode_follows_ironic_precedence() {
        let mut n = Node::default();
        assert_eq!(boot_mode(&n), "uefi");
        n.boot_mode = Some("bios".into());
        assert_eq!(boot_mode(&n), "bios");
        n.properties
            .insert("capabilities".into(), json!("foo:bar,boot_mode:uefi"));
        assert_eq!(boot_mode(&n), "uefi");
        n.instance_info
            .insert("capabilities".into(), json!({"boot_mode": "bios"}));
        assert_eq!(boot_mode(&n), "bios");
        n.instance_info
            .insert("capabilities".into(), json!("{\"secure_boot\": \"true\"}"));
        assert_eq!(boot_mode(&n), "uefi");
    }
}
