//! The PostgreSQL backend, beside the SQLite one (`crate::sqlite`, same
//! module layout) behind the same [`crate::Store`].
//!
//! One pool serves reads and writes. Writes are not funnelled through one
//! connection as on SQLite: each is its own transaction (see [`writer`]),
//! and PostgreSQL's row locks, unique indexes and foreign keys keep
//! concurrent writers — in this process or in others on the same database —
//! from losing or tearing each other's changes.

mod events;
mod query;
mod write;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use ferrite_model::Conductor;
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Row};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::events::{EventPage, Retention};
use crate::rows::{ConductorRow, conductor_from_row, decode, decode_page, lookup, not_found};
use crate::schema::{Source, table_for};
use crate::sql::{self, Arg};
use crate::{Document, Ident, ListQuery, MigrationInfo, StoreError};
use query::Postgres as Dialect;
use writer::Writer;

/// The sqlx database type of this backend.
type Driver = sqlx::Postgres;

/// Connections per process: enough for the API's readers and the
/// conductor's writers side by side, few enough that a handful of
/// processes stay well inside PostgreSQL's default `max_connections` (100).
pub const POOL_SIZE: u32 = 16;

/// How long a request waits for a free connection before failing, rather
/// than queueing forever behind a stuck database.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The shipped migrations (also what test templates are named after).
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The document as `get` reads it.
const DOC: &str = "doc::text";

/// Nodes a conductor should pick up, in the order they were created (the
/// partial index `nodes_pending_intent` holds exactly these).
const PENDING_INTENT: &str =
    "SELECT uuid FROM nodes WHERE has_intent AND reservation IS NULL ORDER BY id";

/// One conductor by hostname.
const CONDUCTOR: &str = "SELECT hostname, conductor_group, drivers::text, online, created_at, \
                         updated_at, roles::text FROM conductors WHERE hostname = $1";

/// An open PostgreSQL database: one pool for reads and writes, and the
/// change feed's listener.
pub(crate) struct Postgres {
    read: PgPool,
    writer: Writer,
    /// The change feed's head `seq` as any process on the database moved
    /// it, kept by `listener`.
    head: Arc<watch::Sender<u64>>,
    listener: JoinHandle<()>,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(url.parse()?)
}

/// What the database at `url` has applied; nothing is created.
pub(crate) async fn migrations(url: &str) -> Result<Vec<MigrationInfo>, StoreError> {
    let mut conn = options(url)?.connect().await?;
    let tracked: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    let applied: Vec<crate::migrations::AppliedRow> = if tracked {
        sqlx::query_as(crate::migrations::APPLIED)
            .fetch_all(&mut conn)
            .await?
    } else {
        Vec::new()
    };
    conn.close().await?;
    Ok(crate::migrations::report(&MIGRATOR, &applied))
}

impl Postgres {
    write_methods!();

    pub(crate) async fn open(url: &str, migrate: bool) -> Result<Postgres, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options(url)?)
            .await?;
        if migrate {
            // sqlx holds an advisory lock while it migrates, so processes
            // starting together on one database migrate it once.
            MIGRATOR.run(&pool).await.map_err(sqlx::Error::from)?;
        }
        tracing::debug!(url = %crate::redact_url(url), "store opened");
        // A database opened unmigrated may have no feed yet: its head is 0.
        let head = Arc::new(watch::Sender::new(events::head(&pool).await.unwrap_or(0)));
        Ok(Postgres {
            read: pool.clone(),
            listener: events::listen(pool.clone(), Arc::clone(&head)),
            writer: Writer::start(pool),
            head,
        })
    }

    /// The pool, for the coordination statements that exist only on
    /// PostgreSQL (see `crate::coordination`).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.read
    }

    pub(crate) async fn close(&self) {
        self.listener.abort();
        self.writer.close().await;
    }

    pub(crate) fn watch_events(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    pub(crate) async fn event_head(&self) -> Result<u64, StoreError> {
        events::head(&self.read).await
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

    read_methods!();

    pub(crate) async fn list_json<D: Document>(&self, q: &ListQuery) -> Result<String, StoreError> {
        let t = table_for(D::KIND)?;
        let src = Source::Docs(t);
        let marker = self.marker(src, t.kind, q).await?;
        let sql = sql::list(&Dialect, src, q, marker);
        // Rows arrive in one stream from the server; joining their text is
        // cheaper than having PostgreSQL aggregate and re-render them.
        let docs: Vec<String> =
            sqlx::query_scalar_with(&sql.text, sql::arguments::<Driver>(sql.args)?)
                .fetch_all(&self.read)
                .await?;
        let mut page = String::with_capacity(docs.iter().map(|d| d.len() + 1).sum::<usize>() + 2);
        page.push('[');
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                page.push(',');
            }
            page.push_str(doc);
        }
        page.push(']');
        Ok(page)
    }
}
