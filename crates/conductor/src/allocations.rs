//! Scheduling allocations: finding a free node that matches an allocation
//! and binding the two.
//!
//! The API records an allocation in state `allocating` and wakes the
//! conductor; a periodic sweep catches any wake-up that was lost (a crash, a
//! second conductor). Processing is idempotent, so two conductors, or a
//! sweep racing a wake-up, may look at the same allocation safely:
//!
//! 1. list the nodes that could serve it, in a random order that prefers
//!    nodes with the fewest traits beyond those asked for (so scarce traits
//!    stay free for requests that need them) and puts a node named like the
//!    allocation first;
//! 2. claim one with a single store update that re-checks, inside the
//!    transaction, that the node is still free and suitable, and binds it
//!    (`instance_uuid`, `allocation_uuid`, `instance_info.traits`). This is
//!    what prevents double allocation: two claims on one node serialize on
//!    the single writer and the second finds it taken; the unique
//!    `instance_uuid` and `node_uuid` indexes back it up;
//! 3. mark the allocation `active` with its node. If the allocation vanished
//!    or was given up on meanwhile, the node is released again.
//!
//! A crash between 2 and 3 leaves a node bound to an allocation still
//! `allocating`; the next look finds that node first and finishes step 3.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrite_model::allocation::{release_node, traits_match};
use ferrite_model::{Allocation, AllocationState, Node};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::engine::{Engine, lock};

/// Rounds of claiming before giving up while suitable nodes stay locked
/// (Ironic's `node_locked_retry_attempts`).
const CLAIM_ROUNDS: u32 = 3;

/// Pause between rounds when every suitable node was locked.
const LOCKED_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Bound on rounds of any kind, should nodes keep changing under the
/// scheduler faster than it can claim one.
const MAX_ROUNDS: u32 = 50;

/// The allocations this process is working on, so a wake-up and a sweep
/// never run the same one twice at once.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    busy: Mutex<HashSet<Uuid>>,
}

/// Removes an allocation from the tracker when its task ends, even by a
/// panic, so a later sweep can look at it again.
struct Busy {
    engine: Arc<Engine>,
    uuid: Uuid,
}

impl Drop for Busy {
    fn drop(&mut self) {
        lock(&self.engine.allocations.busy).remove(&self.uuid);
    }
}

/// Why an attempt did not bind a node.
#[derive(Debug)]
enum Miss {
    /// The allocation cannot be served; becomes its `last_error`.
    Failed(String),
    /// The node is locked or has work pending; worth another round.
    Locked,
    /// The node no longer fits (taken, changed, deleted).
    Unsuitable(String),
    /// The allocation is already bound to this node (found while claiming).
    Bound(Uuid),
    /// The allocation is no longer `allocating`.
    Stale,
    /// The store failed; the sweep will try again.
    Store(StoreError),
}

impl From<StoreError> for Miss {
    fn from(e: StoreError) -> Self {
        Miss::Store(e)
    }
}

/// Starts processing `uuid` in its own task unless this process already is.
/// Outside a Tokio runtime, or while shutting down, it does nothing: the
/// sweep will find the allocation.
pub(crate) fn wake(engine: &Arc<Engine>, uuid: Uuid) {
    if engine.stopping() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if !lock(&engine.allocations.busy).insert(uuid) {
        return;
    }
    let guard = Busy {
        engine: engine.clone(),
        uuid,
    };
    let span = info_span!("allocation", allocation = %uuid);
    runtime.spawn(
        async move {
            process(&guard.engine, uuid).await;
            drop(guard);
        }
        .instrument(span),
    );
}

/// Periodic: looks at every allocation still `allocating`.
pub(crate) async fn sweep(engine: Arc<Engine>) {
    let query = ListQuery {
        filters: vec![Filter::Eq(
            "state".into(),
            json!(AllocationState::Allocating.as_str()),
        )],
        ..ListQuery::default()
    };
    match engine.store.list::<Allocation>(&query).await {
        Ok(pending) => {
            for a in pending {
                wake(&engine, a.uuid);
            }
        }
        Err(e) => warn!(error = %e, "sweep for pending allocations failed"),
    }
}

/// Deletes an allocation whose node was torn down (the node side was
/// already cleared by the tear-down). A failure only leaves a stale record
/// behind, so it is logged, not raised.
pub(crate) async fn forget(engine: &Engine, uuid: Uuid) {
    match engine.store.delete::<Allocation>(uuid).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => warn!(allocation = %uuid, error = %e, "could not delete the allocation"),
    }
}

