//! Power-state synchronisation (reference §4.6), done the way Ironic's
//! single global sweep cannot: every node has its own slot in the period
//! (see [`schedule`]), reads are capped overall and per BMC host, a BMC
//! that fails backs off alone, and a freshness bound
//! (`sync_power_state_interval`) is kept for every healthy node.
//!
//! The loop never takes a node's lock to read: it reads the node, asks the
//! driver for the power state under a short timeout, and applies what it
//! found in one store transaction that re-checks the node is still free to
//! touch (see [`apply`]). Nothing is written when nothing changed, so a
//! quiet fleet of 10,000 nodes costs reads only.
//!
//! Which nodes exist is learnt by paging through the store once per
//! interval (only uuids and BMC addresses are decoded); what each node
//! looks like is read when its turn comes.

mod apply;
mod schedule;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrite_drivers::interfaces::PowerInterface;
use ferrite_drivers::{Driver, DriverError, InterfaceKind, resolve_interface};
use ferrite_model::Node;
use ferrite_store::{ListQuery, StoreError};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span, warn};
use uuid::Uuid;

use crate::config::secs;
use crate::engine::{Engine, lock};
use crate::membership;

pub use schedule::PassReport;
use schedule::{Host, Job, Limits, Outcome, Schedule};

/// Nodes decoded per page when the node list is refreshed.
const PAGE: usize = 1000;

/// What the power sync has done and how fresh it keeps the fleet, for
/// operators, tests and benchmarks: freshness is the promise, so it is
/// measured rather than assumed. Reading it costs one pass over an
/// in-memory table; nothing is written to nodes to keep it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PowerSyncStats {
    /// Whether the loop runs at all (`sync_power_state_interval > 0`).
    pub enabled: bool,
    /// The freshness bound (`sync_power_state_interval`).
    pub interval: Duration,
    /// How often a healthy node is read (a little under the interval, so
    /// that scheduling slack never breaks the bound).
    pub period: Duration,
    /// Nodes the loop knows.
    pub nodes: usize,
    /// Nodes whose last read succeeded.
    pub healthy: usize,
    /// Nodes not looked at yet.
    pub pending: usize,
    /// Nodes whose last read failed (backing off, maybe in maintenance).
    pub failing: usize,
    /// Nodes skipped at their last look (locked, waiting, in maintenance).
    pub skipped: usize,
    /// Reads in flight now.
    pub in_flight: usize,
    /// Successful reads since start.
    pub reads: u64,
    /// Failed reads since start.
    pub read_failures: u64,
    /// Looks that skipped the node since start.
    pub skips: u64,
    /// Power states found changed on the BMC and recorded.
    pub changes_recorded: u64,
    /// Power states found changed on the BMC and reverted
    /// (`force_power_state_during_sync`).
    pub changes_reverted: u64,
    /// Nodes put in maintenance for `power failure`.
    pub maintenance_set: u64,
    /// Nodes whose `power failure` maintenance was cleared.
    pub maintenance_cleared: u64,
    /// The oldest power state among healthy and not-yet-read nodes now.
    pub max_staleness: Duration,
    /// The largest gap seen between two good reads of a healthy node
    /// since start: the bound as actually kept.
    pub worst_staleness: Duration,
    /// Forced full passes completed ([`crate::Conductor::power_sync_now`]).
    pub passes: u64,
    /// The last forced full pass.
    pub last_pass: Option<PassReport>,
    /// Refreshes of the node list completed.
    pub refreshes: u64,
    /// How long the last refresh of the node list took.
    pub last_refresh: Option<Duration>,
}

/// Why a forced pass could not be run.
#[derive(Debug, thiserror::Error)]
pub enum PowerSyncError {
    /// The loop is off (`sync_power_state_interval` is 0 or less).
    #[error("the power sync is disabled (sync_power_state_interval <= 0)")]
    Disabled,
    /// The conductor is shutting down.
    #[error("the conductor is stopping")]
    Stopped,
    /// The node list could not be read.
    #[error("listing nodes for the power sync failed: {0}")]
    Store(#[from] StoreError),
}

/// The options the loop works with, read once at start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    interval: Duration,
    timeout: Duration,
    max_retries: u32,
    force: bool,
}

/// Changes the loop made, counted for the stats.
#[derive(Default)]
struct Effects {
    recorded: AtomicU64,
    reverted: AtomicU64,
    maintenance_set: AtomicU64,
    maintenance_cleared: AtomicU64,
}

