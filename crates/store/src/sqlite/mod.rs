//! The SQLite backend, beside the PostgreSQL one (`crate::postgres`, same
//! module layout) behind the same [`crate::Store`].
//!
//! One dedicated connection writes (see [`writer`]); a small pool of
//! `query_only` connections reads. WAL lets the readers see the last commit
//! while the writer works on the next one.

mod events;
mod query;
mod write;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ferrite_model::Conductor;
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::watch;
use uuid::Uuid;

use crate::events::{EventPage, Retention};
use crate::rows::{ConductorRow, conductor_from_row, decode, decode_page, lookup, not_found};
use crate::schema::{Source, table_for};
use crate::sql::{self, Arg};
use crate::{Document, Ident, ListQuery, MigrationInfo, StoreError};
use query::Sqlite as Dialect;
use writer::Writer;

/// The sqlx database type of this backend.
type Driver = sqlx::Sqlite;

pub use writer::MAX_BATCH;

/// Reader connections: enough for the API and the conductor to read side by
/// side on a small machine without each connection's page cache adding up.
pub const READERS: u32 = 4;

/// How long a connection waits for a lock held by another process (a backup,
/// the `sqlite3` shell) before it reports "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// An open SQLite database: the writer task's handle and the reader pool.
pub(crate) struct Sqlite {
    read: SqlitePool,
    writer: Writer,
    /// The change feed's head `seq`, published after each commit.
    head: Arc<watch::Sender<u64>>,
}

/// What the file at `url` has applied; a file that does not exist has
/// applied nothing, and is not created.
pub(crate) async fn migrations(url: &str) -> Result<Vec<MigrationInfo>, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .busy_timeout(BUSY_TIMEOUT)
        .read_only(true);
    if !options.get_filename().exists() {
        return Ok(crate::migrations::report(&MIGRATOR, &[]));
    }
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let tracked: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut conn)
    .await?;
    let applied: Vec<crate::migrations::AppliedRow> = match tracked {
        Some(_) => {
            sqlx::query_as(crate::migrations::APPLIED)
                .fetch_all(&mut conn)
                .await?
        }
        None => Vec::new(),
    };
    conn.close().await?;
    Ok(crate::migrations::report(&MIGRATOR, &applied))
}

/// The document as `get` reads it.
const DOC: &str = "doc";

/// Nodes a conductor should pick up, in the order they were created.
const PENDING_INTENT: &str =
    "SELECT uuid FROM nodes WHERE has_intent = 1 AND reservation IS NULL ORDER BY id";

/// One conductor by hostname.
const CONDUCTOR: &str = "SELECT hostname, conductor_group, drivers, online, created_at, \
                         updated_at, roles FROM conductors WHERE hostname = ?";

impl Sqlite {
    write_methods!();

    pub(crate) async fn open(url: &str, migrate: bool) -> Result<Sqlite, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Db(sqlx::Error::Configuration(
                "an in-memory database cannot be shared by the writer and the readers".into(),
            )));
        }
        let base = SqliteConnectOptions::from_str(url)?.busy_timeout(BUSY_TIMEOUT);
        let path = base.get_filename().to_path_buf();
        if let Some(dir) = path
            .parent()
            .filter(|d| migrate && !d.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(sqlx::Error::Io)?;
        }
        let write_options = base
            .clone()
            .create_if_missing(migrate)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let mut conn = SqliteConnection::connect_with(&write_options).await?;
        if migrate {
            MIGRATOR.run(&mut conn).await.map_err(sqlx::Error::from)?;
        }
        let head = Arc::new(events::head_channel(&mut conn).await);

        // Sorts of a list page stay in memory instead of a temporary file.
        let read_options = base
            .create_if_missing(false)
            .pragma("query_only", "ON")
            .pragma("temp_store", "MEMORY");
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            // A local file cannot go stale the way a network connection can.
            .test_before_acquire(false)
            .connect_with(read_options)
            .await?;
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Sqlite {
            read,
            writer: Writer::start(conn, events::publisher(Arc::clone(&head))),
            head,
        })
    }

    pub(crate) fn watch_events(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    pub(crate) async fn event_head(&self) -> Result<u64, StoreError> {
        Ok(*self.head.borrow())
    }

    pub(crate) async fn events(
        &self,
        since: u64,
        limit: usize,
        types: &[String],
    ) -> Result<EventPage, StoreError> {
        events::page(&self.read, since, limit, types).await
    }

    pub(crate) async fn trim_events(&self, retention: Retention) -> Result<u64, StoreError> {
        self.writer
            .submit(move |c| -> BoxFuture<'_, _> {
                Box::pin(events::trim(c, retention, chrono::Utc::now()))
            })
            .await
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
    }

    read_methods!();

    pub(crate) async fn list_json<D: Document>(&self, q: &ListQuery) -> Result<String, StoreError> {
        let t = table_for(D::KIND)?;
        let src = Source::Docs(t);
        let marker = self.marker(src, t.kind, q).await?;
        let sql = sql::list(&Dialect, src, q, marker);
        // One row holds the whole page as a JSON array (see `query::Sqlite::page`).
        Ok(
            sqlx::query_scalar_with(&sql.text, sql::arguments::<Driver>(sql.args)?)
                .fetch_one(&self.read)
                .await?,
        )
    }
}
