//! The request pipeline that wraps every route: request id, one log line
//! per request, version negotiation, path normalisation, authentication and
//! the version headers on every response (errors included).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferrite_model::Version;
use tracing::Instrument;

use super::body;
use super::error::ApiError;
use super::links::PublicUrl;
use super::version::{self, ApiVersion, MaxVersion};
use crate::Auth;

/// The request id, also readable by handlers that log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Per-process authentication state: the users, plus credentials already
/// verified (bcrypt is deliberately slow; checking it on every request
/// would cap throughput at a few dozen requests per second).
pub struct Authenticator {
    auth: Auth,
    verified: Mutex<HashSet<String>>,
}

/// How many distinct verified credentials are remembered.
const VERIFIED_CACHE_LIMIT: usize = 1024;

impl Authenticator {
    /// Wraps the configured strategy.
    pub fn new(auth: Auth) -> Arc<Self> {
        Arc::new(Authenticator {
            auth,
            verified: Mutex::new(HashSet::new()),
        })
    }

    async fn check(&self, authorization: Option<&str>) -> bool {
        let Auth::HttpBasic { users } = &self.auth else {
            return true;
        };
        let Some(value) = authorization else {
            return false;
        };
        if self
            .verified
            .lock()
            .map(|set| set.contains(value))
            .unwrap_or(false)
        {
            return true;
        }
        let Some(encoded) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let Some(hash) = users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, h)| h.clone())
        else {
            return false;
        };
        let password = password.to_string();
        let ok =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        if ok && let Ok(mut set) = self.verified.lock() {
            if set.len() >= VERIFIED_CACHE_LIMIT {
                set.clear();
            }
            set.insert(value.to_string());
        }
        ok
    }
}

/// Paths served without authentication (reference §1.1): the root
/// documents and the ramdisk's endpoints, which check agent tokens instead.
fn is_public(path: &str) -> bool {
    let rest = path.strip_prefix("/v1").unwrap_or(path);
    matches!(path, "/" | "/v1" | "/v1/")
        || rest == "/lookup"
        || rest == "/continue_inspection"
        || rest.starts_with("/heartbeat/")
}

/// Removes a trailing slash and, below 1.91, a `.json` suffix on the last
/// path element (Ironic's content-type guessing).
fn normalize(uri: &Uri, version: Version) -> Option<Uri> {
    let path = uri.path();
    let mut new_path = path.to_string();
    if new_path.len() > 1 && new_path.ends_with('/') {
        new_path.pop();
    }
    if version < Version(1, 91)
        && let Some(stripped) = new_path.strip_suffix(".json")
        && !stripped.ends_with('/')
    {
        new_path = stripped.to_string();
    }
    if new_path == path {
        return None;
    }
    let rebuilt = match uri.query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    rebuilt.parse().ok()
}

/// What the outermost middleware needs: authentication and the settings
/// handed to handlers as request extensions.
pub struct Pipeline {
    pub auth: Arc<Authenticator>,
    pub body_limit: usize,
    pub public_url: Option<String>,
    /// The highest microversion served.
    pub max_version: Version,
}

/// The outermost middleware; see the module documentation.
pub async fn pipeline(
    State(pipeline): State<Arc<Pipeline>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", id = %request_id);
    async move {
        let max = pipeline.max_version;
        let negotiated = version::negotiate(request.headers(), max);
        let buffered = body::buffered(request, pipeline.body_limit).await;
        let mut response = match (negotiated.clone(), buffered) {
            (_, Err(refused)) => refused,
            (Err(err), Ok(_)) => err.into_response(),
            (Ok(version), Ok(mut request)) => {
                if let Some(uri) = normalize(request.uri(), version) {
                    *request.uri_mut() = uri;
                }
                let authorization = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                if !is_public(request.uri().path()) && !pipeline.auth.check(authorization).await {
                    let mut denied = ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "The request you have made requires authentication.",
                    )
                    .into_response();
                    denied.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"Baremetal API\""),
                    );
                    denied
                } else {
                    request.extensions_mut().insert(ApiVersion(version));
                    request.extensions_mut().insert(MaxVersion(max));
                    request
                        .extensions_mut()
                        .insert(RequestId(request_id.clone()));
                    request
                        .extensions_mut()
                        .insert(PublicUrl(pipeline.public_url.clone()));
                    next.run(request).await
                }
            }
        };
        let headers = response.headers_mut();
        version::stamp(headers, negotiated.ok(), max);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.insert("openstack-request-id", value.clone());
            headers.insert("x-openstack-request-id", value);
        }
        tracing::info!(
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_suffix_is_stripped_only_before_1_91() {
        let uri: Uri = "/v1/nodes/n1.json?fields=uuid".parse().unwrap();
        assert_eq!(
            normalize(&uri, Version(1, 90)).unwrap().to_string(),
            "/v1/nodes/n1?fields=uuid"
        );
        assert!(normalize(&uri, Version(1, 91)).is_none());
        let slash: Uri = "/v1/nodes/".parse().unwrap();
        assert_eq!(
            normalize(&slash, Version(1, 1)).unwrap().to_string(),
            "/v1/nodes"
        );
    }

    #[tokio::test]
    async fn basic_auth_checks_bcrypt_entries() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = Authenticator::new(Auth::HttpBasic {
            users: vec![("admin".into(), hash)],
        });
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:s3cret")
        );
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:wrong")
        );
        assert!(auth.check(Some(&good)).await);
        assert!(auth.check(Some(&good)).await, "cached");
        assert!(!auth.check(Some(&bad)).await);
        assert!(!auth.check(None).await);
        assert!(Authenticator::new(Auth::NoAuth).check(None).await);
    }
}
