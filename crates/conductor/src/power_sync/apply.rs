//! One look at one node: read it, decide whether it may be touched, ask
//! its BMC for the power state (without the node's lock, under a short
//! timeout), and write only what changed, in one transaction that checks
//! again that the node is still free to touch.
//!
//! Why no lock for the read: a read changes nothing, and taking 10,000
//! locks per period would cost 20,000 writes. The write that follows is
//! optimistic instead: it applies only if the node's `updated_at` is the
//! one seen before the read, so a power action that ran meanwhile (and
//! recorded its own result) is never overwritten by an older reading.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferrite_model::{Intent, Node, PowerState, PowerTarget};
use ferrite_store::{Ident, StoreError};
use tracing::{debug, info, warn};

use super::PowerSync;
use super::schedule::{Job, Outcome};

/// The fault a node gets when its BMC stops answering (Ironic's
/// `faults.POWER_FAILURE`); the loop clears only maintenance with this
/// fault, never an operator's.
pub(crate) const POWER_FAILURE: &str = "power failure";

/// How `last_error` and `maintenance_reason` written by the loop begin,
/// so recovery clears only its own message.
const FAILURE_PREFIX: &str = "Power state synchronization failed";

/// Why the apply transaction left the node alone.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// Someone changed the node between our read of it and our write.
    #[error("the node changed while its BMC was being read")]
    Changed,
    /// The node is not to be touched now.
    #[error("{0}")]
    Skip(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether the node is in the loop's own `power failure` maintenance.
fn in_power_failure(node: &Node) -> bool {
    node.maintenance && node.fault.as_deref() == Some(POWER_FAILURE)
}

/// Why the loop must leave the node alone now, if it must (reference §4.6
/// step 3): someone holds its lock or is about to, a power change is under
/// way, an operator put it in maintenance, or its provision state is one
/// where the power is expected to move (waits, work in progress) or is not
/// ours to watch (`enroll`, `adopt failed`).
pub(crate) fn skip_reason(node: &Node) -> Option<&'static str> {
    let state = node.provision_state;
    if node.reservation.is_some() {
        Some("the node is locked")
    } else if node.intent.is_some() {
        Some("an operation on the node is pending")
    } else if node.target_power_state.is_some() {
        Some("a power change is under way")
    } else if node.maintenance && !in_power_failure(node) {
        Some("the node is in maintenance")
    } else if state.skips_power_sync() || state.is_wait() || state.is_in_progress() {
        Some("the node's provision state excludes power sync")
    } else {
        None
    }
}

/// What an apply transaction did.
#[derive(Debug, Default)]
struct Change {
    old: Option<PowerState>,
    recorded: bool,
    reverting: Option<PowerTarget>,
    recovered: bool,
}

/// The one place a power state change found by the sync is announced.
///
/// The change feed's `node.power_state.changed` event (`source`
/// `out_of_band`, or `sync` when the state was or becomes unknown) is
/// appended by the store in the update's own transaction, derived from the
/// change, so it cannot be lost between the write and this call; this is
/// where Nova's `power-update` callback would go (reference §8.2).
fn power_state_changed(
    node: &Node,
    old: Option<PowerState>,
    new: Option<PowerState>,
    reverting: Option<PowerTarget>,
) {
    info!(
        node = %node.uuid,
        old = old.map(|s| s.as_str()).unwrap_or("none"),
        new = new.map(|s| s.as_str()).unwrap_or("none"),
        reverting = reverting.map(|t| t.as_str()),
        source = "out_of_band",
        "power state changed outside Ferrite"
    );
}

