//! Redfish events: where a node's BMC offers an enabled EventService, the
//! conductor keeps one subscription for the node, whose `Destination` is
//! this conductor's event receiver ([`receiver`]) and whose `Context` is a
//! random secret only the BMC and this process know. An event that carries
//! the right secret makes the power sync read that node now, so a change
//! made behind Ferrite's back is recorded (or reverted) in about a round
//! trip instead of up to `sync_power_state_interval` later, through the
//! same checks and the same `out_of_band` path as a scheduled read.
//!
//! Subscriptions live in memory: a reconcile pass every
//! `redfish_event_reconcile_interval` subscribes new redfish nodes,
//! unsubscribes deleted ones and ones whose BMC changed (from the old BMC,
//! with the old credentials), and — every [`VERIFY_EVERY`] passes — asks
//! each BMC host which subscriptions it still has and re-creates the ones
//! it lost. After a restart, subscriptions an earlier run left on a BMC
//! (same receiver path, unknown secret) are deleted at first contact.

mod receiver;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use ferrite_drivers::redfish::{RedfishConfig, events};
use ferrite_model::{Dict, Node};
use ferrite_store::{ListQuery, StoreError};
use futures::StreamExt;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::config::secs;
use crate::engine::{Engine, lock};
use crate::power_sync::PowerSync;

/// The receiver's path prefix; the node's uuid follows.
pub(crate) const PATH_PREFIX: &str = "/redfish-events/";

/// Every this many reconcile passes, each BMC host is asked which
/// subscriptions it still has.
const VERIFY_EVERY: u64 = 10;

/// Subscription changes made at once in a pass.
const CONCURRENCY: usize = 16;

/// Nodes decoded per page.
const PAGE: usize = 1000;

/// What a subscription is bound to: changing either means another BMC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BmcKey {
    address: String,
    system_id: Option<String>,
}

/// One node's subscription as this process knows it.
struct Sub {
    key: BmcKey,
    /// The node as it was when it subscribed: its credentials are what
    /// unsubscribing from that BMC takes, even after they change.
    node: Node,
    /// `None` while the BMC offers no enabled EventService.
    path: Option<String>,
    /// The secret the BMC must echo in `Context`.
    context: String,
}

/// The fields of a listed node this module needs.
#[derive(Deserialize)]
struct Listed {
    uuid: Uuid,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    driver_info: Dict,
}

impl Listed {
    fn node(self) -> Node {
        Node {
            uuid: self.uuid,
            driver: self.driver,
            driver_info: self.driver_info,
            ..Node::default()
        }
    }
}

/// What a node should be subscribed through, if anything.
fn key_of(node: &Node) -> Option<BmcKey> {
    if node.driver != "redfish" {
        return None;
    }
    let config = RedfishConfig::from_node(node).ok()?;
    Some(BmcKey {
        address: config.address,
        system_id: config.system_id,
    })
}

/// A fresh secret: 244 random bits.
fn secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The running event subscriptions of one conductor.
pub(crate) struct BmcEvents {
    engine: Arc<Engine>,
    sync: Arc<PowerSync>,
    /// `scheme://host:port` BMCs post events to.
    base_url: String,
    subs: Mutex<HashMap<Uuid, Sub>>,
    /// BMC hosts already cleared of an earlier run's subscriptions.
    cleaned: Mutex<HashSet<String>>,
}