async fn process(engine: &Arc<Engine>, uuid: Uuid) {
    let alloc: Allocation = match engine.store.get(&Ident::Uuid(uuid)).await {
        Ok(a) => a,
        Err(StoreError::NotFound { .. }) => return,
        Err(e) => {
            warn!(error = %e, "could not read the allocation; the sweep retries");
            return;
        }
    };
    if alloc.state != AllocationState::Allocating {
        return;
    }
    let found = match bound_node(engine, &alloc).await {
        Ok(Some(node)) => Ok(node),
        Ok(None) => schedule(engine, &alloc).await,
        Err(e) => Err(Miss::Store(e)),
    };
    match found {
        Ok(node) => activate(engine, &alloc, node).await,
        // Another conductor may have bound a node between our reading the
        // candidates and now (it is why none was left): it activates the
        // allocation, or the sweep does if it died; failing here would
        // overwrite its success.
        Err(Miss::Failed(reason)) => match bound_node(engine, &alloc).await {
            Ok(Some(node)) => debug!(%node, "bound by another conductor meanwhile"),
            _ => fail(engine, &alloc, &reason).await,
        },
        Err(Miss::Store(e)) => warn!(error = %e, "allocation interrupted; the sweep retries"),
        Err(other) => debug!(?other, "allocation left alone"),
    }
}

/// The node already bound to `alloc` (a claim whose second step was cut
/// short, or made by another conductor).
async fn bound_node(engine: &Engine, alloc: &Allocation) -> Result<Option<Uuid>, StoreError> {
    let query = ListQuery {
        filters: vec![Filter::Eq("instance_uuid".into(), json!(alloc.uuid))],
        limit: Some(1),
        ..ListQuery::default()
    };
    let nodes: Vec<Node> = engine.store.list(&query).await?;
    Ok(nodes
        .into_iter()
        .find(|n| n.allocation_uuid == Some(alloc.uuid))
        .map(|n| n.uuid))
}

/// Tries candidates until one is claimed, each round on a fresh list.
/// A round in which every node was taken by someone else is followed at
/// once by another (the fresh list is shorter, so this ends); rounds in
/// which nodes were locked are retried a few times after a pause.
async fn schedule(engine: &Engine, alloc: &Allocation) -> Result<Uuid, Miss> {
    let mut locked_rounds = 0;
    for round in 0..MAX_ROUNDS {
        let nodes = candidates(engine, alloc).await?;
        debug!(count = nodes.len(), round, "candidate nodes");
        let mut locked = 0;
        for node in nodes {
            match claim(engine, alloc, node.uuid).await {
                Ok(()) => return Ok(node.uuid),
                Err(Miss::Bound(bound)) => return Ok(bound),
                Err(Miss::Locked) => locked += 1,
                Err(Miss::Unsuitable(why)) => debug!(%why, "skipped"),
                Err(other) => return Err(other),
            }
        }
        if locked > 0 {
            locked_rounds += 1;
            if locked_rounds >= CLAIM_ROUNDS {
                return Err(Miss::Failed(format!(
                    "could not reserve any of {locked} suitable nodes"
                )));
            }
            tokio::time::sleep(LOCKED_RETRY_INTERVAL).await;
        }
    }
    Err(Miss::Failed(
        "all nodes were filtered out during reservation".to_string(),
    ))
}

/// The free nodes that match `alloc`, in the order to try them.
async fn candidates(engine: &Engine, alloc: &Allocation) -> Result<Vec<Node>, Miss> {
    let mut filters = vec![
        Filter::Eq("provision_state".into(), json!("available")),
        Filter::Eq("maintenance".into(), json!(false)),
        Filter::IsNull("instance_uuid".into(), true),
        Filter::IsNull("power_state".into(), false),
        Filter::Eq("resource_class".into(), json!(alloc.resource_class)),
    ];
    if !alloc.candidate_nodes.is_empty() {
        let uuids = alloc.candidate_nodes.iter().map(|u| json!(u)).collect();
        filters.push(Filter::In("uuid".into(), uuids));
    }
    if let Some(owner) = &alloc.owner {
        filters.push(Filter::OwnerOrLessee(owner.clone()));
    }
    let query = ListQuery {
        filters,
        ..ListQuery::default()
    };
    let mut nodes: Vec<Node> = engine.store.list(&query).await?;
    nodes.retain(|n| n.allocation_uuid.is_none());
    let rc = alloc.resource_class.as_deref().unwrap_or("None");
    if nodes.is_empty() {
        return Err(Miss::Failed(if alloc.candidate_nodes.is_empty() {
            format!("no available nodes match the resource class {rc}")
        } else {
            format!("none of the requested nodes are available and match the resource class {rc}")
        }));
    }
    nodes.retain(|n| traits_match(&alloc.traits, n));
    if nodes.is_empty() {
        return Err(Miss::Failed(format!(
            "no suitable nodes have the requested traits {}",
            alloc.traits.join(", ")
        )));
    }
    Ok(order(alloc, nodes, Uuid::new_v4().as_u128() as u64))
}

/// Shuffles `nodes` (seeded, so tests can pin it), then orders them by how
/// many traits they have beyond the request (stable, so the shuffle
/// decides among equals), then moves a node named like the allocation to
/// the front (1.79).
pub(crate) fn order(alloc: &Allocation, mut nodes: Vec<Node>, seed: u64) -> Vec<Node> {
    // xorshift64: enough to spread concurrent allocations over different
    // nodes; nothing here needs cryptographic randomness.
    let mut state = seed | 1;
    for i in (1..nodes.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        nodes.swap(i, j);
    }
    nodes.sort_by_key(|n| alloc.surplus_traits(n));
    if let Some(name) = &alloc.name
        && let Some(i) = nodes.iter().position(|n| n.name.as_ref() == Some(name))
    {
        let named = nodes.remove(i);
        nodes.insert(0, named);
    }
    nodes
}

