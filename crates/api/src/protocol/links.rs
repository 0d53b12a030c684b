//! Links and base URLs. Every resource carries `self` (under `/v1`) and
//! `bookmark` (without it) links built from the public base URL.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::error::ApiError;

/// The public base URL of this request (`http://host:port`, no slash).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

/// The configured public URL, stored as an extension by the router.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        if let Some(PublicUrl(Some(url))) = parts.extensions.get::<PublicUrl>() {
            return Ok(BaseUrl(url.trim_end_matches('/').to_string()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Ok(BaseUrl(format!("http://{host}")))
    }
}

impl BaseUrl {
    /// `[{href: base/v1/path, rel: self}, {href: base/path, rel: bookmark}]`.
    pub fn links(&self, path: &str) -> Value {
        json!([
            {"href": format!("{}/v1/{path}", self.0), "rel": "self"},
            {"href": format!("{}/{path}", self.0), "rel": "bookmark"},
        ])
    }

    /// The absolute URL of a `/v1` path.
    pub fn v1(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.0)
    }
}
