//! What a claimed intent does: one function per operation, grouped by area.
//! Each flow fails the node itself (with a `last_error`) when the driver or
//! the request is at fault, and returns `Err` only when the store or the
//! lock let it down, in which case the caller abandons the node.

mod agent;
mod clean;
mod deploy;
mod power;
mod runner;
mod simple;

use ferrite_drivers::{Driver, InterfaceKind};
use ferrite_model::{Intent, ProvisionState as S, Verb};
use tracing::{debug, info};

use crate::claim::Locked;
use crate::{FlowError, fsm};

/// Runs one claimed intent on a locked node.
pub(crate) async fn run(lock: &mut Locked, intent: Intent) -> Result<(), FlowError> {
    match intent {
        Intent::Provision { verb, args } => {
            let state = lock.node.provision_state;
            info!(%verb, %state, "provision operation");
            match (verb, state) {
                (Verb::Manage, S::Verifying) => simple::verify(lock).await,
                (Verb::Provide, S::Cleaning) => clean::provide(lock).await,
                (Verb::Clean, S::Cleaning) => clean::manual(lock, args).await,
                (Verb::Inspect, S::Inspecting) => simple::inspect(lock).await,
                (Verb::Adopt, S::Adopting) => simple::adopt(lock).await,
                (Verb::Active | Verb::Deploy | Verb::Rebuild, S::Deploying) => {
                    deploy::deploy(lock, args).await
                }
                (Verb::Deleted | Verb::Undeploy, S::Deleting) => deploy::tear_down(lock).await,
                (Verb::Rescue, S::Rescuing) => simple::rescue(lock, args).await,
                (Verb::Unrescue, S::Unrescuing) => simple::unrescue(lock).await,
                (Verb::Service, S::Servicing) => clean::service(lock, args).await,
                (Verb::Unhold, S::CleanWait | S::DeployWait | S::ServiceWait) => {
                    runner::resume(lock).await
                }
                (Verb::Abort, _) => simple::after_abort(lock).await,
                (verb, state) => nothing_to_do(lock, verb, state).await,
            }
        }
        Intent::Power { target, timeout } => power::change_power(lock, target, timeout).await,
        Intent::BootMode { target } => power::boot_mode(lock, target).await,
        Intent::SecureBoot { target } => power::secure_boot(lock, target).await,
        Intent::Console { enabled } => power::console(lock, enabled).await,
    }
}

/// An intent whose verb does not match the node's state (the node moved on
/// before the claim, or the API already did all there was to do, as for
/// `manage` from `available`). A node left in an in-progress state with no
/// operation is failed rather than left stuck.
async fn nothing_to_do(lock: &mut Locked, verb: Verb, state: S) -> Result<(), FlowError> {
    if state.is_in_progress() {
        return lock
            .fail(format!(
                "No operation for {verb} can run while the node is in state {state}."
            ))
            .await;
    }
    debug!(%verb, %state, "nothing to do");
    lock.release(|_, _| Ok(())).await
}

/// Builds the node's driver and validates `kinds`; the error is the
/// `last_error` to fail with.
pub(crate) async fn driver_for(lock: &Locked, kinds: &[InterfaceKind]) -> Result<Driver, String> {
    let driver = Driver::build(&lock.node, &lock.engine.config.fake)
        .map_err(|e| format!("The node's driver could not be loaded: {e}"))?;
    for kind in kinds {
        driver
            .interface(*kind)
            .validate(&lock.node)
            .await
            .map_err(|e| format!("Validation of the {kind} interface failed: {e}"))?;
    }
    Ok(driver)
}

/// Marks the node done with `event` from its current state, clearing
/// `last_error`, and releases the lock.
pub(crate) async fn succeed(
    lock: &mut Locked,
    event: ferrite_model::Event,
    extra: impl FnOnce(&mut ferrite_model::Node) + Send + 'static,
) -> Result<(), FlowError> {
    lock.release(move |n, now| {
        extra(n);
        fsm::fire(n, event, now)?;
        n.last_error = None;
        Ok(())
    })
    .await
}