/// Binds `node` to `alloc` if, inside the write, it is still free,
/// unlocked and suitable.
async fn claim(engine: &Engine, alloc: &Allocation, node: Uuid) -> Result<(), Miss> {
    let wanted = alloc.clone();
    let result = engine
        .store
        .update::<Node, (), Miss, _>(&Ident::Uuid(node), move |n| {
            if n.reservation.is_some() || n.intent.is_some() {
                return Err(Miss::Locked);
            }
            if let Some(why) = wanted.unsuitable(n) {
                return Err(Miss::Unsuitable(why));
            }
            wanted.bind(n).map_err(Miss::Unsuitable)
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(Miss::Store(StoreError::NotFound { .. })) => {
            Err(Miss::Unsuitable(format!("node {node} was deleted")))
        }
        // The unique instance_uuid: some node already carries this
        // allocation's uuid, bound by another conductor or set by hand.
        Err(Miss::Store(StoreError::Conflict(message))) => match bound_node(engine, alloc).await? {
            Some(bound) => Err(Miss::Bound(bound)),
            None => Err(Miss::Failed(message)),
        },
        Err(other) => Err(other),
    }
}

/// Marks `alloc` active on `node`; releases the node if the allocation is
/// gone or no longer waiting.
async fn activate(engine: &Engine, alloc: &Allocation, node: Uuid) {
    let result = engine
        .store
        .update::<Allocation, (), Miss, _>(&Ident::Uuid(alloc.uuid), move |a| {
            if a.state != AllocationState::Allocating {
                return Err(Miss::Stale);
            }
            a.state = AllocationState::Active;
            a.node_uuid = Some(node);
            a.last_error = None;
            Ok(())
        })
        .await;
    match result {
        Ok(_) => info!(%node, "allocated"),
        Err(Miss::Stale) | Err(Miss::Store(StoreError::NotFound { .. })) => {
            debug!(%node, "the allocation went away; releasing the node");
            release(engine, node, alloc.uuid).await;
        }
        Err(Miss::Store(StoreError::Conflict(message))) => {
            release(engine, node, alloc.uuid).await;
            fail(engine, alloc, &message).await;
        }
        Err(e) => warn!(%node, error = ?e, "could not activate the allocation; the sweep retries"),
    }
}

/// Undoes a binding that no allocation record backs.
async fn release(engine: &Engine, node: Uuid, allocation: Uuid) {
    let result = engine
        .store
        .update::<Node, bool, StoreError, _>(&Ident::Uuid(node), move |n| {
            Ok(release_node(n, allocation))
        })
        .await;
    match result {
        Ok(_) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => warn!(%node, error = %e, "could not release the node"),
    }
}

/// Gives up on `alloc` with `reason` (worded into Ironic's message).
async fn fail(engine: &Engine, alloc: &Allocation, reason: &str) {
    let message = alloc.failure(reason);
    info!(error = %message, "allocation failed");
    let result = engine
        .store
        .update::<Allocation, (), Miss, _>(&Ident::Uuid(alloc.uuid), move |a| {
            if a.state != AllocationState::Allocating {
                return Err(Miss::Stale);
            }
            a.state = AllocationState::Error;
            a.last_error = Some(message);
            a.node_uuid = None;
            Ok(())
        })
        .await;
    match result {
        Ok(_) | Err(Miss::Stale) | Err(Miss::Store(StoreError::NotFound { .. })) => {}
        Err(e) => warn!(error = ?e, "could not record the allocation's failure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, traits: &[&str]) -> Node {
        Node {
            uuid: Uuid::new_v4(),
            name: Some(name.into()),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            ..Node::default()
        }
    }

    #[test]
    fn order_prefers_the_named_node_then_the_best_fit() {
        let nodes = vec![
            node("big", &["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"]),
            node("mid", &["CUSTOM_A", "CUSTOM_B"]),
            node("exact", &["CUSTOM_A"]),
            node("exact2", &["CUSTOM_A"]),
        ];
        let mut alloc = Allocation {
            traits: vec!["CUSTOM_A".into()],
            ..Allocation::default()
        };
        let mut firsts = HashSet::new();
        for seed in 0..64 {
            let names: Vec<String> = order(&alloc, nodes.clone(), seed)
                .into_iter()
                .filter_map(|n| n.name)
                .collect();
            assert_eq!(&names[2..], ["mid", "big"]);
            firsts.insert(names[0].clone());
        }
        assert_eq!(firsts.len(), 2, "equals are shuffled: {firsts:?}");

        alloc.name = Some("big".into());
        let names: Vec<String> = order(&alloc, nodes, 7)
            .into_iter()
            .filter_map(|n| n.name)
            .collect();
        assert_eq!(names[0], "big");
        assert_eq!(names[3], "mid");
    }
}
