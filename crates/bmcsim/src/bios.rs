//! The BIOS attribute set every simulated system shares, with validation.
//!
//! Real BMCs reject unknown attributes and out-of-range values; a simulator
//! that accepted anything would let a client's bad BIOS configuration pass
//! tests and fail on hardware. Values are stored as compact [`AttrValue`]s
//! and only where they differ from the defaults.

use serde_json::{Map, Value, json};
use thiserror::Error;

/// `AttributeRegistry` named by the Bios resource and served under
/// `/redfish/v1/Registries`, so sushy's `get_attribute_registry` finds it.
pub const REGISTRY_ID: &str = "BmcsimBiosAttributeRegistry.v1_0_0";

/// A stored attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// Index into the attribute's enumeration values.
    Enum(u8),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A free-form string.
    Str(Box<str>),
}

/// The type and constraints of an attribute.
#[derive(Debug)]
pub(crate) enum AttrKind {
    Enum(&'static [&'static str]),
    Int { min: i64, max: i64 },
    Bool,
    Str { max_len: usize },
}

/// One attribute of the registry.
#[derive(Debug)]
pub(crate) struct AttrDef {
    pub name: &'static str,
    pub display: &'static str,
    pub kind: AttrKind,
    pub default: AttrValue,
}

const ON_OFF: &[&str] = &["Enabled", "Disabled"];

/// Every attribute, in the order they are rendered.
pub(crate) static ATTRIBUTES: std::sync::LazyLock<Vec<AttrDef>> = std::sync::LazyLock::new(|| {
    let e = |name, display, values: &'static [&'static str], default: u8| AttrDef {
        name,
        display,
        kind: AttrKind::Enum(values),
        default: AttrValue::Enum(default),
    };
    vec![
        e("BootMode", "Boot Mode", &["Uefi", "Bios"], 0),
        e("EmbeddedSata", "Embedded SATA", &["Raid", "Ahci", "Off"], 0),
        e("NicBoot1", "NIC 1 Boot", &["NetworkBoot", "Disabled"], 0),
        e("NicBoot2", "NIC 2 Boot", &["NetworkBoot", "Disabled"], 1),
        e("ProcTurboMode", "Turbo Boost", ON_OFF, 0),
        e("ProcVirtualization", "Virtualization Technology", ON_OFF, 0),
        e(
            "LogicalProc",
            "Logical Processor (Hyper-Threading)",
            ON_OFF,
            0,
        ),
        e("SriovGlobalEnable", "SR-IOV Global Enable", ON_OFF, 1),
        e(
            "WorkloadProfile",
            "Workload Profile",
            &[
                "Balanced",
                "HighPerformance",
                "LowLatency",
                "PowerEfficient",
            ],
            0,
        ),
        AttrDef {
            name: "PxeRetryCount",
            display: "PXE Retry Count",
            kind: AttrKind::Int { min: 0, max: 10 },
            default: AttrValue::Int(3),
        },
        AttrDef {
            name: "PowerOnDelaySec",
            display: "Power-On Delay (s)",
            kind: AttrKind::Int { min: 0, max: 600 },
            default: AttrValue::Int(0),
        },
        AttrDef {
            name: "SerialConsoleRedirection",
            display: "Serial Console Redirection",
            kind: AttrKind::Bool,
            default: AttrValue::Bool(false),
        },
        AttrDef {
            name: "AssetTag",
            display: "Asset Tag",
            kind: AttrKind::Str { max_len: 32 },
            default: AttrValue::Str("".into()),
        },
    ]
});

/// Why a requested attribute value was refused; rendered as a Redfish
/// `PropertyUnknown` / `PropertyValueNotInList` / `PropertyValueTypeError`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BiosError {
    /// No such attribute.
    #[error("The attribute {0} is not known to this BIOS.")]
    Unknown(String),
    /// Wrong JSON type for the attribute.
    #[error(
        "The value {1} for attribute {0} is of a different type than the attribute can accept."
    )]
    Type(String, String),
    /// Not an allowed value (enumeration, range or length).
    #[error("The value {1} for attribute {0} is not in the list of acceptable values.")]
    Value(String, String),
}

/// Finds an attribute by name.
pub(crate) fn lookup(name: &str) -> Option<(u16, &'static AttrDef)> {
    ATTRIBUTES
        .iter()
        .enumerate()
        .find(|(_, d)| d.name == name)
        .map(|(i, d)| (i as u16, d))
}

/// Checks one requested value against its attribute's type and limits.
pub(crate) fn parse(name: &str, value: &Value) -> Result<(u16, AttrValue), BiosError> {
    let (idx, def) = lookup(name).ok_or_else(|| BiosError::Unknown(name.to_string()))?;
    let type_err = || BiosError::Type(name.to_string(), value.to_string());
    let value_err = || BiosError::Value(name.to_string(), value.to_string());
    let v = match &def.kind {
        AttrKind::Enum(values) => {
            let s = value.as_str().ok_or_else(type_err)?;
            let i = values.iter().position(|v| *v == s).ok_or_else(value_err)?;
            AttrValue::Enum(i as u8)
        }
        AttrKind::Int { min, max } => {
            let n = value.as_i64().ok_or_else(type_err)?;
            if n < *min || n > *max {
                return Err(value_err());
            }
            AttrValue::Int(n)
        }
        AttrKind::Bool => AttrValue::Bool(value.as_bool().ok_or_else(type_err)?),
        AttrKind::Str { max_len } => {
            let s = value.as_str().ok_or_else(type_err)?;
            if s.chars().count() > *max_len {
                return Err(value_err());
            }
            AttrValue::Str(s.into())
        }
    };
    Ok((idx, v))
}

