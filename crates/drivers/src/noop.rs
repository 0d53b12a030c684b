//! Interfaces that do nothing on purpose (`noop`, `flat` without a network
//! service, `no-*`), and the placeholder for implementations that hardware
//! types list for compatibility but this build does not carry yet.

use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::{Node, PowerState, PowerTarget};

use crate::interfaces::*;
use crate::{DriverError, InterfaceKind};

/// A no-op network or storage interface: nothing to attach, always valid.
/// `flat` behaves the same here because Ferrite has no network service to
/// bind ports in.
pub struct Noop {
    /// `Network` or `Storage`.
    pub kind: InterfaceKind,
    /// `noop` or `flat`.
    pub name: &'static str,
}

#[async_trait]
impl Interface for Noop {
    fn kind(&self) -> InterfaceKind {
        self.kind
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

impl NetworkInterface for Noop {}
impl StorageInterface for Noop {}

/// An optional feature turned off (`no-raid`, `no-bios`, …): validation
/// says the feature is unsupported and every operation refuses.
pub struct Disabled {
    /// The kind it disables.
    pub kind: InterfaceKind,
    /// `no-<kind>`.
    pub name: &'static str,
}

#[async_trait]
impl Interface for Disabled {
    fn kind(&self) -> InterfaceKind {
        self.kind
    }
    fn name(&self) -> &'static str {
        self.name
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        Err(DriverError::Unsupported(format!(
            "Driver {} does not support {} (disabled or not implemented).",
            node.driver,
            self.kind.as_str()
        )))
    }
}

impl RaidInterface for Disabled {}
impl BiosInterface for Disabled {}
impl FirmwareInterface for Disabled {}
impl VendorInterface for Disabled {}
impl ConsoleInterface for Disabled {}
impl RescueInterface for Disabled {}
impl InspectInterface for Disabled {}

/// An implementation name a hardware type lists but this build cannot run
/// yet: validation fails with a clear reason and every operation refuses, so
/// nodes configured with it fail loudly instead of pretending to work.
pub struct Unimplemented {
    /// The kind.
    pub kind: InterfaceKind,
    /// The implementation name (e.g. `ipxe`).
    pub name: &'static str,
}

impl Unimplemented {
    fn error(&self) -> DriverError {
        DriverError::NotImplemented {
            kind: self.kind,
            name: self.name,
        }
    }
}

#[async_trait]
impl Interface for Unimplemented {
    fn kind(&self) -> InterfaceKind {
        self.kind
    }
    fn name(&self) -> &'static str {
        self.name
    }
    async fn validate(&self, _node: &Node) -> Result<(), DriverError> {
        Err(self.error())
    }
}

#[async_trait]
impl PowerInterface for Unimplemented {
    async fn get_power_state(&self, _node: &Node) -> Result<PowerState, DriverError> {
        Err(self.error())
    }
    async fn set_power_state(
        &self,
        _node: &Node,
        _target: PowerTarget,
        _timeout: Option<Duration>,
    ) -> Result<PowerState, DriverError> {
        Err(self.error())
    }
}

impl ManagementInterface for Unimplemented {}
impl BootInterface for Unimplemented {}
impl DeployInterface for Unimplemented {}
impl InspectInterface for Unimplemented {}
impl RaidInterface for Unimplemented {}
impl BiosInterface for Unimplemented {}
impl FirmwareInterface for Unimplemented {}
impl VendorInterface for Unimplemented {}
impl ConsoleInterface for Unimplemented {}
impl RescueInterface for Unimplemented {}
impl NetworkInterface for Unimplemented {}
impl StorageInterface for Unimplemented {}
