//! The write path on PostgreSQL: every write is its own transaction on a
//! pooled connection, running beside the others. PostgreSQL serialises what
//! must be serialised itself — an update locks its row `FOR UPDATE`, unique
//! indexes and foreign keys hold across writers — so there is no single
//! writer and no batching here, unlike SQLite's [`crate::sqlite`] writer.
//!
//! A write runs on a task of its own, so it completes (or rolls back) even
//! when its caller stops waiting, as on SQLite.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};

use crate::{Counters, StoreError, WriteStats};

/// Runs write transactions on the pool and counts them.
pub(crate) struct Writer {
    pool: PgPool,
    counters: Arc<Counters>,
}

impl Writer {
    /// Writes through `pool` from now on.
    pub(crate) fn start(pool: PgPool) -> Writer {
        Writer {
            pool,
            counters: Arc::default(),
        }
    }

    /// What the writes have done so far.
    pub(crate) fn stats(&self) -> WriteStats {
        self.counters.stats()
    }

    /// Runs `f` inside a transaction of its own and returns its result once
    /// committed; an `Err` from `f` rolls the transaction back, and a panic
    /// in `f` is re-raised in the caller.
    pub(crate) async fn submit<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let counters = Arc::clone(&self.counters);
        let task = tokio::spawn(async move {
            let failed = |e: sqlx::Error| {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                E::from(StoreError::Db(e))
            };
            let mut tx = pool.begin().await.map_err(failed)?;
            counters.jobs.fetch_add(1, Ordering::Relaxed);
            match f(&mut tx).await {
                Ok(r) => {
                    tx.commit().await.map_err(failed)?;
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    Ok(r)
                }
                Err(e) => {
                    if let Err(why) = tx.rollback().await {
                        tracing::warn!(error = %why, "rolling back a refused write failed");
                    }
                    Err(e)
                }
            }
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(E::from(StoreError::Db(sqlx::Error::WorkerCrashed))),
        }
    }

    /// Closes the pool; later writes fail with a `Db` error.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
