//! Deployment (`active`/`deploy`/`rebuild`) and tear-down (`deleted`/
//! `undeploy`, which continues into automated cleaning).

use ferrite_drivers::{InterfaceKind as K, StepCtx, StepPhase};
use ferrite_model::{Event, ProvisionArgs};

use super::clean::automated;
use super::driver_for;
use super::runner::run_and_finish;
use crate::claim::Locked;
use crate::steps;
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
    let user = match args.deploy_steps {
        Some(list) => steps::parse_list(&list, true),
        None => Ok(Vec::new()),
    };
    let list = user.and_then(|u| steps::merge_deploy(&driver.steps(StepPhase::Deploy), &u));
    match list {
        Ok(list) => run_and_finish(lock, &driver, StepPhase::Deploy, list, 0).await,
        Err(msg) => lock.fail(format!("Cannot deploy: {msg}")).await,
    }
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
    lock.update(move |n, now| {
        update.apply(n);
        n.instance_info.clear();
        n.instance_uuid = None;
        fsm::clear_step_markers(n);
        n.driver_internal_info
            .remove(&fsm::steps_key(StepPhase::Deploy));
        n.driver_internal_info
            .remove(&fsm::steps_key(StepPhase::Service));
        fsm::fire(n, Event::Clean, now).map(|_| ())
    })
    .await?;
    automated(lock, &driver).await
}
