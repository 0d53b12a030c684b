//! Deployment (`active`/`deploy`/`rebuild`) and tear-down (`deleted`/
//! `undeploy`, which continues into automated cleaning).

use ferrite_drivers::{InterfaceKind as K, StepCtx, StepPhase};
use ferrite_model::{DeployTemplate, Event, ProvisionArgs};
use ferrite_store::{Filter, ListQuery};
use serde_json::{Value, json};
use tracing::info;

use super::clean::automated;
use super::driver_for;
use super::runner::run_and_finish;
use crate::claim::Locked;
use crate::steps::{self, Step};
use crate::{FlowError, fsm};

/// `instance_info` key of the config drive.
const CONFIGDRIVE: &str = "configdrive";

/// `deploying`: the driver's deploy steps merged with the user's, then
/// `active`.
pub(crate) async fn deploy(lock: &mut Locked, args: ProvisionArgs) -> Result<(), FlowError> {
    let configdrive = args.configdrive;
    lock.update(move |n, _| {
        fsm::clear_step_markers(n);
        n.driver_internal_info
            .remove(&fsm::steps_key(StepPhase::Deploy));
        if let Some(cd) = configdrive {
            n.instance_info.insert(CONFIGDRIVE.into(), cd);
        }
        Ok(())
    })
    .await?;
    let driver = match driver_for(lock, &[K::Power, K::Boot, K::Deploy]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Cannot deploy: {msg}")).await,
    };
    let templates = matching_templates(lock).await?;
    let user = match args.deploy_steps {
        Some(list) => steps::parse_list(&list, true),
        None => Ok(Vec::new()),
    };
    let list = user
        .and_then(|u| steps::with_templates(&u, &templates?))
        .and_then(|requested| steps::merge_deploy(&driver.steps(StepPhase::Deploy), &requested));
    match list {
        Ok(list) => run_and_finish(lock, &driver, StepPhase::Deploy, list, 0).await,
        Err(msg) => lock.fail(format!("Cannot deploy: {msg}")).await,
    }
}

/// `instance_info` key of the traits the instance asked for (set by an
/// allocation or by the deployer, e.g. Nova from the flavor).
const INSTANCE_TRAITS: &str = "traits";

/// The deploy templates named by the instance's traits, each as its name
/// and steps (reference §6.2). The outer error is the store failing; the
/// inner one a template the conductor cannot use, to fail the deploy with.
async fn matching_templates(
    lock: &Locked,
) -> Result<Result<Vec<(String, Vec<Step>)>, String>, FlowError> {
    let traits: Vec<Value> = lock
        .node
        .instance_info
        .get(INSTANCE_TRAITS)
        .and_then(Value::as_array)
        .map(|list| list.iter().filter(|t| t.is_string()).cloned().collect())
        .unwrap_or_default();
    if traits.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let query = ListQuery {
        filters: vec![Filter::In("name".into(), traits)],
        ..ListQuery::default()
    };
    let found: Vec<DeployTemplate> = lock.engine.store.list(&query).await?;
    let mut out = Vec::with_capacity(found.len());
    for template in found {
        let values: Vec<Value> = template
            .steps
            .iter()
            .map(|s| {
                json!({"interface": s.interface, "step": s.step, "args": s.args,
                       "priority": s.priority})
            })
            .collect();
        match steps::parse_list(&values, true) {
            Ok(list) => out.push((template.name, list)),
            Err(e) => return Ok(Err(format!("deploy template {}: {e}", template.name))),
        }
    }
    if !out.is_empty() {
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        info!(templates = ?names, "deploy templates apply");
    }
    Ok(Ok(out))
}

/// `deleting`: power off and remove the instance's traces, then automated
/// cleaning towards `available`.
pub(crate) async fn tear_down(lock: &mut Locked) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power, K::Deploy]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Cannot tear the node down: {msg}")).await,
    };
    let ctx = StepCtx {
        node: &lock.node,
        driver: &driver,
        phase: StepPhase::Deploy,
    };
    let update = match driver.deploy.tear_down(&ctx).await {
        Ok(u) => u,
        Err(e) => return lock.fail(format!("Tear-down failed: {e}")).await,
    };
    let allocation = lock
        .update(move |n, now| {
            update.apply(n);
            n.instance_info.clear();
            n.instance_uuid = None;
            fsm::clear_step_markers(n);
            n.driver_internal_info
                .remove(&fsm::steps_key(StepPhase::Deploy));
            n.driver_internal_info
                .remove(&fsm::steps_key(StepPhase::Service));
            // The instance is gone, so is the allocation that placed it.
            let allocation = n.allocation_uuid.take();
            fsm::fire(n, Event::Clean, now).map(|_| allocation)
        })
        .await?;
    if let Some(allocation) = allocation {
        crate::allocations::forget(&lock.engine, allocation).await;
    }
    automated(lock, &driver).await
}
