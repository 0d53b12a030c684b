//! Request and event counters, lock-free so counting never becomes the
//! bottleneck it is meant to measure.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::config::FailureKind;

/// Live counters; read them through [`crate::Fleet::stats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    control_requests: AtomicU64,
    status: [AtomicU64; 6],
    unauthorized: AtomicU64,
    faults: [AtomicU64; 4],
    power_actions: AtomicU64,
    boots: AtomicU64,
    oob_power_changes: AtomicU64,
    sessions_created: AtomicU64,
    connections_total: AtomicU64,
    connections_open: AtomicI64,
}

/// Counters since start, as `GET /bmcsim/stats` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// Redfish requests received (including faulted ones).
    pub requests: u64,
    /// Control API (`/bmcsim/...`) requests.
    pub control_requests: u64,
    /// Redfish responses sent with a 2xx status.
    pub responses_2xx: u64,
    /// ... with a 3xx status.
    pub responses_3xx: u64,
    /// ... with a 4xx status (401s included).
    pub responses_4xx: u64,
    /// ... with a 5xx status (injected 500s included).
    pub responses_5xx: u64,
    /// Requests refused for missing or wrong credentials.
    pub unauthorized: u64,
    /// Injected `timeout` failures.
    pub faults_timeout: u64,
    /// Injected `500` failures.
    pub faults_500: u64,
    /// Injected `garbage` failures.
    pub faults_garbage: u64,
    /// Injected `drop` failures.
    pub faults_drop: u64,
    /// `ComputerSystem.Reset` actions accepted.
    pub power_actions: u64,
    /// Times any system reached `On`.
    pub boots: u64,
    /// Out-of-band power changes (random or control API).
    pub oob_power_changes: u64,
    /// Sessions created.
    pub sessions_created: u64,
    /// Sessions alive now.
    pub sessions_active: u64,
    /// TCP connections accepted.
    pub connections_total: u64,
    /// TCP connections open now.
    pub connections_open: u64,
}

impl Stats {
    pub fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub fn control_request(&self) {
        self.control_requests.fetch_add(1, Relaxed);
    }

    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).min(5);
        self.status[class].fetch_add(1, Relaxed);
    }

    pub fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Relaxed);
    }

    pub fn fault(&self, kind: FailureKind) {
        self.faults[kind.index()].fetch_add(1, Relaxed);
    }

    pub fn power_action(&self) {
        self.power_actions.fetch_add(1, Relaxed);
    }

    pub fn boot(&self) {
        self.boots.fetch_add(1, Relaxed);
    }

    pub fn oob_change(&self) {
        self.oob_power_changes.fetch_add(1, Relaxed);
    }

    pub fn session_created(&self) {
        self.sessions_created.fetch_add(1, Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub fn snapshot(&self, sessions_active: usize) -> StatsSnapshot {
        let get = |a: &AtomicU64| a.load(Relaxed);
        StatsSnapshot {
            requests: get(&self.requests),
            control_requests: get(&self.control_requests),
            responses_2xx: get(&self.status[2]),
            responses_3xx: get(&self.status[3]),
            responses_4xx: get(&self.status[4]),
            responses_5xx: get(&self.status[5]),
            unauthorized: get(&self.unauthorized),
            faults_timeout: get(&self.faults[FailureKind::Timeout.index()]),
            faults_500: get(&self.faults[FailureKind::ServerError.index()]),
            faults_garbage: get(&self.faults[FailureKind::Garbage.index()]),
            faults_drop: get(&self.faults[FailureKind::Drop.index()]),
            power_actions: get(&self.power_actions),
            boots: get(&self.boots),
            oob_power_changes: get(&self.oob_power_changes),
            sessions_created: get(&self.sessions_created),
            sessions_active: sessions_active as u64,
            connections_total: get(&self.connections_total),
            connections_open: self.connections_open.load(Relaxed).max(0) as u64,
        }
    }
}
