//! Recovery of what a dead conductor left behind (reference §4.4, §4.7):
//! at start for this host's own stale locks, periodically for conductors
//! whose heartbeat stopped. Operations that ran inside the dead conductor
//! cannot be resumed, so their nodes are failed with a `last_error` saying
//! so; `* wait` and `* hold` states survive (their timeouts guard them).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferrite_model::{Node, ProvisionState};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::{Value, json};
use tracing::{info, warn};
use uuid::Uuid;

use crate::engine::Engine;
use crate::membership::{PROVISION, is_fresh};
use crate::{FlowError, fsm};

fn query(filters: Vec<Filter>) -> ListQuery {
    ListQuery {
        filters,
        ..ListQuery::default()
    }
}

fn states(pred: impl Fn(ProvisionState) -> bool) -> Vec<Value> {
    ProvisionState::ALL
        .iter()
        .filter(|s| pred(**s))
        .map(|s| json!(s.as_str()))
        .collect()
}

/// Whether the conductor `host` is alive: registered, online, and its
/// heartbeat younger than `heartbeat_timeout`. Store errors count as
/// alive, so a database hiccup never steals locks.
async fn alive(engine: &Engine, host: &str) -> bool {
    match engine.store.conductor(host).await {
        Ok(c) => is_fresh(&c, engine.config.heartbeat_timeout, Utc::now()),
        Err(StoreError::NotFound { .. }) => false,
        Err(e) => {
            warn!(error = %e, %host, "could not read a conductor's registration");
            true
        }
    }
}

/// Why a lock is being recovered.
#[derive(Clone, Copy)]
enum Cause<'a> {
    /// This conductor restarted.
    Restart,
    /// The holder stopped heartbeating.
    Takeover(&'a str),
}

/// Settles what the dead holder of `node`'s lock left (reference §4.7) and
/// frees the lock: an in-progress operation is failed and a pending power
/// target dropped, each with a `last_error` saying `who` (e.g. "The
/// conductor c2 stopped") is why; `* wait` and `* hold` states are kept,
/// so the new owner continues them. Runs inside the transaction that takes
/// or frees the lock.
pub(crate) fn settle(n: &mut Node, who: &str, now: DateTime<Utc>) -> Result<(), FlowError> {
    crate::lease::release(n);
    let state = n.provision_state;
    let mut failed = false;
    if state.is_in_progress() {
        let msg =
            format!("{who} while the node was in state {state}; the operation was not completed.");
        fsm::fail(n, &msg, false, now)?;
        failed = true;
    }
    if let Some(target) = n.target_power_state.take()
        && !failed
    {
        n.last_error = Some(format!(
            "{who} before the power change to {target} completed."
        ));
    }
    Ok(())
}

/// Releases a stale lock held by `holder` (see [`settle`]). For a
/// takeover the lock must still be stale inside the transaction: its
/// lease lapsed, or (a lock from before leases) its holder is dead.
async fn recover_node(engine: &Engine, uuid: Uuid, holder: String, cause: Cause<'_>) {
    let who = match cause {
        Cause::Restart => "The conductor restarted".to_string(),
        Cause::Takeover(host) => format!("The conductor {host} stopped"),
    };
    let takeover = matches!(cause, Cause::Takeover(_));
    let result = engine
        .store
        .update::<Node, (), FlowError, _>(&Ident::Uuid(uuid), move |n| {
            let now = Utc::now();
            if n.reservation.as_deref() != Some(holder.as_str())
                || (takeover && n.reservation_expires_at.is_some() && !crate::lease::lapsed(n, now))
            {
                return Err(FlowError::NothingToDo);
            }
            settle(n, &who, now)
        })
        .await;
    match result {
        Ok((node, ())) => info!(
            node = %uuid,
            state = %node.provision_state,
            "released a stale lock"
        ),
        Err(FlowError::NothingToDo) | Err(FlowError::Store(StoreError::NotFound { .. })) => {}
        Err(e) => warn!(node = %uuid, error = %e, "could not release a stale lock"),
    }
}

