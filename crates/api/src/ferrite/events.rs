//! `GET /ferrite/v1/events` (long poll) and `GET /ferrite/v1/events/stream`
//! (Server-Sent Events): the change feed for consumers. Both wait on the
//! store's head watch, which the writer moves after each commit, so a
//! consumer hears of a change as soon as it is durable, without polling.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ferrite_store::events::{Event, EventPage};
use ferrite_store::{Store, StoreError};
use futures::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::App;
use crate::protocol::{ApiError, ApiResult, Params};

/// Events in one long-poll answer unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// Most events in one answer, as for `/v1` lists.
pub const MAX_LIMIT: usize = 1000;
/// Longest `wait` honoured: below the idle timeouts of common proxies.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// Events read per query while streaming.
const STREAM_PAGE: usize = 500;

/// One event as consumers receive it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedEvent {
    /// Position in the feed; strictly increasing, never reused.
    pub seq: u64,
    /// When the change was made.
    pub time: DateTime<Utc>,
    /// `node.created`, `node.provision_state.changed`, `port.deleted`, …
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: String,
    /// `node`, `port`, `portgroup`, `allocation` or `deploy_template`.
    pub resource: String,
    /// The resource changed.
    pub uuid: Uuid,
    /// What changed, secrets masked.
    #[schema(value_type = Object)]
    pub data: Value,
}

impl From<Event> for FeedEvent {
    fn from(e: Event) -> Self {
        FeedEvent {
            seq: e.seq,
            time: e.time,
            kind: e.kind,
            resource: e.resource,
            uuid: e.uuid,
            data: e.data,
        }
    }
}

/// A long-poll answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// The events after `since`, oldest first.
    pub events: Vec<FeedEvent>,
    /// The `since` of the next request.
    pub next_since: u64,
}

/// What a feed request asks for, from its query string.
struct Ask {
    since: u64,
    limit: usize,
    wait: Duration,
    types: Vec<String>,
}

fn number<T: std::str::FromStr>(params: &Params, key: &str) -> ApiResult<Option<T>> {
    params
        .get(key)
        .map(|raw| {
            raw.parse().map_err(|_| {
                ApiError::bad_request(format!("Invalid {key} {raw:?}: expected a number."))
            })
        })
        .transpose()
}

impl Ask {
    fn parse(query: Option<&str>) -> ApiResult<Ask> {
        let params = Params::parse(query);
        let limit = number::<usize>(&params, "limit")?.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}."
            )));
        }
        let wait = number::<f64>(&params, "wait")?.unwrap_or(0.0);
        if !wait.is_finite() || wait < 0.0 {
            return Err(ApiError::bad_request(
                "wait must be a number of seconds ≥ 0.",
            ));
        }
        let types = params
            .get("type")
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Ask {
            since: number(&params, "since")?.unwrap_or(0),
            limit,
            wait: Duration::from_secs_f64(wait).min(MAX_WAIT),
            types,
        })
    }
}

/// Reads the page after `since`; 400 for a `since` the feed never reached
/// (a consumer pointed at another site, or at a restored database).
async fn read(store: &Store, since: u64, limit: usize, types: &[String]) -> ApiResult<EventPage> {
    let page = store.events(since, limit, types).await?;
    if since > page.head {
        return Err(ApiError::bad_request(format!(
            "since {since} is after the newest event, {}.",
            page.head
        )));
    }
    Ok(page)
}

