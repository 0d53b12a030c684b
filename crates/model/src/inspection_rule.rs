//! Inspection rules (1.96): conditions checked against the data an
//! inspection gathered, and actions run on the node when they hold
//! (reference §1.6.13). Operators keep them to turn raw inventories into
//! drivers, properties and traits without touching each node by hand.
//!
//! Only the rules themselves live here: which operators exist, what a
//! well-formed rule looks like. Running them during inspection is a
//! separate concern. The checks are pure so every caller refuses the same
//! rules with the same, field-naming, jsonschema-like messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::deploy_template::shown;

/// Condition operators with the named arguments each needs (Ironic's
/// documented set). Any of them may be negated by a leading `!`.
pub const CONDITIONS: &[(&str, &[&str])] = &[
    ("eq", &["values"]),
    ("ne", &["values"]),
    ("lt", &["values"]),
    ("le", &["values"]),
    ("gt", &["values"]),
    ("ge", &["values"]),
    ("is-empty", &["value"]),
    ("in-net", &["address", "subnet"]),
    ("matches", &["value", "regex"]),
    ("contains", &["value", "regex"]),
    ("one-of", &["value", "values"]),
    ("is-none", &["value"]),
    ("is-true", &["value"]),
    ("is-false", &["value"]),
];

/// Action operators with the named arguments each needs.
pub const ACTIONS: &[(&str, &[&str])] = &[
    ("fail", &["msg"]),
    ("log", &["msg"]),
    ("set-attribute", &["path", "value"]),
    ("extend-attribute", &["path", "value"]),
    ("del-attribute", &["path"]),
    ("set-capability", &["name", "value"]),
    ("unset-capability", &["name"]),
    ("add-trait", &["name"]),
    ("remove-trait", &["name"]),
    ("set-plugin-data", &["path", "value"]),
    ("extend-plugin-data", &["path", "value"]),
    ("unset-plugin-data", &["path"]),
    ("set-port-attribute", &["port_id", "path", "value"]),
    ("extend-port-attribute", &["port_id", "path", "value"]),
    ("del-port-attribute", &["port_id", "path"]),
    ("api-call", &["url"]),
];

/// How the results of a looped condition combine.
pub const MULTIPLE: &[&str] = &["any", "all", "first", "last"];

/// Highest priority a rule created through the API may have; higher and
/// negative priorities are reserved for built-in rules.
pub const MAX_PRIORITY: u64 = 9999;

/// Longest phase name.
pub const MAX_PHASE: usize = 16;

/// Longest description.
pub const MAX_DESCRIPTION: usize = 255;

/// The phase a rule runs in unless it says otherwise.
pub const DEFAULT_PHASE: &str = "main";

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The operator, possibly negated (`!eq`).
    pub op: String,
    /// Named (object) or positional (list) arguments.
    pub args: Value,
    /// How looped results combine: one of [`MULTIPLE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple: Option<String>,
    /// Items to check the condition for, one at a time.
    #[serde(rename = "loop", default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
}

/// One action of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The operator.
    pub op: String,
    /// Named (object) or positional (list) arguments.
    pub args: Value,
    /// Items to run the action for, one at a time.
    #[serde(rename = "loop", default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
}

/// A rule, stored as one document. `actions` is left out while empty (only
/// the blank starting point of a create), so validation can tell "missing"
/// from "given but wrong".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InspectionRule {
    /// The canonical identity (rules have no names).
    pub uuid: Uuid,
    /// Free text for operators.
    pub description: Option<String>,
    /// Higher runs first; 0 to [`MAX_PRIORITY`].
    pub priority: u64,
    /// The inspection phase it runs in.
    pub phase: String,
    /// Whether conditions and actions hold secrets: responses then hide
    /// them.
    pub sensitive: bool,
    /// All must hold for the actions to run; none means always.
    pub conditions: Vec<Condition>,
    /// What runs; at least one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed (None until then).
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for InspectionRule {
    fn default() -> Self {
        InspectionRule {
            uuid: Uuid::nil(),
            description: None,
            priority: 0,
            phase: DEFAULT_PHASE.to_string(),
            sensitive: false,
            conditions: Vec::new(),
            actions: Vec::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

/// Checks a priority: an integer from 0 to [`MAX_PRIORITY`].
pub fn check_priority(value: &Value) -> Result<u64, String> {
    let not_integer = || format!("{} is not of type 'integer' for 'priority'", shown(value));
    let Value::Number(n) = value else {
        return Err(not_integer());
    };
    match (n.as_u64(), n.as_i64()) {
        (Some(p), _) if p <= MAX_PRIORITY => Ok(p),
        (Some(p), _) => Err(format!(
            "{p} is greater than the maximum of {MAX_PRIORITY} for 'priority' (higher \
             priorities are reserved for built-in rules)"
        )),
        (None, Some(p)) => Err(format!("{p} is less than the minimum of 0 for 'priority'")),
        (None, None) => Err(not_integer()),
    }
}

/// Checks a phase: a non-empty string of at most [`MAX_PHASE`] characters.
pub fn check_phase(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if s.is_empty() => Err("'' is too short for 'phase'".to_string()),
        Value::String(s) if s.chars().count() > MAX_PHASE => Err(format!(
            "{} is too long (at most {MAX_PHASE} characters) for 'phase'",
            shown(value)
        )),
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "{} is not of type 'string' for 'phase'",
            shown(other)
        )),
    }
}

