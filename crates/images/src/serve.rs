//! The cache served to agents over HTTP: `GET /images/{sha256}` with Range
//! support (resumable and parallel downloads), mounted by the conductor's
//! boot/provisioning listener.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::cache::{Cache, is_sha256};

/// The path prefix under which images are served; an agent downloads
/// `<base>/images/<sha256>` and verifies the sha256 it names.
pub const IMAGES_PATH: &str = "/images";

/// A router serving the cache's blobs at `/images/{sha256}` (GET and HEAD,
/// single Range requests answered 206). Unknown or malformed names are 404.
pub fn router(cache: Cache) -> Router {
    Router::new()
        .route(&format!("{IMAGES_PATH}/{{sha256}}"), get(blob))
        .with_state(cache)
}

/// Serves one blob, holding it so it is not evicted while the file opens
/// (once open, the transfer survives an eviction).
async fn blob(
    State(cache): State<Cache>,
    Path(sha256): Path<String>,
    request: Request,
) -> Response {
    if !is_sha256(&sha256) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(image) = cache.get(&sha256) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match ServeFile::new(image.path()).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}
