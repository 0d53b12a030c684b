//! The RAID configuration format (reference §6.3): checked here once so every
//! RAID interface and the API's `PUT …/states/raid` refuse the same inputs
//! with the same messages.

use ferrite_model::{Dict, Node};
use serde_json::Value;

use crate::interfaces::StepDef;
use crate::{DriverError, InterfaceKind};

/// Accepted `raid_level` values.
pub const RAID_LEVELS: &[&str] = &["JBOD", "0", "1", "2", "5", "6", "1+0", "5+0", "6+0"];

/// The keys a logical disk may carry, with their meaning (shown by
/// `GET /v1/drivers/{driver}/raid/logical_disk_properties`).
pub const LOGICAL_DISK_PROPERTIES: &[(&str, &str)] = &[
    (
        "size_gb",
        "Size of the logical disk in GiB, or \"MAX\" to use all the space left. Required.",
    ),
    (
        "raid_level",
        "RAID level of the logical disk: JBOD, 0, 1, 2, 5, 6, 1+0, 5+0 or 6+0. Required.",
    ),
    (
        "volume_name",
        "Name of the volume, where the controller supports names. Optional.",
    ),
    (
        "is_root_volume",
        "true if the operating system image is deployed onto this disk; at most one disk may \
         say so. Optional.",
    ),
    (
        "share_physical_disks",
        "true if this logical disk may share physical disks with other logical disks. Optional.",
    ),
    (
        "disk_type",
        "Kind of physical disks to build it from: hdd or ssd. Optional.",
    ),
    (
        "interface_type",
        "Interface of the physical disks to use: sata, scsi or sas. Optional.",
    ),
    (
        "number_of_physical_disks",
        "How many physical disks to build it from; defaults to the minimum the level needs. \
         Optional.",
    ),
    (
        "controller",
        "The RAID controller to use, e.g. \"software\" for MD RAID. Optional.",
    ),
    (
        "physical_disks",
        "Driver-specific identifiers of the physical disks to use. Optional.",
    ),
];

fn invalid(message: String) -> DriverError {
    DriverError::InvalidParameter(format!("Invalid RAID configuration: {message}"))
}

fn check_one_of(n: usize, key: &str, value: &Value, allowed: &[&str]) -> Result<(), DriverError> {
    match value.as_str() {
        Some(s) if allowed.contains(&s) => Ok(()),
        _ => Err(invalid(format!(
            "logical disk {n}: {key} is {value}, expected one of {}.",
            allowed.join(", ")
        ))),
    }
}

/// Checks a target RAID configuration: `{"logical_disks": [..]}` with
/// `size_gb` (non-negative integer or `"MAX"`) and `raid_level` required on
/// each disk, known keys only, and at most one root volume.
pub fn validate_raid_config(config: &Value) -> Result<(), DriverError> {
    let Some(top) = config.as_object() else {
        return Err(invalid("it must be a JSON object.".to_string()));
    };
    if let Some(extra) = top.keys().find(|k| k.as_str() != "logical_disks") {
        return Err(invalid(format!(
            "unknown key {extra:?}; only logical_disks is allowed."
        )));
    }
    let Some(disks) = top.get("logical_disks").and_then(Value::as_array) else {
        return Err(invalid(
            "logical_disks is required and must be a list.".to_string(),
        ));
    };
    if disks.is_empty() {
        return Err(invalid("logical_disks must not be empty.".to_string()));
    }
    let mut roots = 0;
    for (n, disk) in disks.iter().enumerate() {
        let Some(disk) = disk.as_object() else {
            return Err(invalid(format!("logical disk {n} must be a JSON object.")));
        };
        for (key, value) in disk {
            match key.as_str() {
                "size_gb" => {
                    let ok = value.as_u64().is_some() || value.as_str() == Some("MAX");
                    if !ok {
                        return Err(invalid(format!(
                            "logical disk {n}: size_gb is {value}, expected a non-negative \
                             integer or \"MAX\"."
                        )));
                    }
                }
                "raid_level" => check_one_of(n, key, value, RAID_LEVELS)?,
                "disk_type" => check_one_of(n, key, value, &["hdd", "ssd"])?,
                "interface_type" => check_one_of(n, key, value, &["sata", "scsi", "sas"])?,
                "volume_name" | "controller" if !value.is_string() => {
                    return Err(invalid(format!(
                        "logical disk {n}: {key} must be a string."
                    )));
                }
                "is_root_volume" | "share_physical_disks" if !value.is_boolean() => {
                    return Err(invalid(format!(
                        "logical disk {n}: {key} must be a boolean."
                    )));
                }
                "number_of_physical_disks" if value.as_u64().is_none_or(|v| v == 0) => {
                    return Err(invalid(format!(
                        "logical disk {n}: number_of_physical_disks must be a positive integer."
                    )));
                }
                "physical_disks" if !value.is_array() => {
                    return Err(invalid(format!(
                        "logical disk {n}: physical_disks must be a list."
                    )));
                }
                "volume_name"
                | "controller"
                | "is_root_volume"
                | "share_physical_disks"
                | "number_of_physical_disks"
                | "physical_disks" => {}
                other => {
                    return Err(invalid(format!(
                        "logical disk {n}: unknown property {other:?}."
                    )));
                }
            }
        }
        for required in ["size_gb", "raid_level"] {
            if !disk.contains_key(required) {
                return Err(invalid(format!(
                    "logical disk {n}: {required} is required."
                )));
            }
        }
        if disk.get("is_root_volume") == Some(&Value::Bool(true)) {
            roots += 1;
        }
    }
    if roots > 1 {
        return Err(invalid(
            "more than one logical disk is marked is_root_volume.".to_string(),
        ));
    }
    Ok(())
}

