//! Runbooks (1.92): curated, named step lists that operators prepare so a
//! node can be cleaned or serviced by naming the runbook instead of
//! spelling out the steps (reference §1.6.12, §6.5). Which nodes may run a
//! runbook is decided by traits: before 1.112 the runbook's name is itself
//! the trait a node must carry; from 1.112 the runbook has its own trait set
//! and a node needs any one of them.
//!
//! The rules are pure so the API and any future client accept exactly the
//! same runbooks; messages read like the jsonschema messages of Ironic.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::deploy_template::{StepParts, shown, step_list, step_parts};
use crate::node::Dict;

/// The interfaces whose steps can run during cleaning or servicing; a
/// runbook may name no other (`network` only has service steps, reference
/// §6.1, but a runbook does not know which of the two it will serve).
pub const RUNBOOK_STEP_INTERFACES: &[&str] = &[
    "vendor",
    "power",
    "management",
    "firmware",
    "deploy",
    "bios",
    "raid",
    "network",
];

/// The keys of a runbook step; all four are required because a runbook
/// says exactly what runs and in which position.
pub const STEP_KEYS: &[&str] = &["interface", "step", "args", "order"];

/// Longest name and owner (Ironic's column sizes).
pub const MAX_NAME: usize = 255;

/// Longest description.
pub const MAX_DESCRIPTION: usize = 255;

/// The microversion from which names are free-form and the trait set,
/// not the name, decides which nodes may use a runbook.
pub const TRAITS_SINCE: u32 = 112;

/// One step of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookStep {
    /// The interface that runs it, one of [`RUNBOOK_STEP_INTERFACES`].
    pub interface: String,
    /// The step's name on that interface.
    pub step: String,
    /// Keyword arguments passed to the step.
    pub args: Dict,
    /// Its position: steps run by ascending order, each order at most once.
    pub order: u64,
}

/// A named list of steps for manual cleaning or servicing, stored as one
/// document.
///
/// `name` and `steps` are left out of the serialized form while empty (only
/// the blank starting point of a create has them empty), so validation can
/// tell "missing" from "given but wrong".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Runbook {
    /// The canonical identity.
    pub uuid: Uuid,
    /// Unique; a trait before 1.112, any 1–255 characters from then.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// At least one step, orders unique.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<RunbookStep>,
    /// Whether the steps run without booting the agent ramdisk.
    pub disable_ramdisk: bool,
    /// Usable by every project (never together with an owner).
    pub public: bool,
    /// The project the runbook belongs to.
    pub owner: Option<String>,
    /// Free-form operator data.
    pub extra: Dict,
    /// Free text for operators (1.112).
    pub description: Option<String>,
    /// The traits of which a node needs one to use the runbook (1.112);
    /// sorted and without repeats.
    pub traits: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed (None until then).
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Runbook {
    fn default() -> Self {
        Runbook {
            uuid: Uuid::nil(),
            name: String::new(),
            steps: Vec::new(),
            disable_ramdisk: false,
            public: false,
            owner: None,
            extra: Dict::new(),
            description: None,
            traits: Vec::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
        }
    }
}

impl Runbook {
    /// Whether a node carrying `node_traits` may run this runbook for a
    /// request at `1.minor`: before 1.112 the node needs the runbook's name
    /// as a trait, from 1.112 any trait of the runbook's set.
    pub fn allows(&self, node_traits: &[String], minor: u32) -> bool {
        if minor < TRAITS_SINCE {
            node_traits.contains(&self.name)
        } else {
            self.traits.iter().any(|t| node_traits.contains(t))
        }
    }

    /// The steps in the order they run, in the shape of a requested
    /// clean or service step list.
    pub fn ordered_steps(&self) -> Vec<Value> {
        let mut steps: Vec<&RunbookStep> = self.steps.iter().collect();
        steps.sort_by_key(|s| s.order);
        steps
            .into_iter()
            .map(|s| json!({"interface": s.interface, "step": s.step, "args": s.args}))
            .collect()
    }
}

/// Checks a name from 1.112 on: a string of 1 to [`MAX_NAME`] characters.
/// (Before 1.112 it must also be a trait; see
/// [`crate::deploy_template::check_name`].)
pub fn check_name(value: &Value) -> Result<String, String> {
    match value {
        Value::Null => Err("'name' is a required property".to_string()),
        Value::String(s) if s.is_empty() => Err("'' is too short for 'name'".to_string()),
        Value::String(s) if s.chars().count() > MAX_NAME => Err(format!(
            "{} is too long (at most {MAX_NAME} characters) for 'name'",
            shown(value)
        )),
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("{} is not of type 'string'", shown(other))),
    }
}

/// Checks one step object.
pub fn parse_step(value: &Value) -> Result<RunbookStep, String> {
    let StepParts {
        map,
        interface,
        step,
        args,
    } = step_parts(value, STEP_KEYS, RUNBOOK_STEP_INTERFACES)?;
    let order = map["order"].as_u64().ok_or_else(|| {
        format!(
            "{} is not a valid order for {interface}.{step}: expected an integer of 0 or more",
            shown(&map["order"])
        )
    })?;
    Ok(RunbookStep {
        interface,
        step,
        args,
        order,
    })
}

