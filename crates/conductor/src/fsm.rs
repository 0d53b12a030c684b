//! Moving nodes through the provision state machine (the table lives in the
//! model crate). Everything here is pure so the rules about targets and
//! failure bookkeeping are tested without a database.

use chrono::{DateTime, Utc};
use ferrite_drivers::StepPhase;
use ferrite_model::{Dict, Event, Node, ProvisionState as S};

use crate::FlowError;

/// The fault Ironic records when cleaning fails with a step running.
pub const CLEAN_FAILURE: &str = "clean failure";

/// Fires `event` on the node: new state, the target that state implies, and
/// `provision_updated_at` stamped. Manual cleaning keeps its `manageable`
/// target through `clean wait`, `clean hold` and `clean failed`.
pub fn fire(node: &mut Node, event: Event, now: DateTime<Utc>) -> Result<S, FlowError> {
    let from = node.provision_state;
    let to = from
        .next(event)
        .ok_or(FlowError::Transition { from, event })?;
    let target = if to.is_stable() {
        None
    } else if to.implicit_target() == Some(S::Available)
        && to != S::Deleting
        && node.target_provision_state == Some(S::Manageable)
    {
        Some(S::Manageable)
    } else {
        to.implicit_target()
    };
    node.set_provision_state(to, target, now);
    Ok(to)
}

/// The phase whose steps a state belongs to, if any.
pub fn phase_of(state: S) -> Option<StepPhase> {
    match state {
        S::Cleaning | S::CleanWait | S::CleanHold | S::CleanFailed => Some(StepPhase::Clean),
        S::Deploying | S::DeployWait | S::DeployHold | S::DeployFailed => Some(StepPhase::Deploy),
        S::Servicing | S::ServiceWait | S::ServiceHold | S::ServiceFailed => {
            Some(StepPhase::Service)
        }
        _ => None,
    }
}

/// The state a phase's steps run in.
pub fn running_state(phase: StepPhase) -> S {
    match phase {
        StepPhase::Clean => S::Cleaning,
        StepPhase::Deploy => S::Deploying,
        StepPhase::Service => S::Servicing,
    }
}

/// The wait state of a phase.
pub fn wait_state(phase: StepPhase) -> S {
    match phase {
        StepPhase::Clean => S::CleanWait,
        StepPhase::Deploy => S::DeployWait,
        StepPhase::Service => S::ServiceWait,
    }
}

/// The node field mirroring the running step of `phase`.
pub fn step_field(node: &mut Node, phase: StepPhase) -> &mut Dict {
    match phase {
        StepPhase::Clean => &mut node.clean_step,
        StepPhase::Deploy => &mut node.deploy_step,
        StepPhase::Service => &mut node.service_step,
    }
}

/// `driver_internal_info` key holding the phase's step list.
pub fn steps_key(phase: StepPhase) -> String {
    format!("{}_steps", phase.as_str())
}

/// `driver_internal_info` key holding the index of the phase's current step.
pub fn index_key(phase: StepPhase) -> String {
    format!("{}_step_index", phase.as_str())
}

/// `driver_internal_info` key of the deadline of a `wait` step with
/// `seconds` (RFC 3339); survives restarts so the wait can be resumed.
pub const WAIT_UNTIL_KEY: &str = "step_wait_until";

/// Clears every running-step marker: the `*_step` fields, the current step
/// indexes and a pending wait deadline. Step lists stay as a record.
pub fn clear_step_markers(node: &mut Node) {
    node.clean_step.clear();
    node.deploy_step.clear();
    node.service_step.clear();
    for phase in [StepPhase::Clean, StepPhase::Deploy, StepPhase::Service] {
        node.driver_internal_info.remove(&index_key(phase));
    }
    node.driver_internal_info.remove(WAIT_UNTIL_KEY);
}

