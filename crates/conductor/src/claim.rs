//! Claiming nodes and working under their lock. A claim takes the node's
//! `reservation` and its intent in one store transaction; every change made
//! while working re-checks, inside its transaction, that the lock is still
//! ours; the last change releases it. If an operation ends without
//! releasing (store trouble, a bug), [`abandon`] fails the node out of its
//! in-progress state and releases, so no node stays locked.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrite_model::{Intent, Node, ProvisionArgs, Verb};
use ferrite_store::{Ident, StoreError};
use serde_json::Value;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::engine::Engine;
use crate::{FlowError, flows, fsm, lease, membership};

/// A node this conductor holds the lock of, with its latest snapshot.
pub(crate) struct Locked {
    pub(crate) engine: Arc<Engine>,
    pub(crate) node: Node,
    pub(crate) released: bool,
}

impl Locked {
    /// Applies `change` in one transaction, provided the lock is still ours;
    /// refreshes the snapshot.
    pub(crate) async fn update<T, F>(&mut self, change: F) -> Result<T, FlowError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Node, DateTime<Utc>) -> Result<T, FlowError> + Send + 'static,
    {
        self.write(change, false).await
    }

    /// Like [`Locked::update`], and releases the lock in the same
    /// transaction.
    pub(crate) async fn release<T, F>(&mut self, change: F) -> Result<T, FlowError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Node, DateTime<Utc>) -> Result<T, FlowError> + Send + 'static,
    {
        self.write(change, true).await
    }

    async fn write<T, F>(&mut self, change: F, release: bool) -> Result<T, FlowError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Node, DateTime<Utc>) -> Result<T, FlowError> + Send + 'static,
    {
        if self.released {
            return Err(FlowError::LostLock);
        }
        let host = self.engine.hostname().to_string();
        let ttl = lease::ttl(&self.engine.config);
        let now = Utc::now();
        let result = self
            .engine
            .store
            .update::<Node, T, FlowError, _>(&Ident::Uuid(self.node.uuid), move |n| {
                lease::renew(n, &host, ttl, now)?;
                let out = change(n, now)?;
                if release {
                    lease::release(n);
                }
                Ok(out)
            })
            .await;
        match result {
            Ok((node, out)) => {
                self.node = node;
                if release {
                    self.released = true;
                }
                Ok(out)
            }
            Err(FlowError::LostLock) => {
                self.released = true;
                Err(FlowError::LostLock)
            }
            Err(e) => Err(e),
        }
    }

    /// Fails the node out of its current state with `message` and releases.
    pub(crate) async fn fail(&mut self, message: String) -> Result<(), FlowError> {
        warn!(error = %message, state = %self.node.provision_state, "operation failed");
        self.release(move |n, now| fsm::fail(n, &message, false, now).map(|_| ()))
            .await
    }
}

/// Claims `uuid`'s pending intent and runs it. Returns whether the node
/// had another intent waiting when the work finished.
pub(crate) async fn run_once(engine: &Arc<Engine>, uuid: Uuid) -> bool {
    let host = engine.hostname().to_string();
    let ttl = lease::ttl(&engine.config);
    let ring = engine.membership.ring();
    let claimed = engine
        .store
        .update::<Node, Intent, FlowError, _>(&Ident::Uuid(uuid), move |n| {
            if n.intent.is_none() {
                return Err(FlowError::NothingToDo);
            }
            let owner = ring.owner(n.uuid, &n.conductor_group, membership::PROVISION);
            if owner.is_none_or(|m| m.hostname != host) {
                return Err(FlowError::NotOwner(owner.map(|m| m.hostname.clone())));
            }
            lease::take(n, &host, ttl, Utc::now())?;
            n.intent.take().ok_or(FlowError::NothingToDo)
        })
        .await;
    let (node, intent) = match claimed {
        Ok(c) => c,
        Err(FlowError::NothingToDo) | Err(FlowError::Store(StoreError::NotFound { .. })) => {
            return false;
        }
        Err(FlowError::Locked(holder)) => {
            metrics::counter!("ferrite_lock_waits_total", "by" => "intent").increment(1);
            debug!(%holder, "node is locked; its intent waits for the lock");
            return false;
        }
        Err(FlowError::NotOwner(owner)) => {
            debug!(?owner, "another conductor owns the node");
            return false;
        }
        Err(e) => {
            warn!(error = %e, "claiming the node failed");
            return false;
        }
    };
    debug!(?intent, state = %node.provision_state, "claimed");
    let mut locked = Locked {
        engine: engine.clone(),
        node,
        released: false,
    };
    let outcome = flows::run(&mut locked, intent).await;
    if let Err(e) = &outcome {
        match e {
            FlowError::LostLock => warn!("the node's lock was taken over; stopped working on it"),
            other => warn!(error = %other, "operation stopped"),
        }
    }
    if !locked.released {
        let reason = match outcome {
            Err(e) => e.to_string(),
            Ok(()) => "the operation ended without finishing".to_string(),
        };
        abandon(engine, uuid, reason).await;
        return false;
    }
    locked.node.intent.is_some()
}

