//! Ferrite's persistence layer. Every resource is stored as one JSON
//! document per row with generated, indexed columns for the fields that are
//! unique, filtered or sorted on. Two backends keep the same semantics,
//! chosen by the database URL:
//! - SQLite (`sqlite:PATH`), the all-in-one default, reached through a
//!   single writer path (group commit) and a pool of readers;
//! - PostgreSQL (`postgresql://…`), for several processes on one database:
//!   every write is its own transaction, concurrent with the others, and an
//!   update locks just its row (`SELECT … FOR UPDATE`).
//!
//! The signatures in this file are the contract the api and conductor crates
//! are written against; each backend's SQL lives in its own module
//! (`src/sqlite/`, `src/postgres/`, with the same layout), and what they
//! share (schema, query shapes, row handling) beside them.

#[macro_use]
mod macros;
mod coordination;
mod document;
pub mod events;
mod feed;
mod metrics;
mod migrations;
mod postgres;
mod rows;
mod schema;
mod sql;
mod sqlite;
pub mod testing;

use std::sync::Arc;

use ferrite_model::Conductor;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use uuid::Uuid;

pub use coordination::{CallRow, Listener, Notice};
pub use migrations::{MigrationInfo, MigrationState};
pub use sqlite::{MAX_BATCH, READERS};

/// How a client names a resource in a path: a UUID or a logical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ident {
    /// The canonical identity; every resource has one.
    Uuid(Uuid),
    /// A logical name, so operators can use their own labels; only nodes
    /// and ports have names.
    Name(String),
}

impl Ident {
    /// A canonical UUID string becomes `Uuid`, anything else `Name`.
    pub fn parse(s: &str) -> Ident {
        match ferrite_model::ident::parse_uuid(s) {
            Some(u) => Ident::Uuid(u),
            None => Ident::Name(s.to_string()),
        }
    }
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Uuid(u) => write!(f, "{u}"),
            Ident::Name(n) => f.write_str(n),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `"{kind} {id} could not be found."` — kind is `Node`, `Port`, `Chassis`, `Conductor`.
    #[error("{kind} {id} could not be found.")]
    NotFound {
        /// Which kind of resource, as Ironic names it in the message.
        kind: &'static str,
        /// The identifier exactly as the client gave it, so the message
        /// echoes what they asked for.
        id: String,
    },
    /// A unique field collided; the message is Ironic's wording, e.g.
    /// "A node with name n1 already exists."
    #[error("{0}")]
    Conflict(String),
    /// The database itself failed (I/O, a closed store, a broken
    /// transaction); the caller cannot fix it by changing the request.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The change feed no longer holds the events after the `since` a
    /// consumer asked for; it must start again from `oldest` (after a
    /// resynchronisation of its own).
    #[error(
        "Events after the requested position were trimmed by the retention policy; the oldest \
         available event is {oldest}."
    )]
    Trimmed {
        /// The oldest `seq` still kept.
        oldest: u64,
    },
    /// A stored row no longer decodes into its model type; kept apart from
    /// `Db` because it points at data, not at the database.
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
}

/// A resource kept as a document.
pub trait Document: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// Name used in messages ("Node", "Port", "Chassis", "Portgroup",
    /// "Volume connector", "Volume target"), in Ironic's words; the store
    /// also finds the kind's table by it.
    const KIND: &'static str;
    /// The identity the store keys rows, markers and messages on.
    fn uuid(&self) -> Uuid;
    /// Lets the store stamp every durable change, so callers cannot forget.
    fn set_updated_at(&mut self, at: chrono::DateTime<chrono::Utc>);
    /// The resource's name in the change feed (`node`, `port`, …), whose
    /// every insert, update and delete the store appends as events in the
    /// change's own transaction; `None` for kinds outside the feed.
    const FEED: Option<&'static str> = None;
    /// What history is derived from, taken before a change; `None` for
    /// kinds that keep no history (all but nodes).
    fn history_mark(&self) -> Option<ferrite_model::HistoryMark> {
        None
    }
    /// The history entries a change from `before` adds, written by the
    /// store in the change's own transaction.
    fn history_since(
        &self,
        _before: &ferrite_model::HistoryMark,
        _at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<ferrite_model::NodeHistory> {
        Vec::new()
    }
}