/// Looks at one node once.
pub(crate) async fn sync_one(sync: &Arc<PowerSync>, job: &Job) -> Outcome {
    let node: Node = match sync.engine.store.get(&Ident::Uuid(job.uuid)).await {
        Ok(node) => node,
        Err(StoreError::NotFound { .. }) => return Outcome::Gone,
        Err(e) => {
            // Not the BMC's fault: look again at the next slot.
            warn!(error = %e, "reading the node for power sync failed");
            return Outcome::Skipped;
        }
    };
    if let Some(why) = skip_reason(&node) {
        debug!(why, "power sync skipped");
        return Outcome::Skipped;
    }
    let power = match sync.power_interface(&node) {
        Ok(power) => power,
        Err(e) => {
            debug!(error = %e, "no power interface to sync with");
            return Outcome::Skipped;
        }
    };
    // Reference §4.6 step 4: a node never read before, whose power
    // interface cannot work, is not a failure to count.
    if node.power_state.is_none()
        && let Err(e) = power.validate(&node).await
    {
        debug!(error = %e, "power interface not valid; not syncing");
        return Outcome::Skipped;
    }
    let limit = sync.settings.timeout;
    let read = match tokio::time::timeout(limit, power.get_power_state(&node)).await {
        Ok(Ok(PowerState::Error)) => Err("the BMC reports the power state as error".to_string()),
        Ok(Ok(state)) => Ok(state),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "reading the power state took longer than {} s",
            limit.as_secs_f64()
        )),
    };
    match read {
        Ok(state) => on_read(sync, node, state).await,
        Err(reason) => on_failure(sync, node, job.failures.saturating_add(1), reason).await,
    }
}

/// The BMC answered `state`: record it, revert it, or clear the loop's own
/// maintenance, as needed; nothing is written when all agrees.
async fn on_read(sync: &Arc<PowerSync>, node: Node, state: PowerState) -> Outcome {
    let recovering = in_power_failure(&node);
    if node.power_state == Some(state) && !recovering {
        return Outcome::Synced;
    }
    // Revert only to a known on/off, never while recovering from a power
    // failure (the recorded state is then unknown), and never power off a
    // node that must not be (Ironic's rule for `disable_power_off`).
    let revert_to = match node.power_state {
        Some(PowerState::On) => Some(PowerTarget::On),
        Some(PowerState::Off) if !node.disable_power_off => Some(PowerTarget::Off),
        _ => None,
    }
    .filter(|_| sync.settings.force && !recovering);
    let seen = node.updated_at;
    let result = sync
        .engine
        .store
        .update::<Node, Change, Refusal, _>(&Ident::Uuid(node.uuid), move |n| {
            if n.updated_at != seen {
                return Err(Refusal::Changed);
            }
            if let Some(why) = skip_reason(n) {
                return Err(Refusal::Skip(why));
            }
            let mut change = Change {
                old: n.power_state,
                ..Change::default()
            };
            if in_power_failure(n) {
                n.maintenance = false;
                n.maintenance_reason = None;
                n.fault = None;
                if n.last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with(FAILURE_PREFIX))
                {
                    n.last_error = None;
                }
                change.recovered = true;
            }
            if n.power_state != Some(state) {
                n.power_state = Some(state);
                change.recorded = true;
                // Reverting goes through the normal power path: the same
                // intent the API records, claimed under the node's lock,
                // with the driver's own waits, `last_error` on failure and
                // crash recovery. The state the BMC reported is recorded
                // first, so the record is true while the change runs.
                if let Some(target) = revert_to {
                    n.target_power_state = Some(target);
                    n.intent = Some(Intent::Power {
                        target,
                        timeout: None,
                    });
                    change.reverting = Some(target);
                }
            }
            Ok(change)
        })
        .await;
    let effects = &sync.effects;
    match result {
        Ok((after, change)) => {
            if change.recovered {
                effects.maintenance_cleared.fetch_add(1, Ordering::Relaxed);
                info!(state = %state, "the BMC answers again; power failure maintenance cleared");
            }
            if change.recorded {
                power_state_changed(&after, change.old, after.power_state, change.reverting);
                if change.reverting.is_some() {
                    effects.reverted.fetch_add(1, Ordering::Relaxed);
                    sync.engine.wake(after.uuid);
                } else {
                    effects.recorded.fetch_add(1, Ordering::Relaxed);
                }
            }
            Outcome::Synced
        }
        Err(Refusal::Store(StoreError::NotFound { .. })) => Outcome::Gone,
        Err(Refusal::Store(e)) => {
            warn!(error = %e, "recording the power state failed");
            Outcome::Skipped
        }
        Err(why) => {
            debug!(%why, "power state not applied");
            Outcome::Skipped
        }
    }
}

