//! The statements of the write jobs on PostgreSQL, parallel to
//! `crate::sqlite::write`. Each function runs inside its job's own
//! transaction (see [`super::writer`]); an update holds its row's lock from
//! its first read to its commit, so no other writer interleaves with it.

use chrono::Utc;
use ferrite_model::{Conductor, NodeHistory};
use sqlx::PgConnection;
use sqlx::error::{DatabaseError, ErrorKind};
use uuid::Uuid;

use super::events::{children_of, record_delete, record_write};
use crate::document::chassis_not_empty;
use crate::rows::{self, HISTORY_MAX_ENTRIES, encode, not_found, stamp};
use crate::schema::{NODE_HISTORY, Table};
use crate::{Document, Ident, StoreError};

/// The row and document `ident` names, locked until the transaction ends,
/// or `NotFound` in the client's words.
async fn fetch_row(
    conn: &mut PgConnection,
    table: &Table,
    ident: &Ident,
) -> Result<(i64, String), StoreError> {
    let (column, key) = rows::lookup(table, ident)?;
    let sql = format!(
        "SELECT id, doc::text FROM {} WHERE {column} = $1 FOR UPDATE",
        table.name
    );
    sqlx::query_as(&sql)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| not_found(table.kind, ident))
}

/// The column a unique violation is about, read off the violated index's
/// name (`<table>_<columns>`, see migrations/postgres): the longest column
/// of the table it ends with, which for a two-column index is the last one,
/// as SQLite reports it.
fn unique_column(table: &Table, db: &dyn DatabaseError) -> String {
    let index = db.constraint().unwrap_or_default();
    table
        .columns
        .iter()
        .filter(|c| index.ends_with(&format!("_{c}")))
        .max_by_key(|c| c.len())
        .map_or_else(|| index.to_string(), |c| (*c).to_string())
}

fn explain(table: &Table, doc: &str, e: sqlx::Error) -> StoreError {
    rows::explain(table, doc, e, unique_column)
}

pub(crate) async fn insert<D: Document>(
    conn: &mut PgConnection,
    table: &'static Table,
    doc: D,
) -> Result<D, StoreError> {
    let text = encode(&doc)?;
    let sql = format!("INSERT INTO {} (doc) VALUES ($1::jsonb)", table.name);
    if let Err(e) = sqlx::query(&sql).bind(&text).execute(&mut *conn).await {
        return Err(explain(table, &text, e));
    }
    record_write::<D>(conn, doc.uuid(), None, &text).await?;
    Ok(doc)
}