/// Last resort after an operation stopped holding the lock: fails the node
/// out of an in-progress state, drops a pending power target, releases.
/// Retries a few times because the usual cause is a store hiccup.
pub(crate) async fn abandon(engine: &Arc<Engine>, uuid: Uuid, reason: String) {
    for attempt in 0..5u32 {
        let host = engine.hostname().to_string();
        let reason = reason.clone();
        let result = engine
            .store
            .update::<Node, (), FlowError, _>(&Ident::Uuid(uuid), move |n| {
                if n.reservation.as_deref() != Some(host.as_str()) {
                    return Err(FlowError::NothingToDo);
                }
                let now = Utc::now();
                let state = n.provision_state;
                if state.is_in_progress() {
                    let msg =
                        format!("The operation in state {state} stopped unexpectedly: {reason}");
                    if fsm::fail(n, &msg, false, now).is_err() {
                        n.last_error = Some(msg);
                    }
                }
                if let Some(target) = n.target_power_state.take() {
                    n.last_error.get_or_insert_with(|| {
                        format!("The power change to {target} did not complete: {reason}")
                    });
                }
                lease::release(n);
                Ok(())
            })
            .await;
        match result {
            Ok(_)
            | Err(FlowError::NothingToDo)
            | Err(FlowError::Store(StoreError::NotFound { .. })) => {
                return;
            }
            Err(e) => {
                warn!(error = %e, attempt, "releasing an abandoned node failed");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
            }
        }
    }
}

/// When a `wait` step's time is up: records a continue intent (an
/// `unhold` on a `* wait` node) so the normal claim path resumes the steps,
/// surviving restarts. `Stale` when the node moved on (aborted, deleted…).
pub(crate) async fn post_resume(
    engine: &Arc<Engine>,
    uuid: Uuid,
    index: u64,
) -> Result<(), FlowError> {
    engine
        .store
        .update::<Node, (), FlowError, _>(&Ident::Uuid(uuid), move |n| {
            let state = n.provision_state;
            let Some(phase) = fsm::phase_of(state).filter(|p| fsm::wait_state(*p) == state) else {
                return Err(FlowError::Stale(format!(
                    "the node is now in state {state}"
                )));
            };
            let info = &n.driver_internal_info;
            if info.get(&fsm::index_key(phase)).and_then(Value::as_u64) != Some(index)
                || !info.contains_key(fsm::WAIT_UNTIL_KEY)
                || n.intent.is_some()
            {
                return Err(FlowError::Stale(
                    "the wait step is no longer current".into(),
                ));
            }
            if let Some(holder) = &n.reservation {
                return Err(FlowError::Locked(holder.clone()));
            }
            n.driver_internal_info.remove(fsm::WAIT_UNTIL_KEY);
            n.intent = Some(Intent::Provision {
                verb: Verb::Unhold,
                args: ProvisionArgs::default(),
            });
            Ok(())
        })
        .await
        .map(|_| ())
        .map_err(|e| match e {
            FlowError::Store(StoreError::NotFound { .. }) => {
                FlowError::Stale("the node is gone".into())
            }
            other => other,
        })
}
