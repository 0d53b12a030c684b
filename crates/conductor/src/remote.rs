//! The conductors of a site seen from an API process (`ferrite api`): a
//! [`ConductorApi`] that reaches them only through the database. Wake-ups
//! are `NOTIFY`s (the intent is already committed, so a lost one only waits
//! for the next sweep); driver calls are rows addressed to the node's
//! owning conductor, answered in the same table. The API process never
//! talks to a BMC.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use ferrite_drivers::{HardwareType, registry};
use ferrite_model::Node;
use ferrite_store::{Ident, ListQuery, Store, StoreError};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::config::{ConductorConfig, interval, secs};
use crate::engine::lock;
use crate::membership::{PROVISION, live_ring};
use crate::notify::{CALL, CALL_DONE, WAKE, decode};
use crate::ring::Ring;
use crate::{CallError, ConductorApi, DriverCall};

/// How often a waiting call re-reads its row when no notification came
/// (the notification is the fast path; this bounds a lost one's cost).
const POLL: Duration = Duration::from_millis(200);

/// The site's conductors, reached through the shared PostgreSQL database.
pub struct RemoteConductors {
    store: Store,
    config: ConductorConfig,
    types: Vec<HardwareType>,
    ring: RwLock<Arc<Ring>>,
    waiters: Mutex<HashMap<Uuid, Arc<Notify>>>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl RemoteConductors {
    /// Reads the live conductors and starts following them (every
    /// `heartbeat_interval`) and the answers to driver calls. `config`
    /// gives the name shown for this process, `call_timeout` and the
    /// heartbeat settings; refused on SQLite.
    pub async fn start(store: Store, config: ConductorConfig) -> Result<Arc<Self>, StoreError> {
        let listener = store.listen(&[CALL_DONE]).await?;
        let me = Arc::new(RemoteConductors {
            store,
            config,
            types: registry(),
            ring: RwLock::new(Arc::new(Ring::default())),
            waiters: Mutex::new(HashMap::new()),
            loops: Mutex::new(Vec::new()),
        });
        me.refresh().await;
        let every = interval(me.config.heartbeat_interval);
        let weak = Arc::downgrade(&me);
        let follow = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(me) = weak.upgrade() else { break };
                me.refresh().await;
            }
        });
        let weak = Arc::downgrade(&me);
        let answers = tokio::spawn(async move {
            let mut listener = listener;
            loop {
                let notice = listener.recv().await;
                let Some(me) = weak.upgrade() else { break };
                match notice {
                    Ok(Some(n)) => {
                        if let Ok(id) = n.payload.parse::<Uuid>()
                            && let Some(w) = lock(&me.waiters).get(&id)
                        {
                            w.notify_one();
                        }
                    }
                    // Waiters poll meanwhile; nothing is lost.
                    Ok(None) => warn!("the notification connection was lost; reconnecting"),
                    Err(e) => {
                        warn!(error = %e, "reconnecting the notification listener failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        lock(&me.loops).extend([follow, answers]);
        Ok(me)
    }

    /// Stops following the conductors.
    pub fn shutdown(&self) {
        for handle in lock(&self.loops).drain(..) {
            handle.abort();
        }
    }

    fn ring(&self) -> Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn refresh(&self) {
        match self.store.list_conductors(&ListQuery::default()).await {
            Ok(records) => {
                let ring = live_ring(&records, None, self.config.heartbeat_timeout, Utc::now());
                *self
                    .ring
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(ring);
            }
            Err(e) => warn!(error = %e, "listing conductors failed; keeping the previous view"),
        }
    }

    fn limit(&self) -> Duration {
        secs(self.config.call_timeout).unwrap_or(Duration::from_secs(60))
    }

    /// Sends `payload` on `channel` in the background: the caller already
    /// committed what the notification announces.
    fn notify(&self, channel: &'static str, payload: String) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.notify(channel, &payload).await {
                debug!(error = %e, "notification not sent; the conductors' sweep picks it up");
            }
        });
    }

    /// Waits for call `id`'s answer until `limit`; then withdraws it, so a
    /// call nobody waits for is never run.
    async fn wait(&self, id: Uuid, node: Uuid, owner: &str) -> Result<Value, CallError> {
        let deadline = tokio::time::Instant::now() + self.limit();
        let waker = lock(&self.waiters).entry(id).or_default().clone();
        let outcome = loop {
            match self.store.call_result(id).await {
                Ok(Some(result)) => break decode(result),
                Ok(None) => {}
                Err(e) => debug!(error = %e, "reading a driver call's result failed"),
            }
            if tokio::time::Instant::now() >= deadline {
                break Err(CallError::Unavailable(format!(
                    "The conductor {owner} did not complete the request on node {node} within {} \
                     seconds.",
                    self.limit().as_secs_f64()
                )));
            }
            let nap = deadline.min(tokio::time::Instant::now() + POLL);
            let _ = tokio::time::timeout_at(nap, waker.notified()).await;
        };
        lock(&self.waiters).remove(&id);
        if let Err(e) = self.store.drop_call(id).await {
            debug!(error = %e, "withdrawing a driver call failed; it expires unrun");
        }
        outcome
    }
}

#[async_trait::async_trait]
impl ConductorApi for RemoteConductors {
    fn hostname(&self) -> &str {
        &self.config.hostname
    }

    fn owner(&self, node: Uuid, group: &str) -> Option<String> {
        self.ring()
            .owner(node, group, PROVISION)
            .map(|m| m.hostname.clone())
    }

    fn serves_group(&self, group: &str) -> bool {
        self.ring().serves_group(group)
    }

    fn wake(&self, node: Uuid) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.notify_node(WAKE, node).await {
                debug!(error = %e, "wake-up not sent; the conductors' sweep picks it up");
            }
        });
    }

    fn wake_allocation(&self, allocation: Uuid) {
        self.notify(WAKE, format!("allocation {allocation}"));
    }

    async fn call(&self, node: Uuid, call: DriverCall) -> Result<Value, CallError> {
        let unavailable = |e: StoreError| CallError::Unavailable(e.to_string());
        let record: Node = self
            .store
            .get(&Ident::Uuid(node))
            .await
            .map_err(|e| match e {
                e @ StoreError::NotFound { .. } => CallError::Invalid(e.to_string()),
                other => unavailable(other),
            })?;
        let Some(owner) = self.owner(node, &record.conductor_group) else {
            return Err(CallError::Unavailable(format!(
                "No conductor of group \"{}\" is alive to handle node {node}.",
                record.conductor_group
            )));
        };
        let body = serde_json::to_value(&call)
            .map_err(|e| CallError::Invalid(format!("cannot encode the driver call: {e}")))?;
        let id = Uuid::new_v4();
        self.store
            .submit_call(id, node, &owner, &body, self.limit())
            .await
            .map_err(unavailable)?;
        self.notify(CALL, format!("{id} {owner}"));
        self.wait(id, node, &owner).await
    }

    fn hardware_types(&self) -> &[HardwareType] {
        &self.types
    }
}
