//! One-shot operations: verification (`manage` from `enroll`), inspection,
//! adoption, rescue and unrescue, and the bookkeeping after an abort.

use ferrite_drivers::{InterfaceKind as K, StepCtx, StepOutcome, StepPhase};
use ferrite_model::{Event, ProvisionArgs};
use serde_json::Value;

use super::{driver_for, succeed};
use crate::claim::Locked;
use crate::{FlowError, fsm};

/// `verifying`: the power credentials work and the power state is read.
pub(crate) async fn verify(lock: &mut Locked) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Failed to verify the node: {msg}")).await,
    };
    match driver.power.get_power_state(&lock.node).await {
        Ok(state) => succeed(lock, Event::Done, move |n| n.power_state = Some(state)).await,
        Err(e) => {
            lock.fail(format!("Failed to read the power state: {e}"))
                .await
        }
    }
}

/// `inspecting`: the inspect interface runs; results land in `properties`.
pub(crate) async fn inspect(lock: &mut Locked) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Inspect]).await {
        Ok(d) => d,
        Err(msg) => {
            return lock
                .fail(format!("Failed to inspect hardware: {msg}"))
                .await;
        }
    };
    lock.update(|n, now| {
        n.inspection_started_at = Some(now);
        n.inspection_finished_at = None;
        Ok(())
    })
    .await?;
    match driver.inspect.inspect_hardware(&lock.node).await {
        Ok(StepOutcome::Done(mut update)) => {
            if let Some(inventory) = update.inventory.take() {
                keep_inventory(lock, inventory).await?;
            }
            succeed(lock, Event::Done, move |n| {
                update.apply(n);
                n.inspection_finished_at = Some(chrono::Utc::now());
            })
            .await
        }
        Ok(StepOutcome::Wait(update)) => {
            lock.release(move |n, now| {
                update.apply(n);
                fsm::fire(n, Event::Wait, now).map(|_| ())
            })
            .await
        }
        Err(e) => lock.fail(format!("Failed to inspect hardware: {e}")).await,
    }
}

/// Records what inspection found as the node's inventory, replacing any
/// earlier one, and creates a port for every interface MAC the node has no
/// port for yet, before the node leaves `inspecting`.
async fn keep_inventory(lock: &Locked, inventory: serde_json::Value) -> Result<(), FlowError> {
    let macs = ferrite_model::records::interface_macs(&inventory);
    let record = ferrite_model::NodeInventory {
        uuid: lock.node.uuid,
        inventory,
        created_at: chrono::Utc::now(),
        ..ferrite_model::NodeInventory::default()
    };
    lock.engine.store.put(record).await?;
    for mac in macs {
        let port = ferrite_model::Port {
            uuid: uuid::Uuid::new_v4(),
            address: mac.clone(),
            node_uuid: lock.node.uuid,
            pxe_enabled: true,
            available_for_dynamic_portgroup: true,
            created_at: chrono::Utc::now(),
            ..ferrite_model::Port::default()
        };
        match lock.engine.store.insert(port).await {
            Ok(_) => tracing::info!(%mac, "port created from inspection"),
            // Already a port (of this node from an earlier inspection, or
            // of another node, which an operator must sort out).
            Err(ferrite_store::StoreError::Conflict(why)) => {
                tracing::debug!(%mac, %why, "inspected MAC already has a port");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `adopting`: the deploy interface takes over a node deployed elsewhere.
pub(crate) async fn adopt(lock: &mut Locked) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power, K::Boot, K::Deploy]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Failed to adopt the node: {msg}")).await,
    };
    let ctx = StepCtx {
        node: &lock.node,
        driver: &driver,
        phase: StepPhase::Deploy,
    };
    match driver.deploy.take_over(&ctx).await {
        Ok(update) => succeed(lock, Event::Done, move |n| update.apply(n)).await,
        Err(e) => lock.fail(format!("Failed to adopt the node: {e}")).await,
    }
}

/// `instance_info` key of the rescue password.
const RESCUE_PASSWORD: &str = "rescue_password";

/// `rescuing`: the password is kept in `instance_info` and the rescue
/// environment booted.
pub(crate) async fn rescue(lock: &mut Locked, args: ProvisionArgs) -> Result<(), FlowError> {
    let Some(password) = args.rescue_password.filter(|p| !p.is_empty()) else {
        return lock
            .fail("A non-empty rescue_password is required to rescue a node.".into())
            .await;
    };
    lock.update(move |n, _| {
        n.instance_info
            .insert(RESCUE_PASSWORD.into(), Value::String(password));
        Ok(())
    })
    .await?;
    let driver = match driver_for(lock, &[K::Power, K::Rescue]).await {
        Ok(d) => d,
        Err(msg) => return lock.fail(format!("Failed to rescue the node: {msg}")).await,
    };
    let ctx = StepCtx {
        node: &lock.node,
        driver: &driver,
        phase: StepPhase::Service,
    };
    match driver.rescue.rescue(&ctx).await {
        Ok(update) => succeed(lock, Event::Done, move |n| update.apply(n)).await,
        Err(e) => lock.fail(format!("Failed to rescue the node: {e}")).await,
    }
}

/// `unrescuing`: back to the instance; the rescue password is forgotten.
pub(crate) async fn unrescue(lock: &mut Locked) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power, K::Rescue]).await {
        Ok(d) => d,
        Err(msg) => {
            return lock
                .fail(format!("Failed to unrescue the node: {msg}"))
                .await;
        }
    };
    let ctx = StepCtx {
        node: &lock.node,
        driver: &driver,
        phase: StepPhase::Service,
    };
    match driver.rescue.unrescue(&ctx).await {
        Ok(update) => {
            succeed(lock, Event::Done, move |n| {
                update.apply(n);
                n.instance_info.remove(RESCUE_PASSWORD);
            })
            .await
        }
        Err(e) => lock.fail(format!("Failed to unrescue the node: {e}")).await,
    }
}

/// After the API fired `abort`: forget the running step and any wait
/// deadline, and say why the node stopped if nothing else did.
pub(crate) async fn after_abort(lock: &mut Locked) -> Result<(), FlowError> {
    lock.release(|n, _| {
        let state = n.provision_state;
        fsm::clear_step_markers(n);
        if n.last_error.is_none() && state.is_failure() {
            n.last_error = Some(format!(
                "The operation was aborted by request (now {state})."
            ));
        }
        Ok(())
    })
    .await
}
