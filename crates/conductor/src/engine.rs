//! The engine: start-up (registration, recovery), the wake-up dispatcher,
//! the periodic loops (sweep, timeouts, heartbeat) and graceful shutdown.
//! Node work itself lives in `claim` and `flows`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ferrite_drivers::{HardwareType, registry};
use ferrite_model::Conductor as ConductorRecord;
use ferrite_store::{Store, StoreError};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::bmc_events::BmcEvents;
use crate::config::{ConductorConfig, interval, secs};
use crate::power_sync::{PassReport, PowerSync, PowerSyncError, PowerSyncStats};
use crate::{
    CallError, ConductorApi, DriverCall, allocations, calls, claim, feed, membership, notify,
    recovery, timeouts,
};

/// Why the conductor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConductorError {
    /// Registration or recovery could not reach the store.
    #[error("conductor start-up failed: {0}")]
    Store(#[from] StoreError),
}

/// Locks a std mutex, ignoring poisoning: the maps it guards stay
/// consistent because every critical section is a single insert/remove.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A node task of this process.
struct Running {
    /// Set when a wake-up arrived while the task ran: look again after.
    rewake: bool,
    /// To stop the task when shutdown's grace period runs out.
    abort: Option<AbortHandle>,
}

/// Shared state of one conductor; every background task holds an `Arc`.
pub(crate) struct Engine {
    pub(crate) store: Store,
    pub(crate) config: ConductorConfig,
    pub(crate) types: Vec<HardwareType>,
    wake_tx: mpsc::UnboundedSender<Uuid>,
    running: Mutex<HashMap<Uuid, Running>>,
    timers: Mutex<HashMap<Uuid, AbortHandle>>,
    idle: Notify,
    stopping: AtomicBool,
    stop_tx: watch::Sender<bool>,
    permits: Arc<Semaphore>,
    /// Allocations being scheduled by this process.
    pub(crate) allocations: allocations::Tracker,
    /// The live conductors and the ring that says who owns which node.
    pub(crate) membership: membership::Membership,
}

impl Engine {
    /// This conductor's name, as written into `reservation`.
    pub(crate) fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// Whether shutdown has begun (no new work is claimed).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Queues a look at `uuid`.
    pub(crate) fn wake(&self, uuid: Uuid) {
        // Fails only once the dispatcher is gone, i.e. after shutdown.
        let _ = self.wake_tx.send(uuid);
    }

    /// Starts (or flags for another round) the task that claims and runs
    /// `uuid`'s pending intent.
    fn dispatch(self: &Arc<Self>, uuid: Uuid) {
        if self.stopping() {
            return;
        }
        let mut running = lock(&self.running);
        if let Some(r) = running.get_mut(&uuid) {
            r.rewake = true;
            return;
        }
        running.insert(
            uuid,
            Running {
                rewake: false,
                abort: None,
            },
        );
        let me = self.clone();
        let span = info_span!("node", node = %uuid);
        let handle = tokio::spawn(async move { me.run_node(uuid).await }.instrument(span));
        if let Some(r) = running.get_mut(&uuid) {
            r.abort = Some(handle.abort_handle());
        }
    }

    async fn run_node(self: Arc<Self>, uuid: Uuid) {
        loop {
            let mut again = false;
            if !self.stopping() {
                let queued = std::time::Instant::now();
                let waiting = metrics::gauge!("ferrite_conductor_queue_depth");
                waiting.increment(1.0);
                let permit = self.permits.clone().acquire_owned().await;
                waiting.decrement(1.0);
                metrics::histogram!("ferrite_conductor_queue_wait_seconds")
                    .record(queued.elapsed().as_secs_f64());
                match permit {
                    Ok(_permit) => again = claim::run_once(&self, uuid).await,
                    Err(_) => break,
                }
            }
            let mut running = lock(&self.running);
            match running.get_mut(&uuid) {
                Some(r) if (r.rewake || again) && !self.stopping() => r.rewake = false,
                _ => {
                    running.remove(&uuid);
                    if running.is_empty() {
                        self.idle.notify_waiters();
                    }
                    break;
                }
            }
        }
    }

