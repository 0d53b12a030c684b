//! Validation of node documents, shared by create and PATCH: a node is
//! checked as a whole after the change is applied, so both paths accept and
//! refuse exactly the same things (reference §2.2–2.3).

use ferrite_conductor::{HardwareType, InterfaceKind};
use ferrite_model::fields::{NODE_FIELDS, find};
use ferrite_model::ident::{is_valid_name, parse_uuid};
use ferrite_model::{Node, Version};
use serde_json::{Map, Value};

use crate::protocol::body::{parse_bool, show};
use crate::protocol::listing::check_version;
use crate::protocol::{ApiError, ApiResult, ApiVersion};

/// Keys accepted by `POST /v1/nodes` (reference §2.2).
pub const CREATE_KEYS: &[&str] = &[
    "automated_clean",
    "bios_interface",
    "boot_interface",
    "boot_mode",
    "chassis_uuid",
    "conductor_group",
    "console_enabled",
    "console_interface",
    "deploy_interface",
    "description",
    "disable_power_off",
    "driver",
    "driver_info",
    "extra",
    "firmware_interface",
    "inspect_interface",
    "instance_info",
    "instance_name",
    "instance_uuid",
    "lessee",
    "management_interface",
    "maintenance",
    "name",
    "network_data",
    "network_interface",
    "owner",
    "parent_node",
    "power_interface",
    "properties",
    "raid_interface",
    "rescue_interface",
    "resource_class",
    "retired",
    "retired_reason",
    "secure_boot",
    "shard",
    "storage_interface",
    "uuid",
    "vendor_interface",
];

/// The node's `<kind>_interface` fields.
pub const INTERFACE_FIELDS: &[(&str, InterfaceKind)] = &[
    ("bios_interface", InterfaceKind::Bios),
    ("boot_interface", InterfaceKind::Boot),
    ("console_interface", InterfaceKind::Console),
    ("deploy_interface", InterfaceKind::Deploy),
    ("firmware_interface", InterfaceKind::Firmware),
    ("inspect_interface", InterfaceKind::Inspect),
    ("management_interface", InterfaceKind::Management),
    ("network_interface", InterfaceKind::Network),
    ("power_interface", InterfaceKind::Power),
    ("raid_interface", InterfaceKind::Raid),
    ("rescue_interface", InterfaceKind::Rescue),
    ("storage_interface", InterfaceKind::Storage),
    ("vendor_interface", InterfaceKind::Vendor),
];

fn err(detail: impl std::fmt::Display) -> ApiError {
    ApiError::schema("node", detail)
}

fn nullable_string(map: &Map<String, Value>, key: &str, max: usize) -> ApiResult<Option<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(err(format!(
            "'{s}' is too long (at most {max} characters) for '{key}'"
        ))),
        Some(v) => Err(err(format!(
            "{} is not of type 'string' for '{key}'",
            show(v)
        ))),
    }
}

/// Refuses keys of `map` whose field is newer than `version` (406).
pub fn check_versions<'a>(
    keys: impl Iterator<Item = &'a String>,
    version: ApiVersion,
) -> ApiResult<()> {
    for key in keys {
        if let Some(spec) = find(NODE_FIELDS, key) {
            check_version(spec, version)?;
        }
    }
    Ok(())
}

