//! Webhook delivery: one task per subscription POSTs the feed after the
//! subscription's cursor, a batch at a time and in `seq` order, and moves
//! the cursor only after a 2xx answer — at-least-once, resumed after a
//! restart from the stored cursor. Failures back off exponentially up to
//! `webhook_max_backoff`. A supervisor starts a task for every
//! subscription and keeps the feed-lag gauge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferrite_model::Webhook;
use ferrite_store::events::{Event, EventPage};
use ferrite_store::{Ident, ListQuery, StoreError};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};
use uuid::Uuid;

use super::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_HEADER, sign};
use crate::config::secs;
use crate::engine::Engine;

/// Starts the supervisor; it ends, with every delivery task, at shutdown.
pub(crate) fn start(engine: &Arc<Engine>) -> JoinHandle<()> {
    let engine = engine.clone();
    tokio::spawn(supervise(engine).instrument(info_span!("webhooks")))
}

/// Whether shutdown began while waiting `wait` (or for the head to move,
/// when `head` is given).
async fn stopped_during(
    stop: &mut watch::Receiver<bool>,
    head: Option<&mut watch::Receiver<u64>>,
    wait: Duration,
) -> bool {
    let moved = async {
        match head {
            Some(head) => {
                let _ = head.changed().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        () = moved => false,
        () = tokio::time::sleep(wait) => false,
    }
}

/// How often the supervisor looks for new subscriptions when the feed is
/// quiet (a new subscription has nothing to deliver until an event comes,
/// which wakes the supervisor anyway; this only refreshes the lag gauge).
const QUIET_RECHECK: Duration = Duration::from_secs(30);

async fn supervise(engine: Arc<Engine>) {
    let mut stop = engine.stop_signal();
    let mut head = engine.store.watch_events();
    let mut tasks: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
    loop {
        let now = *head.borrow_and_update();
        match engine.store.list::<Webhook>(&ListQuery::default()).await {
            Ok(hooks) => {
                let slowest = hooks.iter().map(|h| h.last_delivered_seq).min();
                let lag = slowest.map_or(0, |s| now.saturating_sub(s));
                metrics::gauge!("ferrite_feed_head_seq").set(now as f64);
                metrics::gauge!("ferrite_feed_lag_events").set(lag as f64);
                metrics::gauge!("ferrite_webhooks").set(hooks.len() as f64);
                tasks.retain(|_, task| !task.is_finished());
                for hook in hooks {
                    tasks.entry(hook.uuid).or_insert_with(|| {
                        let span = info_span!("webhook", webhook = %hook.uuid);
                        tokio::spawn(deliver(engine.clone(), hook.uuid).instrument(span))
                    });
                }
            }
            Err(e) => warn!(error = %e, "listing webhook subscriptions failed"),
        }
        if stopped_during(&mut stop, Some(&mut head), QUIET_RECHECK).await {
            break;
        }
    }
    for (_, task) in tasks {
        task.abort();
    }
}

/// What one attempt came to.
enum Attempt {
    /// Acknowledged up to this seq.
    Delivered(u64),
    /// Nothing to send; everything up to this seq was filtered out.
    Skipped(u64),
    /// Nothing new at all.
    Idle,
    /// The attempt failed, for this reason.
    Failed(String),
    /// The subscription is gone.
    Gone,
}

/// The delivery loop of one subscription.
async fn deliver(engine: Arc<Engine>, uuid: Uuid) {
    let feed = &engine.config.feed;
    let timeout = secs(feed.webhook_timeout).unwrap_or(Duration::from_secs(10));
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            warn!(error = %e, "cannot build the webhook HTTP client");
            return;
        }
    };
    let mut stop = engine.stop_signal();
    let mut head = engine.store.watch_events();
    loop {
        head.borrow_and_update();
        let (attempt, failures) = attempt(&engine, &client, uuid).await;
        let wait = match attempt {
            Attempt::Gone => return,
            Attempt::Idle => None,
            Attempt::Delivered(_) | Attempt::Skipped(_) => Some(Duration::ZERO),
            Attempt::Failed(_) => Some(feed.backoff(failures)),
        };
        let stopped = match wait {
            Some(Duration::ZERO) => *stop.borrow(),
            Some(backoff) => stopped_during(&mut stop, None, backoff).await,
            None => stopped_during(&mut stop, Some(&mut head), Duration::MAX).await,
        };
        if stopped {
            return;
        }
    }
}