    /// Arranges for a node in a `* wait` state entered by a `wait` step to
    /// continue at `until` (see [`claim::post_resume`]).
    pub(crate) fn schedule_resume(self: &Arc<Self>, uuid: Uuid, index: u64, until: DateTime<Utc>) {
        if self.stopping() {
            return;
        }
        let me = self.clone();
        let span = info_span!("node", node = %uuid);
        let task = tokio::spawn(
            async move {
                let delay = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                tokio::time::sleep(delay).await;
                for _ in 0..600 {
                    match claim::post_resume(&me, uuid, index).await {
                        Ok(()) => {
                            me.wake(uuid);
                            break;
                        }
                        Err(crate::FlowError::Locked(holder)) => {
                            debug!(%holder, "node locked; resuming the wait step later");
                        }
                        Err(crate::FlowError::Stale(why)) => {
                            debug!(%why, "wait step no longer pending");
                            break;
                        }
                        Err(e) => warn!(error = %e, "could not resume after a wait step"),
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let id = tokio::task::id();
                let mut timers = lock(&me.timers);
                if timers.get(&uuid).is_some_and(|h| h.id() == id) {
                    timers.remove(&uuid);
                }
            }
            .instrument(span),
        );
        if let Some(old) = lock(&self.timers).insert(uuid, task.abort_handle()) {
            old.abort();
        }
    }

    /// Resolves once shutdown has begun; every background loop selects on
    /// it so none outlives the conductor.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    /// Runs `f` now and then every `every` until shutdown.
    fn every<F, Fut>(self: &Arc<Self>, name: &'static str, every: Duration, f: F) -> JoinHandle<()>
    where
        F: Fn(Arc<Engine>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let me = self.clone();
        let mut stop = self.stop_signal();
        tokio::spawn(
            async move {
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        _ = f(me.clone()) => {}
                    }
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
            }
            .instrument(info_span!("periodic", task = name)),
        )
    }

    async fn sweep(self: Arc<Self>) {
        match self.store.nodes_with_pending_intent().await {
            Ok(nodes) => {
                for uuid in nodes {
                    self.dispatch(uuid);
                }
            }
            Err(e) => warn!(error = %e, "sweep for pending intents failed"),
        }
        notify::poll_calls(&self).await;
    }

    /// Proves this conductor alive, renews the leases of the locks it
    /// holds (one write), refreshes the ring, then takes over the lapsed
    /// locks of the nodes it now owns.
    async fn heartbeat(self: Arc<Self>) {
        let until = Utc::now() + crate::lease::ttl(&self.config);
        match self.store.heartbeat_conductor(self.hostname()).await {
            Ok(()) => {
                if let Err(e) = self.store.renew_leases(self.hostname(), until).await {
                    warn!(error = %e, "renewing this conductor's leases failed");
                }
            }
            Err(StoreError::NotFound { .. }) => {
                if let Err(e) = self.register().await {
                    warn!(error = %e, "re-registering the conductor failed");
                }
            }
            Err(e) => warn!(error = %e, "conductor heartbeat failed"),
        }
        membership::refresh(&self).await;
        recovery::take_over_orphans(&self).await;
    }

    async fn register(&self) -> Result<(), StoreError> {
        let record = ConductorRecord {
            hostname: self.config.hostname.clone(),
            conductor_group: self.config.conductor_group.clone(),
            drivers: self.types.iter().map(|t| t.name.to_string()).collect(),
            online: true,
            created_at: Utc::now(),
            updated_at: None,
            roles: self.config.roles.clone(),
        };
        self.store.register_conductor(&record).await
    }

    /// Waits until no node task runs, or `grace` passes; true when idle.
    async fn wait_idle(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.running).is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return lock(&self.running).is_empty();
            }
        }
    }
}

/// A running conductor. Built by [`Conductor::start`]; serves the API
/// through [`ConductorApi`] and stops with [`Conductor::shutdown`].
pub struct Conductor {
    engine: Arc<Engine>,
    loops: Mutex<Vec<JoinHandle<()>>>,
    /// `None` when `sync_power_state_interval` disables the power sync.
    power_sync: Option<Arc<PowerSync>>,
    /// `None` when Redfish events are off (or the power sync is).
    events: Option<Arc<BmcEvents>>,
}

impl Conductor {
    /// Registers the conductor, recovers what a previous run left behind
    /// (stale locks, operations cut short, pending intents) and starts the
    /// dispatcher, the sweep, the timeout checks, the heartbeat and the
    /// power-state sync.
    pub async fn start(
        store: Store,
        config: ConductorConfig,
    ) -> Result<Arc<Conductor>, ConductorError> {
        let (wake_tx, mut wake_rx) = mpsc::unbounded_channel();
        let (stop_tx, _) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(config.max_concurrent_operations.max(1)));
        let me = membership::member(&config);
        let engine = Arc::new(Engine {
            store,
            config,
            types: registry(),
            wake_tx,
            running: Mutex::new(HashMap::new()),
            timers: Mutex::new(HashMap::new()),
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
            stop_tx,
            permits,
            allocations: allocations::Tracker::default(),
            membership: membership::Membership::new(me),
        });
        let span = info_span!("conductor", host = %engine.hostname());
        async {
            engine.register().await?;
            membership::refresh(&engine).await;
            recovery::recover_at_start(&engine).await?;
            info!("conductor started");
            Ok::<(), StoreError>(())
        }
        .instrument(span.clone())
        .await?;