/// Fails the node out of its current state with `message`: the `fail`
/// event, `last_error`, step markers cleared. A cleaning failure while a
/// step was running also puts the node in maintenance with fault
/// `clean failure` (`force_maintenance` does so regardless, as the clean
/// wait timeout does). Returns the new state.
pub fn fail(
    node: &mut Node,
    message: &str,
    force_maintenance: bool,
    now: DateTime<Utc>,
) -> Result<S, FlowError> {
    let from = node.provision_state;
    let step_running = !node.clean_step.is_empty();
    let to = fire(node, Event::Fail, now)?;
    if to == S::CleanFailed && (step_running || force_maintenance) && from != S::CleanFailed {
        node.maintenance = true;
        node.maintenance_reason = Some(message.to_string());
        node.fault = Some(CLEAN_FAILURE.to_string());
    }
    clear_step_markers(node);
    node.last_error = Some(message.to_string());
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(state: S, target: Option<S>) -> Node {
        Node {
            provision_state: state,
            target_provision_state: target,
            ..Node::default()
        }
    }

    #[test]
    fn targets_follow_the_state() {
        let now = Utc::now();
        let mut n = node(S::Deploying, Some(S::Active));
        assert_eq!(fire(&mut n, Event::Done, now).ok(), Some(S::Active));
        assert_eq!(n.target_provision_state, None);
        assert_eq!(n.provision_updated_at, Some(now));

        let mut n = node(S::Deploying, Some(S::Active));
        assert_eq!(fire(&mut n, Event::Wait, now).ok(), Some(S::DeployWait));
        assert_eq!(n.target_provision_state, Some(S::Active));

        // Manual cleaning keeps its manageable target all the way.
        let mut n = node(S::Cleaning, Some(S::Manageable));
        assert_eq!(fire(&mut n, Event::Hold, now).ok(), Some(S::CleanHold));
        assert_eq!(n.target_provision_state, Some(S::Manageable));
        assert_eq!(fire(&mut n, Event::Abort, now).ok(), Some(S::CleanFailed));
        assert_eq!(n.target_provision_state, Some(S::Manageable));

        // Automated cleaning after tear-down heads for available.
        let mut n = node(S::Deleting, Some(S::Available));
        assert_eq!(fire(&mut n, Event::Clean, now).ok(), Some(S::Cleaning));
        assert_eq!(n.target_provision_state, Some(S::Available));

        let mut n = node(S::Active, None);
        assert!(matches!(
            fire(&mut n, Event::Done, now),
            Err(FlowError::Transition {
                from: S::Active,
                event: Event::Done
            })
        ));
        assert_eq!(n.provision_state, S::Active);
    }

    #[test]
    fn every_in_progress_state_can_fail() {
        for state in S::ALL.iter().copied().filter(|s| s.is_in_progress()) {
            let mut n = node(state, state.implicit_target());
            let Ok(to) = fail(&mut n, "boom", false, Utc::now()) else {
                panic!("{state} cannot fail")
            };
            assert!(!to.is_in_progress(), "{state} fails into {to}");
            assert_eq!(n.last_error.as_deref(), Some("boom"));
        }
    }

    #[test]
    fn clean_failure_with_a_step_sets_maintenance() {
        let now = Utc::now();
        let mut n = node(S::Cleaning, Some(S::Available));
        n.clean_step = json!({"interface": "deploy", "step": "erase_devices"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        n.driver_internal_info
            .insert(index_key(StepPhase::Clean), json!(0));
        assert_eq!(
            fail(&mut n, "erase failed", false, now).ok(),
            Some(S::CleanFailed)
        );
        assert!(n.maintenance);
        assert_eq!(n.fault.as_deref(), Some(CLEAN_FAILURE));
        assert!(n.clean_step.is_empty());
        assert!(
            !n.driver_internal_info
                .contains_key(&index_key(StepPhase::Clean))
        );

        let mut n = node(S::Cleaning, Some(S::Available));
        assert_eq!(
            fail(&mut n, "no steps", false, now).ok(),
            Some(S::CleanFailed)
        );
        assert!(!n.maintenance);
        let mut n = node(S::CleanWait, Some(S::Manageable));
        assert_eq!(
            fail(&mut n, "timeout", true, now).ok(),
            Some(S::CleanFailed)
        );
        assert!(n.maintenance);
        assert_eq!(n.target_provision_state, Some(S::Manageable));
    }
}
