//! Step lists (reference §6.1): parsing what users ask for, merging it with
//! what the driver offers, ordering, and the reserved step names the
//! conductor handles itself. Pure, so ordering rules are unit-tested.

use std::cmp::Reverse;

use ferrite_drivers::{InterfaceKind, StepDef, StepPhase};
use ferrite_model::Dict;
use serde_json::{Value, json};

/// Step names the conductor runs itself, on any interface.
pub const RESERVED: &[&str] = &["hold", "wait", "power_on", "power_off", "reboot"];

/// One step of a node's pipeline, as recorded in `driver_internal_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The interface that runs it (or that a reserved step names).
    pub interface: InterfaceKind,
    /// The step's name.
    pub step: String,
    /// Its arguments.
    pub args: Dict,
    /// Its priority (0 for steps run in the order given).
    pub priority: u64,
}

impl Step {
    /// `interface.step`, as messages name steps.
    pub fn label(&self) -> String {
        format!("{}.{}", self.interface.as_str(), self.step)
    }

    /// Whether the conductor runs this step itself.
    pub fn is_reserved(&self) -> bool {
        RESERVED.contains(&self.step.as_str())
    }

    /// The JSON form stored on the node (`deploy_step`, `*_steps`).
    pub fn to_value(&self) -> Value {
        json!({
            "interface": self.interface.as_str(),
            "step": self.step,
            "args": self.args,
            "priority": self.priority,
        })
    }

    /// Parses the JSON form; `require_priority` for deploy steps, whose
    /// priority decides where they run.
    pub fn from_value(value: &Value, require_priority: bool) -> Result<Step, String> {
        let Some(obj) = value.as_object() else {
            return Err(format!("A step must be a JSON object, got {value}."));
        };
        let interface = obj
            .get("interface")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("The step {value} has no interface."))?;
        let interface = InterfaceKind::parse(interface)
            .ok_or_else(|| format!("The step {value} names an unknown interface {interface}."))?;
        let step = obj
            .get("step")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("The step {value} has no step name."))?;
        let args = match obj.get("args") {
            None | Some(Value::Null) => Dict::new(),
            Some(Value::Object(a)) => a.clone(),
            Some(other) => {
                return Err(format!(
                    "The args of step {step} must be an object, got {other}."
                ));
            }
        };
        let priority = match obj.get("priority") {
            Some(p) => p
                .as_u64()
                .or_else(|| p.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    format!("The priority of step {step} must be a non-negative integer.")
                })?,
            None if require_priority => {
                return Err(format!(
                    "The step {}.{step} needs a priority.",
                    interface.as_str()
                ));
            }
            None => 0,
        };
        Ok(Step {
            interface,
            step: step.to_string(),
            args,
            priority,
        })
    }

    fn from_def(def: &StepDef) -> Step {
        Step {
            interface: def.interface,
            step: def.step.to_string(),
            args: Dict::new(),
            priority: u64::from(def.priority),
        }
    }
}

/// Parses a list of steps from a request or from `driver_internal_info`.
pub fn parse_list(values: &[Value], require_priority: bool) -> Result<Vec<Step>, String> {
    values
        .iter()
        .map(|v| Step::from_value(v, require_priority))
        .collect()
}

/// The JSON list stored in `driver_internal_info`.
pub fn to_list(steps: &[Step]) -> Value {
    Value::Array(steps.iter().map(Step::to_value).collect())
}

/// Tie-break between interfaces for steps of equal priority (higher first).
pub fn interface_priority(phase: StepPhase, kind: InterfaceKind) -> u32 {
    use InterfaceKind as K;
    match kind {
        K::Network if phase == StepPhase::Service => 8,
        K::Vendor => 7,
        K::Power => 6,
        K::Management => 5,
        K::Firmware => 4,
        K::Deploy => 3,
        K::Bios => 2,
        K::Raid => 1,
        _ => 0,
    }
}

/// Orders steps by priority, then interface tie-break, both descending;
/// equal steps keep their relative order.
pub fn sort(phase: StepPhase, steps: &mut [Step]) {
    steps.sort_by_key(|s| {
        (
            Reverse(s.priority),
            Reverse(interface_priority(phase, s.interface)),
        )
    });
}