/// Renders a stored value as JSON.
pub(crate) fn to_json(idx: u16, value: &AttrValue) -> Value {
    match value {
        AttrValue::Enum(i) => match &ATTRIBUTES[usize::from(idx)].kind {
            AttrKind::Enum(values) => json!(values.get(usize::from(*i)).copied().unwrap_or("")),
            _ => Value::Null,
        },
        AttrValue::Int(n) => json!(n),
        AttrValue::Bool(b) => json!(b),
        AttrValue::Str(s) => json!(s.as_ref()),
    }
}

/// Sets `idx` in an override list; when `drop_defaults`, a value equal to
/// the default removes the entry so untouched systems stay allocation-free.
pub(crate) fn set(
    list: &mut Vec<(u16, AttrValue)>,
    idx: u16,
    value: AttrValue,
    drop_defaults: bool,
) {
    list.retain(|(i, _)| *i != idx);
    if !(drop_defaults && ATTRIBUTES[usize::from(idx)].default == value) {
        list.push((idx, value));
        list.sort_by_key(|(i, _)| *i);
    }
}

/// The full current attribute map: defaults overlaid with `overrides`.
pub(crate) fn current_map(overrides: &[(u16, AttrValue)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (i, def) in ATTRIBUTES.iter().enumerate() {
        let idx = i as u16;
        let value = overrides
            .iter()
            .find(|(j, _)| *j == idx)
            .map(|(_, v)| v)
            .unwrap_or(&def.default);
        map.insert(def.name.to_string(), to_json(idx, value));
    }
    map
}

/// Only the listed attributes, as the pending-settings resource shows them.
pub(crate) fn partial_map(values: &[(u16, AttrValue)]) -> Map<String, Value> {
    values
        .iter()
        .map(|(i, v)| (ATTRIBUTES[usize::from(*i)].name.to_string(), to_json(*i, v)))
        .collect()
}

/// The attribute registry document (`AttributeRegistry`).
pub(crate) fn registry(odata_id: &str) -> Value {
    let attrs: Vec<Value> = ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(i, def)| {
            let mut a = json!({
                "AttributeName": def.name,
                "DisplayName": def.display,
                "DefaultValue": to_json(i as u16, &def.default),
                "ReadOnly": false,
                "Immutable": false,
                "Hidden": false,
                "ResetRequired": true,
            });
            let kind = match &def.kind {
                AttrKind::Enum(values) => {
                    a["Value"] = values
                        .iter()
                        .map(|v| json!({"ValueName": v, "ValueDisplayName": v}))
                        .collect();
                    "Enumeration"
                }
                AttrKind::Int { min, max } => {
                    a["LowerBound"] = json!(min);
                    a["UpperBound"] = json!(max);
                    "Integer"
                }
                AttrKind::Bool => "Boolean",
                AttrKind::Str { max_len } => {
                    a["MinLength"] = json!(0);
                    a["MaxLength"] = json!(max_len);
                    "String"
                }
            };
            a["Type"] = json!(kind);
            a
        })
        .collect();
    json!({
        "@odata.id": odata_id,
        "@odata.type": "#AttributeRegistry.v1_3_0.AttributeRegistry",
        "Id": REGISTRY_ID,
        "Name": "bmcsim BIOS Attribute Registry",
        "Language": "en",
        "OwningEntity": "bmcsim",
        "RegistryVersion": "1.0.0",
        "RegistryEntries": {"Attributes": attrs},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_types_and_ranges() {
        assert_eq!(
            parse("ProcTurboMode", &json!("Disabled")),
            Ok((4, AttrValue::Enum(1)))
        );
        assert!(matches!(
            parse("ProcTurboMode", &json!("Off")),
            Err(BiosError::Value(..))
        ));
        assert!(matches!(
            parse("ProcTurboMode", &json!(1)),
            Err(BiosError::Type(..))
        ));
        assert!(matches!(
            parse("NoSuch", &json!(1)),
            Err(BiosError::Unknown(..))
        ));
        assert!(parse("PxeRetryCount", &json!(10)).is_ok());
        assert!(parse("PxeRetryCount", &json!(11)).is_err());
        assert!(parse("AssetTag", &json!("x".repeat(33))).is_err());
        assert!(parse("SerialConsoleRedirection", &json!(true)).is_ok());
    }

    #[test]
    fn defaults_are_not_stored() {
        let mut list = Vec::new();
        let (i, v) = parse("ProcTurboMode", &json!("Disabled")).unwrap();
        set(&mut list, i, v, true);
        assert_eq!(list.len(), 1);
        let (i, v) = parse("ProcTurboMode", &json!("Enabled")).unwrap();
        set(&mut list, i, v, true);
        assert!(list.is_empty());
        let map = current_map(&[]);
        assert_eq!(map["ProcTurboMode"], "Enabled");
        assert_eq!(map["PxeRetryCount"], 3);
        assert_eq!(map.len(), ATTRIBUTES.len());
    }
}
