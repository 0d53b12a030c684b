//! The event receiver: a small HTTP listener of the conductor (not part of
//! the Ironic API) that takes `POST /redfish-events/{node}` from BMCs. An
//! event whose `Context` is not the node's current secret is refused with
//! 403 and changes nothing, so a forged event cannot even make Ferrite
//! poll a BMC.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, warn};
use uuid::Uuid;

use super::{BmcEvents, PATH_PREFIX};

/// Largest event document accepted; real ones are a few KiB.
const MAX_BODY: usize = 256 * 1024;

/// Serves until the stop signal.
pub(super) async fn serve(
    events: Arc<BmcEvents>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route(&format!("{PATH_PREFIX}{{node}}"), post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(events);
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        warn!(error = %e, "the Redfish event receiver stopped");
    }
}

async fn receive(
    State(events): State<Arc<BmcEvents>>,
    Path(node): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Ok(uuid) = node.parse::<Uuid>() else {
        return StatusCode::NOT_FOUND;
    };
    let Ok(doc) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let context = doc.get("Context").and_then(Value::as_str).unwrap_or("");
    if events.accept(uuid, context) {
        debug!(node = %uuid, "Redfish event: reading the power state now");
        StatusCode::NO_CONTENT
    } else {
        warn!(node = %uuid, "refused a Redfish event with a wrong or missing Context");
        StatusCode::FORBIDDEN
    }
}