/// The keys and operators one kind of rule entry accepts.
struct Kind {
    /// `conditions` or `actions`, as messages name the field.
    field: &'static str,
    /// "condition" or "action".
    what: &'static str,
    keys: &'static [&'static str],
    ops: &'static [(&'static str, &'static [&'static str])],
    /// Whether `!` may negate the operator.
    negatable: bool,
}

const CONDITION: Kind = Kind {
    field: "conditions",
    what: "condition",
    keys: &["op", "args", "multiple", "loop"],
    ops: CONDITIONS,
    negatable: true,
};

const ACTION: Kind = Kind {
    field: "actions",
    what: "action",
    keys: &["op", "args", "loop"],
    ops: ACTIONS,
    negatable: false,
};

/// Checks one entry's shape, operator and arguments; returns the object.
fn check_entry<'a>(
    kind: &Kind,
    index: usize,
    value: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, String> {
    let field = kind.field;
    let at = |detail: String| format!("{detail} for '{field}' item {index}");
    let Value::Object(map) = value else {
        return Err(at(format!("{} is not of type 'object'", shown(value))));
    };
    if let Some(key) = map.keys().find(|k| !kind.keys.contains(&k.as_str())) {
        return Err(at(format!(
            "Additional properties are not allowed ('{key}' was unexpected)"
        )));
    }
    let op = match map.get("op") {
        None => return Err(at("'op' is a required property".to_string())),
        Some(Value::String(op)) => op,
        Some(other) => return Err(at(format!("{} is not of type 'string'", shown(other)))),
    };
    let bare = match op.strip_prefix('!') {
        Some(rest) if kind.negatable => rest.trim_start(),
        _ => op.as_str(),
    };
    let Some((_, required)) = kind.ops.iter().find(|(name, _)| *name == bare) else {
        let known: Vec<&str> = kind.ops.iter().map(|(name, _)| *name).collect();
        return Err(at(format!(
            "'{op}' is not a known {} operator (one of {}{})",
            kind.what,
            known.join(", "),
            if kind.negatable {
                ", each optionally prefixed with '!'"
            } else {
                ""
            }
        )));
    };
    match map.get("args") {
        None => return Err(at("'args' is a required property".to_string())),
        Some(Value::Object(args)) => {
            if let Some(missing) = required.iter().find(|a| !args.contains_key(**a)) {
                return Err(at(format!(
                    "the {} '{bare}' needs the argument '{missing}'",
                    kind.what
                )));
            }
        }
        Some(Value::Array(_)) => {}
        Some(other) => {
            return Err(at(format!(
                "{} is not of type 'object' or 'array' ('args')",
                shown(other)
            )));
        }
    }
    match map.get("loop") {
        None | Some(Value::Array(_) | Value::Object(_)) => {}
        Some(other) => {
            return Err(at(format!(
                "{} is not of type 'array' or 'object' ('loop')",
                shown(other)
            )));
        }
    }
    Ok(map)
}

/// Decodes an entry already checked by [`check_entry`].
fn decode<T: serde::de::DeserializeOwned>(
    field: &str,
    index: usize,
    map: &serde_json::Map<String, Value>,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(map.clone()))
        .map_err(|e| format!("{e} for '{field}' item {index}"))
}

/// Checks a rule's conditions: a list (none, or null, means "always").
pub fn parse_conditions(value: &Value) -> Result<Vec<Condition>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "{} is not of type 'array' for 'conditions'",
                shown(other)
            ));
        }
    };
    let mut conditions = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let map = check_entry(&CONDITION, index, item)?;
        match map.get("multiple") {
            None | Some(Value::Null) => {}
            Some(Value::String(m)) if MULTIPLE.contains(&m.as_str()) => {}
            Some(other) => {
                return Err(format!(
                    "{} is not one of ['any', 'all', 'first', 'last'] ('multiple') for \
                     'conditions' item {index}",
                    shown(other)
                ));
            }
        }
        conditions.push(decode("conditions", index, map)?);
    }
    Ok(conditions)
}