/// The read failed for the `failures`-th time in a row: after
/// `power_state_sync_max_retries` of them the node goes to maintenance
/// with fault `power failure` and an unknown power state.
async fn on_failure(sync: &Arc<PowerSync>, node: Node, failures: u32, reason: String) -> Outcome {
    let max = sync.settings.max_retries;
    debug!(failures, error = %reason, "power state read failed");
    if failures < max || node.maintenance {
        return Outcome::Failed;
    }
    let message = format!(
        "{FAILURE_PREFIX} {failures} times in a row (power_state_sync_max_retries is {max}); \
         the power state is unknown and the node is in maintenance until its BMC answers \
         again. Last error: {reason}"
    );
    let result = sync
        .engine
        .store
        .update::<Node, Option<PowerState>, Refusal, _>(&Ident::Uuid(node.uuid), move |n| {
            if let Some(why) = skip_reason(n) {
                return Err(Refusal::Skip(why));
            }
            if n.maintenance {
                return Err(Refusal::Skip("the node is already in maintenance"));
            }
            n.maintenance = true;
            n.maintenance_reason = Some(message.clone());
            n.fault = Some(POWER_FAILURE.to_string());
            n.last_error = Some(message);
            Ok(n.power_state.take())
        })
        .await;
    match result {
        Ok((after, old)) => {
            sync.effects.maintenance_set.fetch_add(1, Ordering::Relaxed);
            warn!(failures, error = %reason, "BMC unreachable; node put in maintenance (power failure)");
            if old.is_some() {
                power_state_changed(&after, old, None, None);
            }
            Outcome::Failed
        }
        Err(Refusal::Store(StoreError::NotFound { .. })) => Outcome::Gone,
        Err(Refusal::Store(e)) => {
            warn!(error = %e, "putting the node in maintenance failed");
            Outcome::Failed
        }
        Err(why) => {
            debug!(%why, "node not put in maintenance");
            Outcome::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::ProvisionState as S;

    #[test]
    fn skip_rules_follow_the_reference() {
        let free = Node {
            provision_state: S::Active,
            ..Node::default()
        };
        assert_eq!(skip_reason(&free), None);
        let cases: Vec<(&str, Node)> = vec![
            (
                "locked",
                Node {
                    reservation: Some("c1".into()),
                    ..free.clone()
                },
            ),
            (
                "pending",
                Node {
                    intent: Some(Intent::Power {
                        target: PowerTarget::On,
                        timeout: None,
                    }),
                    ..free.clone()
                },
            ),
            (
                "power change",
                Node {
                    target_power_state: Some(PowerTarget::Off),
                    ..free.clone()
                },
            ),
            (
                "operator maintenance",
                Node {
                    maintenance: true,
                    fault: None,
                    ..free.clone()
                },
            ),
            (
                "other fault",
                Node {
                    maintenance: true,
                    fault: Some("clean failure".into()),
                    ..free.clone()
                },
            ),
        ];
        for (what, node) in cases {
            assert!(skip_reason(&node).is_some(), "{what} was not skipped");
        }
        for state in [
            S::DeployWait,
            S::CleanWait,
            S::Enroll,
            S::AdoptFailed,
            S::InspectWait,
            S::Deploying,
            S::Cleaning,
        ] {
            let node = Node {
                provision_state: state,
                ..free.clone()
            };
            assert!(skip_reason(&node).is_some(), "{state} was not skipped");
        }
        for state in [
            S::Manageable,
            S::Available,
            S::Active,
            S::Error,
            S::DeployFailed,
        ] {
            let node = Node {
                provision_state: state,
                ..free.clone()
            };
            assert_eq!(skip_reason(&node), None, "{state} was skipped");
        }
        // The loop's own maintenance is still polled, to recover.
        let failed = Node {
            maintenance: true,
            fault: Some(POWER_FAILURE.into()),
            ..free
        };
        assert_eq!(skip_reason(&failed), None);
    }
}
