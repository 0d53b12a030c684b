//! Per-resource field tables: the microversion that introduced each field and
//! what clients may do with it. The API's field hiding, `fields=`, POST and
//! PATCH whitelists, sorting and default list columns all read these tables.

use crate::version::Version;

/// What the API allows for one field of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The name on the wire.
    pub name: &'static str,
    /// The first microversion that shows it.
    pub since: Version,
    /// Accepted in a POST body.
    pub create: bool,
    /// Accepted as a root path in a JSON Patch.
    pub patch: bool,
    /// Accepted as `sort_key` (scalar columns only).
    pub sort: bool,
}

const fn f(name: &'static str, since: u32, create: bool, patch: bool, sort: bool) -> FieldSpec {
    FieldSpec {
        name,
        since: Version(1, since),
        create,
        patch,
        sort,
    }
}

// Abbreviations for the tables below: RW = create + patch, RO = neither.
const RW: (bool, bool) = (true, true);
const RO: (bool, bool) = (false, false);
const CO: (bool, bool) = (true, false);
const PO: (bool, bool) = (false, true);

const fn g(name: &'static str, since: u32, access: (bool, bool), sort: bool) -> FieldSpec {
    f(name, since, access.0, access.1, sort)
}

/// The node's fields (reference §2.1–2.3).
pub const NODE_FIELDS: &[FieldSpec] = &[
    g("uuid", 1, CO, true),
    g("created_at", 1, RO, true),
    g("updated_at", 1, RO, true),
    g("automated_clean", 47, RW, true),
    g("bios_interface", 40, RW, true),
    g("boot_interface", 31, RW, true),
    g("boot_mode", 75, CO, true),
    g("chassis_uuid", 1, RW, true),
    g("clean_step", 7, RO, false),
    g("conductor", 49, RO, true),
    g("conductor_group", 46, RW, true),
    g("console_enabled", 1, CO, true),
    g("console_interface", 31, RW, true),
    g("deploy_interface", 31, RW, true),
    g("deploy_step", 44, RO, false),
    g("description", 51, RW, true),
    g("disable_power_off", 95, RW, true),
    g("driver", 1, RW, true),
    g("driver_info", 1, RW, false),
    g("driver_internal_info", 3, RO, false),
    g("extra", 1, RW, false),
    g("fault", 42, RO, true),
    g("firmware_interface", 86, RW, true),
    g("health", 109, RO, true),
    g("inspect_interface", 31, RW, true),
    g("inspection_finished_at", 6, RO, true),
    g("inspection_started_at", 6, RO, true),
    g("instance_info", 1, RW, false),
    g("instance_name", 104, RW, true),
    g("instance_uuid", 1, RW, true),
    g("last_error", 1, RO, true),
    g("lessee", 65, RW, true),
    g("maintenance", 1, RW, true),
    g("maintenance_reason", 1, RO, true),
    g("management_interface", 31, RW, true),
    g("name", 5, RW, true),
    g("network_data", 66, RW, false),
    g("network_interface", 20, RW, true),
    g("owner", 50, RW, true),
    g("parent_node", 83, RW, true),
    g("power_interface", 31, RW, true),
    g("power_state", 1, RO, true),
    g("properties", 1, RW, false),
    g("protected", 48, PO, true),
    g("protected_reason", 48, PO, true),
    g("provision_state", 1, RO, true),
    g("provision_updated_at", 1, RO, true),
    g("raid_config", 12, RO, false),
    g("raid_interface", 31, RW, true),
    g("rescue_interface", 38, RW, true),
    g("reservation", 1, RO, true),
    g("resource_class", 21, RW, true),
    g("retired", 61, RW, true),
    g("retired_reason", 61, RW, true),
    g("secure_boot", 75, CO, true),
    g("service_step", 87, RO, false),
    g("shard", 82, RW, true),
    g("storage_interface", 33, RW, true),
    g("target_power_state", 1, RO, true),
    g("target_provision_state", 1, RO, true),
    g("target_raid_config", 12, RO, false),
    g("traits", 37, RO, false),
    g("vendor_interface", 31, RW, true),
    g("allocation_uuid", 52, RO, true),
];

/// Columns of `GET /v1/nodes` without `fields` or `detail`.
pub const NODE_DEFAULT_LIST: &[&str] = &[
    "instance_uuid",
    "maintenance",
    "power_state",
    "provision_state",
    "uuid",
    "name",
];

