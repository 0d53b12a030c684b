//! Boot device, boot mode, secure boot, NMI, virtual media and health
//! through the ComputerSystem's `Boot` object, its `SecureBoot` resource,
//! `ComputerSystem.Reset` and the `VirtualMedia` devices.

use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::Node;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::client::{BmcClient, BmcClientExt, BmcError};
use super::config::RedfishConfig;
use super::power::{read_system, reset};
use super::resources::{Boot, SecureBoot};
use super::{connect_system, vmedia};
use crate::interfaces::{BootDevice, Interface, ManagementInterface, NodeUpdate};
use crate::{DriverError, InterfaceKind};

/// Ironic's boot device names and the Redfish `BootSourceOverrideTarget`
/// each one maps to.
pub const BOOT_DEVICES: &[(&str, &str)] = &[
    ("pxe", "Pxe"),
    ("disk", "Hdd"),
    ("cdrom", "Cd"),
    ("bios", "BiosSetup"),
    ("uefi-http", "UefiHttp"),
];

/// `driver_internal_info` key holding the boot device to set again before
/// every power-on, for BMCs that refuse `Continuous` (Ironic's fallback:
/// a persistent device emulated by one-time overrides).
pub const BOOT_DEVICE_KEY: &str = "redfish_boot_device";

/// How long a boot mode change may take to show.
const BOOT_MODE_TIMEOUT: Duration = Duration::from_secs(60);

/// Ironic's boot device name for a Redfish target.
pub fn ironic_boot_device(target: &str) -> Option<&'static str> {
    BOOT_DEVICES
        .iter()
        .find(|(_, t)| *t == target)
        .map(|(d, _)| *d)
}

fn redfish_target(device: &str) -> Option<&'static str> {
    BOOT_DEVICES
        .iter()
        .find(|(d, _)| *d == device)
        .map(|(_, t)| *t)
}

/// `uefi`/`bios` for Redfish's `UEFI`/`Legacy`.
pub fn ironic_boot_mode(mode: &str) -> Option<&'static str> {
    match mode {
        "UEFI" => Some("uefi"),
        "Legacy" => Some("bios"),
        _ => None,
    }
}

async fn patch_boot(client: &dyn BmcClient, system: &str, boot: Value) -> Result<(), BmcError> {
    client
        .patch(system, &json!({"Boot": boot}))
        .await
        .map(|_| ())
}

/// Sets the one-time override recorded under [`BOOT_DEVICE_KEY`], if any:
/// the power interface calls this before every power-on or reboot.
pub(crate) async fn reapply_boot_device(
    client: &dyn BmcClient,
    system: &str,
    node: &Node,
) -> Result<(), DriverError> {
    let Some(device) = node
        .driver_internal_info
        .get(BOOT_DEVICE_KEY)
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let Some(target) = redfish_target(device) else {
        warn!(node = %node.uuid, device, "ignoring an unknown recorded boot device");
        return Ok(());
    };
    debug!(node = %node.uuid, device, "re-applying the boot device before power on");
    patch_boot(
        client,
        system,
        json!({"BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": "Once"}),
    )
    .await?;
    Ok(())
}

/// The `redfish` management interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishManagement;

impl RedfishManagement {
    /// `Status.Health` of the system (`OK`, `Warning`, `Critical`), which
    /// Ironic records as the node's health.
    pub async fn get_node_health(&self, node: &Node) -> Result<Option<String>, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let system = read_system(&*client, &path).await?;
        Ok(system.status.and_then(|s| s.health))
    }

    async fn secure_boot_resource(
        client: &dyn BmcClient,
        path: &str,
    ) -> Result<String, DriverError> {
        let system = read_system(client, path).await?;
        system.secure_boot.map(|s| s.id).ok_or_else(|| {
            DriverError::Unsupported(format!(
                "The BMC at {} exposes no SecureBoot resource for {path}.",
                client.address()
            ))
        })
    }
}

#[async_trait]
impl Interface for RedfishManagement {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Management
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl ManagementInterface for RedfishManagement {
    async fn get_boot_device(&self, node: &Node) -> Result<BootDevice, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let boot = read_system(&*client, &path).await?.boot.unwrap_or_default();
        let persistent = match boot.boot_source_override_enabled.as_deref() {
            Some("Continuous") => Some(true),
            Some("Once") => Some(false),
            _ => None,
        };
        // A device kept by the Continuous fallback is persistent even though
        // the BMC shows a one-time override.
        let emulated = node
            .driver_internal_info
            .get(BOOT_DEVICE_KEY)
            .and_then(Value::as_str);
        Ok(BootDevice {
            boot_device: boot
                .boot_source_override_target
                .as_deref()
                .and_then(ironic_boot_device)
                .map(str::to_string),
            persistent: if emulated.is_some() {
                Some(true)
            } else {
                persistent
            },
        })
    }

