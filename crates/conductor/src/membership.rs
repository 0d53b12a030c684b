//! The live conductors as this conductor last saw them, and the hash ring
//! built from them (reference §4.3). Refreshed after every heartbeat, so a
//! conductor that stops heartbeating drops out of every ring within
//! `heartbeat_timeout` plus one `heartbeat_interval`, and its nodes pass
//! to the survivors.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use ferrite_model::Conductor as ConductorRecord;
use ferrite_store::ListQuery;
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::{ConductorConfig, secs};
use crate::engine::Engine;
use crate::ring::{Member, Ring};

/// The kind of work a lookup is for (`--roles`); provisioning flows and
/// driver calls are `provision`, the power-state sync is `power`.
pub(crate) const PROVISION: &str = "provision";
/// See [`PROVISION`].
pub(crate) const POWER: &str = "power";

/// Whether `record` heartbeated within `timeout_seconds` of `now`.
pub(crate) fn is_fresh(record: &ConductorRecord, timeout_seconds: f64, now: DateTime<Utc>) -> bool {
    let seen = record.updated_at.unwrap_or(record.created_at);
    let limit = secs(timeout_seconds)
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .unwrap_or_else(|| chrono::Duration::seconds(60));
    record.online && now - seen <= limit
}

/// Every role there is; `--roles` accepts these.
pub const ROLES: &[&str] = &[POWER, PROVISION];

/// The conductor configured by `config`, as a ring member.
pub(crate) fn member(config: &ConductorConfig) -> Member {
    member_of(&config.hostname, &config.conductor_group, &config.roles)
}

fn member_of(hostname: &str, group: &str, roles: &[String]) -> Member {
    let mut m = Member::new(hostname, group);
    m.roles = roles.iter().cloned().collect();
    m
}

/// The ring over the registered conductors that are alive at `now`, plus
/// `me` (a running conductor is a member whatever its last heartbeat
/// says). Shared by conductors and API processes, so both route alike.
pub(crate) fn live_ring(
    records: &[ConductorRecord],
    me: Option<Member>,
    timeout_seconds: f64,
    now: DateTime<Utc>,
) -> Ring {
    let mine = me.as_ref().map(|m| m.hostname.clone());
    let others = records
        .iter()
        .filter(|r| Some(&r.hostname) != mine.as_ref() && is_fresh(r, timeout_seconds, now))
        .map(|r| member_of(&r.hostname, &r.conductor_group, &r.roles));
    Ring::new(me.into_iter().chain(others))
}

/// The ring currently in force; cheap to read from any task.
pub(crate) struct Membership {
    ring: RwLock<Arc<Ring>>,
}

impl Membership {
    /// Starts with this conductor (`me`) alone, so a fresh process owns
    /// its group's nodes before the first listing arrives.
    pub(crate) fn new(me: Member) -> Membership {
        Membership {
            ring: RwLock::new(Arc::new(Ring::new([me]))),
        }
    }

    /// The ring in force.
    pub(crate) fn ring(&self) -> Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn set(&self, ring: Ring) {
        *self
            .ring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
    }
}

/// Re-reads the live conductors and rebuilds the ring. This conductor is
/// always a member while it runs (it just heartbeated); on a store error
/// the previous ring stays in force rather than dropping everyone.
pub(crate) async fn refresh(engine: &Engine) {
    let records = match engine.store.list_conductors(&ListQuery::default()).await {
        Ok(records) => records,
        Err(e) => {
            warn!(error = %e, "listing conductors failed; keeping the previous ring");
            return;
        }
    };
    let ring = live_ring(
        &records,
        Some(member(&engine.config)),
        engine.config.heartbeat_timeout,
        Utc::now(),
    );
    let before: Vec<String> = engine
        .membership
        .ring()
        .members()
        .iter()
        .map(|m| m.hostname.clone())
        .collect();
    let after: Vec<String> = ring.members().iter().map(|m| m.hostname.clone()).collect();
    if before != after {
        info!(conductors = ?after, "live conductors changed");
    }
    engine.membership.set(ring);
}

/// Whether this conductor works on `node` (of `group`) for `role`.
pub(crate) fn owns(engine: &Engine, node: Uuid, group: &str, role: &str) -> bool {
    engine
        .membership
        .ring()
        .owner(node, group, role)
        .is_some_and(|m| m.hostname == engine.config.hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hostname: &str, group: &str, roles: &[&str], age_seconds: i64) -> ConductorRecord {
        let now = Utc::now();
        ConductorRecord {
            hostname: hostname.into(),
            conductor_group: group.into(),
            drivers: vec!["fake-hardware".into()],
            online: true,
            created_at: now,
            updated_at: Some(now - chrono::Duration::seconds(age_seconds)),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn each_role_goes_to_a_live_conductor_of_the_nodes_group_that_takes_it() {
        let records = [
            record("power-only", "", &[POWER], 0),
            record("prov-only", "", &[PROVISION], 0),
            record("dead-all", "", &[], 120),
            record("edge-all", "edge-1", &[], 0),
        ];
        let ring = live_ring(&records, None, 60.0, Utc::now());
        for _ in 0..200 {
            let node = Uuid::new_v4();
            let owner =
                |group: &str, role: &str| ring.owner(node, group, role).map(|m| m.hostname.clone());
            assert_eq!(owner("", POWER).as_deref(), Some("power-only"));
            assert_eq!(owner("", PROVISION).as_deref(), Some("prov-only"));
            assert_eq!(owner("edge-1", POWER).as_deref(), Some("edge-all"));
            assert_eq!(owner("edge-1", PROVISION).as_deref(), Some("edge-all"));
            assert_eq!(owner("nowhere", PROVISION), None);
        }
    }

    #[test]
    fn a_running_conductor_is_a_member_whatever_its_record_says() {
        let records = [record("me", "", &[], 600)];
        let me = member_of("me", "", &[]);
        let ring = live_ring(&records, Some(me), 60.0, Utc::now());
        assert_eq!(ring.members().len(), 1);
        assert!(
            live_ring(&records, None, 60.0, Utc::now())
                .members()
                .is_empty()
        );
    }
}
