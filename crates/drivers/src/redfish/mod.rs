//! The `redfish` hardware type: servers driven through their BMC's Redfish
//! service, as Ironic's `redfish` driver drives them, with the same
//! interface names and `driver_info` keys so existing enrollment files work.
//!
//! Layers, bottom up:
//! - [`client`]: the [`BmcClient`] trait (what the interfaces need from a
//!   BMC) and [`http::HttpBmcClient`], its reqwest implementation with
//!   per-BMC connection reuse, a concurrency cap, timeouts, retries and
//!   basic/session authentication;
//! - [`resources`]: the Redfish documents we read, as lenient serde types;
//! - [`config`]: `driver_info` parsed and checked ([`RedfishConfig`]);
//! - one module per interface kind ([`power`], [`management`], [`vmedia`],
//!   [`bios`], [`inspect`], [`raid`], [`firmware`], [`console`], [`vendor`]);
//! - [`events`]: EventService subscriptions, which the conductor keeps so
//!   power changes are learnt when they happen.
//!
//! Why not nv-redfish (DESIGN.md names it as the preferred crate): it is
//! published (0.22) and maintained, but it generates its model from the DMTF
//! CSDL schemas in a build script (a heavy build on our 2-core machines), its
//! generated types are strict where real BMCs and sushy-tools send partial
//! documents, and its transport layer would sit between us and the
//! per-BMC concurrency cap, retry policy and session re-login that this
//! driver needs to control. The handful of resources Ironic's mapping uses
//! are small enough to model directly with reqwest + serde.

pub mod bios;
pub mod client;
pub mod config;
pub mod console;
pub mod events;
pub mod firmware;
pub mod http;
pub mod inspect;
pub mod management;
pub mod power;
pub mod raid;
pub mod raid_plan;
pub mod resources;
pub mod vendor;
pub mod vmedia;

use std::sync::Arc;

use ferrite_model::Node;

pub use client::{BmcClient, BmcClientExt, BmcError, BmcResponse, HttpMethod};
pub use config::{AuthType, RedfishConfig, Secret, VerifyCa};
pub use http::{ClientOptions, HttpBmcClient};
pub use inspect::{Inspection, Inventory};

use crate::{DriverError, HardwareType, InterfaceKind};

/// The `driver_info` keys of the `redfish` hardware type and what they mean
/// (`/v1/drivers/redfish/properties`).
pub const PROPERTIES: &[(&str, &str)] = &[
    (
        "redfish_address",
        "The URL address to the Redfish controller. It must include the authority \
         portion of the URL, and can optionally include the scheme. If the scheme is \
         missing, https is assumed. For example: https://mgmt.vendor.com. Required.",
    ),
    (
        "redfish_system_id",
        "The canonical path to the ComputerSystem resource that the driver will \
         interact with. It should include the root service, version and the unique \
         resource path to the ComputerSystem. This property is only required if the \
         target BMC manages more than one ComputerSystem. Otherwise the driver will \
         use the only available ComputerSystem automatically. For example: \
         /redfish/v1/Systems/1. Optional.",
    ),
    (
        "redfish_username",
        "User account with admin/server-profile access privilege. Optional.",
    ),
    ("redfish_password", "User account password. Optional."),
    (
        "redfish_verify_ca",
        "Either a Boolean value, a path to a CA_BUNDLE file or directory with \
         certificates of trusted CAs. If set to True the driver will verify the host \
         certificates; if False the driver will ignore verifying the SSL certificate. \
         If it's a path the driver will use the specified certificate or one of the \
         certificates in the directory. Defaults to True. Optional.",
    ),
    (
        "redfish_auth_type",
        "Redfish HTTP client authentication method. One of \"basic\", \"session\" or \
         \"auto\". Defaults to \"auto\". Optional.",
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

/// `redfish`: Ironic's interface lists for the hardware type. Names Ferrite
/// has no code for yet are listed (so enrollment files naming them are
/// accepted) and fail validation loudly, like `fake-hardware`'s.
pub fn hardware_type() -> HardwareType {
    use InterfaceKind as K;
    let mut properties = PROPERTIES.to_vec();
    properties.extend_from_slice(BOOT_PROPERTIES);
    HardwareType {
        name: "redfish",
        interfaces: vec![
            (K::Bios, "redfish", vec!["redfish", "no-bios"]),
            (
                K::Boot,
                "ipxe",
                vec![
                    "ipxe",
                    "pxe",
                    "http-ipxe",
                    "http",
                    "redfish-virtual-media",
                    "redfish-https",
                ],
            ),
            (
                K::Console,
                "no-console",
                vec![
                    "redfish-graphical",
                    "ipmitool-socat",
                    "no-console",
                    "fake-graphical",
                ],
            ),
            (K::Deploy, "direct", vec!["direct", "ramdisk"]),
            (K::Firmware, "redfish", vec!["redfish", "no-firmware"]),
            (
                K::Inspect,
                "redfish",
                vec!["redfish", "agent", "no-inspect"],
            ),
            (K::Management, "redfish", vec!["redfish", "noop"]),
            (K::Network, "noop", vec!["flat", "noop"]),
            (K::Power, "redfish", vec!["redfish"]),
            (K::Raid, "no-raid", vec!["redfish", "no-raid", "agent"]),
            (K::Rescue, "no-rescue", vec!["no-rescue", "agent"]),
            (K::Storage, "noop", vec!["noop"]),
            (K::Vendor, "redfish", vec!["redfish", "no-vendor"]),
        ],
        properties,
        raid_logical_disk_properties: crate::raid::LOGICAL_DISK_PROPERTIES.to_vec(),
    }
}

/// Reads the node's `driver_info` and returns the (cached) client of its BMC:
/// every interface starts here, so a misconfigured node fails the same way
/// whichever operation is asked.
pub(crate) fn connect(node: &Node) -> Result<(RedfishConfig, Arc<dyn BmcClient>), DriverError> {
    let config = RedfishConfig::from_node(node)?;
    let client = http::client_for(&config).map_err(DriverError::from)?;
    Ok((config, client))
}

/// Connects and resolves the node's ComputerSystem path in one go, since
/// nearly every operation needs both.
pub(crate) async fn connect_system(
    node: &Node,
) -> Result<(RedfishConfig, Arc<dyn BmcClient>, String), DriverError> {
    let (config, client) = connect(node)?;
    let system = client
        .system_path(config.system_id.as_deref())
        .await
        .map_err(DriverError::from)?;
    Ok((config, client, system))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hardware_type_builds_with_ironic_defaults() {
        use InterfaceKind as K;
        let implemented = [
            K::Power,
            K::Management,
            K::Bios,
            K::Inspect,
            K::Firmware,
            K::Vendor,
        ];
        crate::check_bmc_hardware_type(
            &hardware_type(),
            &implemented,
            "redfish",
            "redfish_verify_ca",
            "redfish_address",
        )
        .await;
    }
}
