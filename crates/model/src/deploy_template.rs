//! Deploy templates (1.55): named lists of deploy steps applied when an
//! instance requests their trait (reference §1.6.11, §6.2). A flavor asks
//! for `CUSTOM_X`; the template named `CUSTOM_X` says which extra steps
//! (BIOS settings, RAID layout, …) that deployment needs.
//!
//! The rules here are pure so the API, the conductor and the client all
//! accept exactly the same templates; their messages read like the
//! jsonschema messages Ironic's clients expect ("… does not match …",
//! "… is too short").

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::fields::FieldSpec;
use crate::ident::is_valid_trait;
use crate::node::Dict;
use crate::version::Version;

/// The interfaces whose steps can run during deployment; a template may name
/// no other, because no other interface has deploy steps.
pub const DEPLOY_STEP_INTERFACES: &[&str] = &[
    "vendor",
    "power",
    "management",
    "firmware",
    "deploy",
    "bios",
    "raid",
];

/// The pattern a custom trait name follows, quoted in refusals so clients
/// (and python-ironicclient's tests) see jsonschema's wording.
pub const CUSTOM_TRAIT_PATTERN: &str = "^CUSTOM_[A-Z0-9_]+$";

/// Longest template name (traits are at most 255 characters).
pub const MAX_NAME: usize = 255;

/// Longest description.
pub const MAX_DESCRIPTION: usize = 255;

/// The keys a template step has; all four are required so a template says
/// exactly what runs and where in the order.
pub const STEP_KEYS: &[&str] = &["interface", "step", "args", "priority"];

/// One step a template adds to a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployStep {
    /// The interface that runs it, one of [`DEPLOY_STEP_INTERFACES`].
    pub interface: String,
    /// The step's name on that interface (`apply_configuration`).
    pub step: String,
    /// Keyword arguments passed to the step.
    pub args: Dict,
    /// Where it runs: higher first; 0 disables the driver's step of the
    /// same name instead of adding one.
    pub priority: u64,
}

impl DeployStep {
    /// `interface.step`, the way messages and logs name a step.
    pub fn label(&self) -> String {
        format!("{}.{}", self.interface, self.step)
    }
}

