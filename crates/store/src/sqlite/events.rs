//! The change feed on SQLite: appending a change's events on the writer's
//! transaction, reading pages, the head seq published after each commit,
//! and trimming. Appends happen only on the single writer connection, so
//! events commit in `seq` order and a reader never sees `seq` N+1 before N.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::{Row, SqliteConnection, SqlitePool};
use tokio::sync::watch;
use uuid::Uuid;

use super::query::Table;
use super::writer::AfterCommit;
use crate::events::{Event, EventPage, NewEvent, Retention, TRIM_BATCH};
use crate::{Document, StoreError, feed};

/// Feed resources whose rows go when their node does (ON DELETE CASCADE),
/// so deleting a node announces their deletion too.
const NODE_CHILDREN: &[(&str, &str)] = &[
    ("port", "ports"),
    ("portgroup", "portgroups"),
    ("allocation", "allocations"),
];

/// Times are stored in one fixed-width form so that text order is time
/// order (age-based trimming compares them as text).
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

async fn append(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    events: Vec<NewEvent>,
) -> Result<(), StoreError> {
    let time = stamp(at);
    for e in events {
        if e.kind == "node.provision_state.changed" {
            crate::metrics::transition(&e.data);
        }
        sqlx::query("INSERT INTO events (time, type, resource, uuid, data) VALUES (?, ?, ?, ?, ?)")
            .bind(&time)
            .bind(&e.kind)
            .bind(e.resource)
            .bind(e.uuid.to_string())
            .bind(e.data.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Appends the events of a write of a `D` document: `before` is the stored
/// text it replaced (None for a new document). Kinds outside the feed
/// append nothing.
pub(crate) async fn record_write<D: Document>(
    conn: &mut SqliteConnection,
    uuid: Uuid,
    before: Option<&str>,
    after: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(resource) = D::FEED else {
        return Ok(());
    };
    let after = parse(after, D::KIND)?;
    let events = match before {
        None => vec![feed::created(resource, uuid, after)],
        Some(text) => feed::updated(resource, uuid, &parse(text, D::KIND)?, &after),
    };
    append(conn, at, events).await
}

/// Appends the deletion of a `table` row (and, for a node, of the feed
/// resources that go with it); called before the DELETE, while the
/// children can still be found.
pub(crate) async fn record_delete(
    conn: &mut SqliteConnection,
    table: &Table,
    resource: &'static str,
    uuid: Uuid,
) -> Result<(), StoreError> {
    let mut events = Vec::new();
    if table.name == "nodes" {
        for (child, child_table) in NODE_CHILDREN {
            let sql = format!("SELECT uuid FROM {child_table} WHERE node_uuid = ? ORDER BY id");
            let rows: Vec<String> = sqlx::query_scalar(&sql)
                .bind(uuid.to_string())
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                let id = Uuid::parse_str(&row)
                    .map_err(|e| StoreError::Corrupt(format!("{child} uuid {row}: {e}")))?;
                events.push(feed::deleted(child, id));
            }
        }
    }
    events.push(feed::deleted(resource, uuid));
    append(conn, Utc::now(), events).await
}

/// The newest `seq` ever appended; AUTOINCREMENT keeps it even when every
/// event has been trimmed.
async fn head<'e, E: sqlx::SqliteExecutor<'e>>(conn: E) -> Result<u64, StoreError> {
    let head: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
            .fetch_optional(conn)
            .await?;
    Ok(head.map_or(0, |h| u64::try_from(h).unwrap_or(0)))
}

/// The channel the head is published on, starting at the stored head.
pub(crate) async fn head_channel(
    conn: &mut SqliteConnection,
) -> Result<watch::Sender<u64>, StoreError> {
    Ok(watch::Sender::new(head(conn).await?))
}

/// The writer's after-commit step: publish the head when it moved, which
/// wakes every long poll, stream and webhook delivery waiting on it.
pub(crate) fn publisher(tx: Arc<watch::Sender<u64>>) -> AfterCommit {
    Box::new(move |conn| -> BoxFuture<'_, ()> {
        let tx = Arc::clone(&tx);
        Box::pin(async move {
            match head(conn).await {
                Ok(now) => {
                    tx.send_if_modified(|seen| {
                        let moved = *seen != now;
                        *seen = now;
                        moved
                    });
                }
                Err(e) => tracing::warn!(error = %e, "reading the feed head failed"),
            }
        })
    })
}

/// One page of events after `since` whose type matches `types`, read in
/// one snapshot so `head`, `oldest` and the rows agree. `Trimmed` when
/// events after `since` are gone.
pub(crate) async fn page(
    pool: &SqlitePool,
    since: u64,
    limit: usize,
    types: &[String],
) -> Result<EventPage, StoreError> {
    let mut tx = pool.begin().await?;
    let head = head(&mut *tx).await?;
    let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    let oldest = oldest.map_or(head + 1, |o| u64::try_from(o).unwrap_or(0));
    if since.saturating_add(1) < oldest {
        return Err(StoreError::Trimmed { oldest });
    }
    let (exact, families): (Vec<&String>, Vec<&String>) =
        types.iter().partition(|t| !t.ends_with('*'));
    let mut sql =
        String::from("SELECT seq, time, type, resource, uuid, data FROM events WHERE seq > ?");
    if !types.is_empty() {
        let mut terms: Vec<String> = families
            .iter()
            .map(|_| "substr(type, 1, ?) = ?".to_string())
            .collect();
        if !exact.is_empty() {
            terms.push(format!("type IN ({})", vec!["?"; exact.len()].join(", ")));
        }
        sql.push_str(&format!(" AND ({})", terms.join(" OR ")));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    let mut query = sqlx::query(&sql).bind(i64::try_from(since).unwrap_or(i64::MAX));
    for family in &families {
        let prefix = family.trim_end_matches('*');
        query = query
            .bind(i64::try_from(prefix.chars().count()).unwrap_or(0))
            .bind(prefix);
    }
    for name in &exact {
        query = query.bind(name.as_str());
    }
    let rows = query
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
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

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Event, StoreError> {
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("event {what}: {e}"));
    let seq: i64 = row.try_get(0)?;
    let time: String = row.try_get(1)?;
    let uuid: String = row.try_get(4)?;
    let data: String = row.try_get(5)?;
    Ok(Event {
        seq: u64::try_from(seq).map_err(|e| corrupt("seq", &e))?,
        time: DateTime::parse_from_rfc3339(&time)
            .map_err(|e| corrupt("time", &e))?
            .with_timezone(&Utc),
        kind: row.try_get(2)?,
        resource: row.try_get(3)?,
        uuid: Uuid::parse_str(&uuid).map_err(|e| corrupt("uuid", &e))?,
        data: parse(&data, "event data")?,
    })
}

/// Deletes up to [`TRIM_BATCH`] events that `retention` no longer keeps,
/// never one a webhook subscription has yet to deliver; returns how many.
pub(crate) async fn trim(
    conn: &mut SqliteConnection,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let head = i64::try_from(head(&mut *conn).await?).unwrap_or(i64::MAX);
    let by_count = retention
        .max_count
        .map(|keep| head - i64::try_from(keep).unwrap_or(i64::MAX).min(head));
    let by_age = match retention.max_age {
        Some(age) => {
            let cutoff = now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE time < ?")
                .bind(stamp(cutoff))
                .fetch_one(&mut *conn)
                .await?;
            Some(seq.unwrap_or(0))
        }
        None => None,
    };
    let Some(mut bound) = by_count.into_iter().chain(by_age).max() else {
        return Ok(0);
    };
    let undelivered: Option<i64> =
        sqlx::query_scalar("SELECT MIN(json_extract(doc, '$.last_delivered_seq')) FROM webhooks")
            .fetch_one(&mut *conn)
            .await?;
    if let Some(cursor) = undelivered {
        bound = bound.min(cursor);
    }
    let done = sqlx::query(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq \
         LIMIT ?)",
    )
    .bind(bound)
    .bind(i64::try_from(TRIM_BATCH).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
