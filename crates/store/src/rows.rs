//! What every backend does the same around its SQL: documents to rows and
//! back, a change applied to a document, and a refusal of the database
//! turned into the error the client should see.

use chrono::Utc;
use ferrite_model::NodeHistory;
use serde_json::Value;
use sqlx::error::{DatabaseError, ErrorKind};

use crate::document::conflict_message;
use crate::schema::Table;
use crate::{Document, StoreError};

/// The `NotFound` error in Ironic's words, echoing what the client named.
pub(crate) fn not_found(kind: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}

/// The column and key `ident` finds a row of `table` by; a name where the
/// kind has none is `NotFound` at once.
pub(crate) fn lookup(
    table: &Table,
    ident: &crate::Ident,
) -> Result<(&'static str, String), StoreError> {
    match ident {
        crate::Ident::Uuid(u) => Ok(("uuid", u.to_string())),
        crate::Ident::Name(n) if table.by_name => Ok(("name", n.clone())),
        crate::Ident::Name(n) => Err(not_found(table.kind, n)),
    }
}

/// One stored document back into its type; a mismatch is `Corrupt`.
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

/// A document as the JSON text both backends store.
pub(crate) fn encode<D: Document>(doc: &D) -> Result<String, StoreError> {
    serde_json::to_string(doc)
        .map_err(|e| StoreError::Corrupt(format!("{} does not serialize: {e}", D::KIND)))
}

/// A document after a successful change: what to write and what to record.
pub(crate) struct Changed<D, T> {
    pub doc: D,
    pub out: T,
    /// The new document's JSON.
    pub text: String,
    /// History entries the change adds, to append in the same transaction.
    pub history: Vec<NodeHistory>,
}

/// Applies `change` to the stored `text`, stamping `updated_at`; nothing is
/// written here, so a refusal (an `Err` from `change`) writes nothing.
pub(crate) fn apply<D, T, E, F>(text: &str, change: F) -> Result<Changed<D, T>, E>
where
    D: Document,
    E: From<StoreError>,
    F: FnOnce(&mut D) -> Result<T, E>,
{
    let mut doc: D = decode(text)?;
    let mark = doc.history_mark();
    let out = change(&mut doc)?;
    let now = Utc::now();
    doc.set_updated_at(now);
    let text = encode(&doc)?;
    let history = mark.map_or_else(Vec::new, |m| doc.history_since(&m, now));
    Ok(Changed {
        doc,
        out,
        text,
        history,
    })
}

/// Turns a constraint violation from writing `doc` into the error the client
/// should see; anything else stays a database error. `unique_column` names
/// the column a unique violation is about, as the backend reports it.
pub(crate) fn explain(
    table: &Table,
    doc: &str,
    e: sqlx::Error,
    unique_column: fn(&Table, &dyn DatabaseError) -> String,
) -> StoreError {
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
            let column = unique_column(table, db);
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

/// A conductor row: hostname, group, drivers (JSON text), online, created,
/// updated.
pub(crate) type ConductorRow = (
    String,
    String,
    String,
    bool,
    chrono::DateTime<Utc>,
    Option<chrono::DateTime<Utc>>,
    String,
);

/// A conductor row as the model type; drivers that no longer decode are
/// `Corrupt`.
pub(crate) fn conductor_from_row(
    row: ConductorRow,
) -> Result<ferrite_model::Conductor, StoreError> {
    let (hostname, conductor_group, drivers, online, created_at, updated_at, roles) = row;
    let drivers = serde_json::from_str(&drivers)
        .map_err(|e| StoreError::Corrupt(format!("drivers of conductor {hostname}: {e}")))?;
    let roles = serde_json::from_str(&roles)
        .map_err(|e| StoreError::Corrupt(format!("roles of conductor {hostname}: {e}")))?;
    Ok(ferrite_model::Conductor {
        hostname,
        conductor_group,
        drivers,
        online,
        created_at,
        updated_at,
        roles,
    })
}

/// Entries kept per node; older ones are dropped as new ones arrive
/// (Ironic's `node_history_max_entries`).
pub(crate) const HISTORY_MAX_ENTRIES: i64 = 300;

/// Conductor timestamps as the store keeps them: to the microsecond, the
/// precision PostgreSQL keeps, so that what is read back equals what was
/// written on every backend.
pub(crate) fn stamp(at: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
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
