//! Node locks as leases. A lock (`reservation`) records its holder and
//! when it lapses (`reservation_expires_at`); the holder renews all its
//! leases with one write per heartbeat (and each write it makes under the
//! lock renews that node's). A conductor that dies stops renewing, so its
//! locks lapse within `heartbeat_timeout`, and a live conductor may then
//! take them: what the dead one was doing is settled as reference §4.7
//! says (see `recovery::settle`) in the same transaction.

use chrono::{DateTime, Utc};
use ferrite_model::Node;

use crate::config::{ConductorConfig, secs};
use crate::{FlowError, recovery};

/// How long a lease lasts unrenewed: the heartbeat timeout, the time after
/// which the holder counts as dead anyway.
pub(crate) fn ttl(config: &ConductorConfig) -> chrono::Duration {
    secs(config.heartbeat_timeout)
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .unwrap_or_else(|| chrono::Duration::seconds(60))
}

/// Whether `node`'s lock is held and its lease has lapsed at `now`.
pub(crate) fn lapsed(node: &Node, now: DateTime<Utc>) -> bool {
    node.reservation.is_some() && node.reservation_expires_at.is_some_and(|t| t <= now)
}

/// Takes `node`'s lock for `host` until `now + ttl`: when it is free, or
/// when another holder's lease lapsed (its unfinished work is settled
/// first). `Locked` otherwise.
pub(crate) fn take(
    node: &mut Node,
    host: &str,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    if let Some(holder) = node.reservation.clone() {
        if holder == host || !lapsed(node, now) {
            return Err(FlowError::Locked(holder));
        }
        recovery::settle(node, &format!("The conductor {holder} stopped"), now)?;
    }
    node.reservation = Some(host.to_string());
    node.reservation_expires_at = Some(now + ttl);
    Ok(())
}

/// Extends the lease `host` holds on `node`; `LostLock` when it no longer
/// holds it (a live conductor took it over after it lapsed).
pub(crate) fn renew(
    node: &mut Node,
    host: &str,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    if node.reservation.as_deref() != Some(host) {
        return Err(FlowError::LostLock);
    }
    node.reservation_expires_at = Some(now + ttl);
    Ok(())
}

/// Frees `node`'s lock.
pub(crate) fn release(node: &mut Node) {
    node.reservation = None;
    node.reservation_expires_at = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::ProvisionState as S;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn a_held_lease_refuses_others_until_it_lapses() {
        let ttl = chrono::Duration::seconds(10);
        let mut n = Node::default();
        take(&mut n, "a", ttl, at(0)).unwrap();
        assert_eq!(n.reservation_expires_at, Some(at(10)));
        assert!(matches!(take(&mut n, "b", ttl, at(5)), Err(FlowError::Locked(h)) if h == "a"));
        renew(&mut n, "a", ttl, at(8)).unwrap();
        assert!(matches!(
            take(&mut n, "b", ttl, at(15)),
            Err(FlowError::Locked(_))
        ));
        assert!(!lapsed(&n, at(17)));
        assert!(lapsed(&n, at(18)));
        take(&mut n, "b", ttl, at(18)).unwrap();
        assert_eq!(n.reservation.as_deref(), Some("b"));
        assert!(matches!(
            renew(&mut n, "a", ttl, at(19)),
            Err(FlowError::LostLock)
        ));
        release(&mut n);
        assert_eq!((n.reservation, n.reservation_expires_at), (None, None));
    }

    #[test]
    fn taking_a_lapsed_lease_fails_the_dead_holders_operation_and_keeps_waits() {
        let ttl = chrono::Duration::seconds(10);
        let mut deploying = Node {
            provision_state: S::Deploying,
            target_provision_state: Some(S::Active),
            reservation: Some("dead".into()),
            reservation_expires_at: Some(at(0)),
            ..Node::default()
        };
        take(&mut deploying, "live", ttl, at(1)).unwrap();
        assert_eq!(deploying.provision_state, S::DeployFailed);
        assert!(
            deploying
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("The conductor dead stopped"))
        );
        let mut waiting = Node {
            provision_state: S::DeployWait,
            reservation: Some("dead".into()),
            reservation_expires_at: Some(at(0)),
            ..Node::default()
        };
        take(&mut waiting, "live", ttl, at(1)).unwrap();
        assert_eq!(waiting.provision_state, S::DeployWait);
        assert_eq!(waiting.last_error, None);
    }
}
