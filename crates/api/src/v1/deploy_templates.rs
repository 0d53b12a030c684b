//! `/v1/deploy_templates` (being written).

use axum::Router;

use crate::App;

/// The routes of this resource, relative to `/v1`.
pub fn routes() -> Router<App> {
    Router::new()
}
