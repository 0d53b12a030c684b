//! Webhook delivery: one task per subscription POSTs the feed after the
//! subscription's cursor, a batch at a time and in `seq` order, and moves
//! the cursor only after a 2xx answer — at-least-once, resumed after a
//! restart from the stored cursor. Failures back off exponentially up to
//! `webhook_max_backoff`. A supervisor starts a task for every
//! subscription and keeps the feed-lag gauge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
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
    /// Another delivery task holds the subscription, or its backoff after
    /// failures has not run out: nothing is tried before this time.
    Busy(DateTime<Utc>),
    /// The attempt failed, for this reason.
    Failed(String),
    /// The subscription is gone.
    Gone,
}

/// The delivery loop of one subscription. Every conductor on the database
/// runs one for each subscription; the lease in the subscription (see
/// [`claim`]) lets one of them POST at a time.
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
    let me = Lease {
        holder: format!("{}/{}", engine.config.hostname, Uuid::new_v4().simple()),
        // Outlives one attempt: the POST is bounded by the timeout, and
        // reading and recording take a moment.
        length: timeout.saturating_mul(2) + Duration::from_secs(5),
    };
    let mut stop = engine.stop_signal();
    let mut head = engine.store.watch_events();
    loop {
        head.borrow_and_update();
        let wait = match attempt(&engine, &client, uuid, &me).await {
            Attempt::Gone => return,
            Attempt::Idle => None,
            Attempt::Delivered(_) | Attempt::Skipped(_) => Some(Duration::ZERO),
            // The stored failures hold every conductor back (see `claim`);
            // this only spaces out re-checks when the store itself failed.
            Attempt::Failed(_) => Some(feed.backoff(1)),
            Attempt::Busy(until) => Some(
                (until - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(10)),
            ),
        };
        let stopped = match wait {
            Some(Duration::ZERO) => *stop.borrow(),
            Some(wait) => stopped_during(&mut stop, None, wait).await,
            None => stopped_during(&mut stop, Some(&mut head), Duration::MAX).await,
        };
        if stopped {
            return;
        }
    }
}

/// Who a delivery task is, for the subscription's lease, and how long its
/// lease lasts.
struct Lease {
    holder: String,
    length: Duration,
}

/// Why a claim did not give the lease.
enum Refused {
    Busy(DateTime<Utc>),
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// Takes the subscription's lease for `me` unless another task holds it
/// or the backoff after its failures (whoever made them) still runs;
/// returns the subscription as it stands under the lease. A refusal writes
/// nothing.
async fn claim(engine: &Engine, uuid: Uuid, me: &Lease) -> Result<Webhook, Refused> {
    let holder = me.holder.clone();
    let length = chrono::Duration::from_std(me.length).unwrap_or(chrono::Duration::MAX);
    let feed = engine.config.feed.clone();
    let claimed = engine
        .store
        .update::<Webhook, (), Refused, _>(&Ident::Uuid(uuid), move |h| {
            let now = Utc::now();
            let held = h
                .lease_holder
                .as_ref()
                .is_some_and(|other| *other != holder);
            if let Some(until) = h.lease_until.filter(|until| held && *until > now) {
                return Err(Refused::Busy(until));
            }
            if h.failures > 0
                && let Some(at) = h.last_attempt_at
            {
                let backoff = chrono::Duration::from_std(feed.backoff(h.failures))
                    .unwrap_or(chrono::Duration::MAX);
                if at + backoff > now {
                    return Err(Refused::Busy(at + backoff));
                }
            }
            h.lease_holder = Some(holder);
            h.lease_until = Some(now + length);
            Ok(())
        })
        .await?;
    Ok(claimed.0)
}

/// Reads the subscription and its next batch; when there is something to
/// POST, takes the lease, POSTs the batch after the cursor as it stands
/// under the lease, and records the outcome, giving the lease back.
async fn attempt(engine: &Engine, client: &reqwest::Client, uuid: Uuid, me: &Lease) -> Attempt {
    let hook: Webhook = match engine.store.get(&Ident::Uuid(uuid)).await {
        Ok(hook) => hook,
        Err(StoreError::NotFound { .. }) => return Attempt::Gone,
        Err(e) => return fail(engine, uuid, me, format!("reading it failed: {e}")).await,
    };
    let batch = engine.config.feed.webhook_batch.max(1);
    // A look without the lease: most wake-ups of most conductors end here.
    match next_batch(engine, &hook, batch).await {
        Ok(Some(_)) => {}
        Ok(None) => return Attempt::Idle,
        Err(skip) => return record(engine, uuid, me, skip).await,
    }
    let hook = match claim(engine, uuid, me).await {
        Ok(hook) => hook,
        Err(Refused::Busy(until)) => return Attempt::Busy(until),
        Err(Refused::Store(StoreError::NotFound { .. })) => return Attempt::Gone,
        Err(Refused::Store(e)) => return Attempt::Failed(format!("taking the lease failed: {e}")),
    };
    let outcome = match next_batch(engine, &hook, batch).await {
        Ok(Some(events)) => post(client, &hook, &events).await,
        Ok(None) => Attempt::Idle,
        Err(skip) => skip,
    };
    record(engine, uuid, me, outcome).await
}

/// The events to POST after the subscription's cursor; `Err` with what to
/// record instead when there are none to send but the cursor moves (all
/// filtered out, or trimmed) or the feed could not be read.
async fn next_batch(
    engine: &Engine,
    hook: &Webhook,
    batch: usize,
) -> Result<Option<Vec<Event>>, Attempt> {
    match engine
        .store
        .events(hook.last_delivered_seq, batch, &hook.types)
        .await
    {
        Ok(EventPage { events, .. }) if !events.is_empty() => Ok(Some(events)),
        Ok(page) if page.next_since > hook.last_delivered_seq => {
            Err(Attempt::Skipped(page.next_since))
        }
        Ok(_) => Ok(None),
        // Retention keeps what subscriptions have yet to deliver, so this
        // means the cursor was set behind it: resume at the oldest kept.
        Err(StoreError::Trimmed { oldest }) => Err(Attempt::Skipped(oldest - 1)),
        Err(e) => Err(Attempt::Failed(format!("reading the feed failed: {e}"))),
    }
}

/// Records a failure that happened before anything was POSTed.
async fn fail(engine: &Engine, uuid: Uuid, me: &Lease, why: String) -> Attempt {
    record(engine, uuid, me, Attempt::Failed(why)).await
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

/// Stores what an attempt did to the subscription's status and gives the
/// lease back if `me` holds it; returns the attempt. The cursor only ever
/// moves forward, so a late record from a task whose lease lapsed cannot
/// take it back.
async fn record(engine: &Engine, uuid: Uuid, me: &Lease, outcome: Attempt) -> Attempt {
    let (cursor, error) = match &outcome {
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
        Attempt::Idle => (None, None),
        Attempt::Busy(_) | Attempt::Gone => return outcome,
    };
    let attempted = matches!(outcome, Attempt::Delivered(_) | Attempt::Failed(_));
    let holder = me.holder.clone();
    let result = engine
        .store
        .update::<Webhook, (), StoreError, _>(&Ident::Uuid(uuid), move |h| {
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
            if h.lease_holder.as_ref() == Some(&holder) {
                h.lease_holder = None;
                h.lease_until = None;
            }
            Ok(())
        })
        .await;
    match result {
        Ok(_) => outcome,
        Err(StoreError::NotFound { .. }) => Attempt::Gone,
        Err(e) => {
            warn!(error = %e, "recording a webhook delivery failed");
            Attempt::Failed(e.to_string())
        }
    }
}