/// The port's fields (reference §1.6.5).
pub const PORT_FIELDS: &[FieldSpec] = &[
    g("uuid", 1, CO, true),
    g("created_at", 1, RO, true),
    g("updated_at", 1, RO, true),
    g("address", 1, RW, true),
    g("extra", 1, RW, false),
    g("internal_info", 18, RO, false),
    g("is_smartnic", 53, RW, true),
    g("local_link_connection", 19, RW, false),
    g("physical_network", 34, RW, true),
    g("pxe_enabled", 19, RW, true),
    g("node_uuid", 1, RW, true),
    g("name", 88, RW, true),
    g("description", 97, RW, true),
    g("vendor", 100, RW, true),
    g("category", 101, RW, true),
    g("available_for_dynamic_portgroup", 111, RW, true),
    g("portgroup_uuid", 24, RW, true),
];

/// Columns of `GET /v1/ports` without `fields` or `detail`.
pub const PORT_DEFAULT_LIST: &[&str] = &["uuid", "address"];

/// The chassis's fields (reference §1.6.7).
pub const CHASSIS_FIELDS: &[FieldSpec] = &[
    g("uuid", 1, CO, true),
    g("created_at", 1, RO, true),
    g("updated_at", 1, RO, true),
    g("description", 1, RW, true),
    g("extra", 1, RW, false),
];

/// Columns of `GET /v1/chassis` without `fields` or `detail`.
pub const CHASSIS_DEFAULT_LIST: &[&str] = &["uuid", "description"];

/// The conductor's fields (reference §1.6.9).
pub const CONDUCTOR_FIELDS: &[FieldSpec] = &[
    g("hostname", 49, RO, true),
    g("conductor_group", 49, RO, true),
    g("alive", 49, RO, false),
    g("drivers", 49, RO, false),
    g("created_at", 49, RO, true),
    g("updated_at", 49, RO, true),
];

/// Columns of `GET /v1/conductors` without `fields` or `detail`.
pub const CONDUCTOR_DEFAULT_LIST: &[&str] = &["hostname", "conductor_group", "alive"];

/// The portgroup's fields (reference §1.6.6).
pub const PORTGROUP_FIELDS: &[FieldSpec] = &[
    g("uuid", 23, CO, true),
    g("created_at", 23, RO, true),
    g("updated_at", 23, RO, true),
    g("name", 23, RW, true),
    g("address", 23, RW, true),
    g("node_uuid", 23, RW, true),
    g("extra", 23, RW, false),
    g("internal_info", 23, RO, false),
    g("standalone_ports_supported", 23, RW, true),
    g("mode", 26, RW, true),
    g("properties", 26, RW, false),
    g("physical_network", 102, RW, true),
    g("category", 103, RW, true),
    g("dynamic_portgroup", 111, RO, true),
];

/// Columns of `GET /v1/portgroups` without `fields` or `detail`.
pub const PORTGROUP_DEFAULT_LIST: &[&str] = &["uuid", "address", "name"];

/// A node history entry's fields (reference §1.6.4, API 1.78).
pub const HISTORY_FIELDS: &[FieldSpec] = &[
    g("uuid", 78, RO, true),
    g("created_at", 78, RO, true),
    g("severity", 78, RO, true),
    g("event", 78, RO, false),
    g("event_type", 78, RO, true),
    g("conductor", 78, RO, true),
    g("user", 78, RO, true),
    g("project", 113, RO, true),
    g("state", 115, RO, true),
    g("target_provision_state", 115, RO, true),
    g("duration_seconds", 115, RO, true),
];

/// Columns of a node's history without `fields` or `detail`.
pub const HISTORY_DEFAULT_LIST: &[&str] = &["uuid", "created_at", "severity", "event"];

/// The volume connector's fields (reference §1.6.14).
pub const VOLUME_CONNECTOR_FIELDS: &[FieldSpec] = &[
    g("uuid", 32, CO, true),
    g("created_at", 32, RO, true),
    g("updated_at", 32, RO, true),
    g("node_uuid", 32, RW, true),
    g("type", 32, RW, true),
    g("connector_id", 32, RW, true),
    g("extra", 32, RW, false),
];

/// Columns of `GET /v1/volume/connectors` without `fields` or `detail`.
pub const VOLUME_CONNECTOR_DEFAULT_LIST: &[&str] = &["uuid", "node_uuid", "type", "connector_id"];