/// The running power sync of one conductor.
pub(crate) struct PowerSync {
    engine: Arc<Engine>,
    settings: Settings,
    /// Least time between two timer wake-ups of the dispatcher: reads due
    /// within it start together, which halves the CPU a steady fleet
    /// costs (fewer thread wake-ups, warmer connections) for a delay far
    /// below the period.
    coalesce: Duration,
    schedule: Mutex<Schedule>,
    /// Wakes the dispatcher: new nodes, a forced pass.
    wake: Notify,
    /// Forced passes completed, for [`PowerSync::run_pass`] to wait on.
    passes: watch::Sender<u64>,
    effects: Effects,
    refreshes: AtomicU64,
    last_refresh: Mutex<Option<Duration>>,
    /// One refresh at a time (the periodic one and a forced pass's).
    refreshing: tokio::sync::Mutex<()>,
    /// Power interfaces by (hardware type, interface name): building a
    /// whole driver per read would cost more than the read.
    powers: Mutex<HashMap<PowerKey, Arc<dyn PowerInterface>>>,
}

/// (hardware type, power interface name): what a power interface is
/// shared by.
type PowerKey = (&'static str, &'static str);

/// The fields of a listed node the schedule needs.
#[derive(Deserialize)]
struct Listed {
    uuid: Uuid,
    #[serde(default)]
    conductor_group: String,
    #[serde(default)]
    driver_info: ListedInfo,
}

#[derive(Deserialize, Default)]
struct ListedInfo {
    #[serde(default)]
    redfish_address: Option<Value>,
    #[serde(default)]
    ipmi_address: Option<Value>,
}