/// Checks that every requested step is reserved or offered by the driver
/// in `phase` (at any priority).
pub fn check_known(
    phase: StepPhase,
    offered: &[StepDef],
    requested: &[Step],
) -> Result<(), String> {
    for s in requested {
        let known = s.is_reserved()
            || offered
                .iter()
                .any(|d| d.interface == s.interface && d.step == s.step);
        if !known {
            return Err(format!(
                "The {} step {} is not supported by the node's {} interface.",
                phase.as_str(),
                s.label(),
                s.interface.as_str()
            ));
        }
    }
    Ok(())
}

/// The automated steps of a phase: every offered step with priority > 0,
/// ordered.
pub fn automated(phase: StepPhase, offered: &[StepDef]) -> Vec<Step> {
    let mut steps: Vec<Step> = offered
        .iter()
        .filter(|d| d.priority > 0)
        .map(Step::from_def)
        .collect();
    sort(phase, &mut steps);
    steps
}

/// The deploy pipeline: driver steps with priority > 0, overridden by user
/// steps with the same interface and name (priority 0 removes one), user
/// steps added, everything ordered.
pub fn merge_deploy(offered: &[StepDef], user: &[Step]) -> Result<Vec<Step>, String> {
    check_known(StepPhase::Deploy, offered, user)?;
    let mut steps: Vec<Step> = offered
        .iter()
        .filter(|d| d.priority > 0)
        .filter(|d| {
            !user
                .iter()
                .any(|u| u.interface == d.interface && u.step == d.step)
        })
        .map(Step::from_def)
        .collect();
    steps.extend(user.iter().filter(|u| u.priority > 0).cloned());
    sort(StepPhase::Deploy, &mut steps);
    Ok(steps)
}