/// `GET /ferrite/v1/events`: the events after `since`; with `wait`, an
/// empty answer is held until an event arrives or `wait` runs out.
#[utoipa::path(
    get,
    path = "/ferrite/v1/events",
    params(
        ("since" = Option<u64>, Query, description = "Last seq already handled (0: from the start)"),
        ("limit" = Option<usize>, Query, description = "Most events returned (1–1000, default 100)"),
        ("wait" = Option<f64>, Query, description = "Seconds to hold an empty answer (at most 60)"),
        ("type" = Option<String>, Query, description = "Comma-separated types; `family.*` matches a family"),
    ),
    responses(
        (status = 200, description = "Events after since", body = FeedPage),
        (status = 400, description = "Invalid parameter", body = crate::ferrite::ErrorBody),
        (status = 410, description = "Events after since were trimmed; the message names the oldest seq", body = crate::ferrite::ErrorBody),
    ),
    tag = "events"
)]
pub async fn poll(State(app): State<App>, RawQuery(query): RawQuery) -> ApiResult<Json<FeedPage>> {
    let ask = Ask::parse(query.as_deref())?;
    let mut head = app.store.watch_events();
    head.borrow_and_update();
    let deadline = tokio::time::Instant::now() + ask.wait;
    let mut since = ask.since;
    loop {
        let page = read(&app.store, since, ask.limit, &ask.types).await?;
        since = page.next_since;
        if !page.events.is_empty() || !wait_for_more(&mut head, deadline).await {
            return Ok(Json(FeedPage {
                events: page.events.into_iter().map(FeedEvent::from).collect(),
                next_since: since,
            }));
        }
    }
}

/// Waits for the head to move until `deadline`; false when it did not
/// (time is up, or the store is closing).
async fn wait_for_more(head: &mut watch::Receiver<u64>, deadline: tokio::time::Instant) -> bool {
    tokio::select! {
        moved = head.changed() => moved.is_ok(),
        () = tokio::time::sleep_until(deadline) => false,
    }
}

/// `GET /ferrite/v1/events/stream`: every event after `since` (or the
/// `Last-Event-ID` header, which wins) as Server-Sent Events, then each new
/// one as it commits. `id` is the seq, `event` the type, `data` the event.
#[utoipa::path(
    get,
    path = "/ferrite/v1/events/stream",
    params(
        ("since" = Option<u64>, Query, description = "Last seq already handled"),
        ("type" = Option<String>, Query, description = "Comma-separated types; `family.*` matches a family"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq (wins over since)"),
    ),
    responses(
        (status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = FeedEvent),
        (status = 400, description = "Invalid parameter", body = crate::ferrite::ErrorBody),
        (status = 410, description = "Events after since were trimmed", body = crate::ferrite::ErrorBody),
    ),
    tag = "events"
)]
pub async fn stream(
    State(app): State<App>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let mut ask = Ask::parse(query.as_deref())?;
    if let Some(last) = headers.get("last-event-id") {
        ask.since = last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event seq."))?;
    }
    let mut head = app.store.watch_events();
    head.borrow_and_update();
    // Read once before answering, so a trimmed or unknown position is an
    // error status rather than a stream that ends at once.
    let first = read(&app.store, ask.since, STREAM_PAGE, &ask.types).await?;
    let tail = Tail {
        store: app.store.clone(),
        since: first.next_since,
        types: ask.types,
        head,
        ready: first.events.into(),
    };
    Ok(Sse::new(tail.into_stream())
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The state of one stream: where it is, what is read but not yet sent.
struct Tail {
    store: Store,
    since: u64,
    types: Vec<String>,
    head: watch::Receiver<u64>,
    ready: VecDeque<Event>,
}

impl Tail {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures::stream::unfold(Some(self), |tail| async move {
            let mut tail = tail?;
            match tail.next().await {
                Ok(Some(event)) => Some((Ok(sse(&event)), Some(tail))),
                Ok(None) => None,
                // Fell behind retention, or the store failed: say why and
                // end; the client reconnects with its Last-Event-ID.
                Err(e) => Some((
                    Ok(SseEvent::default().event("error").data(e.to_string())),
                    None,
                )),
            }
        })
    }

    /// The next event, waiting for one to commit; `None` once the store
    /// closes.
    async fn next(&mut self) -> Result<Option<Event>, StoreError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            self.head.borrow_and_update();
            let page = self
                .store
                .events(self.since, STREAM_PAGE, &self.types)
                .await?;
            self.since = page.next_since;
            if page.events.is_empty() {
                if self.head.changed().await.is_err() {
                    return Ok(None);
                }
            } else {
                self.ready.extend(page.events);
            }
        }
    }
}

fn sse(event: &Event) -> SseEvent {
    let data = serde_json::to_string(&FeedEvent::from(event.clone())).unwrap_or_default();
    SseEvent::default()
        .id(event.seq.to_string())
        .event(event.kind.clone())
        .data(data)
}