/// The BMC host a node's reads count against: the authority of
/// `redfish_address` (as the redfish driver keys its clients), else
/// `ipmi_address`, else the node itself.
fn host_key(uuid: Uuid, info: &ListedInfo) -> Host {
    let text = |v: &Option<Value>| {
        v.as_ref()
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    // An address that does not parse keys on the node alone: it is never
    // kept raw, since it might carry credentials (`https://user:pw@bmc`).
    if let Some(address) = text(&info.redfish_address) {
        return match ferrite_drivers::redfish::config::normalize_address(&address) {
            Ok(normal) => Arc::from(normal),
            Err(_) => Arc::from(format!("node:{uuid}")),
        };
    }
    if let Some(address) = text(&info.ipmi_address) {
        return Arc::from(format!("ipmi://{address}"));
    }
    Arc::from(format!("node:{uuid}"))
}

impl PowerSync {
    /// Starts the loop unless `sync_power_state_interval` disables it.
    pub(crate) fn start(
        engine: &Arc<Engine>,
    ) -> Option<(Arc<PowerSync>, Vec<tokio::task::JoinHandle<()>>)> {
        let config = &engine.config;
        let interval = secs(config.sync_power_state_interval)?;
        let limits = Limits::for_interval(
            interval,
            config.sync_power_state_workers,
            config.sync_power_state_workers_per_bmc,
        );
        let settings = Settings {
            interval,
            timeout: secs(config.sync_power_state_timeout).unwrap_or(Duration::from_secs(10)),
            max_retries: config.power_state_sync_max_retries.max(1),
            force: config.force_power_state_during_sync,
        };
        let (passes, _) = watch::channel(0);
        let coalesce =
            (limits.period / 1000).clamp(Duration::from_millis(1), Duration::from_millis(25));
        let sync = Arc::new(PowerSync {
            engine: engine.clone(),
            settings,
            coalesce,
            schedule: Mutex::new(Schedule::new(limits, Instant::now())),
            wake: Notify::new(),
            passes,
            effects: Effects::default(),
            refreshes: AtomicU64::new(0),
            last_refresh: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            powers: Mutex::new(HashMap::new()),
        });
        let span = info_span!("periodic", task = "power_sync");
        let dispatcher = tokio::spawn(sync.clone().dispatch().instrument(span.clone()));
        let refresher = tokio::spawn(sync.clone().refresh_loop().instrument(span));
        Some((sync, vec![dispatcher, refresher]))
    }

    /// Re-reads the node list now and then every interval until shutdown.
    async fn refresh_loop(self: Arc<Self>) {
        let mut stop = self.engine.stop_signal();
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                result = self.refresh() => {
                    if let Err(e) = result {
                        warn!(error = %e, "refreshing the power sync's node list failed");
                    }
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(self.settings.interval) => {}
            }
        }
    }

    /// Pages through the nodes: new ones join the schedule, deleted ones
    /// leave it, changed BMC addresses move to their new host's cap.
    async fn refresh(&self) -> Result<usize, StoreError> {
        let _one = self.refreshing.lock().await;
        let started = Instant::now();
        let generation = lock(&self.schedule).begin_refresh();
        let mut marker = None;
        let mut total = 0;
        loop {
            let query = ListQuery {
                limit: Some(PAGE),
                marker: marker.take(),
                ..ListQuery::default()
            };
            let page = self.engine.store.list_json::<Node>(&query).await?;
            let rows: Vec<Listed> =
                serde_json::from_str(&page).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            drop(page);
            let now = Instant::now();
            {
                let mut schedule = lock(&self.schedule);
                // Only the nodes the ring gives this conductor for `power`.
                let owned = |r: &&Listed| {
                    membership::owns(&self.engine, r.uuid, &r.conductor_group, membership::POWER)
                };
                for row in rows.iter().filter(owned) {
                    let host = host_key(row.uuid, &row.driver_info);
                    schedule.upsert(row.uuid, host, generation, now);
                }
            }
            total += rows.len();
            if rows.len() < PAGE {
                break;
            }
            marker = rows.last().map(|r| r.uuid.to_string());
        }
        let dropped = lock(&self.schedule).end_refresh(generation, Instant::now());
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_refresh) = Some(started.elapsed());
        debug!(nodes = total, dropped, took = ?started.elapsed(), "power sync node list refreshed");
        self.publish_passes();
        self.wake.notify_one();
        Ok(total)
    }

    fn publish_passes(&self) {
        let done = lock(&self.schedule).passes().0;
        self.passes.send_if_modified(|n| {
            let changed = *n != done;
            *n = done;
            changed
        });
    }

    /// Starts reads as they fall due, within the caps, until shutdown.
    async fn dispatch(self: Arc<Self>) {
        let mut stop = self.engine.stop_signal();
        let mut jobs = JoinSet::new();
        let mut running: HashMap<tokio::task::Id, Job> = HashMap::new();
        loop {
            let now = Instant::now();
            let (start, wake_at) = {
                let mut schedule = lock(&self.schedule);
                let start: Vec<Job> = std::iter::from_fn(|| schedule.next_ready(now)).collect();
                (start, schedule.next_wakeup())
            };
            for job in start {
                let me = self.clone();
                let span = info_span!("node", node = %job.uuid);
                let task = job.clone();
                let handle =
                    jobs.spawn(async move { apply::sync_one(&me, &task).await }.instrument(span));
                running.insert(handle.id(), job);
            }
            let sleep = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at.max(now + self.coalesce)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                Some(done) = jobs.join_next_with_id(), if !jobs.is_empty() => {
                    let (id, outcome) = match done {
                        Ok((id, outcome)) => (id, outcome),
                        Err(e) => {
                            warn!(error = %e, "a power sync read ended abnormally");
                            (e.id(), Outcome::Skipped)
                        }
                    };
                    if let Some(job) = running.remove(&id) {
                        lock(&self.schedule).finish(&job, outcome, Instant::now());
                        self.publish_passes();
                    }
                }
                _ = sleep => {}
                _ = self.wake.notified() => {}
            }
        }
        jobs.abort_all();
    }

    /// Reads every node once, as fast as the caps allow, and reports how
    /// long that took: for a benchmark, or an operator who wants the whole
    /// fleet fresh now. Joins a forced pass already under way.
    pub(crate) async fn run_pass(&self) -> Result<PassReport, PowerSyncError> {
        let mut stop = self.engine.stop_signal();
        if *stop.borrow() {
            return Err(PowerSyncError::Stopped);
        }
        let started = Instant::now();
        self.refresh().await?;
        let mut done = self.passes.subscribe();
        let target = lock(&self.schedule).start_pass(started);
        self.publish_passes();
        self.wake.notify_one();
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Err(PowerSyncError::Stopped),
            result = done.wait_for(|n| *n >= target) => {
                result.map_err(|_| PowerSyncError::Stopped)?;
            }
        }
        lock(&self.schedule)
            .passes()
            .1
            .ok_or(PowerSyncError::Stopped)
    }

    /// Reads `node` as soon as a worker and its BMC's cap allow, instead
    /// of at its slot: its BMC reported a change (a Redfish event). The
    /// read then goes through the same checks and record/revert logic as
    /// any other.
    pub(crate) fn sync_soon(&self, uuid: Uuid, redfish_address: Option<Value>) {
        let info = ListedInfo {
            redfish_address,
            ipmi_address: None,
        };
        lock(&self.schedule).expedite(uuid, host_key(uuid, &info), Instant::now());
        self.wake.notify_one();
    }

    /// A snapshot of the loop's counters and the fleet's freshness.
    pub(crate) fn stats(&self) -> PowerSyncStats {
        let (census, counters, worst, (passes, last_pass), period) = {
            let schedule = lock(&self.schedule);
            (
                schedule.census(Instant::now()),
                schedule.counters(),
                schedule.worst_gap(),
                schedule.passes(),
                schedule.limits().period,
            )
        };
        let e = &self.effects;
        PowerSyncStats {
            enabled: true,
            interval: self.settings.interval,
            period,
            nodes: census.nodes,
            healthy: census.healthy,
            pending: census.new,
            failing: census.failing,
            skipped: census.skipped,
            in_flight: census.in_flight,
            reads: counters.reads,
            read_failures: counters.failures,
            skips: counters.skips,
            changes_recorded: e.recorded.load(Ordering::Relaxed),
            changes_reverted: e.reverted.load(Ordering::Relaxed),
            maintenance_set: e.maintenance_set.load(Ordering::Relaxed),
            maintenance_cleared: e.maintenance_cleared.load(Ordering::Relaxed),
            max_staleness: census.max_staleness,
            worst_staleness: worst,
            passes,
            last_pass,
            refreshes: self.refreshes.load(Ordering::Relaxed),
            last_refresh: *lock(&self.last_refresh),
        }
    }

    /// The node's power interface, shared by all nodes that resolve to the
    /// same implementation.
    fn power_interface(&self, node: &Node) -> Result<Arc<dyn PowerInterface>, DriverError> {
        let hw = self
            .engine
            .types
            .iter()
            .find(|h| h.name == node.driver)
            .ok_or_else(|| DriverError::UnknownHardwareType(node.driver.clone()))?;
        let name = resolve_interface(hw, node, InterfaceKind::Power)?;
        if let Some(power) = lock(&self.powers).get(&(hw.name, name)) {
            return Ok(power.clone());
        }
        // Only the power interface matters here, so build from a node
        // that names nothing else: another interface the node misnames
        // must not stop its power from being watched.
        let probe = Node {
            driver: node.driver.clone(),
            power_interface: Some(name.to_string()),
            ..Node::default()
        };
        let power = Driver::build(&probe, &self.engine.config.fake)?.power;
        lock(&self.powers).insert((hw.name, name), power.clone());
        Ok(power)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(v: Value) -> ListedInfo {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn reads_are_capped_per_bmc_authority() {
        let id = Uuid::from_u128(1);
        let a = host_key(
            id,
            &info(json!({"redfish_address": "http://127.0.0.1:8000/redfish/v1"})),
        );
        let b = host_key(
            id,
            &info(json!({"redfish_address": "http://127.0.0.1:8000"})),
        );
        assert_eq!(a, b);
        assert_eq!(&*a, "http://127.0.0.1:8000");
        assert_eq!(
            &*host_key(id, &info(json!({"redfish_address": "bmc.example"}))),
            "https://bmc.example"
        );
        assert_eq!(
            &*host_key(id, &info(json!({"ipmi_address": "10.0.0.5"}))),
            "ipmi://10.0.0.5"
        );
        for odd in [json!(7), json!("https://root:pw@bmc"), json!("ftp://bmc")] {
            assert_eq!(
                &*host_key(id, &info(json!({"redfish_address": odd}))),
                "node:00000000-0000-0000-0000-000000000001"
            );
        }
    }

    #[test]
    fn listed_rows_decode_from_whole_node_documents() {
        let Ok(doc) = serde_json::to_string(&vec![Node {
            uuid: Uuid::from_u128(9),
            driver: "redfish".into(),
            driver_info: json!({"redfish_address": "http://10.1.1.1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Node::default()
        }]) else {
            panic!("encode")
        };
        let Ok(rows) = serde_json::from_str::<Vec<Listed>>(&doc) else {
            panic!("decode")
        };
        assert_eq!(rows.len(), 1);
        assert_eq!(
            &*host_key(rows[0].uuid, &rows[0].driver_info),
            "http://10.1.1.1"
        );
    }
}