/// Normalises and checks every client-settable field of a node document,
/// then decodes it. Unknown drivers and unsupported interfaces are 400.
pub fn validate(mut map: Map<String, Value>, types: &[HardwareType]) -> ApiResult<Node> {
    let driver = match map.get("driver") {
        Some(Value::String(d)) => d.clone(),
        Some(v) => {
            return Err(err(format!(
                "{} is not of type 'string' for 'driver'",
                show(v)
            )));
        }
        None => return Err(err("'driver' is a required property")),
    };
    let hardware = types.iter().find(|t| t.name == driver).ok_or_else(|| {
        ApiError::bad_request(format!(
            "No valid host was found. Reason: No conductor service registered which supports driver {driver} for conductor group \"{}\".",
            map.get("conductor_group").and_then(Value::as_str).unwrap_or("")
        ))
    })?;
    if let Some(name) = nullable_string(&map, "name", 255)?
        && !is_valid_name(&name)
    {
        return Err(ApiError::bad_request(format!(
            "Expected a logical name but received {name}."
        )));
    }
    for key in ["uuid", "instance_uuid", "chassis_uuid", "parent_node"] {
        if let Some(v) = map.get(key)
            && !v.is_null()
            && v.as_str().and_then(parse_uuid).is_none()
        {
            return Err(super::schema::expected_uuid(key, v));
        }
    }
    for (key, max) in [
        ("description", 4096),
        ("resource_class", 80),
        ("owner", 255),
        ("lessee", 255),
        ("shard", 255),
        ("maintenance_reason", 255),
        ("protected_reason", 255),
        ("retired_reason", 255),
        ("instance_name", 255),
    ] {
        nullable_string(&map, key, max)?;
    }
    match map.get("conductor_group") {
        None | Some(Value::Null) => {
            map.insert("conductor_group".into(), Value::String(String::new()));
        }
        Some(Value::String(group)) => {
            if group.len() > 255
                || !group
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(err(format!("'{group}' is not a valid conductor group")));
            }
            let lowered = group.to_ascii_lowercase();
            map.insert("conductor_group".into(), Value::String(lowered));
        }
        Some(v) => {
            return Err(err(format!(
                "{} is not of type 'string' for 'conductor_group'",
                show(v)
            )));
        }
    }
    if let Some(mode) = nullable_string(&map, "boot_mode", 16)?
        && mode != "uefi"
        && mode != "bios"
    {
        return Err(err(format!(
            "'{mode}' is not one of ['uefi', 'bios'] for 'boot_mode'"
        )));
    }
    for key in [
        "maintenance",
        "console_enabled",
        "protected",
        "retired",
        "disable_power_off",
    ] {
        match map.get(key) {
            None => {}
            Some(Value::Null) => {
                map.insert(key.into(), Value::Bool(false));
            }
            Some(v) => {
                let b = parse_bool(v).ok_or_else(|| {
                    err(format!("{} is not of type 'boolean' for '{key}'", show(v)))
                })?;
                map.insert(key.into(), Value::Bool(b));
            }
        }
    }
    for key in ["automated_clean", "secure_boot"] {
        if let Some(v) = map.get(key).filter(|v| !v.is_null()) {
            let b = parse_bool(v)
                .ok_or_else(|| err(format!("{} is not of type 'boolean' for '{key}'", show(v))))?;
            map.insert(key.into(), Value::Bool(b));
        }
    }
    for key in [
        "driver_info",
        "extra",
        "instance_info",
        "properties",
        "network_data",
    ] {
        match map.get(key) {
            None | Some(Value::Object(_)) => {}
            Some(Value::Null) => {
                map.insert(key.into(), Value::Object(Map::new()));
            }
            Some(v) => {
                return Err(err(format!(
                    "{} is not of type 'object' for '{key}'",
                    show(v)
                )));
            }
        }
    }
    for (key, kind) in INTERFACE_FIELDS {
        match map.get(*key) {
            None | Some(Value::Null) => {
                map.insert(
                    (*key).into(),
                    Value::String(hardware.default_interface(*kind).to_string()),
                );
            }
            Some(Value::String(name)) if hardware.supports(*kind, name) => {}
            Some(Value::String(name)) => {
                return Err(ApiError::bad_request(format!(
                    "Could not find a suitable {} interface for the node: interface \"{name}\" is not supported by hardware type {driver}.",
                    kind.as_str()
                )));
            }
            Some(v) => {
                return Err(err(format!(
                    "{} is not of type 'string' for '{key}'",
                    show(v)
                )));
            }
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(err)
}

/// Resets interface fields not named in `kept` to the hardware type's
/// defaults (`reset_interfaces` on a driver change).
pub fn reset_interfaces(map: &mut Map<String, Value>, kept: &[&str]) {
    for (key, _) in INTERFACE_FIELDS {
        if !kept.contains(key) {
            map.insert((*key).into(), Value::Null);
        }
    }
}

/// The provision state a new node starts in: `enroll` from 1.11.
pub fn initial_state(version: ApiVersion) -> ferrite_model::ProvisionState {
    if version.0 >= Version(1, 11) {
        ferrite_model::ProvisionState::Enroll
    } else {
        ferrite_model::ProvisionState::Available
    }
}