/// The volume target's fields (reference §1.6.14).
pub const VOLUME_TARGET_FIELDS: &[FieldSpec] = &[
    g("uuid", 32, CO, true),
    g("created_at", 32, RO, true),
    g("updated_at", 32, RO, true),
    g("node_uuid", 32, RW, true),
    g("volume_type", 32, RW, true),
    g("volume_id", 32, RW, true),
    g("boot_index", 32, RW, true),
    g("properties", 32, RW, false),
    g("extra", 32, RW, false),
];

/// Columns of `GET /v1/volume/targets` without `fields` or `detail`.
pub const VOLUME_TARGET_DEFAULT_LIST: &[&str] = &[
    "uuid",
    "node_uuid",
    "volume_type",
    "boot_index",
    "volume_id",
];

/// The runbook's fields (reference §1.6.12): the endpoint arrived at 1.92,
/// `description` and the (read-only, sub-resource managed) `traits` at 1.112.
pub const RUNBOOK_FIELDS: &[FieldSpec] = &[
    g("uuid", 92, CO, true),
    g("created_at", 92, RO, true),
    g("updated_at", 92, RO, true),
    g("name", 92, RW, true),
    g("steps", 92, RW, false),
    g("disable_ramdisk", 92, RW, true),
    g("public", 92, RW, true),
    g("owner", 92, RW, true),
    g("extra", 92, RW, false),
    g("description", 112, RW, true),
    g("traits", 112, RO, false),
];

/// Columns of `GET /v1/runbooks` without `fields` or `detail`.
pub const RUNBOOK_DEFAULT_LIST: &[&str] = &["uuid", "name"];

/// The inspection rule's fields (reference §1.6.13), all from 1.96.
pub const INSPECTION_RULE_FIELDS: &[FieldSpec] = &[
    g("uuid", 96, CO, true),
    g("created_at", 96, RO, true),
    g("updated_at", 96, RO, true),
    g("description", 96, RW, true),
    g("priority", 96, RW, true),
    g("phase", 96, RW, true),
    g("sensitive", 96, RW, true),
    g("conditions", 96, RW, false),
    g("actions", 96, RW, false),
];

/// Columns of `GET /v1/inspection_rules` without `fields` or `detail`
/// (reference §1.4).
pub const INSPECTION_RULE_DEFAULT_LIST: &[&str] = &["uuid", "priority", "phase", "description"];

/// The position of `name` in `table`, usable in constants so renderers
/// can index per-field flags instead of hashing names. A name that is not
/// in the table fails to compile when used in a const context.
pub const fn position(table: &[FieldSpec], name: &str) -> usize {
    let mut i = 0;
    while i < table.len() {
        let candidate = table[i].name.as_bytes();
        let wanted = name.as_bytes();
        if candidate.len() == wanted.len() {
            let mut j = 0;
            while j < wanted.len() && candidate[j] == wanted[j] {
                j += 1;
            }
            if j == wanted.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("no such field")
}

/// Looks a field up by name.
pub fn find(table: &[FieldSpec], name: &str) -> Option<FieldSpec> {
    table.iter().copied().find(|spec| spec.name == name)
}

/// Test helpers shared by the resource modules: a stored document's keys
/// must be exactly the fields its table declares, or fields would be
/// hidden or shown by mistake.
#[cfg(test)]
pub(crate) mod check {
    use std::collections::HashSet;

    use super::FieldSpec;

    /// The top-level keys `doc` serializes to.
    pub fn stored_keys<T: serde::Serialize>(doc: &T) -> HashSet<String> {
        match serde_json::to_value(doc) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            other => panic!("not a document: {other:?}"),
        }
    }

    /// The names `table` declares.
    pub fn declared(table: &[FieldSpec]) -> HashSet<String> {
        table.iter().map(|s| s.name.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn field_names_are_unique_per_table() {
        for table in [
            NODE_FIELDS,
            PORT_FIELDS,
            CHASSIS_FIELDS,
            CONDUCTOR_FIELDS,
            PORTGROUP_FIELDS,
            VOLUME_CONNECTOR_FIELDS,
            VOLUME_TARGET_FIELDS,
        ] {
            let names: HashSet<_> = table.iter().map(|s| s.name).collect();
            assert_eq!(names.len(), table.len());
        }
    }

    #[test]
    fn node_fields_match_the_stored_document() {
        let doc = serde_json::to_value(crate::node::Node::default()).unwrap();
        let stored: HashSet<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let declared: HashSet<&str> = NODE_FIELDS.iter().map(|s| s.name).collect();
        let computed: HashSet<&str> = ["conductor"].into();
        let internal: HashSet<&str> = ["intent", "reservation_expires_at"].into();
        assert_eq!(&declared - &computed, &stored - &internal);
    }
}
