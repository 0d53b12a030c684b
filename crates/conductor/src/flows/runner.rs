//! The step runner shared by cleaning, deployment and servicing: runs a
//! step list in order under the node's lock, mirrors the running step in
//! `<phase>_step` and `driver_internal_info`, and handles the reserved
//! steps (`hold`, `wait`, `power_on`, `power_off`, `reboot`).

use chrono::{DateTime, Utc};
use ferrite_drivers::{Driver, NodeUpdate, StepOutcome, StepPhase};
use ferrite_model::{Event, PowerTarget, ProvisionState as S};
use serde_json::{Value, json};
use tracing::{debug, info};

use super::driver_for;
use crate::claim::Locked;
use crate::steps::{self, Step};
use crate::{FlowError, fsm};

/// How a run of steps ended.
pub(crate) enum RunOutcome {
    /// Every step ran; the update still has to be recorded by the caller's
    /// final transition.
    Completed(Box<NodeUpdate>),
    /// The node is in `* hold` or `* wait` and its lock was released.
    Paused,
    /// A step failed; the node was failed and released.
    Failed,
}

/// What one step asked for.
pub(crate) enum StepResult {
    Done(NodeUpdate),
    Hold,
    /// Enter `* wait`; with a deadline the conductor resumes by itself.
    Wait(Option<DateTime<Utc>>, NodeUpdate),
}

fn title(phase: StepPhase) -> &'static str {
    match phase {
        StepPhase::Clean => "Clean",
        StepPhase::Deploy => "Deploy",
        StepPhase::Service => "Service",
    }
}

/// Runs `steps[start..]` in `phase`. With `start == 0` the whole list is
/// recorded in `driver_internal_info.<phase>_steps` first.
pub(crate) async fn run_steps(
    lock: &mut Locked,
    driver: &Driver,
    phase: StepPhase,
    steps: Vec<Step>,
    start: usize,
) -> Result<RunOutcome, FlowError> {
    let running = fsm::running_state(phase);
    let mut pending = NodeUpdate::default();
    for (i, step) in steps.iter().enumerate().skip(start) {
        let record = (i == 0).then(|| steps::to_list(&steps));
        let mark = match step.to_value() {
            Value::Object(m) => m,
            _ => Default::default(),
        };
        let update = std::mem::take(&mut pending);
        lock.update(move |n, _| {
            if n.provision_state != running {
                return Err(FlowError::Stale(format!(
                    "the node left {running} and is now in {}",
                    n.provision_state
                )));
            }
            update.apply(n);
            if let Some(list) = record {
                n.driver_internal_info.insert(fsm::steps_key(phase), list);
            }
            *fsm::step_field(n, phase) = mark;
            n.driver_internal_info
                .insert(fsm::index_key(phase), json!(i));
            Ok(())
        })
        .await?;
        info!(step = %step.label(), phase = phase.as_str(), "running step");
        let result = match super::agent::execute(lock, driver, phase, step).await {
            Some(result) => result,
            None => execute(lock, driver, phase, step).await,
        };
        match result {
            Ok(StepResult::Done(update)) => pending.merge(update),
            Ok(StepResult::Hold) => {
                lock.release(move |n, now| {
                    pending.apply(n);
                    fsm::fire(n, Event::Hold, now).map(|_| ())
                })
                .await?;
                return Ok(RunOutcome::Paused);
            }
            Ok(StepResult::Wait(until, update)) => {
                pending.merge(update);
                lock.release(move |n, now| {
                    pending.apply(n);
                    fsm::fire(n, Event::Wait, now)?;
                    if let Some(at) = until {
                        n.driver_internal_info
                            .insert(fsm::WAIT_UNTIL_KEY.into(), Value::String(at.to_rfc3339()));
                    }
                    Ok(())
                })
                .await?;
                match until {
                    Some(at) => lock.engine.schedule_resume(lock.node.uuid, i as u64, at),
                    None => super::agent::caught_up(lock).await?,
                }
                return Ok(RunOutcome::Paused);
            }
            Err(message) => {
                let message = format!("{} step {} failed: {message}", title(phase), step.label());
                tracing::warn!(error = %message, "step failed");
                lock.release(move |n, now| {
                    pending.apply(n);
                    fsm::fail(n, &message, false, now).map(|_| ())
                })
                .await?;
                return Ok(RunOutcome::Failed);
            }
        }
    }
    Ok(RunOutcome::Completed(Box::new(pending)))
}

