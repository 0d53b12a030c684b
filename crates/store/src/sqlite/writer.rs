//! The single writer path with group commit.
//!
//! SQLite allows one writer at a time; letting many connections race for the
//! lock ends in "database is locked" and in one fsync per write. Instead one
//! task owns the only writing connection. Callers send it jobs over a
//! channel; it takes every job queued, runs them in one `BEGIN IMMEDIATE`
//! transaction with a SAVEPOINT each, keeps adding jobs that arrive while the
//! transaction is open (up to [`MAX_BATCH`]), COMMITs once when the queue is
//! empty and only then answers each caller. A job that fails rolls back just
//! its savepoint; a failed COMMIT fails every job of the batch. While one
//! batch commits the next one queues up, so the cost of `synchronous=FULL`
//! is shared.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::{Counters, StoreError, WriteStats};

/// Run on the writer connection after every successful COMMIT, before the
/// batch's callers are answered: how the change feed publishes its new
/// head, so a waiter woken by it always finds the events committed.
pub(crate) type AfterCommit =
    Box<dyn for<'c> FnMut(&'c mut SqliteConnection) -> BoxFuture<'c, ()> + Send>;

/// Most jobs committed by one transaction: enough to amortise the fsync over
/// a burst of 64 clients, small enough that no caller waits long behind
/// others.
pub const MAX_BATCH: usize = 64;

/// Jobs that may wait in the channel before senders are slowed down.
const QUEUE: usize = 1024;

const BEGIN: &str = "BEGIN IMMEDIATE";
const COMMIT: &str = "COMMIT";
const ROLLBACK: &str = "ROLLBACK";
const SAVEPOINT: &str = "SAVEPOINT job";
const RELEASE: &str = "RELEASE job";
const ROLLBACK_TO: &str = "ROLLBACK TO job";

/// What a job's caller eventually receives: its result, or the payload of a
/// panic to re-raise on the caller's side.
type Reply<R, E> = oneshot::Sender<Result<Result<R, E>, Box<dyn Any + Send>>>;

/// A queued write, type-erased so one channel carries every kind of job.
trait Job: Send {
    /// Runs the job's statements inside the open savepoint.
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Box<dyn Done>>;
    /// Answers a job that never ran because the transaction could not start.
    fn abort(self: Box<Self>, why: &sqlx::Error);
}

/// A job that ran and waits for the batch's COMMIT before answering.
trait Done: Send {
    fn failed(&self) -> bool;
    fn deliver(self: Box<Self>, commit: Result<(), &sqlx::Error>);
}

/// A failure that happened to the batch, not to the job, told to each job.
fn batch_failed(e: &sqlx::Error) -> StoreError {
    StoreError::Db(sqlx::Error::Io(std::io::Error::other(format!(
        "transaction of the write batch failed: {e}"
    ))))
}

struct Work<F, R, E> {
    f: F,
    reply: Reply<R, E>,
}

struct Outcome<R, E> {
    result: Result<Result<R, E>, Box<dyn Any + Send>>,
    reply: Reply<R, E>,
}

impl<F, R, E> Job for Work<F, R, E>
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<R, E>> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, Box<dyn Done>> {
        let Work { f, reply } = *self;
        Box::pin(async move {
            // A panicking job must not take the writer down with it.
            let result = AssertUnwindSafe(async move { f(conn).await })
                .catch_unwind()
                .await;
            Box::new(Outcome { result, reply }) as Box<dyn Done>
        })
    }

    fn abort(self: Box<Self>, why: &sqlx::Error) {
        let _ = self.reply.send(Ok(Err(E::from(batch_failed(why)))));
    }
}

impl<R: Send, E: From<StoreError> + Send> Done for Outcome<R, E> {
    fn failed(&self) -> bool {
        !matches!(self.result, Ok(Ok(_)))
    }