/// Checks a runbook's step list: at least one step, each valid, no order
/// twice (the position of two steps would be undecided).
pub fn parse_steps(value: &Value) -> Result<Vec<RunbookStep>, String> {
    let steps = step_list(value, parse_step)?;
    let mut seen = HashSet::new();
    let repeated: BTreeSet<u64> = steps
        .iter()
        .filter(|s| !seen.insert(s.order))
        .map(|s| s.order)
        .collect();
    if !repeated.is_empty() {
        let shown: Vec<String> = repeated.iter().map(u64::to_string).collect();
        return Err(format!(
            "Duplicate step orders: {}. Each step of a runbook needs its own order.",
            shown.join(", ")
        ));
    }
    Ok(steps)
}

/// Checks the pair Ironic ties together: a runbook with an owner is never
/// public, and a public one has no owner.
pub fn check_visibility(public: bool, owner: Option<&str>) -> Result<(), String> {
    match (public, owner) {
        (true, Some(owner)) => Err(format!(
            "A public runbook cannot have an owner (got owner '{owner}'); set public to false \
             or owner to null."
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::RUNBOOK_FIELDS;
    use crate::fields::check::{declared, stored_keys};

    fn step(interface: &str, name: &str, order: u64) -> RunbookStep {
        RunbookStep {
            interface: interface.into(),
            step: name.into(),
            args: Dict::new(),
            order,
        }
    }

    #[test]
    fn names_from_1_112_are_free_form() {
        assert_eq!(check_name(&json!("fw upgrade")), Ok("fw upgrade".into()));
        assert!(check_name(&json!("")).unwrap_err().contains("too short"));
        assert!(
            check_name(&json!("x".repeat(256)))
                .unwrap_err()
                .contains("too long")
        );
        assert!(check_name(&json!(1)).unwrap_err().contains("not of type"));
        assert!(check_name(&Value::Null).unwrap_err().contains("required"));
    }

    /// The list and the parts shared with deploy templates are tested
    /// there; here what is a runbook's own: orders, and the service-only
    /// `network` interface.
    #[test]
    fn steps_need_their_own_orders() {
        let steps = parse_steps(&json!([
            {"interface": "network", "step": "reattach_networking", "args": {}, "order": 2},
            {"interface": "power", "step": "reboot", "args": {}, "order": 0},
        ]))
        .unwrap();
        assert_eq!((steps[0].order, steps[1].order), (2, 0));
        let refused = |s: Value| parse_steps(&json!([s])).unwrap_err();
        let base =
            |order: Value| json!({"interface": "bios", "step": "x", "args": {}, "order": order});
        assert!(refused(base(json!(-1))).contains("not a valid order"));
        assert!(refused(base(json!("1"))).contains("not a valid order"));
        assert!(refused(base(json!(1.5))).contains("not a valid order"));
        let mut with_priority = base(json!(1));
        with_priority["priority"] = json!(1);
        assert!(refused(with_priority).contains("'priority' was unexpected"));
        assert!(
            refused(json!({"interface": "bios", "step": "x", "args": {}}))
                .contains("'order' is a required property")
        );
        let twice = parse_steps(&json!([
            base(json!(1)),
            base(json!(2)),
            base(json!(1)),
            base(json!(2))
        ]))
        .unwrap_err();
        assert!(twice.contains("Duplicate step orders: 1, 2."), "{twice}");
    }

    #[test]
    fn steps_run_by_order_and_traits_gate_use() {
        let book = Runbook {
            name: "CUSTOM_FW".into(),
            traits: vec!["CUSTOM_A".into(), "CUSTOM_B".into()],
            steps: vec![step("raid", "second", 20), step("bios", "first", 10)],
            ..Runbook::default()
        };
        let steps = book.ordered_steps();
        let ordered: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
        assert_eq!(ordered, ["first", "second"]);
        assert_eq!(steps[0].get("order"), None);

        let node = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(book.allows(&node(&["CUSTOM_FW"]), 92));
        assert!(!book.allows(&node(&["CUSTOM_A"]), 111));
        assert!(book.allows(&node(&["CUSTOM_X", "CUSTOM_B"]), 112));
        assert!(!book.allows(&node(&["CUSTOM_FW"]), 112));
        assert!(!book.allows(&[], 112));
    }

    #[test]
    fn public_runbooks_have_no_owner() {
        assert!(check_visibility(true, None).is_ok());
        assert!(check_visibility(false, Some("p1")).is_ok());
        assert!(check_visibility(true, Some("p1")).is_err());
    }

    #[test]
    fn fields_match_the_stored_document() {
        let doc = Runbook {
            name: "CUSTOM_X".into(),
            steps: vec![step("bios", "x", 1)],
            ..Runbook::default()
        };
        assert_eq!(stored_keys(&doc), declared(RUNBOOK_FIELDS));
        let blank = serde_json::to_value(Runbook::default()).unwrap();
        assert!(blank.get("name").is_none() && blank.get("steps").is_none());
    }
}
