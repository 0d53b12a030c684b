//! The SQLite backend: all of the store's SQL lives under this module, so a
//! PostgreSQL backend can later sit beside it behind the same [`crate::Store`].
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

use chrono::{DateTime, Utc};
use ferrite_model::Conductor;
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, Connection, Row, SqliteConnection};
use tokio::sync::watch;
use uuid::Uuid;

use crate::events::{EventPage, Retention};
use crate::{Document, Ident, ListQuery, StoreError};
use query::{Arg, Source, Table, table_for};
use write::{decode, decode_page, not_found};
use writer::Writer;

pub use writer::MAX_BATCH;

/// Reader connections: enough for the API and the conductor to read side by
/// side on a small machine without each connection's page cache adding up.
pub const READERS: u32 = 4;

/// How long a connection waits for a lock held by another process (a backup,
/// the `sqlite3` shell) before it reports "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// A conductor row: hostname, group, drivers (JSON), online, created, updated.
type ConductorRow = (
    String,
    String,
    String,
    bool,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// An open SQLite database: the writer task's handle and the reader pool.
pub(crate) struct Sqlite {
    read: SqlitePool,
    writer: Writer,
    /// The change feed's head `seq`, published after each commit.
    head: Arc<watch::Sender<u64>>,
}

fn arguments(args: Vec<Arg>) -> Result<SqliteArguments<'static>, StoreError> {
    let mut out = SqliteArguments::default();
    for a in args {
        let added = match a {
            Arg::Int(i) => out.add(i),
            Arg::Real(r) => out.add(r),
            Arg::Text(s) => out.add(s),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

fn conductor_from_row(row: ConductorRow) -> Result<Conductor, StoreError> {
    let (hostname, conductor_group, drivers, online, created_at, updated_at) = row;
    let drivers = serde_json::from_str(&drivers)
        .map_err(|e| StoreError::Corrupt(format!("drivers of conductor {hostname}: {e}")))?;
    Ok(Conductor {
        hostname,
        conductor_group,
        drivers,
        online,
        created_at,
        updated_at,
    })
}

fn table<D: Document>() -> Result<&'static Table, StoreError> {
    table_for(D::KIND)
}

impl Sqlite {
    pub(crate) async fn open(url: &str) -> Result<Sqlite, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Db(sqlx::Error::Configuration(
                "an in-memory database cannot be shared by the writer and the readers".into(),
            )));
        }
        let base = SqliteConnectOptions::from_str(url)?.busy_timeout(BUSY_TIMEOUT);
        let path = base.get_filename().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(sqlx::Error::Io)?;
        }
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let mut conn = SqliteConnection::connect_with(&write_options).await?;
        MIGRATOR.run(&mut conn).await.map_err(sqlx::Error::from)?;
        let head = Arc::new(events::head_channel(&mut conn).await?);

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
                Box::pin(events::trim(c, retention, Utc::now()))
            })
            .await
    }

    pub(crate) fn write_stats(&self) -> crate::WriteStats {
        self.writer.stats()
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
    }

    pub(crate) async fn insert<D: Document>(&self, doc: D) -> Result<D, StoreError> {
        let t = table::<D>()?;
        self.writer
            .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::insert(c, t, doc)) })
            .await
    }

    pub(crate) async fn put<D: Document>(&self, doc: D) -> Result<D, StoreError> {
        let t = table::<D>()?;
        self.writer
            .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::put(c, t, doc)) })
            .await
    }

    pub(crate) async fn update<D, T, E, F>(&self, ident: &Ident, change: F) -> Result<(D, T), E>
    where
        D: Document,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut D) -> Result<T, E> + Send + 'static,
    {
        let t = table::<D>()?;
        let ident = ident.clone();
        self.writer
            .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::update(c, t, ident, change)) })
            .await
    }

    pub(crate) async fn delete<D: Document>(&self, uuid: Uuid) -> Result<(), StoreError> {
        let t = table::<D>()?;
        self.writer
            .submit(move |c| -> BoxFuture<'_, _> { Box::pin(write::delete::<D>(c, t, uuid)) })
            .await
    }

    pub(crate) async fn get<D: Document>(&self, ident: &Ident) -> Result<D, StoreError> {
        let t = table::<D>()?;
        let (column, key) = match ident {
            Ident::Uuid(u) => ("uuid", u.to_string()),
            Ident::Name(n) if t.by_name => ("name", n.clone()),
            Ident::Name(n) => return Err(not_found(t.kind, n)),
        };
        let sql = format!("SELECT doc FROM {} WHERE {column} = ?", t.name);
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(row) => decode(row.try_get::<&str, _>(0)?),
            None => Err(not_found(t.kind, ident)),
        }
    }

    /// The key of the marker row, or `NotFound` in the resource's words.
    async fn marker(
        &self,
        src: Source,
        kind: &'static str,
        q: &ListQuery,
    ) -> Result<Option<Arg>, StoreError> {
        let Some(marker) = &q.marker else {
            return Ok(None);
        };
        let row = sqlx::query(&query::marker_key(src))
            .bind(marker)
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| not_found(kind, marker))?;
        Ok(Some(match src {
            Source::Docs(_) => Arg::Int(row.try_get(0)?),
            Source::Conductors => Arg::Text(row.try_get(0)?),
        }))
    }

    pub(crate) async fn list<D: Document>(&self, q: &ListQuery) -> Result<Vec<D>, StoreError> {
        decode_page(&self.list_json::<D>(q).await?)
    }

    pub(crate) async fn list_json<D: Document>(&self, q: &ListQuery) -> Result<String, StoreError> {
        let t = table::<D>()?;
        let src = Source::Docs(t);
        let marker = self.marker(src, t.kind, q).await?;
        let sql = query::list(src, q, marker);
        // One row holds the whole page as a JSON array (see `query::list`).
        Ok(sqlx::query_scalar_with(&sql.text, arguments(sql.args)?)
            .fetch_one(&self.read)
            .await?)
    }

    pub(crate) async fn count<D: Document>(&self, q: &ListQuery) -> Result<u64, StoreError> {
        let t = table::<D>()?;
        let sql = query::count(Source::Docs(t), q);
        let n: i64 = sqlx::query_scalar_with(&sql.text, arguments(sql.args)?)
            .fetch_one(&self.read)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn count_by<D: Document>(
        &self,
        field: &str,
        q: &ListQuery,
    ) -> Result<Vec<(Value, u64)>, StoreError> {
        let t = table::<D>()?;
        let sql = query::count_by(Source::Docs(t), field, q);
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as_with(&sql.text, arguments(sql.args)?)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(value, n)| {
                (
                    value.map_or(Value::Null, Value::String),
                    u64::try_from(n).unwrap_or(0),
                )
            })
            .collect())
    }

    pub(crate) async fn nodes_with_pending_intent(&self) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT uuid FROM nodes WHERE has_intent = 1 AND reservation IS NULL ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|u| {
                Uuid::parse_str(u).map_err(|e| StoreError::Corrupt(format!("node uuid {u}: {e}")))
            })
            .collect()
    }

    pub(crate) async fn register_conductor(&self, c: &Conductor) -> Result<(), StoreError> {
        let c = c.clone();
        self.writer
            .submit(move |conn| -> BoxFuture<'_, _> {
                Box::pin(write::register_conductor(conn, c))
            })
            .await
    }

    pub(crate) async fn heartbeat_conductor(&self, hostname: &str) -> Result<(), StoreError> {
        let h = hostname.to_string();
        self.writer
            .submit(move |conn| -> BoxFuture<'_, _> {
                Box::pin(write::heartbeat_conductor(conn, h))
            })
            .await
    }

    pub(crate) async fn unregister_conductor(&self, hostname: &str) -> Result<(), StoreError> {
        let h = hostname.to_string();
        self.writer
            .submit(move |conn| -> BoxFuture<'_, _> {
                Box::pin(write::unregister_conductor(conn, h))
            })
            .await
    }

    pub(crate) async fn conductor(&self, hostname: &str) -> Result<Conductor, StoreError> {
        let row: Option<ConductorRow> = sqlx::query_as(
            "SELECT hostname, conductor_group, drivers, online, created_at, updated_at \
             FROM conductors WHERE hostname = ?",
        )
        .bind(hostname)
        .fetch_optional(&self.read)
        .await?;
        conductor_from_row(row.ok_or_else(|| not_found("Conductor", hostname))?)
    }

    pub(crate) async fn list_conductors(
        &self,
        q: &ListQuery,
    ) -> Result<Vec<Conductor>, StoreError> {
        let src = Source::Conductors;
        let marker = self.marker(src, "Conductor", q).await?;
        let sql = query::list(src, q, marker);
        let rows: Vec<ConductorRow> = sqlx::query_as_with(&sql.text, arguments(sql.args)?)
            .fetch_all(&self.read)
            .await?;
        rows.into_iter().map(conductor_from_row).collect()
    }
}