impl BmcEvents {
    /// Binds the receiver and starts the reconcile loop, unless
    /// `redfish_event_listen` is empty. A receiver that cannot bind is
    /// logged and left out: polling still keeps every node fresh.
    pub(crate) async fn start(
        engine: &Arc<Engine>,
        sync: Arc<PowerSync>,
    ) -> Option<(Arc<BmcEvents>, Vec<JoinHandle<()>>)> {
        let config = &engine.config;
        let listen = config.redfish_event_listen.trim();
        if listen.is_empty() {
            return None;
        }
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                warn!(%listen, error = %e, "cannot listen for Redfish events; relying on polling");
                return None;
            }
        };
        let bound: SocketAddr = listener.local_addr().ok()?;
        let base_url = match config.redfish_event_url.trim() {
            "" => format!("http://{bound}"),
            url => url.trim_end_matches('/').to_string(),
        };
        info!(%bound, %base_url, "listening for Redfish events");
        let events = Arc::new(BmcEvents {
            engine: engine.clone(),
            sync,
            base_url,
            subs: Mutex::new(HashMap::new()),
            cleaned: Mutex::new(HashSet::new()),
        });
        let span = info_span!("periodic", task = "redfish_events");
        let server = tokio::spawn(
            receiver::serve(events.clone(), listener, engine.stop_signal())
                .instrument(span.clone()),
        );
        let reconciler = tokio::spawn(events.clone().reconcile_loop().instrument(span));
        Some((events, vec![server, reconciler]))
    }

    /// The `Destination` of a node's subscription.
    fn destination(&self, uuid: Uuid) -> String {
        format!("{}{PATH_PREFIX}{uuid}", self.base_url)
    }

    /// Called by the receiver: whether `context` is the node's secret; if
    /// so, the node is read now.
    pub(crate) fn accept(&self, uuid: Uuid, context: &str) -> bool {
        let address = {
            let subs = lock(&self.subs);
            match subs.get(&uuid) {
                Some(sub) if same_secret(&sub.context, context) => {
                    sub.node.driver_info.get("redfish_address").cloned()
                }
                _ => return false,
            }
        };
        self.sync.sync_soon(uuid, address);
        true
    }

    async fn reconcile_loop(self: Arc<Self>) {
        let every = secs(self.engine.config.redfish_event_reconcile_interval)
            .unwrap_or(Duration::from_secs(30));
        let mut stop = self.engine.stop_signal();
        let mut pass = 0u64;
        loop {
            let verify = pass % VERIFY_EVERY == VERIFY_EVERY - 1;
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                result = self.reconcile(verify) => {
                    if let Err(e) = result {
                        warn!(error = %e, "reconciling Redfish event subscriptions failed");
                    }
                }
            }
            pass += 1;
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Every node now, as subscription candidates.
    async fn nodes(&self) -> Result<Vec<Node>, StoreError> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let query = ListQuery {
                limit: Some(PAGE),
                marker: marker.take(),
                ..ListQuery::default()
            };
            let page = self.engine.store.list_json::<Node>(&query).await?;
            let rows: Vec<Listed> =
                serde_json::from_str(&page).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let full = rows.len() == PAGE;
            marker = rows.last().map(|r| r.uuid.to_string());
            out.extend(rows.into_iter().map(Listed::node));
            if !full {
                return Ok(out);
            }
        }
    }

    /// One pass: drop what should go, subscribe what should be, and with
    /// `verify` re-create what the BMCs lost.
    async fn reconcile(&self, verify: bool) -> Result<(), StoreError> {
        let nodes = self.nodes().await?;
        let wanted: HashMap<Uuid, (BmcKey, Node)> = nodes
            .into_iter()
            .filter_map(|n| key_of(&n).map(|k| (n.uuid, (k, n))))
            .collect();
        // Gone or moved to another BMC: unsubscribe from the old one.
        let leaving: Vec<(Uuid, Sub)> = {
            let mut subs = lock(&self.subs);
            let uuids: Vec<Uuid> = subs
                .iter()
                .filter(|(u, s)| wanted.get(u).is_none_or(|(k, _)| *k != s.key))
                .map(|(u, _)| *u)
                .collect();
            uuids
                .into_iter()
                .filter_map(|u| subs.remove(&u).map(|s| (u, s)))
                .collect()
        };
        futures::stream::iter(leaving)
            .for_each_concurrent(CONCURRENCY, |(uuid, sub)| async move {
                if let Some(path) = &sub.path {
                    match events::unsubscribe(&sub.node, path).await {
                        Ok(()) => info!(node = %uuid, "Redfish event subscription removed"),
                        Err(e) => warn!(node = %uuid, error = %e,
                            "removing a Redfish event subscription failed"),
                    }
                }
            })
            .await;
        // Keep the credentials current for later unsubscribing.
        let mut todo = Vec::new();
        {
            let mut subs = lock(&self.subs);
            for (uuid, (_, node)) in &wanted {
                match subs.get_mut(uuid) {
                    Some(sub) => sub.node = node.clone(),
                    None => todo.push(node.clone()),
                }
            }
        }
        if verify {
            todo.extend(self.lost(&wanted).await);
        }
        self.clean_hosts(&todo).await;
        futures::stream::iter(todo)
            .for_each_concurrent(CONCURRENCY, |node| self.subscribe(node))
            .await;
        Ok(())
    }

    /// Nodes whose subscription their BMC no longer has, or whose BMC had
    /// no EventService last time (it may have one now): one listing per
    /// BMC host.
    async fn lost(&self, wanted: &HashMap<Uuid, (BmcKey, Node)>) -> Vec<Node> {
        let mut by_host: HashMap<String, Vec<(Uuid, Option<String>)>> = HashMap::new();
        {
            let subs = lock(&self.subs);
            for (uuid, sub) in subs.iter() {
                if wanted.contains_key(uuid) {
                    by_host
                        .entry(sub.key.address.clone())
                        .or_default()
                        .push((*uuid, sub.path.clone()));
                }
            }
        }
        let checks = by_host.into_values().map(|members| async move {
            let Some(probe) = wanted.get(&members[0].0).map(|(_, n)| n) else {
                return Vec::new();
            };
            let present: HashSet<String> = match events::subscriptions(probe).await {
                Ok(list) => list.unwrap_or_default().into_iter().collect(),
                Err(e) => {
                    debug!(error = %e, "cannot list a BMC's event subscriptions");
                    return Vec::new();
                }
            };
            members
                .into_iter()
                .filter(|(_, path)| path.as_ref().is_none_or(|p| !present.contains(p)))
                .filter_map(|(u, _)| wanted.get(&u).map(|(_, n)| n.clone()))
                .collect::<Vec<_>>()
        });
        let found: Vec<Node> = futures::stream::iter(checks)
            .buffer_unordered(CONCURRENCY)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        if !found.is_empty() {
            info!(
                nodes = found.len(),
                "re-creating Redfish event subscriptions"
            );
        }
        found
    }

    /// Deletes, once per BMC host and process, the subscriptions an
    /// earlier run of this conductor left there (our path, but a secret
    /// this process never issued, so their events would be refused).
    async fn clean_hosts(&self, nodes: &[Node]) {
        let mut first: HashMap<String, &Node> = HashMap::new();
        {
            let cleaned = lock(&self.cleaned);
            for node in nodes {
                if let Some(key) = key_of(node)
                    && !cleaned.contains(&key.address)
                {
                    first.entry(key.address).or_insert(node);
                }
            }
        }
        let current: HashSet<String> = lock(&self.subs)
            .keys()
            .map(|u| self.destination(*u))
            .collect();
        let is_stale = |d: &str| {
            let path = d.find("://").map_or(d, |i| {
                let rest = &d[i + 3..];
                rest.find('/').map_or("", |j| &rest[j..])
            });
            path.starts_with(PATH_PREFIX) && !current.contains(d)
        };
        for (address, node) in first {
            match events::find_subscriptions(node, &is_stale).await {
                Ok(stale) => {
                    for path in stale {
                        if let Err(e) = events::unsubscribe(node, &path).await {
                            debug!(error = %e, %path, "removing a stale subscription failed");
                        }
                    }
                    lock(&self.cleaned).insert(address);
                }
                Err(e) => debug!(error = %e, "cannot list a BMC's event subscriptions"),
            }
        }
    }

    /// Subscribes one node (again) and records it, with or without a
    /// subscription: a BMC without EventService is asked again when
    /// subscriptions are verified.
    async fn subscribe(&self, node: Node) {
        let Some(key) = key_of(&node) else {
            return;
        };
        let context = secret();
        // Recorded first, so an event that beats the POST's answer counts.
        let previous = lock(&self.subs).insert(
            node.uuid,
            Sub {
                key,
                node: node.clone(),
                path: None,
                context: context.clone(),
            },
        );
        if let Some(old) = previous.and_then(|s| s.path) {
            let _ = events::unsubscribe(&node, &old).await;
        }
        match events::subscribe(&node, &self.destination(node.uuid), &context).await {
            Ok(path) => {
                if path.is_some() {
                    debug!(node = %node.uuid, "subscribed to Redfish events");
                }
                if let Some(sub) = lock(&self.subs).get_mut(&node.uuid) {
                    sub.path = path;
                }
            }
            Err(e) => {
                // Forgotten, so the next pass tries again.
                lock(&self.subs).remove(&node.uuid);
                debug!(node = %node.uuid, error = %e, "subscribing to Redfish events failed");
            }
        }
    }

    /// Subscriptions held now (with a BMC-side subscription), for stats.
    pub(crate) fn active(&self) -> usize {
        lock(&self.subs)
            .values()
            .filter(|s| s.path.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_compare_exactly() {
        let s = secret();
        assert_eq!(s.len(), 64);
        assert_ne!(s, secret());
        assert!(same_secret(&s, &s.clone()));
        assert!(!same_secret(&s, &s[1..]));
        assert!(!same_secret(&s, &format!("{}x", &s[..63])));
    }

    #[test]
    fn only_redfish_nodes_with_an_address_subscribe() {
        let mut node = Node {
            driver: "redfish".into(),
            ..Node::default()
        };
        assert_eq!(key_of(&node), None);
        node.driver_info
            .insert("redfish_address".into(), json!("http://127.0.0.1:8000/x"));
        assert_eq!(
            key_of(&node).map(|k| k.address),
            Some("http://127.0.0.1:8000".to_string())
        );
        node.driver = "ipmi".into();
        assert_eq!(key_of(&node), None);
    }
}