/// One condition of a list query on a document field (top-level key).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// field == value (JSON scalar; `Value::Null` matches null/absent).
    Eq(String, Value),
    /// field equals one of the values.
    In(String, Vec<Value>),
    /// Case-insensitive equality on a string field.
    EqIgnoreCase(String, String),
    /// Field is (true) / is not (false) null.
    IsNull(String, bool),
    /// Case-insensitive substring of a string field.
    Contains(String, String),
    /// `owner` or `lessee` equals the project.
    OwnerOrLessee(String),
    /// The document's `node_uuid` names a node that matches the filter:
    /// ports and portgroups listed by their node's shard or group.
    OfNodes(Box<Filter>),
}

/// A page request: filters, ordering and paging.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListQuery {
    /// Conditions that all must hold (AND).
    pub filters: Vec<Filter>,
    /// Field to order by; `"id"` (insertion order) when unset.
    pub sort_key: Option<String>,
    /// Descending order; ties on the sort key then also go by descending id.
    pub sort_desc: bool,
    /// At most this many rows (the API caps it at 1000).
    pub limit: Option<usize>,
    /// Return rows after the one with this uuid (or conductor hostname) in
    /// the requested order. An unknown marker is `NotFound`.
    pub marker: Option<String>,
}

/// Counters of the write path since the store was opened: how many
/// transactions committed and how many writes they carried. On SQLite
/// `jobs / commits` is the group-commit factor, the number to watch (and
/// export as a metric) when write latency grows; on PostgreSQL every write
/// is its own transaction, so the two are equal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed (one fsync each).
    pub commits: u64,
    /// Writes attempted: on SQLite those carried by committed batches,
    /// including ones that failed on their own (a refused update, a
    /// conflict); on PostgreSQL every write that began its transaction.
    pub jobs: u64,
    /// Transactions whose COMMIT (or BEGIN) failed; each of their writes got
    /// the error.
    pub failed_commits: u64,
}

/// Which database engine a store is on, read off its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:PATH`: one file, one process.
    Sqlite,
    /// `postgresql://…` (or `postgres://…`): one server, any number of
    /// processes.
    Postgres,
}

impl Backend {
    /// The backend a database URL names; anything else is refused with the
    /// forms that are understood, so a typo is not taken for a file name.
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgresql://") || url.starts_with("postgres://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Db(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL {:?}: expected sqlite:PATH or postgresql://…",
                    redact_url(url)
                )
                .into(),
            )))
        }
    }

    /// The name operators see in logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// `url` with any password replaced by `***`, so a URL can be logged or
/// printed without giving the database away.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// An open database of either backend.
enum Db {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Calls the same method on whichever backend the store is on.
macro_rules! dispatch {
    ($self:ident . $method:ident $(::<$($t:ty),+>)? ($($arg:expr),*)) => {
        match &*$self.db {
            Db::Sqlite(db) => db.$method $(::<$($t),+>)? ($($arg),*).await,
            Db::Postgres(db) => db.$method $(::<$($t),+>)? ($($arg),*).await,
        }
    };
}

/// The write counters both backends keep, read as [`WriteStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub commits: std::sync::atomic::AtomicU64,
    pub jobs: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

impl Counters {
    pub(crate) fn stats(&self) -> WriteStats {
        use std::sync::atomic::Ordering::Relaxed;
        WriteStats {
            commits: self.commits.load(Relaxed),
            jobs: self.jobs.load(Relaxed),
            failed_commits: self.failed.load(Relaxed),
        }
    }
}

/// The store handle; cheap to clone. Every clone shares the backend's
/// connections: on SQLite one writer task and one reader pool, so the whole
/// process funnels its writes through a single connection (no "database is
/// locked") while reads run in parallel; on PostgreSQL one pool.
#[derive(Clone)]
pub struct Store {
    db: Arc<Db>,
}

impl Store {
    /// Opens the database at `url` (`sqlite:PATH` or `postgresql://…`) and
    /// applies every pending migration; a missing SQLite file is created (a
    /// PostgreSQL database must exist).
    ///
    /// The SQLite writer task is spawned on the current Tokio runtime, so
    /// the store lives as long as that runtime does. In-memory SQLite URLs
    /// are refused: the writer and the readers must see the same database.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, true).await
    }

