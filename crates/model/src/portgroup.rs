//! Portgroups (bonds of ports, 1.23) and volume connectors/targets
//! (boot-from-volume, 1.32).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::node::Dict;

/// A bond of a node's ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Portgroup {
    pub uuid: Uuid,
    pub name: Option<String>,
    pub address: Option<String>,
    pub node_uuid: Uuid,
    pub mode: Option<String>,
    pub properties: Dict,
    pub extra: Dict,
    pub internal_info: Dict,
    pub standalone_ports_supported: bool,
    pub physical_network: Option<String>,
    pub category: Option<String>,
    pub dynamic_portgroup: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Portgroup {
    fn default() -> Self {
        Portgroup {
            uuid: Uuid::nil(),
            name: None,
            address: None,
            node_uuid: Uuid::nil(),
            mode: None,
            properties: Dict::new(),
            extra: Dict::new(),
            internal_info: Dict::new(),
            standalone_ports_supported: true,
            physical_network: None,
            category: None,
            dynamic_portgroup: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// How a node reaches a storage network (an initiator identity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeConnector {
    pub uuid: Uuid,
    pub node_uuid: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub connector_id: String,
    pub extra: Dict,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for VolumeConnector {
    fn default() -> Self {
        VolumeConnector {
            uuid: Uuid::nil(),
            node_uuid: Uuid::nil(),
            kind: String::new(),
            connector_id: String::new(),
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// A volume a node boots from or attaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeTarget {
    pub uuid: Uuid,
    pub node_uuid: Uuid,
    pub volume_type: String,
    pub volume_id: String,
    pub boot_index: i64,
    pub properties: Dict,
    pub extra: Dict,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for VolumeTarget {
    fn default() -> Self {
        VolumeTarget {
            uuid: Uuid::nil(),
            node_uuid: Uuid::nil(),
            volume_type: String::new(),
            volume_id: String::new(),
            boot_index: 0,
            properties: Dict::new(),
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}
