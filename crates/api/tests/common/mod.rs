//! A real API over a real store and conductor, driven in-process.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrite_api::{App, Auth, router_up_to};
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_store::Store;
use serde_json::Value;
use tower::ServiceExt;

/// The site under test; the temp dir lives as long as it does.
pub struct Site {
    pub router: Router,
    pub store: Store,
    pub conductor: Arc<Conductor>,
    _dir: tempfile::TempDir,
}

/// One answer: status, headers and JSON body (Null when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Site {
    pub async fn start() -> Site {
        Site::start_up_to(ferrite_model::MAX_VERSION).await
    }

    /// A site serving microversions up to `max`, which may be above the
    /// advertised maximum: features are tested at their own versions
    /// before the lead raises `MAX_VERSION` past them.
    pub async fn start_up_to(max: ferrite_model::Version) -> Site {
        Site::start_configured(max, |_| {}).await
    }

    /// A site whose conductor configuration `tune` adjusts first.
    pub async fn start_configured(
        max: ferrite_model::Version,
        tune: impl FnOnce(&mut ConductorConfig),
    ) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("db.sqlite").display());
        let store = Store::open(&url).await.unwrap();
        let mut config = ConductorConfig {
            hostname: "test-conductor".into(),
            ..ConductorConfig::default()
        };
        tune(&mut config);
        let conductor = Conductor::start(store.clone(), config).await.unwrap();
        let app = App {
            store: store.clone(),
            conductor: conductor.clone(),
            auth: Auth::NoAuth,
            public_url: None,
            max_body_bytes: 1 << 20,
        };
        Site {
            router: router_up_to(app, max),
            store,
            conductor,
            _dir: dir,
        }
    }

    /// Serves the site on a loopback port, for clients that need a real
    /// connection (streams, disconnects); the server lives as long as the
    /// test's runtime.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    /// Sends a request at `version` (None: no header).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        version: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        send(&self.router, method, path, version, body).await
    }

    pub async fn latest(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, path, Some("latest"), body).await
    }

    /// Polls a node until its provision state is `state`.
    pub async fn wait_for(&self, node: &str, state: &str) -> Value {
        for _ in 0..200 {
            let got = self
                .latest("GET", &format!("/v1/nodes/{node}"), None)
                .await
                .body;
            if got["provision_state"] == state && got["target_provision_state"].is_null() {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let last = self
            .latest("GET", &format!("/v1/nodes/{node}"), None)
            .await
            .body;
        panic!("node {node} never reached {state}: {last}");
    }

    /// Polls a node until its power action settled at `state`.
    pub async fn wait_for_power(&self, node: &str, state: &str) {
        for _ in 0..200 {
            let got = self
                .latest("GET", &format!("/v1/nodes/{node}"), None)
                .await
                .body;
            if got["power_state"] == state
                && got["target_power_state"].is_null()
                && got["reservation"].is_null()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("node {node} never reached power state {state}");
    }
}

/// The faultstring of an Ironic error body.
pub fn fault(body: &Value) -> String {
    let inner: Value = serde_json::from_str(body["error_message"].as_str().unwrap()).unwrap();
    inner["faultstring"]
        .as_str()
        .or(inner["description"].as_str())
        .unwrap()
        .to_string()
}

/// Sends one request through `router` (usable from spawned tasks, which
/// cannot borrow the site).
pub async fn send(
    router: &Router,
    method: &str,
    path: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "ferrite.test");
    if let Some(v) = version {
        request = request.header("X-OpenStack-Ironic-API-Version", v);
    }
    let body = match body {
        Some(b) => Body::from(b.to_string()),
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Answer {
        status,
        headers,
        body,
    }
}