/// Replaces the document with `doc`'s uuid, or inserts it when there is
/// none. The stored document is read (and locked) first, for the change
/// feed's `updated` events; when there is none, an insert that yields to a
/// concurrent one (`ON CONFLICT DO NOTHING` waits for it to commit) means
/// the row now exists, and the replacement is tried again.
pub(crate) async fn put<D: Document>(
    conn: &mut PgConnection,
    table: &'static Table,
    doc: D,
) -> Result<D, StoreError> {
    let text = encode(&doc)?;
    let ident = Ident::Uuid(doc.uuid());
    for _ in 0..3 {
        match fetch_row(conn, table, &ident).await {
            Ok((id, before)) => {
                let sql = format!("UPDATE {} SET doc = $1::jsonb WHERE id = $2", table.name);
                if let Err(e) = sqlx::query(&sql)
                    .bind(&text)
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                {
                    return Err(explain(table, &text, e));
                }
                record_write::<D>(conn, doc.uuid(), Some(&before), &text).await?;
                return Ok(doc);
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let sql = format!(
            "INSERT INTO {} (doc) VALUES ($1::jsonb) ON CONFLICT (uuid) DO NOTHING RETURNING id",
            table.name
        );
        let inserted: Option<i64> = match sqlx::query_scalar(&sql)
            .bind(&text)
            .fetch_optional(&mut *conn)
            .await
        {
            Ok(id) => id,
            Err(e) => return Err(explain(table, &text, e)),
        };
        if inserted.is_some() {
            record_write::<D>(conn, doc.uuid(), None, &text).await?;
            return Ok(doc);
        }
    }
    Err(StoreError::Conflict(format!(
        "{} {} is being written by others; try again.",
        table.kind,
        doc.uuid()
    )))
}

pub(crate) async fn update<D, T, E, F>(
    conn: &mut PgConnection,
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
    let sql = format!("UPDATE {} SET doc = $1::jsonb WHERE id = $2", table.name);
    if let Err(e) = sqlx::query(&sql)
        .bind(&changed.text)
        .bind(id)
        .execute(&mut *conn)
        .await
    {
        return Err(E::from(explain(table, &changed.text, e)));
    }
    append_history(conn, changed.doc.uuid(), changed.history).await?;
    record_write::<D>(conn, changed.doc.uuid(), Some(&text), &changed.text).await?;
    Ok((changed.doc, changed.out))
}

/// Appends a node's new history entries and trims its oldest beyond
/// [`HISTORY_MAX_ENTRIES`], in the caller's transaction.
async fn append_history(
    conn: &mut PgConnection,
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
        "DELETE FROM node_history WHERE node_uuid = $1 AND id <= \
         (SELECT id FROM node_history WHERE node_uuid = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(node.to_string())
    .bind(HISTORY_MAX_ENTRIES)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn delete<D: Document>(
    conn: &mut PgConnection,
    table: &'static Table,
    uuid: Uuid,
) -> Result<(), StoreError> {
    let key = uuid.to_string();
    let chassis = table.kind == "Chassis";
    if chassis {
        let used: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM nodes WHERE chassis_uuid = $1 LIMIT 1")
                .bind(&key)
                .fetch_optional(&mut *conn)
                .await?;
        if used.is_some() {
            return Err(StoreError::Conflict(chassis_not_empty(uuid)));
        }
    }
    let children = if D::FEED.is_some() && table.name == "nodes" {
        // Locked first, so the children read are all that go with it.
        sqlx::query("SELECT 1 FROM nodes WHERE uuid = $1 FOR UPDATE")
            .bind(&key)
            .execute(&mut *conn)
            .await?;
        children_of(conn, uuid).await?
    } else {
        Vec::new()
    };
    // A node's ports go by ON DELETE CASCADE in this same statement.
    let sql = format!("DELETE FROM {} WHERE uuid = $1", table.name);
    let done = match sqlx::query(&sql).bind(&key).execute(&mut *conn).await {
        Ok(done) => done,
        // A node that another writer put in the chassis since the check.
        Err(e)
            if chassis
                && e.as_database_error()
                    .is_some_and(|d| d.kind() == ErrorKind::ForeignKeyViolation) =>
        {
            return Err(StoreError::Conflict(chassis_not_empty(uuid)));
        }
        Err(e) => return Err(e.into()),
    };
    if done.rows_affected() == 0 {
        return Err(not_found(table.kind, uuid));
    }
    record_delete::<D>(conn, uuid, children).await
}

pub(crate) async fn register_conductor(
    conn: &mut PgConnection,
    c: Conductor,
) -> Result<(), StoreError> {
    let drivers = serde_json::to_string(&c.drivers)
        .map_err(|e| StoreError::Corrupt(format!("conductor drivers: {e}")))?;
    let roles = serde_json::to_string(&c.roles)
        .map_err(|e| StoreError::Corrupt(format!("conductor roles: {e}")))?;
    sqlx::query(
        "INSERT INTO conductors (hostname, conductor_group, drivers, online, created_at, \
         updated_at, roles) VALUES ($1, $2, $3::jsonb, TRUE, $4, $5, $6::jsonb) \
         ON CONFLICT (hostname) DO UPDATE SET conductor_group = excluded.conductor_group, \
         drivers = excluded.drivers, online = TRUE, updated_at = excluded.updated_at, \
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
    conn: &mut PgConnection,
    hostname: String,
) -> Result<(), StoreError> {
    let done =
        sqlx::query("UPDATE conductors SET updated_at = $1, online = TRUE WHERE hostname = $2")
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
    conn: &mut PgConnection,
    hostname: String,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE conductors SET online = FALSE WHERE hostname = $1")
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
    conn: &mut PgConnection,
    holder: String,
    until: chrono::DateTime<Utc>,
) -> Result<u64, StoreError> {
    let until = until.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let done = sqlx::query(
        "UPDATE nodes SET doc = jsonb_set(doc, '{reservation_expires_at}', to_jsonb($1::text)) \
         WHERE reservation = $2",
    )
    .bind(until)
    .bind(&holder)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
