//! The change feed's types, shared by every backend: what an event is, a
//! page of them, the retention policy. The SQL lives in the backend
//! (`sqlite::events`); what events a change yields is decided in
//! [`crate::feed`], which knows no SQL either.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One committed change, as consumers receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the feed: strictly increasing, never reused, so a
    /// consumer's cursor is just the last `seq` it handled.
    pub seq: u64,
    /// When the change was made (the resource's `updated_at`).
    pub time: DateTime<Utc>,
    /// `node.created`, `node.provision_state.changed`, `port.deleted`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `node`, `port`, `portgroup`, `allocation` or `deploy_template`.
    pub resource: String,
    /// The resource the change was made to.
    pub uuid: Uuid,
    /// What changed, secrets masked (see `docs/feed.md`).
    pub data: Value,
}

/// One read of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// Events after the requested `since`, oldest first.
    pub events: Vec<Event>,
    /// Where the next read starts: the last event's `seq`, or — when a
    /// type filter skipped everything — the head, so filtered-out events
    /// are not scanned again.
    pub next_since: u64,
    /// The newest `seq` ever appended (0 for an empty feed).
    pub head: u64,
    /// The oldest `seq` still kept (`head + 1` when everything was trimmed).
    pub oldest: u64,
}

/// How much of the feed is kept. Both limits apply when both are set;
/// neither trims events a webhook subscription has yet to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Retention {
    /// Events older than this are trimmed.
    pub max_age: Option<Duration>,
    /// At most this many of the newest events are kept.
    pub max_count: Option<u64>,
}

/// Most events one trimming transaction deletes, so the single writer is
/// never held for long; the trimming task repeats until nothing is left.
pub const TRIM_BATCH: u64 = 10_000;

/// A change the store is about to append, before it has a `seq`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEvent {
    /// The event type.
    pub kind: String,
    /// The resource kind, as in [`Event::resource`].
    pub resource: &'static str,
    /// The resource changed.
    pub uuid: Uuid,
    /// Masked data.
    pub data: Value,
}