    fn deliver(self: Box<Self>, commit: Result<(), &sqlx::Error>) {
        let msg = match (commit, self.result) {
            (Err(e), Ok(Ok(_))) => Ok(Err(E::from(batch_failed(e)))),
            (_, result) => result,
        };
        // The caller may have stopped waiting; the write stands regardless.
        let _ = self.reply.send(msg);
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// The handle to the writer task; dropping every handle stops the task.
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer task that owns `conn` from now on.
    pub(crate) fn start(conn: SqliteConnection, after_commit: AfterCommit) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(conn, rx, Arc::clone(&counters), after_commit));
        Writer { tx, counters }
    }

    pub(crate) fn stats(&self) -> WriteStats {
        self.counters.stats()
    }

    /// Runs `f` on the writer connection inside the next batch and returns
    /// its result once the batch is durable.
    pub(crate) async fn submit<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<R, E>> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Work { f, reply });
        if self.tx.send(Msg::Job(job)).await.is_err() {
            return Err(E::from(StoreError::Db(sqlx::Error::PoolClosed)));
        }
        match answer.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(E::from(StoreError::Db(sqlx::Error::WorkerCrashed))),
        }
    }

    /// Lets the queued jobs finish, then closes the connection.
    pub(crate) async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
    mut after_commit: AfterCommit,
) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut closing = Vec::new();
    while closing.is_empty() && rx.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        let mut jobs = VecDeque::with_capacity(msgs.len());
        for msg in msgs.drain(..) {
            match msg {
                Msg::Job(job) => jobs.push_back(job),
                Msg::Close(ack) => closing.push(ack),
            }
        }
        let mut inbox = Inbox {
            rx: &mut rx,
            closing: &mut closing,
        };
        commit_batch(&mut conn, jobs, &mut inbox, &counters, &mut after_commit).await;
    }
    rx.close();
    let closed = sqlx::Error::PoolClosed;
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Job(job) => job.abort(&closed),
            Msg::Close(ack) => closing.push(ack),
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the writer connection failed");
    }
    for ack in closing {
        let _ = ack.send(());
    }
}

/// Jobs that arrive while a transaction is open join it, so the batch grows
/// for as long as there is work and commits as soon as there is none.
struct Inbox<'a> {
    rx: &'a mut mpsc::Receiver<Msg>,
    closing: &'a mut Vec<oneshot::Sender<()>>,
}

impl Inbox<'_> {
    /// A job already waiting, unless closing was asked for.
    fn next(&mut self) -> Option<Box<dyn Job>> {
        if !self.closing.is_empty() {
            return None;
        }
        match self.rx.try_recv() {
            Ok(Msg::Job(job)) => Some(job),
            Ok(Msg::Close(ack)) => {
                self.closing.push(ack);
                None
            }
            Err(_) => None,
        }
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut *conn).await.map(|_| ())
}

/// Runs `jobs`, and those that arrive meanwhile, in as few transactions as
/// possible (one, unless a job's error took the transaction down with it)
/// and answers each after its COMMIT.
async fn commit_batch(
    conn: &mut SqliteConnection,
    mut jobs: VecDeque<Box<dyn Job>>,
    inbox: &mut Inbox<'_>,
    counters: &Counters,
    after_commit: &mut AfterCommit,
) {
    while !jobs.is_empty() {
        if let Err(e) = exec(conn, BEGIN).await {
            tracing::error!(error = %e, "cannot begin a write transaction");
            counters.failed.fetch_add(1, Ordering::Relaxed);
            for job in jobs.drain(..) {
                job.abort(&e);
            }
            return;
        }
        let mut done: Vec<Box<dyn Done>> = Vec::with_capacity(MAX_BATCH);
        let mut broken = None;
        let mut yielded = false;
        while done.len() < MAX_BATCH {
            let job = match jobs.pop_front().or_else(|| inbox.next()) {
                Some(job) => job,
                // Before committing, let the callers just answered (and
                // any other runnable task) queue their next write.
                None if !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                    continue;
                }
                None => break,
            };
            if let Err(e) = exec(conn, SAVEPOINT).await {
                job.abort(&e);
                broken = Some(e);
                break;
            }
            let outcome = job.run(conn).await;
            let end = if outcome.failed() {
                match exec(conn, ROLLBACK_TO).await {
                    Ok(()) => exec(conn, RELEASE).await,
                    Err(e) => Err(e),
                }
            } else {
                exec(conn, RELEASE).await
            };
            done.push(outcome);
            if let Err(e) = end {
                // SQLite rolled the whole transaction back (disk full, I/O
                // error): whatever ran in it is gone, so it all fails.
                broken = Some(e);
                break;
            }
        }
        let commit = match broken {
            None => exec(conn, COMMIT).await,
            Some(e) => Err(e),
        };
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = done.len(), "write batch failed");
            counters.failed.fetch_add(1, Ordering::Relaxed);
            // COMMIT may fail and leave the transaction open (SQLITE_BUSY).
            let _ = exec(conn, ROLLBACK).await;
        } else {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters
                .jobs
                .fetch_add(done.len() as u64, Ordering::Relaxed);
            after_commit(conn).await;
        }
        for outcome in done {
            outcome.deliver(commit.as_ref().map(|_| ()));
        }
    }
}
