//! The statements of the write jobs. Each function runs on the writer
//! connection inside its job's savepoint (see [`super::writer`]), so it may
//! read, check and write without any other writer interleaving.

use chrono::Utc;
use ferrite_model::{Conductor, NodeHistory};
use sqlx::SqliteConnection;
use sqlx::error::DatabaseError;
use uuid::Uuid;

use super::events::{record_delete, record_write};
use crate::document::chassis_not_empty;
use crate::rows::{self, HISTORY_MAX_ENTRIES, encode, not_found, stamp};
use crate::schema::{NODE_HISTORY, Table};
use crate::{Document, Ident, StoreError};

/// The row and document `ident` names, or `NotFound` in the client's words.
async fn fetch_row(
    conn: &mut SqliteConnection,
    table: &Table,
    ident: &Ident,
) -> Result<(i64, String), StoreError> {
    let (column, key) = rows::lookup(table, ident)?;
    let sql = format!("SELECT id, doc FROM {} WHERE {column} = ?", table.name);
    sqlx::query_as(&sql)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| not_found(table.kind, ident))
}

/// The column a unique violation is about: SQLite names it last in
/// "UNIQUE constraint failed: nodes.name" (or "…: t.a, t.b").
fn unique_column(_table: &Table, db: &dyn DatabaseError) -> String {
    db.message()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn explain(table: &Table, doc: &str, e: sqlx::Error) -> StoreError {
    rows::explain(table, doc, e, unique_column)
}

pub(crate) async fn insert<D: Document>(
    conn: &mut SqliteConnection,
    table: &'static Table,
    doc: D,
) -> Result<D, StoreError> {
    let text = encode(&doc)?;
    let sql = format!("INSERT INTO {} (doc) VALUES (?)", table.name);
    if let Err(e) = sqlx::query(&sql).bind(&text).execute(&mut *conn).await {
        return Err(explain(table, &text, e));
    }
    record_write::<D>(conn, doc.uuid(), None, &text, Utc::now()).await?;
    Ok(doc)
}

/// Replaces the document with `doc`'s uuid, or inserts it when there is
/// none.
pub(crate) async fn put<D: Document>(
    conn: &mut SqliteConnection,
    table: &'static Table,
    doc: D,
) -> Result<D, StoreError> {
    let (id, before) = match fetch_row(conn, table, &Ident::Uuid(doc.uuid())).await {
        Ok(row) => row,
        Err(StoreError::NotFound { .. }) => return insert(conn, table, doc).await,
        Err(e) => return Err(e),
    };
    let text = encode(&doc)?;
    let sql = format!("UPDATE {} SET doc = ? WHERE id = ?", table.name);
    sqlx::query(&sql)
        .bind(&text)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(|e| explain(table, &text, e))?;
    record_write::<D>(conn, doc.uuid(), Some(&before), &text, Utc::now()).await?;
    Ok(doc)
}

pub(crate) async fn update<D, T, E, F>(
    conn: &mut SqliteConnection,
    table: &'static Table,
    ident: Ident,
    change: F,
) -> Result<(D, T), E>
where
    D: Document,
    E: From<StoreError>,
    F: FnOnce(&mut D) -> Result<T, E>,
{
    let (id, text) = fetch_row(conn, table, &ident).await?;
    let changed = rows::apply(&text, change)?;
    let sql = format!("UPDATE {} SET doc = ? WHERE id = ?", table.name);
    if let Err(e) = sqlx::query(&sql)
        .bind(&changed.text)
        .bind(id)
        .execute(&mut *conn)
        .await
    {
        return Err(E::from(explain(table, &changed.text, e)));
    }
    append_history(conn, changed.doc.uuid(), changed.history).await?;
    record_write::<D>(
        conn,
        changed.doc.uuid(),
        Some(&text),
        &changed.text,
        Utc::now(),
    )
    .await?;
    Ok((changed.doc, changed.out))
}

/// Appends a node's new history entries and trims its oldest beyond
/// [`HISTORY_MAX_ENTRIES`], on the caller's transaction.
async fn append_history(
    conn: &mut SqliteConnection,
    node: Uuid,
    entries: Vec<NodeHistory>,
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    for entry in entries {
        insert(conn, &NODE_HISTORY, entry).await?;
    }
    sqlx::query(
        "DELETE FROM node_history WHERE node_uuid = ?1 AND id <= \
         (SELECT id FROM node_history WHERE node_uuid = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )
    .bind(node.to_string())
    .bind(HISTORY_MAX_ENTRIES)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete<D: Document>(
    conn: &mut SqliteConnection,
    table: &'static Table,
    uuid: Uuid,
) -> Result<(), StoreError> {
    let key = uuid.to_string();
    if table.kind == "Chassis" {
        let used: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM nodes WHERE chassis_uuid = ? LIMIT 1")
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await?;
        if used.is_some() {
            return Err(StoreError::Conflict(chassis_not_empty(uuid)));
        }
    }
    record_delete::<D>(conn, uuid).await?;
    // A node's ports go by ON DELETE CASCADE in this same statement.
    let sql = format!("DELETE FROM {} WHERE uuid = ?", table.name);
    let done = sqlx::query(&sql).bind(&key).execute(&mut *conn).await?;
    if done.rows_affected() == 0 {
        return Err(not_found(table.kind, uuid));
    }
    Ok(())
}

pub(crate) async fn register_conductor(
    conn: &mut SqliteConnection,
    c: Conductor,
) -> Result<(), StoreError> {
    let drivers = serde_json::to_string(&c.drivers)
        .map_err(|e| StoreError::Corrupt(format!("conductor drivers: {e}")))?;
    let roles = serde_json::to_string(&c.roles)
        .map_err(|e| StoreError::Corrupt(format!("conductor roles: {e}")))?;
    sqlx::query(
        "INSERT INTO conductors (hostname, conductor_group, drivers, online, created_at, \
         updated_at, roles) VALUES (?, ?, ?, 1, ?, ?, ?) \
         ON CONFLICT (hostname) DO UPDATE SET conductor_group = excluded.conductor_group, \
         drivers = excluded.drivers, online = 1, updated_at = excluded.updated_at, \
         roles = excluded.roles",
    )
    .bind(&c.hostname)
    .bind(&c.conductor_group)
    .bind(drivers)
    .bind(stamp(c.created_at))
    .bind(stamp(Utc::now()))
    .bind(roles)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn heartbeat_conductor(
    conn: &mut SqliteConnection,
    hostname: String,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE conductors SET updated_at = ?, online = 1 WHERE hostname = ?")
        .bind(stamp(Utc::now()))
        .bind(&hostname)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found("Conductor", hostname));
    }
    Ok(())
}

pub(crate) async fn unregister_conductor(
    conn: &mut SqliteConnection,
    hostname: String,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE conductors SET online = 0 WHERE hostname = ?")
        .bind(&hostname)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found("Conductor", hostname));
    }
    Ok(())
}

/// Moves the lease expiry of every node `holder` has locked to `until`, in
/// one statement: renewing is one write per heartbeat however many nodes
/// the holder works on. Not a change of the node (no `updated_at`, no
/// history): the lease is bookkeeping of the lock.
pub(crate) async fn renew_leases(
    conn: &mut SqliteConnection,
    holder: String,
    until: chrono::DateTime<Utc>,
) -> Result<u64, StoreError> {
    let until = until.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let done = sqlx::query(
        "UPDATE nodes SET doc = json_set(doc, '$.reservation_expires_at', ?) WHERE reservation = ?",
    )
    .bind(until)
    .bind(&holder)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
