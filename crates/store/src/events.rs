//! The change feed's types, shared by every backend: what an event is, a
//! page of them, the retention policy, and the parts of reading and
//! trimming that do not depend on the SQL dialect. The statements live in
//! the backends (`sqlite::events`, `postgres::events`); what events a
//! change yields is decided in [`crate::feed`], which knows no SQL either.

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

/// The page query: events after the first placeholder whose type matches
/// `types`, oldest first, at most the last placeholder's count. `columns`
/// is how the backend reads the six columns (PostgreSQL renders its
/// `jsonb` as text). Returns the SQL and the arguments after `since`.
pub(crate) fn page_sql(
    dialect: &dyn crate::sql::Dialect,
    columns: &str,
    since: u64,
    limit: usize,
    types: &[String],
) -> (String, Vec<crate::sql::Arg>) {
    use crate::sql::Arg;
    let mut args = vec![Arg::Int(i64::try_from(since).unwrap_or(i64::MAX))];
    let mut sql = format!(
        "SELECT {columns} FROM events WHERE seq > {}",
        dialect.placeholder(1)
    );
    let next = |args: &mut Vec<Arg>, arg: Arg| {
        args.push(arg);
        dialect.placeholder(args.len())
    };
    if !types.is_empty() {
        let terms: Vec<String> = types
            .iter()
            .map(|t| match t.strip_suffix('*') {
                // A prefix compared as a prefix: no LIKE, whose `_` would
                // match any character in `node.power_state.*`.
                Some(prefix) => {
                    let len = next(
                        &mut args,
                        Arg::Int(i64::try_from(prefix.chars().count()).unwrap_or(0)),
                    );
                    let ph = next(&mut args, Arg::Text(prefix.to_string()));
                    format!("substr(type, 1, CAST({len} AS INTEGER)) = {ph}")
                }
                None => format!("type = {}", next(&mut args, Arg::Text(t.clone()))),
            })
            .collect();
        sql.push_str(&format!(" AND ({})", terms.join(" OR ")));
    }
    let ph = next(
        &mut args,
        Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
    );
    sql.push_str(&format!(" ORDER BY seq LIMIT {ph}"));
    (sql, args)
}

/// Assembles a page from the rows read after `since` in one snapshot with
/// the feed's `head` and its `oldest` kept event (None when empty), or
/// `Trimmed` when events after `since` are gone.
pub(crate) fn assemble(
    since: u64,
    head: u64,
    oldest: Option<u64>,
    events: impl FnOnce() -> Result<Vec<Event>, crate::StoreError>,
) -> Result<EventPage, crate::StoreError> {
    let oldest = oldest.unwrap_or(head + 1);
    if since.saturating_add(1) < oldest {
        return Err(crate::StoreError::Trimmed { oldest });
    }
    let events = events()?;
    let next_since = match events.last() {
        Some(last) => last.seq,
        // Nothing after `since` matched: everything up to the head was
        // looked at.
        None => head.max(since),
    };
    Ok(EventPage {
        events,
        next_since,
        head,
        oldest,
    })
}

/// An event from its columns as read back; anything that no longer parses
/// is `Corrupt`.
pub(crate) fn from_columns(
    seq: i64,
    time: DateTime<Utc>,
    kind: String,
    resource: String,
    uuid: &str,
    data: &str,
) -> Result<Event, crate::StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        crate::StoreError::Corrupt(format!("event {what}: {e}"))
    };
    Ok(Event {
        seq: u64::try_from(seq).map_err(|e| corrupt("seq", &e))?,
        time,
        kind,
        resource,
        uuid: Uuid::parse_str(uuid).map_err(|e| corrupt("uuid", &e))?,
        data: crate::feed::parse(data, "event data")?,
    })
}

/// The newest `seq` a trim may delete: the higher of what each limit
/// gives up (`aged`: the newest event older than `max_age`), but never
/// past the slowest webhook subscription's cursor (`undelivered`). None
/// when no limit is set.
pub(crate) fn trim_bound(
    retention: Retention,
    head: i64,
    aged: Option<i64>,
    undelivered: Option<i64>,
) -> Option<i64> {
    let by_count = retention
        .max_count
        .map(|keep| head - i64::try_from(keep).unwrap_or(i64::MAX).min(head));
    let by_age = retention.max_age.map(|_| aged.unwrap_or(0));
    let bound = by_count.into_iter().chain(by_age).max()?;
    Some(undelivered.map_or(bound, |cursor| bound.min(cursor)))
}

/// The time before which `retention` trims events, as of `now`.
pub(crate) fn age_cutoff(retention: Retention, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    retention
        .max_age
        .map(|age| now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX))
}

impl NewEvent {
    /// Counts what the event means for the metrics, as it is appended.
    pub(crate) fn count(&self) {
        if self.kind == "node.provision_state.changed" {
            crate::metrics::transition(&self.data);
        }
    }
}
