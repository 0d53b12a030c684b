//! `/ferrite/v1/webhooks`: subscriptions that have the conductor POST the
//! change feed to a URL, signed with the subscription's secret. The secret
//! is write-only: no answer ever contains it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ferrite_model::Webhook;
use ferrite_store::{Ident, ListQuery, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::App;
use crate::ferrite::ErrorBody;
use crate::protocol::{ApiError, ApiResult, JsonBody};

/// Shortest secret accepted: a signature is only as strong as its key.
pub const MIN_SECRET_CHARS: usize = 16;

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// Where deliveries are POSTed (`http://` or `https://`).
    pub url: String,
    /// Event types to deliver (`node.*` for a family); empty or absent for
    /// all.
    #[serde(default)]
    pub types: Vec<String>,
    /// HMAC-SHA256 key of the `X-Ferrite-Signature` header (at least 16
    /// characters). Never shown back.
    pub secret: String,
    /// Deliver the events after this seq; the feed's current head (only
    /// new events) when absent.
    pub since: Option<u64>,
}

/// A change to a subscription; absent fields are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    /// New delivery URL.
    pub url: Option<String>,
    /// New type filter.
    pub types: Option<Vec<String>>,
    /// New secret.
    pub secret: Option<String>,
}

/// How delivery is going.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryStatus {
    /// Everything up to this seq was acknowledged (or filtered out).
    pub last_delivered_seq: u64,
    /// Events committed but not yet acknowledged (head minus cursor).
    pub pending: u64,
    /// Why the last attempt failed; null after a success.
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When a delivery was last attempted.
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// A subscription as shown: everything but the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// The subscription's identity.
    pub uuid: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types delivered; empty for all.
    pub types: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it or its status last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Delivery progress.
    pub status: DeliveryStatus,
}

/// A list of subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Every subscription, oldest first.
    pub webhooks: Vec<WebhookView>,
}

fn view(hook: Webhook, head: u64) -> WebhookView {
    WebhookView {
        uuid: hook.uuid,
        url: hook.url,
        types: hook.types,
        created_at: hook.created_at,
        updated_at: hook.updated_at,
        status: DeliveryStatus {
            last_delivered_seq: hook.last_delivered_seq,
            pending: head.saturating_sub(hook.last_delivered_seq),
            last_error: hook.last_error,
            failures: hook.failures,
            last_attempt_at: hook.last_attempt_at,
        },
    }
}

fn parse<T: DeserializeOwned>(body: JsonBody) -> ApiResult<T> {
    serde_json::from_value(body.0)
        .map_err(|e| ApiError::bad_request(format!("Invalid webhook: {e}")))
}

fn check_url(url: &str) -> ApiResult<()> {
    let parsed: axum::http::Uri = url
        .parse()
        .map_err(|_| ApiError::bad_request(format!("Invalid webhook url {url:?}.")))?;
    let http = matches!(parsed.scheme_str(), Some("http" | "https"));
    if !http || parsed.host().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(format!(
            "Invalid webhook url {url:?}: an http:// or https:// URL with a host is required."
        )));
    }
    Ok(())
}

fn check_secret(secret: &str) -> ApiResult<()> {
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(ApiError::bad_request(format!(
            "The webhook secret must be at least {MIN_SECRET_CHARS} characters."
        )));
    }
    Ok(())
}

/// The feed's head as committed now, read from the database: another
/// process may have appended since this one's watch last moved.
async fn head(app: &App) -> ApiResult<u64> {
    Ok(app.store.event_head().await?)
}

fn not_found(err: StoreError, uuid: Uuid) -> ApiError {
    match err {
        StoreError::NotFound { .. } => {
            ApiError::not_found(format!("Webhook {uuid} could not be found."))
        }
        other => other.into(),
    }
}

/// `POST /ferrite/v1/webhooks`.
#[utoipa::path(post, path = "/ferrite/v1/webhooks", request_body = WebhookCreate,
    responses((status = 201, body = WebhookView), (status = 400, body = ErrorBody)),
    tag = "webhooks")]
