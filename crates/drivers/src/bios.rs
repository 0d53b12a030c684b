//! The BIOS step contract (reference §6): every BIOS interface offers the
//! same two steps with the same `settings` argument, so they are declared
//! and parsed here once and every implementation refuses the same inputs
//! with the same message.

use serde_json::{Map, Value};

use crate::interfaces::StepDef;
use crate::{DriverError, InterfaceKind};

/// `apply_configuration` (with its `settings` list) and `factory_reset`;
/// both run only when asked for (priority 0), in any phase.
pub fn steps() -> Vec<StepDef> {
    use InterfaceKind::Bios as B;
    vec![
        StepDef::new(B, "apply_configuration", 0).arg(
            "settings",
            "A list of BIOS settings, each {\"name\": ..., \"value\": ...}.",
            true,
        ),
        StepDef::new(B, "factory_reset", 0),
    ]
}

/// The `settings` argument of `apply_configuration`, Ironic's
/// `[{"name": …, "value": …}]`, as a name → value map.
pub fn settings(args: &Map<String, Value>) -> Result<Map<String, Value>, DriverError> {
    let bad = || {
        DriverError::InvalidParameter(
            "settings must be a list of {\"name\": ..., \"value\": ...} objects.".to_string(),
        )
    };
    let list = args
        .get("settings")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    let mut out = Map::new();
    for item in list {
        let name = item.get("name").and_then(Value::as_str).ok_or_else(bad)?;
        let value = item.get("value").ok_or_else(bad)?;
        out.insert(name.to_string(), value.clone());
    }
    Ok(out)
}
