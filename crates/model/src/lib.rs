//! Ferrite's domain model: the types and rules every other crate shares,
//! free of I/O so they can be tested exhaustively and reused by the API, the
//! conductor, the store and the client alike.

pub mod allocation;
pub mod deploy_template;
pub mod fields;
pub mod history;
pub mod ident;
pub mod inspection_rule;
pub mod intent;
pub mod inventory;
pub mod node;
pub mod port;
pub mod portgroup;
pub mod power;
pub mod provision;
pub mod records;
pub mod runbook;
pub mod secret;
pub mod version;
pub mod webhook;

pub use allocation::{Allocation, AllocationState};
pub use deploy_template::DeployTemplate;
pub use history::{HistoryMark, NodeHistory};
pub use inspection_rule::InspectionRule;
pub use intent::{Intent, ProvisionArgs};
pub use node::{Dict, Node};
pub use port::{Chassis, Conductor, Port};
pub use portgroup::{Portgroup, VolumeConnector, VolumeTarget};
pub use power::{PowerState, PowerTarget};
pub use provision::{Event, ProvisionState, Verb};
pub use records::{FirmwareComponent, NodeInventory};
pub use runbook::Runbook;
pub use version::{MAX_VERSION, MIN_VERSION, Version};
pub use webhook::Webhook;
