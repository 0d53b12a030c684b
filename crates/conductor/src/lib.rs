//! The conductor: it owns nodes, takes their locks, runs what the API
//! accepted, and watches time (callback timeouts, crash recovery).
//!
//! CONTRACT (used by the api): `ConductorApi`, `DriverCall`, `CallError` are
//! fixed; the engine behind them is being written.

use serde_json::Value;
use uuid::Uuid;

pub use ferrite_drivers::{HardwareType, InterfaceKind};

/// A synchronous driver operation the API needs answered now.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverCall {
    /// `GET /validate`: `{iface: {result, reason?}}` for every kind.
    Validate,
    /// `{boot_device, persistent}`.
    GetBootDevice,
    SetBootDevice { device: String, persistent: bool },
    /// `{supported_boot_devices: [...]}`.
    SupportedBootDevices,
    InjectNmi,
    /// `{console_enabled, console_info}`.
    GetConsole,
    /// Checks a target RAID configuration before it is stored.
    ValidateRaidConfig(Value),
}

/// Why a driver call failed; the API maps these to HTTP codes.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// 409: another operation holds the node's lock.
    #[error("Node {node} is locked by host {host}, please retry after the current operation is completed.")]
    NodeLocked { node: Uuid, host: String },
    /// 400: bad parameters or unsupported by the node's driver.
    #[error("{0}")]
    Invalid(String),
    /// 503: no conductor answered in time.
    #[error("{0}")]
    Unavailable(String),
    /// 500-class failures of the driver itself are reported as 400 with
    /// the driver's message, as Ironic does for driver errors.
    #[error("{0}")]
    Driver(String),
}

/// What the API needs from the conductor side of a site.
#[async_trait::async_trait]
pub trait ConductorApi: Send + Sync + 'static {
    /// Hostname shown as the node's `conductor` and in `/v1/conductors`.
    fn hostname(&self) -> &str;
    /// Wakes the engine: an intent was recorded for `node`.
    fn wake(&self, node: Uuid);
    /// Runs a synchronous driver operation on `node` (with a timeout).
    async fn call(&self, node: Uuid, call: DriverCall) -> Result<Value, CallError>;
    /// The hardware types this conductor serves.
    fn hardware_types(&self) -> &[HardwareType];
}