    /// Opens an existing database as it is, without migrating it, for
    /// tools that inspect a database a newer or older binary may own
    /// (`ferrite upgrade-check`).
    pub async fn open_unmigrated(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, false).await
    }

    async fn open_with(url: &str, migrate: bool) -> Result<Store, StoreError> {
        let db = match Backend::of_url(url)? {
            Backend::Sqlite => Db::Sqlite(sqlite::Sqlite::open(url, migrate).await?),
            Backend::Postgres => Db::Postgres(postgres::Postgres::open(url, migrate).await?),
        };
        Ok(Store { db: Arc::new(db) })
    }

    /// Every migration this build ships and every one the database at
    /// `url` has applied, each with its state, in version order; nothing is
    /// created or changed. A SQLite file that does not exist yet has every
    /// migration pending.
    pub async fn migrations(url: &str) -> Result<Vec<MigrationInfo>, StoreError> {
        match Backend::of_url(url)? {
            Backend::Sqlite => sqlite::migrations(url).await,
            Backend::Postgres => postgres::migrations(url).await,
        }
    }

    /// Which backend this store is on.
    pub fn backend(&self) -> Backend {
        match &*self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Finishes the writes already queued, then closes the writer and the
    /// readers, so a clean shutdown leaves a checkpointed database behind.
    /// Every clone of this handle fails with a `Db` error afterwards.
    pub async fn close(&self) {
        dispatch!(self.close());
    }

    /// What the writer has done so far, for metrics and benchmarks.
    pub fn write_stats(&self) -> WriteStats {
        match &*self.db {
            Db::Sqlite(db) => db.write_stats(),
            Db::Postgres(db) => db.write_stats(),
        }
    }

    /// Inserts a new document; `Conflict` when a unique field collides.
    pub async fn insert<D: Document>(&self, doc: D) -> Result<D, StoreError> {
        dispatch!(self.insert(doc))
    }

    /// Stores `doc` whole: replaces the document with its uuid, or inserts
    /// it. For records a driver reports afresh each time (an inventory).
    pub async fn put<D: Document>(&self, doc: D) -> Result<D, StoreError> {
        dispatch!(self.put(doc))
    }

    /// Reads one document by uuid or (for nodes) name.
    pub async fn get<D: Document>(&self, ident: &Ident) -> Result<D, StoreError> {
        dispatch!(self.get(ident))
    }

    /// Lists documents matching `query`.
    pub async fn list<D: Document>(&self, query: &ListQuery) -> Result<Vec<D>, StoreError> {
        dispatch!(self.list(query))
    }

    /// Lists documents matching `query` as stored: one JSON array of the
    /// documents, in order. For readers that only render what they list
    /// (the API's node lists), where decoding every document into its type
    /// would cost more than the rendering itself.
    pub async fn list_json<D: Document>(&self, query: &ListQuery) -> Result<String, StoreError> {
        dispatch!(self.list_json::<D>(query))
    }

    /// Counts documents matching the filters of `query`.
    pub async fn count<D: Document>(&self, query: &ListQuery) -> Result<u64, StoreError> {
        dispatch!(self.count::<D>(query))
    }

    /// How many documents of each distinct value of `field` match `query`
    /// (null included), most numerous first: `/v1/shards` and the like.
    pub async fn count_by<D: Document>(
        &self,
        field: &str,
        query: &ListQuery,
    ) -> Result<Vec<(Value, u64)>, StoreError> {
        dispatch!(self.count_by::<D>(field, query))
    }

    /// Read-modify-write of one document in one transaction: `change` sees
    /// the current document and may refuse (returning `Err`, nothing is
    /// written) or mutate it; `updated_at` is stamped. No other write of
    /// that document interleaves (SQLite: the single writer path;
    /// PostgreSQL: the row is locked `FOR UPDATE`). The result is returned
    /// only once the change is durable.
    ///
    /// `change` runs while the write is held (on SQLite, on the writer
    /// task), so it must be quick and must not block; a panic inside it is
    /// re-raised in the caller. Once submitted, the change happens even if
    /// the caller stops waiting for it.
    pub async fn update<D, T, E, F>(&self, ident: &Ident, change: F) -> Result<(D, T), E>
    where
        D: Document,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut D) -> Result<T, E> + Send + 'static,
    {
        dispatch!(self.update(ident, change))
    }

    /// Deletes one document by uuid. Deleting a node deletes its ports.
    pub async fn delete<D: Document>(&self, uuid: Uuid) -> Result<(), StoreError> {
        dispatch!(self.delete::<D>(uuid))
    }

    /// Events after `since` (oldest first, at most `limit`) whose type
    /// matches `types` (exact names or `family.*`; empty for all).
    /// `Trimmed` when retention already removed some of them.
    pub async fn events(
        &self,
        since: u64,
        limit: usize,
        types: &[String],
    ) -> Result<events::EventPage, StoreError> {
        dispatch!(self.events(since, limit, types))
    }

    /// The feed's head `seq`, updated after every commit that appended
    /// events — by this process, or on PostgreSQL by any process on the
    /// database (LISTEN/NOTIFY, with a periodic re-check): long polls,
    /// streams and webhook deliveries wait on it instead of polling.
    pub fn watch_events(&self) -> tokio::sync::watch::Receiver<u64> {
        match &*self.db {
            Db::Sqlite(db) => db.watch_events(),
            Db::Postgres(db) => db.watch_events(),
        }
    }

    /// The newest `seq` appended and committed, read now (the watch may be
    /// a moment behind another process's commit).
    pub async fn event_head(&self) -> Result<u64, StoreError> {
        dispatch!(self.event_head())
    }

    /// Deletes up to [`events::TRIM_BATCH`] events `retention` no longer
    /// keeps (never ones a webhook has yet to deliver); returns how many,
    /// so the caller repeats while there are more. Safe to run from any
    /// number of processes at once: it deletes by bound, so a repeat or a
    /// concurrent run deletes nothing twice.
    pub async fn trim_events(&self, retention: events::Retention) -> Result<u64, StoreError> {
        dispatch!(self.trim_events(retention))
    }

    /// Uuids of nodes that carry a pending intent and no reservation.
    pub async fn nodes_with_pending_intent(&self) -> Result<Vec<Uuid>, StoreError> {
        dispatch!(self.nodes_with_pending_intent())
    }

    /// Registers (or re-registers) a conductor as online.
    pub async fn register_conductor(&self, c: &Conductor) -> Result<(), StoreError> {
        dispatch!(self.register_conductor(c))
    }

    /// Refreshes a conductor's `updated_at` (and, as Ironic does, marks it
    /// online again), so others can tell it is alive.
    pub async fn heartbeat_conductor(&self, hostname: &str) -> Result<(), StoreError> {
        dispatch!(self.heartbeat_conductor(hostname))
    }

    /// Renews the lease of every node lock `holder` holds until `until`;
    /// returns how many it renewed. Called by the holder on each heartbeat,
    /// so its leases outlive it by at most the heartbeat timeout.
    pub async fn renew_leases(
        &self,
        holder: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self.renew_leases(holder, until))
    }

    /// Marks a conductor offline.
    pub async fn unregister_conductor(&self, hostname: &str) -> Result<(), StoreError> {
        dispatch!(self.unregister_conductor(hostname))
    }

    /// One conductor by hostname.
    pub async fn conductor(&self, hostname: &str) -> Result<Conductor, StoreError> {
        dispatch!(self.conductor(hostname))
    }

    /// Conductors, ordered and paged by hostname.
    pub async fn list_conductors(&self, query: &ListQuery) -> Result<Vec<Conductor>, StoreError> {
        dispatch!(self.list_conductors(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend_and_hide_their_password() {
        assert_eq!(Backend::of_url("sqlite:/d/f.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgres://h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::of_url("/d/f.db").is_err());
        assert_eq!(
            redact_url("postgresql://u:p@ss@h:5432/db?sslmode=require"),
            "postgresql://u:***@h:5432/db?sslmode=require"
        );
        assert_eq!(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(redact_url("sqlite:/d/f.db"), "sqlite:/d/f.db");
    }
}