/// Checks a rule's actions: a list of at least one.
pub fn parse_actions(value: &Value) -> Result<Vec<Action>, String> {
    let items = match value {
        Value::Null => return Err("'actions' is a required property".to_string()),
        Value::Array(items) if items.is_empty() => {
            return Err("[] is too short for 'actions'".to_string());
        }
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "{} is not of type 'array' for 'actions'",
                shown(other)
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| decode("actions", index, check_entry(&ACTION, index, item)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::INSPECTION_RULE_FIELDS;
    use crate::fields::check::{declared, stored_keys};
    use serde_json::json;

    #[test]
    fn priorities_and_phases() {
        assert_eq!(check_priority(&json!(0)), Ok(0));
        assert_eq!(check_priority(&json!(9999)), Ok(9999));
        assert!(
            check_priority(&json!(10000))
                .unwrap_err()
                .contains("maximum")
        );
        assert!(check_priority(&json!(-1)).unwrap_err().contains("minimum"));
        assert!(check_priority(&json!(1.5)).unwrap_err().contains("integer"));
        assert!(check_priority(&json!("1")).unwrap_err().contains("integer"));
        assert_eq!(check_phase(&json!("main")), Ok("main".into()));
        assert!(
            check_phase(&json!("x".repeat(17)))
                .unwrap_err()
                .contains("too long")
        );
        assert!(check_phase(&json!("")).unwrap_err().contains("too short"));
        assert!(check_phase(&json!(3)).unwrap_err().contains("'phase'"));
    }

    #[test]
    fn conditions_are_checked() {
        let ok = parse_conditions(&json!([
            {"op": "contains", "args": {"value": "{inventory[x]}", "regex": "(?i)dell"}},
            {"op": "!eq", "args": {"values": [1, 2]}},
            {"op": "! is-true", "args": {"value": 1}, "loop": [1, 2], "multiple": "all"},
            {"op": "eq", "args": [1, 1]},
        ]))
        .unwrap();
        assert_eq!(ok.len(), 4);
        assert_eq!(ok[2].multiple.as_deref(), Some("all"));
        assert_eq!(parse_conditions(&Value::Null), Ok(Vec::new()));

        let refused = |c: Value| parse_conditions(&json!([c])).unwrap_err();
        assert!(refused(json!({"op": "frob", "args": {}})).contains("not a known condition"));
        assert!(refused(json!({"args": {}})).contains("'op' is a required"));
        assert!(refused(json!({"op": "eq"})).contains("'args' is a required"));
        assert!(refused(json!({"op": "eq", "args": {}})).contains("needs the argument 'values'"));
        assert!(refused(json!({"op": "eq", "args": 3})).contains("'args'"));
        let bad_multiple = refused(json!({"op": "eq", "args": [], "multiple": "some"}));
        assert!(bad_multiple.contains("'multiple'"), "{bad_multiple}");
        assert!(refused(json!({"op": "eq", "args": [], "loop": 3})).contains("'loop'"));
        assert!(refused(json!({"op": "eq", "args": [], "x": 1})).contains("'x' was unexpected"));
        assert!(refused(json!("eq")).contains("'conditions' item 0"));
        assert!(
            parse_conditions(&json!({}))
                .unwrap_err()
                .contains("'conditions'")
        );
    }

    #[test]
    fn actions_are_checked() {
        let ok = parse_actions(&json!([
            {"op": "set-attribute", "args": {"path": "/driver", "value": "idrac"}},
            {"op": "add-trait", "args": {"name": "CUSTOM_X"}, "loop": {"a": 1}},
        ]))
        .unwrap();
        assert_eq!(ok[1].items, Some(json!({"a": 1})));
        assert!(
            parse_actions(&Value::Null)
                .unwrap_err()
                .contains("required")
        );
        assert!(parse_actions(&json!([])).unwrap_err().contains("too short"));
        let refused = |a: Value| parse_actions(&json!([a])).unwrap_err();
        assert!(
            refused(json!({"op": "!fail", "args": {"msg": "x"}})).contains("not a known action")
        );
        assert!(refused(json!({"op": "fail", "args": {}})).contains("'msg'"));
        assert!(
            refused(json!({"op": "fail", "args": {"msg": "m"}, "multiple": "any"}))
                .contains("'multiple' was unexpected")
        );
    }

    #[test]
    fn fields_match_the_stored_document() {
        let rule = InspectionRule {
            actions: vec![Action {
                op: "fail".into(),
                args: json!({"msg": "x"}),
                items: None,
            }],
            ..InspectionRule::default()
        };
        assert_eq!(stored_keys(&rule), declared(INSPECTION_RULE_FIELDS));
        let shown = serde_json::to_value(&rule.actions[0]).unwrap();
        assert_eq!(shown, json!({"op": "fail", "args": {"msg": "x"}}));
    }
}
