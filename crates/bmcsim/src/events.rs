//! The simulated EventService: subscriptions (one list for the whole
//! fleet, as one BMC has one EventService; `OriginResources` narrows a
//! subscription to some systems) and delivery of a `ResourceChanged`
//! event to every matching subscriber whenever a system's power state
//! changes, whatever changed it (a Reset, a transition landing, an
//! out-of-band flip). Delivery is fire-and-forget on the fleet's runtime,
//! as real BMCs do it: a subscriber that is down just misses the event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::state::PowerState;

/// Most subscriptions kept; real BMCs allow a handful, a fleet-wide
/// service must allow one per system and then some.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 100_000;

/// How long one delivery may take before it is abandoned.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One event destination.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    /// The member Id (`/redfish/v1/EventService/Subscriptions/<id>`).
    pub id: u64,
    /// Where events are POSTed.
    pub destination: String,
    /// Echoed in every event: the subscriber's proof the event is its own.
    pub context: String,
    /// System paths whose events it wants; empty means all.
    pub origins: Vec<String>,
}

/// All subscriptions, the delivery client and counters.
pub(crate) struct Events {
    subs: Mutex<Vec<Subscription>>,
    next_id: AtomicU64,
    next_event: AtomicU64,
    delivered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    client: reqwest::Client,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            subs: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            next_event: AtomicU64::new(1),
            delivered: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(AtomicU64::new(0)),
            client: reqwest::Client::builder()
                .timeout(DELIVERY_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }
}

impl Events {
    fn subs(&self) -> std::sync::MutexGuard<'_, Vec<Subscription>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every subscription, oldest first.
    pub(crate) fn list(&self) -> Vec<Subscription> {
        self.subs().clone()
    }

    /// Adds a subscription; `None` when the service is full.
    pub(crate) fn add(
        &self,
        destination: String,
        context: String,
        origins: Vec<String>,
    ) -> Option<Subscription> {
        let mut subs = self.subs();
        if subs.len() >= MAX_SUBSCRIPTIONS {
            return None;
        }
        let sub = Subscription {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            destination,
            context,
            origins,
        };
        subs.push(sub.clone());
        Some(sub)
    }

    /// Removes one subscription; false when there was none with `id`.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut subs = self.subs();
        let before = subs.len();
        subs.retain(|s| s.id != id);
        subs.len() != before
    }

    /// Forgets every subscription, as a BMC reset to defaults does.
    /// Returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        std::mem::take(&mut *self.subs()).len()
    }

    /// (delivered, failed) deliveries since start.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.delivered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

impl Fleet {
    /// Tells the subscribers of system `index` that its power state is now
    /// `to`. Cheap when nobody subscribed, so every power change calls it.
    pub(crate) fn power_changed(&self, index: usize, to: PowerState) {
        if !self.config().event_service {
            return;
        }
        let system = self.system_path(index);
        let targets: Vec<Subscription> = self
            .events
            .subs()
            .iter()
            .filter(|s| s.origins.is_empty() || s.origins.contains(&system))
            .cloned()
            .collect();
        if targets.is_empty() {
            return;
        }
        let id = self.events.next_event.fetch_add(1, Ordering::Relaxed);
        let event = json!({
            "EventType": "ResourceUpdated",
            "EventId": id.to_string(),
            "MessageId": "ResourceEvent.1.0.ResourceChanged",
            "Message": format!("The power state of {system} changed to {to}."),
            "MessageArgs": [],
            "Severity": "OK",
            "OriginOfCondition": {"@odata.id": system},
        });
        for sub in targets {
            let body = payload(id, &sub.context, &event);
            let client = self.events.client.clone();
            let counter = (self.events.delivered.clone(), self.events.failed.clone());
            self.spawn(async move {
                let ok = client
                    .post(&sub.destination)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let (delivered, failed) = counter;
                if ok { delivered } else { failed }.fetch_add(1, Ordering::Relaxed);
            });
        }
    }
}

/// The Event document one subscriber gets.
fn payload(id: u64, context: &str, event: &Value) -> Value {
    json!({
        "@odata.type": "#Event.v1_4_0.Event",
        "Id": id.to_string(),
        "Name": "Event Array",
        "Context": context,
        "Events": [event],
    })
}
