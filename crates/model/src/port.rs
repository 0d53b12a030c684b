//! Ports (NICs) and chassis: the smaller resources that hang off nodes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::node::Dict;

/// A network interface of a node, identified by its MAC address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    pub uuid: Uuid,
    pub address: String,
    pub node_uuid: Uuid,
    pub portgroup_uuid: Option<Uuid>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub extra: Dict,
    pub internal_info: Dict,
    pub local_link_connection: Dict,
    pub pxe_enabled: bool,
    pub physical_network: Option<String>,
    pub is_smartnic: bool,
    pub vendor: Option<String>,
    pub category: Option<String>,
    pub available_for_dynamic_portgroup: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Port {
    fn default() -> Self {
        Port {
            uuid: Uuid::nil(),
            address: String::new(),
            node_uuid: Uuid::nil(),
            portgroup_uuid: None,
            name: None,
            description: None,
            extra: Dict::new(),
            internal_info: Dict::new(),
            local_link_connection: Dict::new(),
            pxe_enabled: true,
            physical_network: None,
            is_smartnic: false,
            vendor: None,
            category: None,
            available_for_dynamic_portgroup: true,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// A rack or enclosure that groups nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Chassis {
    pub uuid: Uuid,
    pub description: Option<String>,
    pub extra: Dict,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Chassis {
    fn default() -> Self {
        Chassis {
            uuid: Uuid::nil(),
            description: None,
            extra: Dict::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// A conductor process as registered in the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conductor {
    pub hostname: String,
    pub conductor_group: String,
    pub drivers: Vec<String>,
    pub online: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The kinds of work it takes (`ferrite conductor --roles`); empty
    /// means every kind. Stored beside the group so every process routes a
    /// node's work to a conductor that takes it.
    #[serde(default)]
    pub roles: Vec<String>,
}
