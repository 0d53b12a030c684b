//! The change feed on PostgreSQL, where many writers — in this process and
//! in others on the same database — append concurrently.
//!
//! **Order.** A reader that has handled every event up to `seq` N must
//! never later find one below N appear: it would skip it for good. With a
//! plain sequence that happens, since transactions draw numbers in one
//! order and commit in another. So an appending transaction takes its
//! numbers from the single row of `event_head` (`UPDATE … RETURNING`) as
//! its *last* statement, and holds that row's lock until it commits: the
//! next appender gets the row only once the previous one has committed and
//! become visible (PostgreSQL releases a transaction's locks after making
//! it visible), so events become visible strictly in `seq` order, without
//! gaps. The price is that appending transactions commit one after another
//! (the lock is held only from the append to the commit, never across a
//! document's own row lock being waited on, so it cannot deadlock); see
//! docs/benchmarks.md for what that costs.
//!
//! **Wake-up.** The appending transaction also calls `pg_notify` with the
//! new head; PostgreSQL delivers it at commit to every process LISTENing.
//! Each store runs one listener task that publishes the head on a watch
//! channel, re-reads the head every [`RECHECK`] in case a notification was
//! lost, and reconnects (re-reading the head) after the connection drops,
//! such as on a PostgreSQL restart.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgListener, PgPool};
use sqlx::{PgConnection, Postgres as Driver};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::query::Postgres as Dialect;
use crate::events::{self, EventPage, NewEvent, Retention, TRIM_BATCH};
use crate::{Document, StoreError, feed};

/// The notification channel appends announce their new head on.
const CHANNEL: &str = "ferrite_events";

/// How often the listener re-reads the head whatever it heard: the safety
/// net for a notification lost while its connection was down.
pub(crate) const RECHECK: Duration = Duration::from_secs(2);

