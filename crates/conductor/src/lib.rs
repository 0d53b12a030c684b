//! The conductor: it owns nodes, takes their locks, runs what the API
//! accepted, and watches time (callback timeouts, crash recovery).
//!
//! CONTRACT (used by the api): `ConductorApi`, `DriverCall`, `CallError` are
//! fixed.
//!
//! How work flows: the API checks a request against the state machine,
//! advances the node and records an [`ferrite_model::Intent`] in one store
//! transaction, then calls [`ConductorApi::wake`]. The engine
//! ([`Conductor`]) claims the node — takes its lock (`reservation`) and the
//! intent in one transaction — and runs the operation in a task holding the
//! lock; every state change is a store update and the last one releases the
//! lock. A periodic sweep finds intents whose wake-up was missed, a periodic
//! check fails nodes whose callback wait timed out, start-up recovers
//! nodes a crashed conductor left locked, and the power sync keeps every
//! node's `power_state` within `sync_power_state_interval` of its BMC's.

use serde_json::Value;
use uuid::Uuid;

pub use ferrite_drivers::{FakeDelays, HardwareType, InterfaceKind};

pub mod agent;
mod allocations;
mod bmc_events;
mod calls;
mod claim;
pub mod config;
mod engine;
mod flows;
pub mod fsm;
mod membership;
mod power_sync;
mod recovery;
pub mod ring;
pub mod steps;
mod timeouts;

pub use config::ConductorConfig;
pub use engine::{Conductor, ConductorError};
pub use power_sync::{PassReport, PowerSyncError, PowerSyncStats};

/// Why an operation on a node stopped before it was done. Internal to the
/// engine; public so the pure helpers in [`fsm`] can return it.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The store failed (or the node vanished).
    #[error(transparent)]
    Store(#[from] ferrite_store::StoreError),
    /// Another holder has the node's lock.
    #[error("the node is locked by {0}")]
    Locked(String),
    /// This conductor no longer holds the lock it was working under (a
    /// takeover released it): stop touching the node.
    #[error("this conductor no longer holds the node's lock")]
    LostLock,
    /// The hash ring gives the node to another conductor (or to none: no
    /// live conductor serves its group).
    #[error("the node belongs to conductor {0:?}")]
    NotOwner(Option<String>),
    /// There was nothing to claim or change.
    #[error("nothing to do")]
    NothingToDo,
    /// The state machine has no such edge from the node's state.
    #[error("the state machine has no {event} transition from {from}")]
    Transition {
        /// The node's state.
        from: ferrite_model::ProvisionState,
        /// The event that was refused.
        event: ferrite_model::Event,
    },
    /// The node changed under a waiting operation (e.g. it was aborted).
    #[error("{0}")]
    Stale(String),
}

/// A synchronous driver operation the API needs answered now.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverCall {
    /// `GET /validate`: `{iface: {result, reason?}}` for every kind.
    Validate,
    /// `{boot_device, persistent}`.
    GetBootDevice,
    /// Sets the boot device; takes the node's lock for the change.
    SetBootDevice {
        /// `pxe`, `disk`, …
        device: String,
        /// For every boot, not only the next.
        persistent: bool,
    },
    /// `{supported_boot_devices: [...]}`.
    SupportedBootDevices,
    /// Sends an NMI; takes the node's lock.
    InjectNmi,
    /// `{console_enabled, console_info}`.
    GetConsole,
    /// `{"settings": {name: value}}`: the BIOS settings, read from the
    /// machine through the node's BIOS interface.
    BiosSettings,
    /// Checks a target RAID configuration before it is stored.
    ValidateRaidConfig(Value),
    /// `{"indicators": [{name, component, readonly, states}]}`.
    Indicators,
    /// `{"state": …}` of the indicator `name@component`.
    GetIndicator { indicator: String },
    /// Sets the indicator `name@component` to `state`.
    SetIndicator { indicator: String, state: String },
    /// Inserts `image_url` into the virtual `device_type` drive; takes the
    /// node's lock and records what is attached (see
    /// [`VIRTUAL_MEDIA_KEY`]).
    AttachVirtualMedia {
        device_type: String,
        image_url: String,
    },
    /// Ejects the virtual media of these types (all when empty).
    DetachVirtualMedia { device_types: Vec<String> },
    /// `{name: {http_methods, async, description, attach,
    /// require_exclusive_lock}}` of the node's vendor interface.
    VendorMethods,
    /// Runs a vendor passthru method; answers `{"async": bool, "return": …}`
    /// so the API can choose 202 or 200.
    VendorPassthru {
        method: String,
        http_method: String,
        args: Value,
    },
}

/// `driver_internal_info` key of the virtual media Ferrite attached:
/// `{device_type: image_url}`, read by `GET /v1/nodes/{n}/vmedia`.
pub const VIRTUAL_MEDIA_KEY: &str = "virtual_media";

/// Why a driver call failed; the API maps these to HTTP codes.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// 409: another operation holds the node's lock.
    #[error(
        "Node {node} is locked by host {host}, please retry after the current operation is completed."
    )]
    NodeLocked {
        /// The node.
        node: Uuid,
        /// Who holds its lock.
        host: String,
    },
    /// 400: bad parameters or unsupported by the node's driver.
    #[error("{0}")]
    Invalid(String),
    /// 404: the thing asked about does not exist on this node.
    #[error("{0}")]
    NotFound(String),
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
    /// The conductor the hash ring gives `node` of `group` to, shown as the
    /// node's `conductor`; None when no live conductor serves the group.
    fn owner(&self, node: Uuid, group: &str) -> Option<String>;
    /// Whether a live conductor serves `group`: creating a node in, or
    /// moving one to, a group nobody serves is refused (400), as in Ironic.
    fn serves_group(&self, group: &str) -> bool;
    /// Wakes the engine: an intent was recorded for `node`.
    fn wake(&self, node: Uuid);
    /// Wakes the engine: an allocation was recorded in state `allocating`
    /// and should be scheduled now rather than at the next sweep. The
    /// default does nothing, so an implementation that only sweeps is
    /// still correct, just slower.
    fn wake_allocation(&self, _allocation: Uuid) {}
    /// Runs a synchronous driver operation on `node` (with a timeout).
    async fn call(&self, node: Uuid, call: DriverCall) -> Result<Value, CallError>;
    /// The hardware types this conductor serves.
    fn hardware_types(&self) -> &[HardwareType];
}