/// A named list of deploy steps, stored as one document.
///
/// `name` and `steps` are left out of the serialized form while empty: a
/// stored template always has both, so the only empty one is the blank
/// starting point of a create, and leaving them out there lets validation
/// tell "missing" from "given but wrong".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployTemplate {
    /// The canonical identity.
    pub uuid: Uuid,
    /// A trait name; instances requesting this trait get the steps.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The steps, at least one, each (interface, step) at most once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<DeployStep>,
    /// Free-form operator data.
    pub extra: Dict,
    /// Free text for operators, at most [`MAX_DESCRIPTION`] characters.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed (None until then).
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for DeployTemplate {
    fn default() -> Self {
        DeployTemplate {
            uuid: Uuid::nil(),
            name: String::new(),
            steps: Vec::new(),
            extra: Dict::new(),
            description: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

const fn spec(name: &'static str, create: bool, patch: bool, sort: bool) -> FieldSpec {
    FieldSpec {
        name,
        since: Version(1, 55),
        create,
        patch,
        sort,
    }
}

/// The deploy template's fields (reference §1.6.11); all arrived with the
/// endpoint at 1.55.
pub const DEPLOY_TEMPLATE_FIELDS: &[FieldSpec] = &[
    spec("uuid", true, false, true),
    spec("name", true, true, true),
    spec("steps", true, true, false),
    spec("extra", true, true, false),
    spec("description", true, true, true),
    spec("created_at", false, false, true),
    spec("updated_at", false, false, true),
];

/// Columns of `GET /v1/deploy_templates` without `fields` or `detail`.
pub const DEPLOY_TEMPLATE_DEFAULT_LIST: &[&str] = &["uuid", "name"];

/// Describes a JSON value the way jsonschema messages do (runbooks and
/// inspection rules word their refusals the same way).
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// Checks a template name: a string that is a valid trait.
pub fn check_name(value: &Value) -> Result<String, String> {
    match value {
        Value::Null => Err("'name' is a required property".to_string()),
        Value::String(s) if s.chars().count() > MAX_NAME => Err(format!(
            "{} is too long (at most {MAX_NAME} characters) for 'name'",
            shown(value)
        )),
        Value::String(s) if is_valid_trait(s) => Ok(s.clone()),
        Value::String(_) => Err(format!(
            "{} does not match '{CUSTOM_TRAIT_PATTERN}'",
            shown(value)
        )),
        other => Err(format!("{} is not of type 'string'", shown(other))),
    }
}

/// Parses a step priority: a non-negative integer, or a string of digits
/// (as older clients send it).
fn parse_priority(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// The parts every stored step shares, deploy template and runbook steps
/// alike: checked once here so both refuse the same malformed steps with
/// the same words, leaving each to read its own ordering key.
pub(crate) struct StepParts<'a> {
    /// The step object, for the caller's own keys.
    pub map: &'a Map<String, Value>,
    /// One of the caller's interfaces.
    pub interface: String,
    /// The non-empty step name.
    pub step: String,
    /// The step's keyword arguments.
    pub args: Dict,
}

/// Checks that `value` is a step object with exactly `keys`, an interface
/// among `interfaces`, a non-empty step name and an `args` object.
pub(crate) fn step_parts<'a>(
    value: &'a Value,
    keys: &[&str],
    interfaces: &[&str],
) -> Result<StepParts<'a>, String> {
    let Value::Object(map) = value else {
        return Err(format!("{} is not of type 'object'", shown(value)));
    };
    let unexpected: Vec<String> = map
        .keys()
        .filter(|k| !keys.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    match unexpected.len() {
        0 => {}
        1 => {
            return Err(format!(
                "Additional properties are not allowed ({} was unexpected)",
                unexpected[0]
            ));
        }
        _ => {
            return Err(format!(
                "Additional properties are not allowed ({} were unexpected)",
                unexpected.join(", ")
            ));
        }
    }
    if let Some(missing) = keys.iter().find(|k| !map.contains_key(**k)) {
        return Err(format!("'{missing}' is a required property"));
    }
    let interface = match &map["interface"] {
        Value::String(s) if interfaces.contains(&s.as_str()) => s.clone(),
        Value::String(s) => {
            let allowed: Vec<String> = interfaces.iter().map(|i| format!("'{i}'")).collect();
            return Err(format!("'{s}' is not one of [{}]", allowed.join(", ")));
        }
        other => return Err(format!("{} is not of type 'string'", shown(other))),
    };
    let step = match &map["step"] {
        Value::String(s) if s.is_empty() => return Err("'' is too short".to_string()),
        Value::String(s) => s.clone(),
        other => return Err(format!("{} is not of type 'string'", shown(other))),
    };
    let args = match &map["args"] {
        Value::Object(a) => a.clone(),
        other => return Err(format!("{} is not of type 'object'", shown(other))),
    };
    Ok(StepParts {
        map,
        interface,
        step,
        args,
    })
}

/// Checks a required, non-empty `steps` list with `parse` for each step
/// (deploy templates and runbooks alike).
pub(crate) fn step_list<T>(
    value: &Value,
    parse: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match value {
        Value::Null => Err("'steps' is a required property".to_string()),
        Value::Array(items) if items.is_empty() => Err("[] is too short".to_string()),
        Value::Array(items) => items.iter().map(parse).collect(),
        other => Err(format!("{} is not of type 'array'", shown(other))),
    }
}

/// Checks one step object and returns it normalised (priority as integer).
pub fn parse_step(value: &Value) -> Result<DeployStep, String> {
    let StepParts {
        map,
        interface,
        step,
        args,
    } = step_parts(value, STEP_KEYS, DEPLOY_STEP_INTERFACES)?;
    let priority = parse_priority(&map["priority"]).ok_or_else(|| {
        format!(
            "{} is not a valid priority for {interface}.{step}: expected an integer of 0 or \
             more, or a string of digits",
            shown(&map["priority"])
        )
    })?;
    Ok(DeployStep {
        interface,
        step,
        args,
        priority,
    })
}

/// Checks a template's step list: at least one step, each valid, no
/// (interface, step) pair twice (the conductor could not tell which to run).
pub fn parse_steps(value: &Value) -> Result<Vec<DeployStep>, String> {
    let steps = step_list(value, parse_step)?;
    let mut seen = HashSet::new();
    let duplicates: Vec<String> = steps
        .iter()
        .filter(|s| !seen.insert((s.interface.as_str(), s.step.as_str())))
        .map(DeployStep::label)
        .collect();
    if !duplicates.is_empty() {
        return Err(format!(
            "Duplicate deploy steps: {}. A deploy template may name each interface and step \
             only once.",
            duplicates.join(", ")
        ));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_must_be_traits() {
        assert_eq!(
            check_name(&json!("CUSTOM_HT_ON")),
            Ok("CUSTOM_HT_ON".into())
        );
        assert_eq!(
            check_name(&json!("HW_CPU_X86_VMX")),
            Ok("HW_CPU_X86_VMX".into())
        );
        let bad = check_name(&json!("not-a-name")).unwrap_err();
        assert_eq!(bad, "'not-a-name' does not match '^CUSTOM_[A-Z0-9_]+$'");
        assert!(
            check_name(&json!(""))
                .unwrap_err()
                .contains("does not match")
        );
        assert!(check_name(&json!(5)).unwrap_err().contains("not of type"));
        assert!(check_name(&Value::Null).unwrap_err().contains("required"));
        let long = format!("CUSTOM_{}", "A".repeat(250));
        assert!(check_name(&json!(long)).unwrap_err().contains("too long"));
    }

    #[test]
    fn steps_are_checked_and_normalised() {
        let steps = parse_steps(&json!([
            {"interface": "bios", "step": "apply_configuration",
             "args": {"settings": []}, "priority": 150},
            {"interface": "raid", "step": "apply_configuration", "args": {}, "priority": "10"},
        ]))
        .unwrap();
        assert_eq!(steps[0].label(), "bios.apply_configuration");
        assert_eq!(steps[1].priority, 10);

        let refused = |v: Value| parse_steps(&v).unwrap_err();
        assert_eq!(refused(json!([])), "[] is too short");
        assert!(refused(json!({})).contains("not of type 'array'"));
        assert!(refused(Value::Null).contains("required"));
        let step = |extra: Value| {
            let mut s = json!({"interface": "bios", "step": "x", "args": {}, "priority": 1});
            for (k, v) in extra.as_object().unwrap() {
                s[k] = v.clone();
            }
            refused(json!([s]))
        };
        assert!(step(json!({"interface": "boot"})).contains("is not one of"));
        assert!(step(json!({"step": ""})).contains("too short"));
        assert!(step(json!({"args": []})).contains("not of type 'object'"));
        assert!(step(json!({"priority": -1})).contains("priority"));
        assert!(step(json!({"priority": "ten"})).contains("priority"));
        assert!(step(json!({"priority": 1.5})).contains("priority"));
        assert!(step(json!({"bogus": 1})).contains("'bogus' was unexpected"));
        assert!(
            refused(json!([{"interface": "bios", "step": "x", "priority": 1}]))
                .contains("'args' is a required property")
        );
        let dup = refused(json!([
            {"interface": "bios", "step": "x", "args": {}, "priority": 1},
            {"interface": "bios", "step": "x", "args": {"a": 1}, "priority": 2},
        ]));
        assert!(dup.contains("Duplicate deploy steps: bios.x"), "{dup}");
    }

    #[test]
    fn fields_match_the_stored_document() {
        let doc = DeployTemplate {
            name: "CUSTOM_X".into(),
            steps: vec![DeployStep {
                interface: "bios".into(),
                step: "x".into(),
                args: Dict::new(),
                priority: 1,
            }],
            ..DeployTemplate::default()
        };
        let stored: HashSet<String> = serde_json::to_value(&doc)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let declared: HashSet<String> = DEPLOY_TEMPLATE_FIELDS
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        assert_eq!(stored, declared);
        let blank = serde_json::to_value(DeployTemplate::default()).unwrap();
        assert!(blank.get("name").is_none() && blank.get("steps").is_none());
    }
}
