//! The node: one physical server, as the Ironic API presents it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::intent::Intent;
use crate::power::{PowerState, PowerTarget};
use crate::provision::ProvisionState;

/// A free-form JSON object (`driver_info`, `properties`, `extra`, …).
pub type Dict = Map<String, Value>;

/// Every stored field of a node. The store keeps it as one document; the API
/// renders it per microversion (see [`crate::fields::NODE_FIELDS`]).
/// Computed fields (`conductor`, links) are added by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    pub uuid: Uuid,
    pub name: Option<String>,
    pub driver: String,
    pub driver_info: Dict,
    pub driver_internal_info: Dict,
    pub instance_info: Dict,
    pub instance_uuid: Option<Uuid>,
    pub instance_name: Option<String>,
    pub properties: Dict,
    pub chassis_uuid: Option<Uuid>,
    pub provision_state: ProvisionState,
    pub target_provision_state: Option<ProvisionState>,
    pub provision_updated_at: Option<DateTime<Utc>>,
    pub power_state: Option<PowerState>,
    pub target_power_state: Option<PowerTarget>,
    pub last_error: Option<String>,
    pub maintenance: bool,
    pub maintenance_reason: Option<String>,
    pub fault: Option<String>,
    pub reservation: Option<String>,
    /// When the lease behind `reservation` lapses unless its holder renews
    /// it: a conductor that dies stops renewing, and once this passes any
    /// live conductor may take the lock over. Internal: never rendered.
    pub reservation_expires_at: Option<DateTime<Utc>>,
    pub console_enabled: bool,
    pub clean_step: Dict,
    pub deploy_step: Dict,
    pub service_step: Dict,
    pub raid_config: Dict,
    pub target_raid_config: Dict,
    pub inspection_started_at: Option<DateTime<Utc>>,
    pub inspection_finished_at: Option<DateTime<Utc>>,
    pub extra: Dict,
    pub resource_class: Option<String>,
    pub bios_interface: Option<String>,
    pub boot_interface: Option<String>,
    pub console_interface: Option<String>,
    pub deploy_interface: Option<String>,
    pub firmware_interface: Option<String>,
    pub inspect_interface: Option<String>,
    pub management_interface: Option<String>,
    pub network_interface: Option<String>,
    pub power_interface: Option<String>,
    pub raid_interface: Option<String>,
    pub rescue_interface: Option<String>,
    pub storage_interface: Option<String>,
    pub vendor_interface: Option<String>,
    pub traits: Vec<String>,
    pub conductor_group: String,
    pub automated_clean: Option<bool>,
    pub protected: bool,
    pub protected_reason: Option<String>,
    pub owner: Option<String>,
    pub lessee: Option<String>,
    pub description: Option<String>,
    pub allocation_uuid: Option<Uuid>,
    pub retired: bool,
    pub retired_reason: Option<String>,
    pub network_data: Dict,
    pub boot_mode: Option<String>,
    pub secure_boot: Option<bool>,
    pub shard: Option<String>,
    pub parent_node: Option<Uuid>,
    pub disable_power_off: bool,
    pub health: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Accepted work not yet finished by a conductor. Internal: never
    /// rendered by the API (it is not in the field table).
    pub intent: Option<Intent>,
}

impl Default for Node {
    fn default() -> Self {
        Node {
            uuid: Uuid::nil(),
            name: None,
            driver: String::new(),
            driver_info: Dict::new(),
            driver_internal_info: Dict::new(),
            instance_info: Dict::new(),
            instance_uuid: None,
            instance_name: None,
            properties: Dict::new(),
            chassis_uuid: None,
            provision_state: ProvisionState::Enroll,
            target_provision_state: None,
            provision_updated_at: None,
            power_state: None,
            target_power_state: None,
            last_error: None,
            maintenance: false,
            maintenance_reason: None,
            fault: None,
            reservation: None,
            reservation_expires_at: None,
            console_enabled: false,
            clean_step: Dict::new(),
            deploy_step: Dict::new(),
            service_step: Dict::new(),
            raid_config: Dict::new(),
            target_raid_config: Dict::new(),
            inspection_started_at: None,
            inspection_finished_at: None,
            extra: Dict::new(),
            resource_class: None,
            bios_interface: None,
            boot_interface: None,
            console_interface: None,
            deploy_interface: None,
            firmware_interface: None,
            inspect_interface: None,
            management_interface: None,
            network_interface: None,
            power_interface: None,
            raid_interface: None,
            rescue_interface: None,
            storage_interface: None,
            vendor_interface: None,
            traits: Vec::new(),
            conductor_group: String::new(),
            automated_clean: None,
            protected: false,
            protected_reason: None,
            owner: None,
            lessee: None,
            description: None,
            allocation_uuid: None,
            retired: false,
            retired_reason: None,
            network_data: Dict::new(),
            boot_mode: None,
            secure_boot: None,
            shard: None,
            parent_node: None,
            disable_power_off: false,
            health: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
            intent: None,
        }
    }
}

impl Node {
    /// Moves the node to `state` heading for `target`, stamping the time the
    /// callback timeouts are measured from.
    pub fn set_provision_state(
        &mut self,
        state: ProvisionState,
        target: Option<ProvisionState>,
        now: DateTime<Utc>,
    ) {
        self.provision_state = state;
        self.target_provision_state = target;
        self.provision_updated_at = Some(now);
    }
}