pub async fn create(
    State(app): State<App>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    let ask: WebhookCreate = parse(body)?;
    check_url(&ask.url)?;
    check_secret(&ask.secret)?;
    let now = head(&app).await?;
    let since = ask.since.unwrap_or(now);
    if since > now {
        return Err(ApiError::bad_request(format!(
            "since {since} is after the newest event, {now}."
        )));
    }
    let hook = Webhook {
        uuid: Uuid::new_v4(),
        url: ask.url,
        types: ask.types,
        secret: ask.secret,
        created_at: Utc::now(),
        last_delivered_seq: since,
        ..Webhook::default()
    };
    let hook = app.store.insert(hook).await?;
    Ok((StatusCode::CREATED, Json(view(hook, now))))
}

/// `GET /ferrite/v1/webhooks`.
#[utoipa::path(get, path = "/ferrite/v1/webhooks",
    responses((status = 200, body = WebhookList)), tag = "webhooks")]
pub async fn list(State(app): State<App>) -> ApiResult<Json<WebhookList>> {
    let now = head(&app).await?;
    let hooks: Vec<Webhook> = app.store.list(&ListQuery::default()).await?;
    Ok(Json(WebhookList {
        webhooks: hooks.into_iter().map(|h| view(h, now)).collect(),
    }))
}

/// `GET /ferrite/v1/webhooks/{uuid}`.
#[utoipa::path(get, path = "/ferrite/v1/webhooks/{uuid}",
    params(("uuid" = Uuid, Path, description = "The subscription")),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)),
    tag = "webhooks")]
pub async fn show(State(app): State<App>, Path(uuid): Path<Uuid>) -> ApiResult<Json<WebhookView>> {
    let hook: Webhook = app
        .store
        .get(&Ident::Uuid(uuid))
        .await
        .map_err(|e| not_found(e, uuid))?;
    Ok(Json(view(hook, head(&app).await?)))
}

/// `PATCH /ferrite/v1/webhooks/{uuid}`: replaces the fields given.
#[utoipa::path(patch, path = "/ferrite/v1/webhooks/{uuid}", request_body = WebhookUpdate,
    params(("uuid" = Uuid, Path, description = "The subscription")),
    responses((status = 200, body = WebhookView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    tag = "webhooks")]
pub async fn update(
    State(app): State<App>,
    Path(uuid): Path<Uuid>,
    body: JsonBody,
) -> ApiResult<Json<WebhookView>> {
    let ask: WebhookUpdate = parse(body)?;
    if let Some(url) = &ask.url {
        check_url(url)?;
    }
    if let Some(secret) = &ask.secret {
        check_secret(secret)?;
    }
    let (hook, ()) = app
        .store
        .update::<Webhook, (), StoreError, _>(&Ident::Uuid(uuid), move |h| {
            if let Some(url) = ask.url {
                h.url = url;
            }
            if let Some(types) = ask.types {
                h.types = types;
            }
            if let Some(secret) = ask.secret {
                h.secret = secret;
            }
            Ok(())
        })
        .await
        .map_err(|e| not_found(e, uuid))?;
    Ok(Json(view(hook, head(&app).await?)))
}

/// `DELETE /ferrite/v1/webhooks/{uuid}`: delivery stops.
#[utoipa::path(delete, path = "/ferrite/v1/webhooks/{uuid}",
    params(("uuid" = Uuid, Path, description = "The subscription")),
    responses((status = 204), (status = 404, body = ErrorBody)), tag = "webhooks")]
pub async fn delete(State(app): State<App>, Path(uuid): Path<Uuid>) -> ApiResult<StatusCode> {
    app.store
        .delete::<Webhook>(uuid)
        .await
        .map_err(|e| not_found(e, uuid))?;
    Ok(StatusCode::NO_CONTENT)
}
