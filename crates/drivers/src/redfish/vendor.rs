//! The `redfish` vendor interface: Ironic's one passthru method,
//! `eject_vmedia`, so scripts that call it keep working.

use async_trait::async_trait;
use ferrite_model::Node;
use serde_json::Value;

use super::config::RedfishConfig;
use super::{connect_system, vmedia};
use crate::interfaces::{Interface, VendorInterface, VendorMethod, unsupported_method};
use crate::{DriverError, InterfaceKind};

/// The `redfish` vendor interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishVendor;

#[async_trait]
impl Interface for RedfishVendor {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Vendor
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl VendorInterface for RedfishVendor {
    fn methods(&self) -> Vec<VendorMethod> {
        vec![VendorMethod {
            name: "eject_vmedia",
            http_methods: vec!["POST"],
            is_async: true,
            description: "Eject a virtual media device. If no device is provided then all \
                          attached devices will be ejected. Optional argument: boot_device - \
                          the boot device to eject (cdrom, floppy or dvd).",
            attach: false,
            require_exclusive_lock: true,
        }]
    }

    async fn call(&self, node: &Node, method: &str, args: &Value) -> Result<Value, DriverError> {
        if method != "eject_vmedia" {
            return Err(unsupported_method(method));
        }
        let types: Vec<String> = match args.get("boot_device") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(device)) => vec![device.clone()],
            Some(_) => {
                return Err(DriverError::InvalidParameter(
                    "boot_device must be a string (cdrom, floppy or dvd).".into(),
                ));
            }
        };
        let (_, client, path) = connect_system(node).await?;
        vmedia::eject(&*client, &path, &types).await?;
        Ok(Value::Null)
    }
}
