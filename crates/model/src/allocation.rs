//! Allocations (1.52): requests for a node matching a resource class and traits, scheduled by the conductor.
//!
//! The rules live here, free of I/O, because two crates enforce them: the
//! conductor when it schedules an allocation onto a free node, and the API
//! when it backfills an allocation onto a deployed node or removes one. Both
//! must agree on which node fits, what binding writes into the node, and when
//! an allocation may be taken away.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::fields::FieldSpec;
use crate::node::{Dict, Node};
use crate::provision::{ProvisionState, string_enum};
use crate::version::Version;

string_enum! {
    /// Where an allocation is in its short life: waiting for the conductor,
    /// bound to a node, or given up on (with `last_error` saying why).
    AllocationState {
        Allocating => "allocating",
        Active => "active",
        Error => "error",
    }
}

/// The `instance_info` key that carries the traits an allocation asked
/// for, so the deployment (deploy templates) knows which traits it serves.
pub const INSTANCE_TRAITS_KEY: &str = "traits";

/// One allocation as stored; the API renders it per microversion from
/// [`ALLOCATION_FIELDS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Allocation {
    /// Identity; also becomes the bound node's `instance_uuid`.
    pub uuid: Uuid,
    /// Optional logical name, unique, so clients can address it by name.
    pub name: Option<String>,
    /// The node it is bound to once `active` (and while backfilling).
    pub node_uuid: Option<Uuid>,
    /// The resource class a node must have; `None` only for a backfill
    /// onto a node that has none.
    pub resource_class: Option<String>,
    /// Traits the node must carry (all of them).
    pub traits: Vec<String>,
    /// When not empty, only these nodes may be chosen (names were resolved
    /// to UUIDs by the API, in the order given).
    pub candidate_nodes: Vec<Uuid>,
    /// Progress of the allocation.
    pub state: AllocationState,
    /// Why the allocation failed (`error` only).
    pub last_error: Option<String>,
    /// Free-form client data.
    pub extra: Dict,
    /// Project the allocation is for (1.60): restricts the choice to nodes
    /// this project owns or leases.
    pub owner: Option<String>,
    /// When the allocation was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Allocation {
    fn default() -> Self {
        Allocation {
            uuid: Uuid::nil(),
            name: None,
            node_uuid: None,
            resource_class: None,
            traits: Vec::new(),
            candidate_nodes: Vec::new(),
            state: AllocationState::Allocating,
            last_error: None,
            extra: Dict::new(),
            owner: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

const fn spec(name: &'static str, since: u32, create: bool, patch: bool, sort: bool) -> FieldSpec {
    FieldSpec {
        name,
        since: Version(1, since),
        create,
        patch,
        sort,
    }
}

/// The allocation's fields (reference §1.6.10): only `name` and `extra`
/// may be patched (1.57); `owner` appears at 1.60.
pub const ALLOCATION_FIELDS: &[FieldSpec] = &[
    spec("uuid", 52, true, false, true),
    spec("created_at", 52, false, false, true),
    spec("updated_at", 52, false, false, true),
    spec("name", 52, true, true, true),
    spec("node_uuid", 52, false, false, true),
    spec("resource_class", 52, true, false, true),
    spec("traits", 52, true, false, false),
    spec("candidate_nodes", 52, true, false, false),
    spec("state", 52, false, false, true),
    spec("last_error", 52, false, false, true),
    spec("extra", 52, true, true, false),
    spec("owner", 60, true, false, true),
];

/// Columns of `GET /v1/allocations` without `fields`: every field, because
/// Ironic has no reduced default for allocations.
pub const ALLOCATION_DEFAULT_LIST: &[&str] = &[
    "uuid",
    "created_at",
    "updated_at",
    "name",
    "node_uuid",
    "resource_class",
    "traits",
    "candidate_nodes",
    "state",
    "last_error",
    "extra",
    "owner",
];

/// Whether `node` carries every trait in `requested`.
pub fn traits_match(requested: &[String], node: &Node) -> bool {
    requested.iter().all(|t| node.traits.contains(t))
}

/// Clears what an allocation wrote into `node` (instance, allocation link,
/// requested traits) if `allocation` is the one bound to it; returns
/// whether it was.
pub fn release_node(node: &mut Node, allocation: Uuid) -> bool {
    if node.allocation_uuid != Some(allocation) {
        return false;
    }
    node.allocation_uuid = None;
    node.instance_uuid = None;
    node.instance_info.remove(INSTANCE_TRAITS_KEY);
    true
}

impl Allocation {
    /// Why `node` cannot be scheduled for this allocation now, or `None`
    /// when it can. A node's lock is not judged here: a locked node may
    /// become free and is retried by the caller.
    pub fn unsuitable(&self, node: &Node) -> Option<String> {
        if node.provision_state != ProvisionState::Available {
            return Some(format!("node {} is no longer available", node.uuid));
        }
        if node.maintenance {
            return Some(format!("node {} is in maintenance", node.uuid));
        }
        if node.instance_uuid.is_some() || node.allocation_uuid.is_some() {
            return Some(format!("node {} is already associated", node.uuid));
        }
        if node.power_state.is_none() {
            return Some(format!("node {} has no known power state", node.uuid));
        }
        if node.resource_class != self.resource_class {
            return Some(format!(
                "the resource class of node {} does not match",
                node.uuid
            ));
        }
        if !self.candidate_nodes.is_empty() && !self.candidate_nodes.contains(&node.uuid) {
            return Some(format!("node {} is not a candidate", node.uuid));
        }
        if let Some(owner) = &self.owner
            && node.owner.as_ref() != Some(owner)
            && node.lessee.as_ref() != Some(owner)
        {
            return Some(format!(
                "node {} is neither owned nor leased by {owner}",
                node.uuid
            ));
        }
        if !traits_match(&self.traits, node) {
            return Some(format!("the traits of node {} do not match", node.uuid));
        }
        None
    }

    /// How many traits `node` has beyond those requested. Scheduling tries
    /// the nodes with the fewest first, so a node with scarce traits stays
    /// free for a request that needs them.
    pub fn surplus_traits(&self, node: &Node) -> usize {
        node.traits
            .iter()
            .filter(|t| !self.traits.contains(t))
            .count()
    }

    /// What keeps this allocation from being backfilled onto `node` (1.58):
    /// the node must be deployed and match what the allocation asks for.
    pub fn backfill_problems(&self, node: &Node) -> Vec<String> {
        let mut problems = Vec::new();
        if node.provision_state != ProvisionState::Active {
            problems.push(format!(
                "Node must be in the \"active\" state, but the current state is \"{}\"",
                node.provision_state
            ));
        }
        if let Some(rc) = &self.resource_class
            && node.resource_class.as_ref() != Some(rc)
        {
            problems.push(format!(
                "Resource class {} does not match the requested resource class {rc}",
                node.resource_class.as_deref().unwrap_or("None")
            ));
        }
        if !traits_match(&self.traits, node) {
            problems.push(format!(
                "List of traits {:?} does not match the requested traits {:?}",
                node.traits, self.traits
            ));
        }
        if !self.candidate_nodes.is_empty() && !self.candidate_nodes.contains(&node.uuid) {
            let names: Vec<String> = self.candidate_nodes.iter().map(Uuid::to_string).collect();
            problems.push(format!(
                "Candidate nodes must be empty or contain the target node, but got {}",
                names.join(", ")
            ));
        }
        problems
    }

    /// Binds `node` to this allocation: its `instance_uuid` and
    /// `allocation_uuid` become the allocation's uuid and its
    /// `instance_info.traits` the requested traits. Refused (with the
    /// message) when the node already serves another instance or allocation.
    pub fn bind(&self, node: &mut Node) -> Result<(), String> {
        if let Some(instance) = node.instance_uuid
            && instance != self.uuid
        {
            return Err(format!(
                "Node {} is associated with instance {instance}.",
                node.uuid
            ));
        }
        if let Some(other) = node.allocation_uuid
            && other != self.uuid
        {
            return Err(format!(
                "Node {} is already associated with allocation {other}.",
                node.uuid
            ));
        }
        node.instance_uuid = Some(self.uuid);
        node.allocation_uuid = Some(self.uuid);
        let traits = self.traits.iter().cloned().map(Value::String).collect();
        node.instance_info
            .insert(INSTANCE_TRAITS_KEY.into(), Value::Array(traits));
        Ok(())
    }

    /// Why this allocation may not be removed from `node` now, or `None`:
    /// never while the node is deployed or in a transition that forbids
    /// updates, unless the node is in maintenance.
    pub fn removal_refused(&self, node: &Node) -> Option<String> {
        if node.maintenance {
            return None;
        }
        if node.target_provision_state.is_some()
            && !node.provision_state.allows_update_in_transition()
        {
            return Some(format!(
                "Cannot remove allocation {} for node {}, because the node is in state {} where \
                 updates are not allowed (and maintenance mode is off)",
                self.uuid, node.uuid, node.provision_state
            ));
        }
        if node.provision_state == ProvisionState::Active {
            return Some(format!(
                "Cannot remove allocation {} for node {}, because the node is active (and \
                 maintenance mode is off)",
                self.uuid, node.uuid
            ));
        }
        None
    }

    /// The `last_error` of a failed allocation, worded as Ironic words it.
    pub fn failure(&self, reason: &str) -> String {
        format!("Failed to process allocation {}: {reason}.", self.uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::PowerState;
    use std::collections::HashSet;

    fn free_node(rc: &str, traits: &[&str]) -> Node {
        Node {
            uuid: Uuid::new_v4(),
            provision_state: ProvisionState::Available,
            power_state: Some(PowerState::Off),
            resource_class: Some(rc.into()),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            ..Node::default()
        }
    }

    fn request(rc: &str, traits: &[&str]) -> Allocation {
        Allocation {
            uuid: Uuid::new_v4(),
            resource_class: Some(rc.into()),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            ..Allocation::default()
        }
    }

    #[test]
    fn field_table_matches_the_stored_document() {
        let doc = serde_json::to_value(Allocation::default()).unwrap();
        let stored: HashSet<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let declared: HashSet<&str> = ALLOCATION_FIELDS.iter().map(|s| s.name).collect();
        assert_eq!(declared, stored);
        let listed: HashSet<&str> = ALLOCATION_DEFAULT_LIST.iter().copied().collect();
        assert_eq!(listed, stored);
        assert_eq!(doc["state"], "allocating");
    }

    #[test]
    fn scheduling_rules() {
        let a = request("gold", &["CUSTOM_GPU"]);
        let good = free_node("gold", &["CUSTOM_GPU", "CUSTOM_NVME"]);
        assert_eq!(a.unsuitable(&good), None);
        assert_eq!(a.surplus_traits(&good), 1);

        let mut n = good.clone();
        n.resource_class = Some("silver".into());
        assert!(a.unsuitable(&n).is_some());
        let mut n = good.clone();
        n.traits = vec!["CUSTOM_NVME".into()];
        assert!(a.unsuitable(&n).is_some());
        let mut n = good.clone();
        n.maintenance = true;
        assert!(a.unsuitable(&n).is_some());
        let mut n = good.clone();
        n.power_state = None;
        assert!(a.unsuitable(&n).is_some());
        let mut n = good.clone();
        n.provision_state = ProvisionState::Manageable;
        assert!(a.unsuitable(&n).is_some());
        let mut n = good.clone();
        n.instance_uuid = Some(Uuid::new_v4());
        assert!(a.unsuitable(&n).is_some());

        let mut limited = a.clone();
        limited.candidate_nodes = vec![Uuid::new_v4()];
        assert!(limited.unsuitable(&good).is_some());
        limited.candidate_nodes.push(good.uuid);
        assert_eq!(limited.unsuitable(&good), None);

        let mut owned = a.clone();
        owned.owner = Some("p1".into());
        assert!(owned.unsuitable(&good).is_some());
        let mut leased = good.clone();
        leased.lessee = Some("p1".into());
        assert_eq!(owned.unsuitable(&leased), None);
    }

    #[test]
    fn bind_and_release() {
        let a = request("gold", &["CUSTOM_GPU"]);
        let mut n = free_node("gold", &["CUSTOM_GPU"]);
        a.bind(&mut n).unwrap();
        assert_eq!(n.instance_uuid, Some(a.uuid));
        assert_eq!(n.allocation_uuid, Some(a.uuid));
        assert_eq!(n.instance_info["traits"], serde_json::json!(["CUSTOM_GPU"]));
        assert!(a.unsuitable(&n).is_some(), "a bound node is taken");

        let other = request("gold", &[]);
        assert!(other.bind(&mut n).unwrap_err().contains("is associated"));
        assert!(!release_node(&mut n, other.uuid));
        assert!(release_node(&mut n, a.uuid));
        assert_eq!(n.instance_uuid, None);
        assert_eq!(n.allocation_uuid, None);
        assert!(!n.instance_info.contains_key("traits"));
    }

    #[test]
    fn removal_and_backfill_rules() {
        let a = request("gold", &[]);
        let mut n = free_node("gold", &[]);
        assert_eq!(a.removal_refused(&n), None);
        n.provision_state = ProvisionState::Active;
        assert!(a.removal_refused(&n).unwrap().contains("is active"));
        assert!(a.backfill_problems(&n).is_empty());
        n.maintenance = true;
        assert_eq!(a.removal_refused(&n), None);
        n.maintenance = false;
        n.provision_state = ProvisionState::Deploying;
        n.target_provision_state = Some(ProvisionState::Active);
        assert!(
            a.removal_refused(&n)
                .unwrap()
                .contains("where updates are not allowed")
        );
        assert_eq!(a.backfill_problems(&n).len(), 1);
        let picky = request("silver", &["CUSTOM_X"]);
        assert_eq!(picky.backfill_problems(&n).len(), 3);
    }
}
