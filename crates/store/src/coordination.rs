//! Coordination between the processes of a site — `ferrite api` and any
//! number of `ferrite conductor` — through the database alone, so a site
//! needs no broker: notifications (`NOTIFY`/`LISTEN`) make the other side
//! act at once, and rows (intents on nodes, `driver_calls`) make sure
//! nothing is lost when a notification is (they are not durable).
//!
//! Only PostgreSQL serves several processes; on SQLite (one process, which
//! signals itself in memory) these methods refuse with a clear error.

use serde_json::Value;
use sqlx::postgres::{PgListener, PgPool};
use uuid::Uuid;

use crate::{Db, Store, StoreError};

/// One notification: the channel it came on and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The channel (`ferrite_wake`, `ferrite_call`, …).
    pub channel: String,
    /// What the sender put in it.
    pub payload: String,
}

/// A driver call claimed by the conductor it was addressed to.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    /// The request's id.
    pub id: Uuid,
    /// The node it is about.
    pub node: Uuid,
    /// The call, as the API encoded it.
    pub call: Value,
}

/// A subscription to notification channels on a connection of its own.
/// When the connection drops (PostgreSQL restarted), the next
/// [`Listener::recv`] says so and reconnects, so the owner can re-check
/// what it may have missed.
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// The next notification; `Ok(None)` when the connection was lost (the
    /// following call reconnects and listens again). Errors are failed
    /// reconnections: wait a little and call again.
    pub async fn recv(&mut self) -> Result<Option<Notice>, StoreError> {
        Ok(self.inner.try_recv().await?.map(|n| Notice {
            channel: n.channel().to_string(),
            payload: n.payload().to_string(),
        }))
    }
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Db(sqlx::Error::Configuration(
        format!(
            "{what} needs PostgreSQL: separate API and conductor processes share one \
             postgresql:// database (SQLite serves one process, `ferrite serve`)"
        )
        .into(),
    ))
}

impl Store {
    fn pg(&self, what: &str) -> Result<&PgPool, StoreError> {
        match &*self.db {
            Db::Postgres(db) => Ok(db.pool()),
            Db::Sqlite(_) => Err(unsupported(what)),
        }
    }

    /// Sends `payload` on `channel` to every listening process.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(self.pg("notifications")?)
            .await?;
        Ok(())
    }

    /// Sends `node UUID GROUP` on `channel` for the node `uuid` (nothing
    /// when it does not exist): the group, read in the same statement,
    /// lets each conductor tell at once whether the node is its own.
    pub async fn notify_node(&self, channel: &str, uuid: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "SELECT pg_notify($1, 'node ' || uuid || ' ' || coalesce(conductor_group, '')) \
             FROM nodes WHERE uuid = $2",
        )
        .bind(channel)
        .bind(uuid.to_string())
        .execute(self.pg("notifications")?)
        .await?;
        Ok(())
    }

    /// Listens on `channels` on a connection of its own.
    pub async fn listen(&self, channels: &[&str]) -> Result<Listener, StoreError> {
        let mut inner = PgListener::connect_with(self.pg("notifications")?).await?;
        inner.listen_all(channels.iter().copied()).await?;
        Ok(Listener { inner })
    }

    /// Records a driver call for `conductor` to run within `timeout` (by
    /// the database's clock, the one [`Store::claim_call`] checks).
    pub async fn submit_call(
        &self,
        id: Uuid,
        node: Uuid,
        conductor: &str,
        call: &Value,
        timeout: std::time::Duration,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO driver_calls (id, node_uuid, conductor, call, created_at, deadline) \
             VALUES ($1, $2, $3, $4::jsonb, now(), now() + make_interval(secs => $5))",
        )
        .bind(id.to_string())
        .bind(node.to_string())
        .bind(conductor)
        .bind(call.to_string())
        .bind(timeout.as_secs_f64())
        .execute(self.pg("driver calls")?)
        .await?;
        Ok(())
    }

    /// Takes the pending call `id` addressed to `conductor`, provided its
    /// deadline (by the database's clock) has not passed: a call nobody
    /// waits for any more is never run. `None` when it is not claimable.
    pub async fn claim_call(
        &self,
        id: Uuid,
        conductor: &str,
    ) -> Result<Option<CallRow>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "UPDATE driver_calls SET state = 'running' \
             WHERE id = $1 AND conductor = $2 AND state = 'pending' AND deadline > now() \
             RETURNING node_uuid, call::text",
        )
        .bind(id.to_string())
        .bind(conductor)
        .fetch_optional(self.pg("driver calls")?)
        .await?;
        row.map(|(node, call)| {
            Ok(CallRow {
                id,
                node: node
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("driver call {id} node: {e}")))?,
                call: serde_json::from_str(&call)
                    .map_err(|e| StoreError::Corrupt(format!("driver call {id}: {e}")))?,
            })
        })
        .transpose()
    }

    /// Ids of the calls addressed to `conductor` still waiting to be run
    /// in time: what a conductor re-checks when a notification may have
    /// been missed.
    pub async fn pending_calls(&self, conductor: &str) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM driver_calls \
             WHERE conductor = $1 AND state = 'pending' AND deadline > now() ORDER BY created_at",
        )
        .bind(conductor)
        .fetch_all(self.pg("driver calls")?)
        .await?;
        Ok(ids.iter().filter_map(|s| s.parse().ok()).collect())
    }

    /// Records the outcome of a call this conductor ran.
    pub async fn finish_call(&self, id: Uuid, result: &Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE driver_calls SET state = 'done', result = $2::jsonb WHERE id = $1")
            .bind(id.to_string())
            .bind(result.to_string())
            .execute(self.pg("driver calls")?)
            .await?;
        Ok(())
    }

    /// The outcome of call `id` once it is done.
    pub async fn call_result(&self, id: Uuid) -> Result<Option<Value>, StoreError> {
        let row: Option<Option<String>> = sqlx::query_scalar(
            "SELECT result::text FROM driver_calls WHERE id = $1 AND state = 'done'",
        )
        .bind(id.to_string())
        .fetch_optional(self.pg("driver calls")?)
        .await?;
        row.flatten()
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("driver call {id} result: {e}")))
            })
            .transpose()
    }

    /// Forgets call `id` (the caller has its answer or gave up). Returns
    /// whether it was still pending: then it will never run.
    pub async fn drop_call(&self, id: Uuid) -> Result<bool, StoreError> {
        let row: Option<String> =
            sqlx::query_scalar("DELETE FROM driver_calls WHERE id = $1 RETURNING state")
                .bind(id.to_string())
                .fetch_optional(self.pg("driver calls")?)
                .await?;
        Ok(row.as_deref() == Some("pending"))
    }

    /// Deletes calls whose deadline passed more than `grace` ago: answers
    /// no caller will collect (its process died) and calls never claimed.
    pub async fn purge_calls(&self, grace: std::time::Duration) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM driver_calls WHERE deadline < now() - make_interval(secs => $1)",
        )
        .bind(grace.as_secs_f64())
        .execute(self.pg("driver calls")?)
        .await?;
        Ok(done.rows_affected())
    }
}
