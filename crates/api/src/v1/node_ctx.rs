//! The node a `/v1/nodes/{node}/…` request is about, loaded once by an
//! extractor so each handler starts from the node itself.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use ferrite_model::Node;

use super::nodes::load;
use crate::App;
use crate::protocol::{ApiError, ApiVersion};

/// The app, the negotiated version and the node named by the `{node}`
/// path segment (by name or UUID). A missing node is a 404.
pub struct NodeCtx {
    pub app: App,
    pub version: ApiVersion,
    pub node: Node,
}

impl FromRequestParts<App> for NodeCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let version = parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion(ferrite_model::MIN_VERSION));
        let params = RawPathParams::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::endpoint_not_found())?;
        let ident = params
            .iter()
            .find(|(key, _)| *key == "node")
            .map(|(_, value)| value.to_string())
            .ok_or_else(ApiError::endpoint_not_found)?;
        let node = load(app, &ident, version).await?;
        Ok(NodeCtx {
            app: app.clone(),
            version,
            node,
        })
    }
}