const RAID_CONFIG_ARG: &str = "The RAID configuration to apply ({\"logical_disks\": [...]}).";

/// The RAID steps every RAID interface offers (reference §6.3), all run
/// only when asked for (priority 0): `create_configuration` and
/// `delete_configuration` in cleaning, `apply_configuration` (with its
/// own configuration) in deployment and servicing.
pub fn steps(phase: crate::interfaces::StepPhase) -> Vec<StepDef> {
    use crate::interfaces::StepPhase;
    use InterfaceKind::Raid as R;
    match phase {
        StepPhase::Clean => vec![
            StepDef::new(R, "create_configuration", 0)
                .arg(
                    "create_root_volume",
                    "Whether to create the root volume.",
                    false,
                )
                .arg(
                    "create_nonroot_volumes",
                    "Whether to create other volumes.",
                    false,
                ),
            StepDef::new(R, "delete_configuration", 0),
        ],
        StepPhase::Deploy | StepPhase::Service => vec![
            StepDef::new(R, "apply_configuration", 0)
                .arg("raid_config", RAID_CONFIG_ARG, true)
                .arg("delete_existing", "Delete existing volumes first.", false)
                .arg(
                    "create_root_volume",
                    "Whether to create the root volume.",
                    false,
                )
                .arg(
                    "create_nonroot_volumes",
                    "Whether to create other volumes.",
                    false,
                ),
        ],
    }
}

/// The node's `target_raid_config`, which `create_configuration` builds;
/// a node without one cannot be given a RAID configuration.
pub fn target_config(node: &Node) -> Result<Dict, DriverError> {
    if node.target_raid_config.is_empty() {
        return Err(DriverError::Failed(
            "Cannot create a RAID configuration: the node has no target_raid_config.".to_string(),
        ));
    }
    Ok(node.target_raid_config.clone())
}

/// The checked `raid_config` argument of `apply_configuration`.
pub fn config_arg(args: &Dict) -> Result<Dict, DriverError> {
    let value = args.get("raid_config").cloned().unwrap_or(Value::Null);
    validate_raid_config(&value)?;
    Ok(match value {
        Value::Object(map) => map,
        _ => Dict::new(),
    })
}

/// A boolean step argument, `default` when absent; anything but a
/// boolean is refused rather than guessed at.
pub fn bool_arg(args: &Dict, name: &str, default: bool) -> Result<bool, DriverError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(DriverError::InvalidParameter(format!(
            "{name} must be a boolean, not {other}."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        match validate_raid_config(&v) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{v} was accepted"),
        }
    }

    #[test]
    fn accepts_documented_shapes() {
        let ok = json!({"logical_disks": [
            {"size_gb": 100, "raid_level": "1", "is_root_volume": true, "volume_name": "root"},
            {"size_gb": "MAX", "raid_level": "5+0", "disk_type": "ssd", "interface_type": "sas",
             "number_of_physical_disks": 4, "controller": "software", "physical_disks": ["a"],
             "share_physical_disks": false},
        ]});
        assert_eq!(validate_raid_config(&ok), Ok(()));
        for level in RAID_LEVELS {
            let one = json!({"logical_disks": [{"size_gb": 1, "raid_level": level}]});
            assert_eq!(validate_raid_config(&one), Ok(()), "{level}");
        }
    }

    #[test]
    fn names_the_problem() {
        assert!(err(json!([])).contains("JSON object"));
        assert!(err(json!({})).contains("logical_disks is required"));
        assert!(err(json!({"logical_disks": []})).contains("must not be empty"));
        assert!(err(json!({"logical_disks": [], "x": 1})).contains("unknown key"));
        assert!(
            err(json!({"logical_disks": [{"raid_level": "1"}]})).contains("size_gb is required")
        );
        assert!(err(json!({"logical_disks": [{"size_gb": 1}]})).contains("raid_level is required"));
        assert!(
            err(json!({"logical_disks": [{"size_gb": "big", "raid_level": "1"}]}))
                .contains("size_gb")
        );
        assert!(
            err(json!({"logical_disks": [{"size_gb": -1, "raid_level": "1"}]})).contains("size_gb")
        );
        assert!(
            err(json!({"logical_disks": [{"size_gb": 1, "raid_level": "7"}]}))
                .contains("raid_level")
        );
        assert!(
            err(json!({"logical_disks": [{"size_gb": 1, "raid_level": 1}]})).contains("raid_level")
        );
        assert!(
            err(json!({"logical_disks": [{"size_gb": 1, "raid_level": "1", "colour": "red"}]}))
                .contains("colour")
        );
        assert!(
            err(json!({"logical_disks": [
            {"size_gb": 1, "raid_level": "1", "is_root_volume": true},
            {"size_gb": 1, "raid_level": "1", "is_root_volume": true}]}))
            .contains("more than one")
        );
    }
}