        let mut loops = Vec::new();
        let me = engine.clone();
        let mut stop = engine.stop_signal();
        loops.push(tokio::spawn(
            async move {
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        msg = wake_rx.recv() => match msg {
                            Some(uuid) => me.dispatch(uuid),
                            None => break,
                        },
                    }
                }
            }
            .instrument(span.clone()),
        ));
        loops.extend(notify::start(&engine));
        let cfg = &engine.config;
        loops.push(engine.every("sweep", interval(cfg.sweep_interval), Engine::sweep));
        loops.push(engine.every(
            "timeouts",
            interval(cfg.check_provision_state_interval),
            |e| async move { timeouts::check(&e).await },
        ));
        loops.push(engine.every(
            "allocations",
            interval(cfg.sweep_interval),
            allocations::sweep,
        ));
        loops.push(engine.every(
            "heartbeat",
            interval(cfg.heartbeat_interval),
            Engine::heartbeat,
        ));
        loops.push(engine.every("feed-trim", interval(cfg.feed.trim_interval), feed::trim));
        loops.push(feed::webhooks::start(&engine));
        let power_sync = PowerSync::start(&engine).map(|(sync, handles)| {
            loops.extend(handles);
            sync
        });
        // Events only make the power sync read sooner: without it, none.
        let events = match &power_sync {
            Some(sync) => BmcEvents::start(&engine, sync.clone())
                .await
                .map(|(ev, handles)| {
                    loops.extend(handles);
                    ev
                }),
            None => None,
        };
        Ok(Arc::new(Conductor {
            engine,
            loops: Mutex::new(loops),
            power_sync,
            events,
        }))
    }

    /// How fresh the power sync keeps the fleet and what it has done; the
    /// freshness bound is a promise, so it is observable.
    pub fn power_sync_stats(&self) -> PowerSyncStats {
        match &self.power_sync {
            Some(sync) => sync.stats(),
            None => PowerSyncStats::default(),
        }
    }

    /// Reads every node's power state once, as fast as the concurrency caps
    /// allow, and reports the pass: for benchmarks, and for operators who
    /// want the fleet fresh now rather than within the interval.
    pub async fn power_sync_now(&self) -> Result<PassReport, PowerSyncError> {
        match &self.power_sync {
            Some(sync) => sync.run_pass().await,
            None => Err(PowerSyncError::Disabled),
        }
    }

    /// How many nodes have a Redfish event subscription on their BMC now
    /// (0 when events are off): what tests and operators check to know
    /// power changes arrive as events rather than by polling.
    pub fn redfish_event_subscriptions(&self) -> usize {
        self.events.as_ref().map_or(0, |e| e.active())
    }

    /// The configuration the conductor runs with.
    pub fn config(&self) -> &ConductorConfig {
        &self.engine.config
    }

    /// Stops claiming work, lets running operations finish within
    /// `graceful_shutdown_timeout`, releases this conductor's locks if they
    /// did (otherwise the next start recovers those nodes) and marks the
    /// conductor offline. Safe to call more than once.
    pub async fn shutdown(&self) {
        let engine = &self.engine;
        if engine.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = engine.stop_tx.send(true);
        for timer in lock(&engine.timers).drain() {
            timer.1.abort();
        }
        let grace = secs(engine.config.graceful_shutdown_timeout).unwrap_or(Duration::ZERO);
        let finished = engine.wait_idle(grace).await;
        if finished {
            recovery::release_own(engine).await;
        } else {
            let left: Vec<_> = lock(&engine.running).drain().collect();
            warn!(
                count = left.len(),
                "operations still running after the grace period; the next start recovers them"
            );
            for (_, r) in left {
                if let Some(a) = r.abort {
                    a.abort();
                }
            }
        }
        for handle in lock(&self.loops).drain(..) {
            handle.abort();
        }
        if let Err(e) = engine.store.unregister_conductor(engine.hostname()).await {
            warn!(error = %e, "could not mark the conductor offline");
        }
        info!(host = %engine.hostname(), "conductor stopped");
    }
}

#[async_trait::async_trait]
impl ConductorApi for Conductor {
    fn hostname(&self) -> &str {
        self.engine.hostname()
    }

    fn owner(&self, node: Uuid, group: &str) -> Option<String> {
        let ring = self.engine.membership.ring();
        ring.owner(node, group, membership::PROVISION)
            .map(|m| m.hostname.clone())
    }

    fn serves_group(&self, group: &str) -> bool {
        self.engine.membership.ring().serves_group(group)
    }

    fn wake(&self, node: Uuid) {
        self.engine.wake(node);
    }

    fn wake_allocation(&self, allocation: Uuid) {
        allocations::wake(&self.engine, allocation);
    }

    /// Runs the call in its own task so that a caller giving up after
    /// `call_timeout` never cuts a call short while it holds the node's
    /// lock: the task finishes (and releases) on its own.
    async fn call(&self, node: Uuid, call: DriverCall) -> Result<Value, CallError> {
        let limit = secs(self.engine.config.call_timeout).unwrap_or(Duration::from_secs(60));
        let span = info_span!("node", node = %node);
        let engine = self.engine.clone();
        let task =
            tokio::spawn(async move { calls::handle(&engine, node, call).await }.instrument(span));
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(CallError::Unavailable(format!(
                "The driver call on node {node} did not complete: {join}"
            ))),
            Err(_) => Err(CallError::Unavailable(format!(
                "The conductor {} did not complete the request on node {node} within {} seconds.",
                self.engine.hostname(),
                limit.as_secs_f64()
            ))),
        }
    }

    fn hardware_types(&self) -> &[HardwareType] {
        &self.engine.types
    }
}
