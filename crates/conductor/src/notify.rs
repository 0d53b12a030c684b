//! The conductor's side of the database bus (PostgreSQL only; see
//! `ferrite_store::coordination`): it listens for wake-ups of nodes and
//! allocations and for driver calls addressed to it, and runs them. A
//! notification is only a hint — after a lost connection (PostgreSQL
//! restarted) everything it may have missed is re-read from the rows, and
//! the periodic sweep does the same anyway.

use std::sync::Arc;
use std::time::Duration;

use ferrite_store::{Backend, Notice};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::engine::Engine;
use crate::{CallError, DriverCall, allocations, calls, membership};

/// Wake-ups: `node UUID GROUP` or `allocation UUID`.
pub(crate) const WAKE: &str = "ferrite_wake";
/// Driver calls: `CALL_ID CONDUCTOR`.
pub(crate) const CALL: &str = "ferrite_call";
/// Finished driver calls: `CALL_ID`.
pub(crate) const CALL_DONE: &str = "ferrite_call_done";

/// Starts the listener, when the store is PostgreSQL (a SQLite site is one
/// process and wakes itself in memory).
pub(crate) fn start(engine: &Arc<Engine>) -> Option<JoinHandle<()>> {
    if engine.store.backend() != Backend::Postgres {
        return None;
    }
    let me = engine.clone();
    let mut stop = engine.stop_signal();
    Some(tokio::spawn(
        async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                () = listen(me) => {}
            }
        }
        .instrument(info_span!("listener")),
    ))
}

async fn listen(engine: Arc<Engine>) {
    loop {
        let mut listener = match engine.store.listen(&[WAKE, CALL]).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "cannot listen for notifications; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        info!("listening for wake-ups and driver calls");
        catch_up(&engine).await;
        loop {
            match listener.recv().await {
                Ok(Some(notice)) => handle(&engine, notice),
                Ok(None) => {
                    warn!("the notification connection was lost; reconnecting");
                    catch_up(&engine).await;
                }
                Err(e) => {
                    warn!(error = %e, "reconnecting the notification listener failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    catch_up(&engine).await;
                }
            }
        }
    }
}

/// Re-reads what a lost notification may have announced: pending intents
/// and the driver calls waiting for this conductor.
pub(crate) async fn catch_up(engine: &Arc<Engine>) {
    match engine.store.nodes_with_pending_intent().await {
        Ok(nodes) => nodes.into_iter().for_each(|n| engine.wake(n)),
        Err(e) => debug!(error = %e, "cannot read pending intents yet"),
    }
    poll_calls(engine).await;
}

/// Runs every call addressed to this conductor that is still in time.
pub(crate) async fn poll_calls(engine: &Arc<Engine>) {
    if engine.store.backend() != Backend::Postgres {
        return;
    }
    match engine.store.pending_calls(engine.hostname()).await {
        Ok(ids) => ids.into_iter().for_each(|id| run_call(engine, id)),
        Err(e) => debug!(error = %e, "cannot read pending driver calls"),
    }
}

fn handle(engine: &Arc<Engine>, notice: Notice) {
    let mut words = notice.payload.splitn(3, ' ');
    match (notice.channel.as_str(), words.next(), words.next()) {
        (WAKE, Some("node"), Some(uuid)) => {
            let group = words.next().unwrap_or("");
            if let Ok(uuid) = uuid.parse()
                && membership::owns(engine, uuid, group, membership::PROVISION)
            {
                engine.wake(uuid);
            }
        }
        (WAKE, Some("allocation"), Some(uuid)) => {
            if let Ok(uuid) = uuid.parse() {
                allocations::wake(engine, uuid);
            }
        }
        (CALL, Some(id), Some(conductor)) if conductor == engine.hostname() => {
            if let Ok(id) = id.parse() {
                run_call(engine, id);
            }
        }
        _ => {}
    }
}

/// Claims call `id` (only before its deadline), runs it, records the
/// outcome and tells the waiting API process.
fn run_call(engine: &Arc<Engine>, id: Uuid) {
    let engine = engine.clone();
    tokio::spawn(
        async move {
            let row = match engine.store.claim_call(id, engine.hostname()).await {
                Ok(Some(row)) => row,
                Ok(None) => return,
                Err(e) => {
                    warn!(error = %e, "claiming a driver call failed");
                    return;
                }
            };
            let outcome = match serde_json::from_value::<DriverCall>(row.call) {
                Ok(call) => calls::handle(&engine, row.node, call).await,
                Err(e) => Err(CallError::Invalid(format!("undecodable driver call: {e}"))),
            };
            let result = encode(&outcome);
            if let Err(e) = engine.store.finish_call(id, &result).await {
                warn!(error = %e, "recording a driver call's result failed");
                return;
            }
            if let Err(e) = engine.store.notify(CALL_DONE, &id.to_string()).await {
                debug!(error = %e, "announcing a driver call's result failed; the caller polls");
            }
        }
        .instrument(info_span!("driver_call", call = %id)),
    );
}

/// A call's outcome as stored in `driver_calls.result`.
pub(crate) fn encode(outcome: &Result<Value, CallError>) -> Value {
    match outcome {
        Ok(v) => json!({"ok": v}),
        Err(e) => {
            let (kind, node, host) = match e {
                CallError::NodeLocked { node, host } => {
                    ("locked", Some(node.to_string()), Some(host.clone()))
                }
                CallError::Invalid(_) => ("invalid", None, None),
                CallError::NotFound(_) => ("not_found", None, None),
                CallError::Unavailable(_) => ("unavailable", None, None),
                CallError::Driver(_) => ("driver", None, None),
            };
            json!({"error": {"kind": kind, "message": e.to_string(), "node": node, "host": host}})
        }
    }
}

/// The outcome [`encode`] stored.
pub(crate) fn decode(result: Value) -> Result<Value, CallError> {
    let mut result = result;
    if let Some(v) = result.get_mut("ok") {
        return Ok(v.take());
    }
    let err = result.get("error").cloned().unwrap_or(Value::Null);
    let text = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let message = text("message");
    Err(match text("kind").as_str() {
        "locked" => CallError::NodeLocked {
            node: text("node").parse().unwrap_or_default(),
            host: text("host"),
        },
        "invalid" => CallError::Invalid(message),
        "not_found" => CallError::NotFound(message),
        "driver" => CallError::Driver(message),
        _ => CallError::Unavailable(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_survive_the_round_trip() {
        let node = Uuid::new_v4();
        let cases = vec![
            Ok(json!({"boot_device": "pxe", "persistent": false})),
            Err(CallError::NodeLocked {
                node,
                host: "c2".into(),
            }),
            Err(CallError::Invalid("bad".into())),
            Err(CallError::NotFound("gone".into())),
            Err(CallError::Unavailable("late".into())),
            Err(CallError::Driver("bmc said no".into())),
        ];
        for case in cases {
            let back = decode(encode(&case));
            match (&case, &back) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string());
                    assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b), "{a}");
                }
                _ => panic!("{case:?} came back as {back:?}"),
            }
        }
    }

    #[test]
    fn driver_calls_travel_as_json() {
        let call = DriverCall::SetBootDevice {
            device: "pxe".into(),
            persistent: true,
        };
        let Ok(v) = serde_json::to_value(&call) else {
            panic!("encode")
        };
        let Ok(back) = serde_json::from_value::<DriverCall>(v) else {
            panic!("decode")
        };
        assert_eq!(back, call);
    }
}
