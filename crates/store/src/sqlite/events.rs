//! The change feed on SQLite: appending a change's events on the writer's
//! transaction, reading pages, the head seq published after each commit,
//! and trimming. Appends happen only on the single writer connection, so
//! events commit in `seq` order and a reader never sees `seq` N+1 before N;
//! the in-process watch is enough to wake waiters, since one process owns
//! a SQLite database.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::watch;
use uuid::Uuid;

use super::query::Sqlite as Dialect;
use super::writer::AfterCommit;
use crate::events::{self, EventPage, NewEvent, Retention, TRIM_BATCH};
use crate::{Document, StoreError, feed};

/// Times are stored in one fixed-width form so that text order is time
/// order (age-based trimming compares them as text).
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn append(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    events: Vec<NewEvent>,
) -> Result<(), StoreError> {
    let time = stamp(at);
    for e in events {
        e.count();
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
/// text it replaced (None for a new document).
pub(crate) async fn record_write<D: Document>(
    conn: &mut SqliteConnection,
    uuid: Uuid,
    before: Option<&str>,
    after: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    append(conn, at, feed::for_write::<D>(uuid, before, after)?).await
}

/// Appends the deletion of a `D` (and, for a node, of the feed resources
/// that go with it); called before the DELETE, while the children can
/// still be found — a failed delete rolls the events back with it.
pub(crate) async fn record_delete<D: Document>(
    conn: &mut SqliteConnection,
    uuid: Uuid,
) -> Result<(), StoreError> {
    if D::FEED.is_none() {
        return Ok(());
    }
    let mut children = Vec::new();
    if D::KIND == "Node" {
        for (child, table) in feed::NODE_CHILDREN {
            let sql = format!("SELECT uuid FROM {table} WHERE node_uuid = ? ORDER BY id");
            let rows: Vec<String> = sqlx::query_scalar(&sql)
                .bind(uuid.to_string())
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                let id = Uuid::parse_str(&row)
                    .map_err(|e| StoreError::Corrupt(format!("{child} uuid {row}: {e}")))?;
                children.push((*child, id));
            }
        }
    }
    append(conn, Utc::now(), feed::for_delete::<D>(uuid, children)).await
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

/// The channel the head is published on, starting at the stored head (0
/// for a database without a feed yet, opened unmigrated).
pub(crate) async fn head_channel(conn: &mut SqliteConnection) -> watch::Sender<u64> {
    watch::Sender::new(head(conn).await.unwrap_or(0))
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
/// one snapshot so `head`, `oldest` and the rows agree.
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
    let oldest = oldest.and_then(|o| u64::try_from(o).ok());
    let (sql, args) = events::page_sql(
        &Dialect,
        "seq, time, type, resource, uuid, data",
        since,
        limit,
        types,
    );
    let rows: Vec<(i64, String, String, String, String, String)> = if since < head {
        sqlx::query_as_with(&sql, crate::sql::arguments::<sqlx::Sqlite>(args)?)
            .fetch_all(&mut *tx)
            .await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    events::assemble(since, head, oldest, || {
        rows.into_iter()
            .map(|(seq, time, kind, resource, uuid, data)| {
                let time = DateTime::parse_from_rfc3339(&time)
                    .map_err(|e| StoreError::Corrupt(format!("event time: {e}")))?
                    .with_timezone(&Utc);
                events::from_columns(seq, time, kind, resource, &uuid, &data)
            })
            .collect()
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
    let aged: Option<i64> = match events::age_cutoff(retention, now) {
        Some(cutoff) => {
            sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE time < ?")
                .bind(stamp(cutoff))
                .fetch_one(&mut *conn)
                .await?
        }
        None => None,
    };
    let undelivered: Option<i64> =
        sqlx::query_scalar("SELECT MIN(json_extract(doc, '$.last_delivered_seq')) FROM webhooks")
            .fetch_one(&mut *conn)
            .await?;
    let Some(bound) = events::trim_bound(retention, head, aged, undelivered) else {
        return Ok(0);
    };
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