/// The steps a deployment was asked for: the user's own (from the
/// provision request), then the steps of the deploy templates matching the
/// instance's traits, except where the user named the same interface and
/// step (the user's choice wins, reference §6.2). Two templates naming the
/// same step are refused: nothing says which of them should win.
/// `templates` pairs each template's name with its steps.
pub fn with_templates(
    user: &[Step],
    templates: &[(String, Vec<Step>)],
) -> Result<Vec<Step>, String> {
    let mut requested = user.to_vec();
    let mut owner: Vec<(&str, &Step)> = Vec::new();
    for (name, steps) in templates {
        for step in steps {
            let same = |s: &Step| s.interface == step.interface && s.step == step.step;
            if let Some((other, _)) = owner.iter().find(|(_, s)| same(s)) {
                return Err(format!(
                    "The deploy templates {other} and {name} both name the step {}.",
                    step.label()
                ));
            }
            owner.push((name, step));
            if !user.iter().any(same) {
                requested.push(step.clone());
            }
        }
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use InterfaceKind as K;

    fn core() -> Vec<StepDef> {
        vec![
            StepDef::new(K::Deploy, "deploy", 100),
            StepDef::new(K::Deploy, "write_image", 80),
            StepDef::new(K::Deploy, "boot_instance", 20),
            StepDef::new(K::Bios, "apply_configuration", 0),
            StepDef::new(K::Raid, "apply_configuration", 0),
        ]
    }

    fn user(v: Value) -> Vec<Step> {
        match v.as_array().map(|a| parse_list(a, true)) {
            Some(Ok(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn labels(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{}:{}", s.label(), s.priority))
            .collect()
    }

    #[test]
    fn user_steps_merge_override_and_disable() {
        let u = user(json!([
            {"interface": "bios", "step": "apply_configuration", "args": {"settings": []}, "priority": 150},
            {"interface": "deploy", "step": "write_image", "priority": 0},
            {"interface": "deploy", "step": "boot_instance", "priority": 90},
            {"interface": "raid", "step": "apply_configuration", "args": {}, "priority": 100},
            {"interface": "deploy", "step": "hold", "priority": 50},
        ]));
        let Ok(steps) = merge_deploy(&core(), &u) else {
            panic!("merge")
        };
        assert_eq!(
            labels(&steps),
            [
                "bios.apply_configuration:150",
                "deploy.deploy:100",
                "raid.apply_configuration:100",
                "deploy.boot_instance:90",
                "deploy.hold:50",
            ]
        );
        assert_eq!(steps[0].args.get("settings"), Some(&json!([])));
    }

    #[test]
    fn template_steps_join_unless_the_user_names_them() {
        let bios = user(json!([
            {"interface": "bios", "step": "apply_configuration",
             "args": {"settings": [{"name": "ht", "value": "on"}]}, "priority": 150},
            {"interface": "deploy", "step": "write_image", "priority": 0},
        ]));
        let raid = user(json!([
            {"interface": "raid", "step": "apply_configuration", "args": {}, "priority": 90},
        ]));
        let templates = vec![
            ("CUSTOM_HT".to_string(), bios),
            ("CUSTOM_RAID".to_string(), raid),
        ];
        let Ok(requested) = with_templates(&[], &templates) else {
            panic!("templates refused")
        };
        let Ok(steps) = merge_deploy(&core(), &requested) else {
            panic!("merge")
        };
        assert_eq!(
            labels(&steps),
            [
                "bios.apply_configuration:150",
                "deploy.deploy:100",
                "raid.apply_configuration:90",
                "deploy.boot_instance:20",
            ]
        );

        // The user's step replaces the template's; priority 0 disables it.
        let mine = user(json!([
            {"interface": "bios", "step": "apply_configuration", "args": {}, "priority": 0},
            {"interface": "raid", "step": "apply_configuration", "args": {"x": 1}, "priority": 30},
        ]));
        let Ok(requested) = with_templates(&mine, &templates) else {
            panic!("templates refused")
        };
        let Ok(steps) = merge_deploy(&core(), &requested) else {
            panic!("merge")
        };
        assert_eq!(
            labels(&steps),
            [
                "deploy.deploy:100",
                "raid.apply_configuration:30",
                "deploy.boot_instance:20",
            ]
        );
        assert_eq!(steps[1].args.get("x"), Some(&json!(1)));

        let twice = vec![
            templates[0].clone(),
            ("CUSTOM_AGAIN".into(), templates[0].1.clone()),
        ];
        let Err(e) = with_templates(&[], &twice) else {
            panic!("duplicate accepted")
        };
        assert!(e.contains("CUSTOM_HT and CUSTOM_AGAIN"), "{e}");
    }

    #[test]
    fn unknown_and_malformed_steps_are_refused() {
        let u = user(json!([{"interface": "deploy", "step": "fly", "priority": 1}]));
        let Err(e) = merge_deploy(&core(), &u) else {
            panic!("fly accepted")
        };
        assert!(e.contains("deploy.fly"), "{e}");
        assert!(parse_list(&[json!({"interface": "deploy", "step": "x"})], true).is_err());
        assert!(parse_list(&[json!({"interface": "warp", "step": "x"})], false).is_err());
        assert!(parse_list(&[json!({"interface": "deploy"})], false).is_err());
        assert!(
            parse_list(
                &[json!({"interface": "deploy", "step": "x", "args": 3})],
                false
            )
            .is_err()
        );
        assert!(
            parse_list(
                &[json!({"interface": "deploy", "step": "x", "priority": -1})],
                false
            )
            .is_err()
        );
        assert!(parse_list(&[json!("deploy.x")], false).is_err());
        let text = parse_list(
            &[json!({"interface": "deploy", "step": "x", "priority": "15"})],
            true,
        );
        assert!(matches!(text, Ok(ref s) if s[0].priority == 15));
        let ok = parse_list(&[json!({"interface": "power", "step": "reboot"})], false);
        assert!(matches!(ok, Ok(ref s) if s[0].is_reserved() && s[0].priority == 0));
    }

    #[test]
    fn ties_break_by_interface_and_round_trip() {
        let offered = vec![
            StepDef::new(K::Raid, "r", 10),
            StepDef::new(K::Deploy, "d", 10),
            StepDef::new(K::Power, "p", 10),
            StepDef::new(K::Bios, "b", 0),
            StepDef::new(K::Management, "m", 20),
        ];
        let steps = automated(StepPhase::Clean, &offered);
        assert_eq!(
            labels(&steps),
            ["management.m:20", "power.p:10", "deploy.d:10", "raid.r:10"]
        );
        let stored = to_list(&steps);
        let back = stored.as_array().map(|a| parse_list(a, true));
        assert_eq!(back, Some(Ok(steps)));
        assert_eq!(interface_priority(StepPhase::Service, K::Network), 8);
        assert_eq!(interface_priority(StepPhase::Clean, K::Network), 0);
    }
}
