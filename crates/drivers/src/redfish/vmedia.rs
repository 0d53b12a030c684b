//! Virtual media: the BMC's virtual CD/DVD or USB drive, which it fills
//! from an image URL (`VirtualMedia.InsertMedia`) so a machine can boot an
//! ISO without PXE. Devices live under the Manager on older BMCs and
//! under the ComputerSystem on newer ones; both places are looked at.

use serde_json::json;
use tracing::debug;

use super::client::{BmcClient, BmcClientExt};
use super::power::read_system;
use super::resources::{Manager, VirtualMedia};
use crate::DriverError;

/// The Redfish `MediaTypes` that serve an Ironic virtual media device type.
pub fn media_types(device_type: &str) -> Option<&'static [&'static str]> {
    match device_type {
        "cdrom" => Some(&["CD", "DVD"]),
        "dvd" => Some(&["DVD", "CD"]),
        "floppy" => Some(&["Floppy", "USBStick"]),
        "usb" => Some(&["USBStick"]),
        _ => None,
    }
}

fn serves(device: &VirtualMedia, types: &[&str]) -> bool {
    device
        .media_types
        .iter()
        .any(|t| types.iter().any(|w| w.eq_ignore_ascii_case(t)))
}

/// Every virtual media device of the system, wherever the BMC keeps them.
pub async fn devices(
    client: &dyn BmcClient,
    system_path: &str,
) -> Result<Vec<VirtualMedia>, DriverError> {
    let system = read_system(client, system_path).await?;
    let mut collections = Vec::new();
    if let Some(own) = system.virtual_media {
        collections.push(own.id);
    } else {
        for manager in system.links.map(|l| l.managed_by).unwrap_or_default() {
            let manager: Manager = client.get_as(&manager.id).await?;
            if let Some(vm) = manager.virtual_media
                && !collections.contains(&vm.id)
            {
                collections.push(vm.id);
            }
        }
    }
    if collections.is_empty() {
        return Err(DriverError::Unsupported(format!(
            "The BMC at {} exposes no virtual media for {system_path}.",
            client.address()
        )));
    }
    let mut found = Vec::new();
    for collection in collections {
        for member in client.members(&collection).await? {
            let mut device: VirtualMedia = client.get_as(&member).await?;
            if device.odata_id.is_empty() {
                device.odata_id = member;
            }
            found.push(device);
        }
    }
    Ok(found)
}

fn action_target(device: &VirtualMedia, insert: bool) -> String {
    let action = device.actions.as_ref().and_then(|a| {
        if insert {
            a.insert.as_ref()
        } else {
            a.eject.as_ref()
        }
    });
    action
        .map(|a| a.target.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}/Actions/VirtualMedia.{}",
                device.odata_id.trim_end_matches('/'),
                if insert { "InsertMedia" } else { "EjectMedia" }
            )
        })
}

/// Inserts `image_url` into the first device serving `device_type`,
/// ejecting whatever it held, read-only as Ironic inserts it.
pub async fn insert(
    client: &dyn BmcClient,
    system_path: &str,
    device_type: &str,
    image_url: &str,
) -> Result<(), DriverError> {
    let Some(types) = media_types(device_type) else {
        return Err(DriverError::InvalidParameter(format!(
            "Invalid virtual media device type {device_type}; expected cdrom, dvd, floppy or usb."
        )));
    };
    let all = devices(client, system_path).await?;
    let Some(device) = all.iter().find(|d| serves(d, types)) else {
        return Err(DriverError::Unsupported(format!(
            "The BMC at {} has no virtual media device for {device_type} ({}) on {system_path}.",
            client.address(),
            types.join("/")
        )));
    };
    if device.inserted == Some(true) {
        debug!(device = %device.odata_id, "ejecting the current image first");
        client
            .post(&action_target(device, false), &json!({}))
            .await?;
    }
    client
        .post(
            &action_target(device, true),
            &json!({"Image": image_url, "Inserted": true, "WriteProtected": true}),
        )
        .await?;
    Ok(())
}

/// Ejects the media of every device serving one of `device_types` (every
/// device when the list is empty); devices already empty are left alone.
pub async fn eject(
    client: &dyn BmcClient,
    system_path: &str,
    device_types: &[String],
) -> Result<(), DriverError> {
    let mut wanted: Vec<&str> = Vec::new();
    for t in device_types {
        match media_types(t) {
            Some(types) => wanted.extend_from_slice(types),
            None => {
                return Err(DriverError::InvalidParameter(format!(
                    "Invalid virtual media device type {t}; expected cdrom, dvd, floppy or usb."
                )));
            }
        }
    }
    for device in devices(client, system_path).await? {
        let chosen = wanted.is_empty() || serves(&device, &wanted);
        if chosen && device.inserted == Some(true) {
            client
                .post(&action_target(&device, false), &json!({}))
                .await?;
        }
    }
    Ok(())
}
