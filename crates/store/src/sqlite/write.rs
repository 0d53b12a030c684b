//! The statements of the write jobs. Each function runs on the writer
//! connection inside its job's savepoint (see [`super::writer`]), so it may
//! read, check and write without any other writer interleaving.

use chrono::Utc;
use ferrite_model::{Conductor, NodeHistory};
use serde_json::Value;
use sqlx::SqliteConnection;
use sqlx::error::ErrorKind;
use uuid::Uuid;

use super::events::{record_delete, record_write};
use super::query::{NODE_HISTORY, Table};
use crate::document::{chassis_not_empty, conflict_message};
use crate::{Document, Ident, StoreError};

/// The row and document `ident` names, or `NotFound` in the client's words.
async fn fetch_row(
    conn: &mut SqliteConnection,
    table: &Table,
    ident: &Ident,
) -> Result<(i64, String), StoreError> {
    let (column, key) = match ident {
        Ident::Uuid(u) => ("uuid", u.to_string()),
        Ident::Name(n) if table.by_name => ("name", n.clone()),
        Ident::Name(n) => return Err(not_found(table.kind, n)),
    };
    let sql = format!("SELECT id, doc FROM {} WHERE {column} = ?", table.name);
    sqlx::query_as(&sql)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| not_found(table.kind, ident))
}

pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}

pub(crate) fn decode<D: Document>(text: &str) -> Result<D, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{}: {e}", D::KIND)))
}

/// Decodes a page of documents stored as one JSON array. Large pages are
/// decoded on two threads: the array is first split into its documents
/// (a scan, no decoding), then each half decoded on its own core.
pub(crate) fn decode_page<D: Document>(text: &str) -> Result<Vec<D>, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("{} page: {e}", D::KIND));
    let docs: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(corrupt)?;
    let decode_all = |part: &[&serde_json::value::RawValue]| -> Result<Vec<D>, StoreError> {
        part.iter()
            .map(|raw| serde_json::from_str(raw.get()).map_err(corrupt))
            .collect()
    };
    if docs.len() < PARALLEL_DECODE_MIN {
        return decode_all(&docs);
    }
    let (first, second) = docs.split_at(docs.len() / 2);
    let (mut head, tail) = std::thread::scope(|scope| {
        let other = scope.spawn(|| decode_all(second));
        let head = decode_all(first);
        (head, other.join())
    });
    let tail =
        tail.map_err(|_| StoreError::Corrupt(format!("{} page: decoding panicked", D::KIND)))??;
    if let Ok(list) = head.as_mut() {
        list.extend(tail);
    }
    head
}

/// Pages smaller than this are decoded on the calling thread: a second
/// thread costs more than it saves.
const PARALLEL_DECODE_MIN: usize = 256;

fn encode<D: Document>(doc: &D) -> Result<String, StoreError> {
    serde_json::to_string(doc)
        .map_err(|e| StoreError::Corrupt(format!("{} does not serialize: {e}", D::KIND)))
}

/// Turns a constraint violation from writing `doc` into the error the client
/// should see; anything else stays a database error.
fn explain(table: &Table, doc: &str, e: sqlx::Error) -> StoreError {
    let Some(db) = e.as_database_error() else {
        return StoreError::Db(e);
    };
    let fields: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
    let field = |name: &str| match fields.get(name) {
        Some(Value::String(s)) => s.clone(),
        _ => "None".to_string(),
    };
    match db.kind() {
        ErrorKind::UniqueViolation => {
            // "UNIQUE constraint failed: nodes.name"
            let column = db
                .message()
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            StoreError::Conflict(conflict_message(table.kind, &column, &fields))
        }
        // The row's parent is missing, or (a node whose uuid changed) its
        // children would be orphaned.
        ErrorKind::ForeignKeyViolation => match table.parent {
            Some((key, kind)) if fields.get(key).is_some_and(|v| !v.is_null()) => {
                not_found(kind, field(key))
            }
            _ => StoreError::Conflict(format!(
                "{} {} is still referenced by other resources.",
                table.kind,
                field("uuid")
            )),
        },
        _ => StoreError::Db(e),
    }
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
    let (id, before) = fetch_row(conn, table, &ident).await?;
    let mut doc: D = decode(&before)?;
    let mark = doc.history_mark();
    let out = change(&mut doc)?;
    let now = Utc::now();
    doc.set_updated_at(now);
    let text = encode(&doc)?;
    let sql = format!("UPDATE {} SET doc = ? WHERE id = ?", table.name);
    if let Err(e) = sqlx::query(&sql)
        .bind(&text)
        .bind(id)
        .execute(&mut *conn)
        .await
    {
        return Err(E::from(explain(table, &text, e)));
    }
    if let Some(mark) = mark {
        append_history(conn, doc.uuid(), doc.history_since(&mark, now)).await?;
    }
    record_write::<D>(conn, doc.uuid(), Some(&before), &text, now).await?;
    Ok((doc, out))
}

/// Entries kept per node; older ones are dropped as new ones arrive
/// (Ironic's `node_history_max_entries`).
pub(crate) const HISTORY_MAX_ENTRIES: i64 = 300;

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
    // Announced first, while a node's children can still be found; a
    // failed delete rolls the announcement back with it.
    if let Some(resource) = D::FEED {
        record_delete(conn, table, resource, uuid).await?;
    }
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
    sqlx::query(
        "INSERT INTO conductors (hostname, conductor_group, drivers, online, created_at, \
         updated_at) VALUES (?, ?, ?, 1, ?, ?) \
         ON CONFLICT (hostname) DO UPDATE SET conductor_group = excluded.conductor_group, \
         drivers = excluded.drivers, online = 1, updated_at = excluded.updated_at",
    )
    .bind(&c.hostname)
    .bind(&c.conductor_group)
    .bind(drivers)
    .bind(c.created_at)
    .bind(Utc::now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn heartbeat_conductor(
    conn: &mut SqliteConnection,
    hostname: String,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE conductors SET updated_at = ?, online = 1 WHERE hostname = ?")
        .bind(Utc::now())
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_model::Chassis;

    #[test]
    fn large_pages_decode_in_order_on_two_threads() {
        let docs: Vec<Chassis> = (0..PARALLEL_DECODE_MIN * 2 + 1)
            .map(|i| Chassis {
                description: Some(format!("c{i}")),
                ..Chassis::default()
            })
            .collect();
        let text = serde_json::to_string(&docs).unwrap();
        let back: Vec<Chassis> = decode_page(&text).unwrap();
        assert_eq!(back, docs);
        let small: Vec<Chassis> = decode_page(&serde_json::to_string(&docs[..3]).unwrap()).unwrap();
        assert_eq!(small, docs[..3]);
        let broken = text.replace("\"c300\"", "300");
        assert!(matches!(
            decode_page::<Chassis>(&broken),
            Err(StoreError::Corrupt(_))
        ));
    }
}