    async fn set_boot_device(
        &self,
        node: &Node,
        device: &str,
        persistent: bool,
    ) -> Result<NodeUpdate, DriverError> {
        let Some(target) = redfish_target(device) else {
            return Err(DriverError::InvalidParameter(format!(
                "Invalid boot device {device} specified; supported: {}.",
                self.supported_boot_devices(node).join(", ")
            )));
        };
        let persistent = match node
            .driver_info
            .get("force_persistent_boot_device")
            .and_then(Value::as_str)
        {
            Some("Always") => true,
            Some("Never") => false,
            _ => persistent,
        };
        let (_, client, path) = connect_system(node).await?;
        let boot: Boot = read_system(&*client, &path).await?.boot.unwrap_or_default();
        if let Some(allowed) = &boot.allowed_targets
            && !allowed.iter().any(|t| t == target)
        {
            return Err(DriverError::InvalidParameter(format!(
                "The BMC at {} does not allow booting {path} from {device} ({target}); it \
                 allows: {}.",
                client.address(),
                allowed.join(", ")
            )));
        }
        let enabled = if persistent { "Continuous" } else { "Once" };
        let mut update = NodeUpdate::default();
        let first = patch_boot(
            &*client,
            &path,
            json!({"BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": enabled}),
        )
        .await;
        match first {
            Ok(()) => {
                update
                    .driver_internal_info
                    .insert(BOOT_DEVICE_KEY.to_string(), Value::Null);
            }
            Err(e) if persistent && e.status() == Some(400) => {
                warn!(node = %node.uuid, error = %e,
                    "the BMC refused a persistent boot device; emulating it with one-time overrides");
                patch_boot(
                    &*client,
                    &path,
                    json!({"BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": "Once"}),
                )
                .await?;
                update
                    .driver_internal_info
                    .insert(BOOT_DEVICE_KEY.to_string(), json!(device));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(update)
    }

    fn supported_boot_devices(&self, _node: &Node) -> Vec<String> {
        BOOT_DEVICES.iter().map(|(d, _)| d.to_string()).collect()
    }

    async fn get_boot_mode(&self, node: &Node) -> Result<Option<String>, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let boot = read_system(&*client, &path).await?.boot.unwrap_or_default();
        Ok(boot
            .boot_source_override_mode
            .as_deref()
            .and_then(ironic_boot_mode)
            .map(str::to_string))
    }

    async fn set_boot_mode(&self, node: &Node, mode: &str) -> Result<(), DriverError> {
        let wanted = match mode {
            "uefi" => "UEFI",
            "bios" => "Legacy",
            other => {
                return Err(DriverError::InvalidParameter(format!(
                    "Invalid boot mode {other}; expected uefi or bios."
                )));
            }
        };
        let (_, client, path) = connect_system(node).await?;
        let boot = read_system(&*client, &path).await?.boot.unwrap_or_default();
        if boot.boot_source_override_mode.as_deref() == Some(wanted) {
            return Ok(());
        }
        // Some BMCs only accept the mode together with the target and its
        // persistence, so the current ones are sent along.
        let mut body = json!({"BootSourceOverrideMode": wanted});
        if let (Some(target), Some(enabled)) = (
            &boot.boot_source_override_target,
            &boot.boot_source_override_enabled,
        ) && enabled != "Disabled"
        {
            body["BootSourceOverrideTarget"] = json!(target);
            body["BootSourceOverrideEnabled"] = json!(enabled);
        }
        patch_boot(&*client, &path, body).await?;
        let deadline = Instant::now() + BOOT_MODE_TIMEOUT;
        loop {
            let now = read_system(&*client, &path).await?.boot.unwrap_or_default();
            let seen = now.boot_source_override_mode;
            if seen.as_deref() == Some(wanted) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DriverError::Failed(format!(
                    "The BMC at {} still reports boot mode {seen:?} for {path} {} s after it \
                     was set to {wanted}.",
                    client.address(),
                    BOOT_MODE_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    async fn get_secure_boot(&self, node: &Node) -> Result<Option<bool>, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let resource = Self::secure_boot_resource(&*client, &path).await?;
        let secure: SecureBoot = client.get_as(&resource).await?;
        Ok(secure.secure_boot_enable)
    }

    async fn set_secure_boot(&self, node: &Node, enabled: bool) -> Result<(), DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let system = read_system(&*client, &path).await?;
        let mode = system
            .boot
            .as_ref()
            .and_then(|b| b.boot_source_override_mode.as_deref());
        if enabled && mode.is_some_and(|m| m != "UEFI") {
            return Err(DriverError::InvalidParameter(format!(
                "Secure boot needs the uefi boot mode; {path} boots in {}.",
                mode.and_then(ironic_boot_mode).unwrap_or("an unknown mode")
            )));
        }
        let resource = Self::secure_boot_resource(&*client, &path).await?;
        client
            .patch(&resource, &json!({"SecureBootEnable": enabled}))
            .await?;
        let after: SecureBoot = client.get_as(&resource).await?;
        if after.secure_boot_enable != Some(enabled) {
            return Err(DriverError::Failed(format!(
                "The BMC at {} accepted SecureBootEnable={enabled} for {path} but reports {:?}.",
                client.address(),
                after.secure_boot_enable
            )));
        }
        Ok(())
    }

    async fn attach_virtual_media(
        &self,
        node: &Node,
        device_type: &str,
        image_url: &str,
    ) -> Result<(), DriverError> {
        let (_, client, path) = connect_system(node).await?;
        vmedia::insert(&*client, &path, device_type, image_url).await
    }

    async fn detach_virtual_media(
        &self,
        node: &Node,
        device_types: &[String],
    ) -> Result<(), DriverError> {
        let (_, client, path) = connect_system(node).await?;
        vmedia::eject(&*client, &path, device_types).await
    }

    async fn inject_nmi(&self, node: &Node) -> Result<(), DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let system = read_system(&*client, &path).await?;
        reset(&*client, &path, &system, "Nmi").await?;
        Ok(())
    }
}
