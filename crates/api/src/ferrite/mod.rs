//! `/ferrite/v1`: Ferrite's own API beside the Ironic surface — the change
//! feed and its webhook subscriptions. Served through the same pipeline as
//! `/v1` (authentication, request ids, body limits); its OpenAPI document
//! is generated from the handlers below and checked in at
//! `docs/openapi/ferrite-v1.json`.

pub mod events;
pub mod webhooks;

use axum::Router;
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::App;

/// Ironic's error body, which `/ferrite/v1` answers with too: one field
/// holding a JSON document (`faultcode`, `faultstring`, `debuginfo`) as a
/// string.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The JSON-encoded error document.
    pub error_message: String,
}

/// The OpenAPI document of `/ferrite/v1`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferrite API",
        description = "Ferrite's own API beside the Ironic v1 surface: the durable change feed and webhook subscriptions.",
        version = "1"
    ),
    paths(
        events::poll,
        events::stream,
        webhooks::create,
        webhooks::list,
        webhooks::show,
        webhooks::update,
        webhooks::delete
    ),
    tags(
        (name = "events", description = "The change feed: every change to nodes, ports, portgroups, allocations and deploy templates"),
        (name = "webhooks", description = "Subscriptions that have the conductor POST the feed, signed")
    )
)]
pub struct FerriteApi;

/// The OpenAPI document as pretty JSON, as checked in.
pub fn openapi_json() -> String {
    let mut text = FerriteApi::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// Every `/ferrite/v1` route.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/ferrite/v1/events", get(events::poll))
        .route("/ferrite/v1/events/stream", get(events::stream))
        .route(
            "/ferrite/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/ferrite/v1/webhooks/{uuid}",
            get(webhooks::show)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
}