/// Appends `events` at the end of the caller's transaction (see the
/// module's doc: nothing may follow it but the commit), numbered after the
/// head, and announces the new head.
async fn append(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
    events: Vec<NewEvent>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let head: i64 = sqlx::query_scalar("UPDATE event_head SET seq = seq + $1 RETURNING seq")
        .bind(count)
        .fetch_one(&mut *conn)
        .await?;
    let first = head - count + 1;
    let mut kinds = Vec::with_capacity(events.len());
    let mut resources = Vec::with_capacity(events.len());
    let mut uuids = Vec::with_capacity(events.len());
    let mut data = Vec::with_capacity(events.len());
    for e in events {
        e.count();
        kinds.push(e.kind);
        resources.push(e.resource.to_string());
        uuids.push(e.uuid.to_string());
        data.push(e.data.to_string());
    }
    sqlx::query(
        "INSERT INTO events (seq, time, type, resource, uuid, data) \
         SELECT $1 + n - 1, $2, k, r, u, d::jsonb \
         FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[]) \
         WITH ORDINALITY AS e (k, r, u, d, n)",
    )
    .bind(first)
    .bind(at)
    .bind(kinds)
    .bind(resources)
    .bind(uuids)
    .bind(data)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(head.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends the events of a write of a `D` document: `before` is the stored
/// text it replaced (None for a new document). The caller's last step.
pub(crate) async fn record_write<D: Document>(
    conn: &mut PgConnection,
    uuid: Uuid,
    before: Option<&str>,
    after: &str,
) -> Result<(), StoreError> {
    append(conn, Utc::now(), feed::for_write::<D>(uuid, before, after)?).await
}

/// The feed resources that go with node `uuid` when it is deleted, read
/// after the node's row is locked (`FOR UPDATE`), so no child can be added
/// behind the list's back: adding one needs a lock that conflicts with it.
pub(crate) async fn children_of(
    conn: &mut PgConnection,
    uuid: Uuid,
) -> Result<Vec<(&'static str, Uuid)>, StoreError> {
    let mut children = Vec::new();
    for (child, table) in feed::NODE_CHILDREN {
        let sql = format!("SELECT uuid FROM {table} WHERE node_uuid = $1 ORDER BY id");
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
    Ok(children)
}

/// Appends the deletion of a `D` and of the `children` that went with it.
/// The caller's last step, after the DELETE succeeded.
pub(crate) async fn record_delete<D: Document>(
    conn: &mut PgConnection,
    uuid: Uuid,
    children: Vec<(&'static str, Uuid)>,
) -> Result<(), StoreError> {
    append(conn, Utc::now(), feed::for_delete::<D>(uuid, children)).await
}

/// The newest `seq` committed, as the caller's snapshot sees it.
pub(crate) async fn head<'e, E: sqlx::PgExecutor<'e>>(conn: E) -> Result<u64, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT seq FROM event_head")
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(head).unwrap_or(0))
}

/// One page of events after `since` whose type matches `types`, read in
/// one snapshot (REPEATABLE READ) so `head`, `oldest` and the rows agree.
///
/// The transaction runs on a task of its own, like the writes: a long poll
/// whose client hangs up drops its request's future, and a transaction
/// dropped half-way through `BEGIN` could hand its connection back to the
/// pool still inside it.
pub(crate) async fn page(
    pool: &PgPool,
    since: u64,
    limit: usize,
    types: &[String],
) -> Result<EventPage, StoreError> {
    let pool = pool.clone();
    let types = types.to_vec();
    match tokio::spawn(async move { read_page(&pool, since, limit, &types).await }).await {
        Ok(page) => page,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Db(sqlx::Error::WorkerCrashed)),
    }
}

async fn read_page(
    pool: &PgPool,
    since: u64,
    limit: usize,
    types: &[String],
) -> Result<EventPage, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let head = head(&mut *tx).await?;
    let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM events")
        .fetch_one(&mut *tx)
        .await?;
    let oldest = oldest.and_then(|o| u64::try_from(o).ok());
    let (sql, args) = events::page_sql(
        &Dialect,
        "seq, time, type, resource, uuid, data::text",
        since,
        limit,
        types,
    );
    type Columns = (i64, DateTime<Utc>, String, String, String, String);
    let rows: Vec<Columns> = if since < head {
        sqlx::query_as_with(&sql, crate::sql::arguments::<Driver>(args)?)
            .fetch_all(&mut *tx)
            .await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    events::assemble(since, head, oldest, || {
        rows.into_iter()
            .map(|(seq, time, kind, resource, uuid, data)| {
                events::from_columns(seq, time, kind, resource, &uuid, &data)
            })
            .collect()
    })
}

/// Deletes up to [`TRIM_BATCH`] events that `retention` no longer keeps,
/// never one a webhook subscription has yet to deliver; returns how many.
/// Deleting by bound makes it safe to run from several conductors at once:
/// a concurrent run waits on the same rows and finds them gone.
pub(crate) async fn trim(
    conn: &mut PgConnection,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let head = i64::try_from(head(&mut *conn).await?).unwrap_or(i64::MAX);
    let aged: Option<i64> = match events::age_cutoff(retention, now) {
        Some(cutoff) => {
            sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE time < $1")
                .bind(cutoff)
                .fetch_one(&mut *conn)
                .await?
        }
        None => None,
    };
    let undelivered: Option<i64> =
        sqlx::query_scalar("SELECT MIN((doc->>'last_delivered_seq')::bigint) FROM webhooks")
            .fetch_one(&mut *conn)
            .await?;
    let Some(bound) = events::trim_bound(retention, head, aged, undelivered) else {
        return Ok(0);
    };
    let done = sqlx::query(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= $1 ORDER BY seq \
         LIMIT $2)",
    )
    .bind(bound)
    .bind(i64::try_from(TRIM_BATCH).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Raises the published head to `now` (never lowers it: a re-read may race
/// a newer notification).
fn publish(tx: &watch::Sender<u64>, now: u64) {
    tx.send_if_modified(|seen| {
        let moved = now > *seen;
        if moved {
            *seen = now;
        }
        moved
    });
}

/// Re-reads the head, for the start, the periodic re-check and after a
/// reconnection; a failure (the database is down) waits for the next one.
async fn reread(pool: &PgPool, tx: &watch::Sender<u64>) {
    match head(pool).await {
        Ok(now) => publish(tx, now),
        Err(e) => tracing::debug!(error = %e, "re-reading the feed head failed"),
    }
}

/// Starts the listener task of a store on `pool`, publishing on `tx`.
pub(crate) fn listen(pool: PgPool, tx: Arc<watch::Sender<u64>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut listener: Option<PgListener> = None;
        loop {
            let Some(l) = listener.as_mut() else {
                listener = subscribe(&pool).await;
                // Whatever was announced while not listening.
                reread(&pool, &tx).await;
                if listener.is_none() {
                    recheck.tick().await;
                }
                continue;
            };
            tokio::select! {
                heard = l.try_recv() => match heard {
                    Ok(Some(n)) => match n.payload().parse() {
                        Ok(now) => publish(&tx, now),
                        Err(_) => reread(&pool, &tx).await,
                    },
                    // The connection dropped; the next receive reconnects
                    // and listens again, but what was sent meanwhile is lost.
                    Ok(None) => reread(&pool, &tx).await,
                    Err(e) => {
                        tracing::debug!(error = %e, "feed listener lost its connection");
                        listener = None;
                        recheck.tick().await;
                    }
                },
                _ = recheck.tick() => reread(&pool, &tx).await,
            }
        }
    })
}

/// A listener on [`CHANNEL`], or None when the database cannot be reached.
async fn subscribe(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "feed listener cannot connect");
            return None;
        }
    };
    match listener.listen(CHANNEL).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::debug!(error = %e, "feed listener cannot LISTEN");
            None
        }
    }
}