/// Reads the subscription and its next batch, POSTs it, and records the
/// outcome; returns it with the failures in a row so far.
async fn attempt(engine: &Engine, client: &reqwest::Client, uuid: Uuid) -> (Attempt, u32) {
    let hook: Webhook = match engine.store.get(&Ident::Uuid(uuid)).await {
        Ok(hook) => hook,
        Err(StoreError::NotFound { .. }) => return (Attempt::Gone, 0),
        Err(e) => return (Attempt::Failed(e.to_string()), 1),
    };
    let batch = engine.config.feed.webhook_batch.max(1);
    let outcome = match engine
        .store
        .events(hook.last_delivered_seq, batch, &hook.types)
        .await
    {
        Ok(EventPage { events, .. }) if !events.is_empty() => post(client, &hook, &events).await,
        Ok(page) if page.next_since > hook.last_delivered_seq => Attempt::Skipped(page.next_since),
        Ok(_) => Attempt::Idle,
        // Retention keeps what subscriptions have yet to deliver, so this
        // means the cursor was set behind it: resume at the oldest kept.
        Err(StoreError::Trimmed { oldest }) => Attempt::Skipped(oldest - 1),
        Err(e) => Attempt::Failed(format!("reading the feed failed: {e}")),
    };
    let failures = record(engine, uuid, &outcome).await;
    (outcome, failures)
}

/// POSTs `events` to the subscription, signed.
async fn post(client: &reqwest::Client, hook: &Webhook, events: &[Event]) -> Attempt {
    let Some(last) = events.last().map(|e| e.seq) else {
        return Attempt::Idle;
    };
    let body = json!({ "webhook": hook.uuid, "events": events }).to_string();
    let timestamp = Utc::now().timestamp().to_string();
    let signature = sign(&hook.secret, &timestamp, body.as_bytes());
    let sent = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, &timestamp)
        .header(SIGNATURE_HEADER, signature)
        .header(WEBHOOK_HEADER, hook.uuid.to_string())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) if answer.status().is_success() => Attempt::Delivered(last),
        Ok(answer) => Attempt::Failed(format!("the receiver answered {}", answer.status())),
        Err(e) => Attempt::Failed(format!("delivery failed: {e}")),
    }
}

/// Stores what an attempt did to the subscription's status; returns its
/// failures in a row.
async fn record(engine: &Engine, uuid: Uuid, outcome: &Attempt) -> u32 {
    let (cursor, error) = match outcome {
        Attempt::Delivered(seq) => {
            metrics::counter!("ferrite_webhook_deliveries_total", "result" => "success")
                .increment(1);
            (Some(*seq), None)
        }
        Attempt::Skipped(seq) => (Some(*seq), None),
        Attempt::Failed(why) => {
            metrics::counter!("ferrite_webhook_deliveries_total", "result" => "failure")
                .increment(1);
            debug!(error = %why, "webhook delivery failed");
            (None, Some(why.clone()))
        }
        Attempt::Idle | Attempt::Gone => return 0,
    };
    let attempted = matches!(outcome, Attempt::Delivered(_) | Attempt::Failed(_));
    let result = engine
        .store
        .update::<Webhook, u32, StoreError, _>(&Ident::Uuid(uuid), move |h| {
            if let Some(seq) = cursor {
                h.last_delivered_seq = h.last_delivered_seq.max(seq);
            }
            if attempted {
                h.last_attempt_at = Some(Utc::now());
                h.failures = if error.is_some() {
                    h.failures.saturating_add(1)
                } else {
                    0
                };
                h.last_error = error;
            }
            Ok(h.failures)
        })
        .await;
    match result {
        Ok((_, failures)) => failures,
        Err(StoreError::NotFound { .. }) => 0,
        Err(e) => {
            warn!(error = %e, "recording a webhook delivery failed");
            1
        }
    }
}