/// Start-up: recovers every lock held by this host or a dead conductor,
/// fails in-progress nodes nobody works on (and no intent will restart),
/// and re-arms the timers of `wait` steps. Pending intents are left to the
/// first sweep, which runs right after.
pub(crate) async fn recover_at_start(engine: &Arc<Engine>) -> Result<(), StoreError> {
    let me = engine.hostname().to_string();
    let reserved: Vec<Node> = engine
        .store
        .list(&query(vec![Filter::IsNull("reservation".into(), false)]))
        .await?;
    let mut liveness: HashMap<String, bool> = HashMap::new();
    for node in reserved {
        let Some(holder) = node.reservation.clone() else {
            continue;
        };
        let dead = if holder == me || crate::lease::lapsed(&node, Utc::now()) {
            true
        } else if node.reservation_expires_at.is_some() {
            false
        } else if let Some(known) = liveness.get(&holder) {
            !known
        } else {
            let is_alive = alive(engine, &holder).await;
            liveness.insert(holder.clone(), is_alive);
            !is_alive
        };
        if dead {
            let cause = if holder == me {
                Cause::Restart
            } else {
                Cause::Takeover(&holder)
            };
            recover_node(engine, node.uuid, holder.clone(), cause).await;
        }
    }

    let stuck: Vec<Node> = engine
        .store
        .list(&query(vec![
            Filter::In(
                "provision_state".into(),
                states(ProvisionState::is_in_progress),
            ),
            Filter::IsNull("reservation".into(), true),
        ]))
        .await?;
    for node in stuck.into_iter().filter(|n| n.intent.is_none()) {
        let result = engine
            .store
            .update::<Node, (), FlowError, _>(&Ident::Uuid(node.uuid), |n| {
                let state = n.provision_state;
                if n.reservation.is_some() || n.intent.is_some() || !state.is_in_progress() {
                    return Err(FlowError::NothingToDo);
                }
                let msg = format!(
                    "The node was left in state {state} with no conductor working on it; the \
                     operation was not completed."
                );
                fsm::fail(n, &msg, false, Utc::now()).map(|_| ())
            })
            .await;
        if let Err(e) = result
            && !matches!(e, FlowError::NothingToDo)
        {
            warn!(node = %node.uuid, error = %e, "could not fail a stuck node");
        }
    }

    let waiting: Vec<Node> = engine
        .store
        .list(&query(vec![Filter::In(
            "provision_state".into(),
            states(ProvisionState::is_wait),
        )]))
        .await?;
    for node in waiting {
        let Some(phase) = fsm::phase_of(node.provision_state) else {
            continue;
        };
        let info = &node.driver_internal_info;
        let until = info
            .get(fsm::WAIT_UNTIL_KEY)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        let index = info.get(&fsm::index_key(phase)).and_then(Value::as_u64);
        if let (Some(until), Some(index)) = (until, index) {
            engine.schedule_resume(node.uuid, index, until.with_timezone(&Utc));
        }
    }
    Ok(())
}

/// Periodic takeover (after every heartbeat): releases the locks, on the
/// nodes this conductor owns, whose lease lapsed — or, for a lock taken
/// before leases existed, whose holder stopped heartbeating. Never this
/// conductor's own, which belong to live tasks.
pub(crate) async fn take_over_orphans(engine: &Arc<Engine>) {
    let reserved: Vec<Node> = match engine
        .store
        .list(&query(vec![Filter::IsNull("reservation".into(), false)]))
        .await
    {
        Ok(nodes) => nodes,
        Err(e) => {
            warn!(error = %e, "listing locked nodes failed");
            return;
        }
    };
    let mut liveness: HashMap<String, bool> = HashMap::new();
    for node in reserved {
        let Some(holder) = node.reservation.clone() else {
            continue;
        };
        if holder == engine.hostname()
            || !crate::membership::owns(engine, node.uuid, &node.conductor_group, PROVISION)
        {
            continue;
        }
        if node.reservation_expires_at.is_some() {
            if crate::lease::lapsed(&node, Utc::now()) {
                recover_node(engine, node.uuid, holder.clone(), Cause::Takeover(&holder)).await;
            }
            continue;
        }
        let is_alive = match liveness.get(&holder) {
            Some(known) => *known,
            None => {
                let a = alive(engine, &holder).await;
                liveness.insert(holder.clone(), a);
                a
            }
        };
        if !is_alive {
            recover_node(engine, node.uuid, holder.clone(), Cause::Takeover(&holder)).await;
        }
    }
}

/// Shutdown after all work finished: releases any lock still carrying this
/// conductor's name (none should remain; this is the safety net).
pub(crate) async fn release_own(engine: &Arc<Engine>) {
    let me = engine.hostname().to_string();
    let mine: Vec<Node> = match engine
        .store
        .list(&query(vec![Filter::Eq("reservation".into(), json!(me))]))
        .await
    {
        Ok(nodes) => nodes,
        Err(e) => {
            warn!(error = %e, "listing this conductor's locks failed");
            return;
        }
    };
    for node in mine {
        let me = me.clone();
        let _ = engine
            .store
            .update::<Node, (), FlowError, _>(&Ident::Uuid(node.uuid), move |n| {
                if n.reservation.as_deref() != Some(me.as_str()) {
                    return Err(FlowError::NothingToDo);
                }
                crate::lease::release(n);
                Ok(())
            })
            .await;
    }
}