async fn execute(
    lock: &Locked,
    driver: &Driver,
    phase: StepPhase,
    step: &Step,
) -> Result<StepResult, String> {
    let node = &lock.node;
    let power = |target| async move {
        driver
            .power
            .set_power_state(node, target, None)
            .await
            .map(|state| {
                StepResult::Done(NodeUpdate {
                    power_state: Some(state),
                    ..NodeUpdate::default()
                })
            })
            .map_err(|e| e.to_string())
    };
    match step.step.as_str() {
        "hold" => Ok(StepResult::Hold),
        "wait" => match step.args.get("seconds") {
            None | Some(Value::Null) => Ok(StepResult::Wait(None, NodeUpdate::default())),
            Some(v) => {
                let seconds = v
                    .as_f64()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("seconds must be a non-negative number, got {v}"))?;
                let capped =
                    seconds.min(lock.engine.config.max_conductor_wait_step_seconds.max(0.0));
                let delay = chrono::Duration::milliseconds((capped * 1000.0) as i64);
                Ok(StepResult::Wait(
                    Some(Utc::now() + delay),
                    NodeUpdate::default(),
                ))
            }
        },
        "power_on" => power(PowerTarget::On).await,
        "power_off" => power(PowerTarget::Off).await,
        "reboot" => power(PowerTarget::Reboot).await,
        name => match driver
            .execute_step(node, phase, step.interface, name, &step.args)
            .await
        {
            Ok(StepOutcome::Done(update)) => Ok(StepResult::Done(update)),
            Ok(StepOutcome::Wait(update)) => Ok(StepResult::Wait(None, update)),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// Runs `steps` and, when all ran, finishes the phase.
pub(crate) async fn run_and_finish(
    lock: &mut Locked,
    driver: &Driver,
    phase: StepPhase,
    steps: Vec<Step>,
    start: usize,
) -> Result<(), FlowError> {
    match run_steps(lock, driver, phase, steps, start).await? {
        RunOutcome::Completed(update) => finish(lock, phase, *update, None).await,
        RunOutcome::Paused | RunOutcome::Failed => Ok(()),
    }
}

/// Ends a phase whose steps all ran: cleaning goes to `available` (or
/// `manageable` for manual cleaning and retired nodes), deployment and
/// servicing to `active`. `record` replaces the stored step list (used when
/// no step ran at all).
pub(crate) async fn finish(
    lock: &mut Locked,
    phase: StepPhase,
    update: NodeUpdate,
    record: Option<Value>,
) -> Result<(), FlowError> {
    lock.release(move |n, now| {
        update.apply(n);
        let event = match phase {
            StepPhase::Clean if n.target_provision_state == Some(S::Manageable) || n.retired => {
                Event::Manage
            }
            _ => Event::Done,
        };
        if let Some(list) = record {
            n.driver_internal_info.insert(fsm::steps_key(phase), list);
        }
        fsm::fire(n, event, now)?;
        fsm::clear_step_markers(n);
        n.last_error = None;
        Ok(())
    })
    .await
}

/// Continues the steps of a node in `* wait` (after `unhold`, or when a
/// `wait` step's time is up) from the step after the recorded one.
pub(crate) async fn resume(lock: &mut Locked) -> Result<(), FlowError> {
    let state = lock.node.provision_state;
    let Some(phase) = fsm::phase_of(state) else {
        return lock.release(|_, _| Ok(())).await;
    };
    let info = &lock.node.driver_internal_info;
    let stored = info
        .get(&fsm::steps_key(phase))
        .and_then(Value::as_array)
        .cloned();
    let index = info.get(&fsm::index_key(phase)).and_then(Value::as_u64);
    let parsed = match (stored, index) {
        (Some(list), Some(index)) => steps::parse_list(&list, false).map(|s| (s, index as usize)),
        _ => Err("the step list or the current step index is missing".to_string()),
    };
    lock.update(|n, now| {
        fsm::fire(n, Event::Resume, now)?;
        n.driver_internal_info.remove(fsm::WAIT_UNTIL_KEY);
        Ok(())
    })
    .await?;
    let (steps, index) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return lock
                .fail(format!("Cannot continue the {} steps: {e}", phase.as_str()))
                .await;
        }
    };
    let driver = match driver_for(lock, &[]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(msg).await,
    };
    let steps = if lock
        .node
        .driver_internal_info
        .contains_key(crate::agent::WAIT_KEY)
    {
        match super::agent::after_boot(lock, phase, steps, index, &driver).await? {
            super::agent::AfterBoot::Continue(steps) => steps,
            super::agent::AfterBoot::Stopped => return Ok(()),
        }
    } else {
        steps
    };
    debug!(next = index + 1, total = steps.len(), "resuming steps");
    run_and_finish(lock, &driver, phase, steps, index + 1).await
}
