//! `/v1/allocations` (being written).

use axum::Router;

use crate::App;

/// The routes of this resource, relative to `/v1`.
pub fn routes() -> Router<App> {
    Router::new()
}
