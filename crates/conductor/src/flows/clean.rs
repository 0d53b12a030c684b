//! Cleaning (automated on `provide` and after tear-down, manual on `clean`)
//! and servicing: both build a step list and hand it to the runner.

use ferrite_drivers::{Driver, InterfaceKind as K, NodeUpdate, StepPhase};
use ferrite_model::ProvisionArgs;
use serde_json::Value;

use super::driver_for;
use super::runner::{finish, run_and_finish};
use crate::FlowError;
use crate::claim::Locked;
use crate::steps::{self, Step};

/// `provide`: automated cleaning, then `available`.
pub(crate) async fn provide(lock: &mut Locked) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power, K::Management]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Cannot clean the node: {msg}")).await,
    };
    automated(lock, &driver).await
}

/// Runs the automated clean steps (priority > 0) when automated cleaning
/// is on for the node, then ends cleaning.
pub(crate) async fn automated(lock: &mut Locked, driver: &Driver) -> Result<(), FlowError> {
    let enabled = lock
        .node
        .automated_clean
        .unwrap_or(lock.engine.config.automated_clean);
    let list = if enabled {
        let offered = super::agent::clean_offer(lock, driver);
        super::agent::with_ramdisk(driver, steps::automated(StepPhase::Clean, &offered))
    } else {
        Vec::new()
    };
    if list.is_empty() {
        return finish(
            lock,
            StepPhase::Clean,
            NodeUpdate::default(),
            Some(Value::Array(vec![])),
        )
        .await;
    }
    run_and_finish(lock, driver, StepPhase::Clean, list, 0).await
}

/// Parses a requested, ordered step list and checks the driver has every
/// step; the error is the `last_error`.
fn requested(
    driver: &Driver,
    phase: StepPhase,
    list: Option<Vec<Value>>,
) -> Result<Vec<Step>, String> {
    let name = phase.as_str();
    let list = list
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("{name}_steps are required to start {name} steps."))?;
    let parsed = steps::parse_list(&list, false)?;
    steps::check_known(phase, &driver.steps(phase), &parsed)?;
    Ok(super::agent::with_ramdisk(driver, parsed))
}

/// `clean`: the requested steps, in the order given, then `manageable`.
pub(crate) async fn manual(lock: &mut Locked, args: ProvisionArgs) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power, K::Management]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Cannot clean the node: {msg}")).await,
    };
    match requested(&driver, StepPhase::Clean, args.clean_steps) {
        Ok(list) => run_and_finish(lock, &driver, StepPhase::Clean, list, 0).await,
        Err(msg) => lock.fail(format!("Cannot clean the node: {msg}")).await,
    }
}

/// `service`: the requested steps on an active node, then `active`.
pub(crate) async fn service(lock: &mut Locked, args: ProvisionArgs) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power, K::Management]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Cannot service the node: {msg}")).await,
    };
    match requested(&driver, StepPhase::Service, args.service_steps) {
        Ok(list) => run_and_finish(lock, &driver, StepPhase::Service, list, 0).await,
        Err(msg) => lock.fail(format!("Cannot service the node: {msg}")).await,
    }
}
