//! What a node's hardware reported about itself: the inspection inventory
//! (API 1.81) and firmware components (1.86). Kept out of the node
//! document because they are large and read rarely, so node lists stay
//! cheap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The latest inspection data of one node; `uuid` is the node's uuid (one
/// record per node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeInventory {
    pub uuid: Uuid,
    /// The hardware inventory (interfaces, cpu, memory, disks, …).
    pub inventory: Value,
    /// Everything else inspection collected.
    pub plugin_data: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for NodeInventory {
    fn default() -> Self {
        NodeInventory {
            uuid: Uuid::nil(),
            inventory: Value::Object(Default::default()),
            plugin_data: Value::Object(Default::default()),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// The MACs of an inventory's `interfaces[].mac_address`, normalised; the
/// entries without a valid MAC are skipped. Inspection creates ports from
/// them and `continue_inspection` finds its node by them.
pub fn interface_macs(inventory: &Value) -> Vec<String> {
    inventory
        .get("interfaces")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|i| i.get("mac_address").and_then(Value::as_str))
                .filter_map(crate::ident::normalize_mac)
                .collect()
        })
        .unwrap_or_default()
}

/// One firmware component of a node (`bios`, `bmc`, a NIC, …) and its
/// versions as the firmware interface last read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirmwareComponent {
    pub uuid: Uuid,
    pub node_uuid: Uuid,
    pub component: String,
    pub initial_version: Option<String>,
    pub current_version: Option<String>,
    pub last_version_flashed: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for FirmwareComponent {
    fn default() -> Self {
        FirmwareComponent {
            uuid: Uuid::nil(),
            node_uuid: Uuid::nil(),
            component: String::new(),
            initial_version: None,
            current_version: None,
            last_version_flashed: None,
            vendor: None,
            model: None,
            serial_number: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}
