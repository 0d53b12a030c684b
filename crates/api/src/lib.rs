//! Ferrite's HTTP API: the Ironic v1 surface. Handlers check a request and
//! record it in the store; the conductor (behind a trait) does the work.

pub mod ferrite;
pub mod metrics;
pub mod protocol;
pub mod v1;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use protocol::ApiError;
use protocol::middleware::{Authenticator, Pipeline, pipeline};

use ferrite_conductor::ConductorApi;
use ferrite_model::{MAX_VERSION, Version};
use ferrite_store::Store;

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No authentication; only allowed on loopback listeners (the binary
    /// refuses to start otherwise).
    NoAuth,
    /// HTTP Basic against an htpasswd file of bcrypt entries (`user:$2y$…`),
    /// as Ironic standalone uses. Loaded once at start.
    HttpBasic { users: Vec<(String, String)> },
}

/// Everything a request handler needs; cloned into the router state.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub conductor: Arc<dyn ConductorApi>,
    pub auth: Auth,
    /// Base URL used in links when set (e.g. behind a proxy); otherwise the
    /// request's Host header is used.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

/// Builds the complete HTTP router (Ironic v1, with and without the `/v1`
/// prefix) with its middleware (request ids, version negotiation, auth,
/// logging, body limits), serving microversions up to [`MAX_VERSION`].
pub fn router(app: App) -> Router {
    router_up_to(app, MAX_VERSION)
}

/// The same router serving microversions up to `max` instead. Features are
/// written (and tested) at their own microversions before the advertised
/// maximum is raised past them, which happens only once every version in
/// between is complete; tests of such features use this. Production serves
/// [`router`].
pub fn router_up_to(app: App, max: Version) -> Router {
    metrics::install();
    let own = Router::new()
        .route("/metrics", get(metrics::render))
        .merge(ferrite::routes());
    with_protocol(app, v1::routes(), own, max)
}

/// The router of the provisioning listener: only the agent's endpoints
/// (lookup, heartbeat, continue_inspection) and the root documents the
/// agent reads to negotiate its version, with the same protocol layer as
/// [`router`] (version headers, Ironic errors; anything else is 404). It
/// never asks for credentials: those endpoints are public in the full API
/// too, and check the agent token instead. Neither `/metrics` nor the
/// change feed is served there: that network is the machines'.
pub fn ramdisk_router(app: App) -> Router {
    let app = App {
        auth: Auth::NoAuth,
        ..app
    };
    with_protocol(app, v1::agent_routes(), Router::new(), MAX_VERSION)
}

/// `resources` under `/v1` and without the prefix, beside the root
/// documents and `own` (Ferrite's own routes, unprefixed), wrapped in the
/// request pipeline.
fn with_protocol(app: App, resources: Router<App>, own: Router<App>, max: Version) -> Router {
    let inner = Router::new()
        .route("/", get(v1::root::root))
        .route("/v1", get(v1::root::v1))
        .nest("/v1", resources.clone())
        .merge(resources)
        .merge(own)
        .fallback(|| async { ApiError::endpoint_not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "The method is not allowed for the requested URL.",
            )
        })
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(app.clone());
    let state = Arc::new(Pipeline {
        auth: Authenticator::new(app.auth.clone()),
        body_limit: app.max_body_bytes,
        public_url: app.public_url.clone(),
        max_version: max,
    });
    let wrapped = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(state, pipeline))
        .service(inner);
    Router::new().fallback_service(wrapped)
}

impl Auth {
    /// Parses an htpasswd file's contents: one `user:bcrypt-hash` per line;
    /// blank lines and `#` comments ignored; non-bcrypt entries refused.
    pub fn from_htpasswd(contents: &str) -> Result<Auth, String> {
        let mut users = Vec::new();
        for (number, line) in contents.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("htpasswd line {}: expected user:hash", number + 1))?;
            if !(hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
                return Err(format!(
                    "htpasswd line {}: user {user} does not have a bcrypt hash (create entries with `htpasswd -B`)",
                    number + 1
                ));
            }
            users.push((user.to_string(), hash.to_string()));
        }
        if users.is_empty() {
            return Err("the htpasswd file has no users".into());
        }
        Ok(Auth::HttpBasic { users })
    }
}
