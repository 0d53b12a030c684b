//! A real API over a real store and conductor, driven in-process.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrite_api::{App, Auth, router_up_to};
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_store::{Backend, Store};
use serde_json::Value;
use tower::ServiceExt;

/// The site under test; the temp dir lives as long as it does.
pub struct Site {
    pub router: Router,
    pub store: Store,
    /// The database's URL, for a second store on it (another process).
    pub url: String,
    pub conductor: Arc<Conductor>,
    _dir: tempfile::TempDir,
}

/// The PostgreSQL server's admin URL, `None` when the run has none and
/// does not require one (`FERRITE_TEST_PG_REQUIRED=1` makes that a
/// failure), in which case PostgreSQL runs are skipped with a note.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("FERRITE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("FERRITE_TEST_PG_REQUIRED").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "FERRITE_TEST_PG_REQUIRED=1 but FERRITE_TEST_PG_URL is not set"
            );
            eprintln!("note: FERRITE_TEST_PG_URL is not set; PostgreSQL run skipped");
            None
        }
    }
}

/// Runs `test` on `backend` on a runtime of its own (two workers), unless
/// it is PostgreSQL and there is no server.
pub fn run_on<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if backend == Backend::Postgres && pg_admin_url().is_none() {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test(backend));
}

/// Declares each `async fn NAME(backend: Backend)` as two tests,
/// `NAME::sqlite` and `NAME::postgres`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            async fn $name($backend: ferrite_store::Backend) $body

            mod $name {
                #[test]
                fn sqlite() {
                    $crate::common::run_on(ferrite_store::Backend::Sqlite, super::$name);
                }

                #[test]
                fn postgres() {
                    $crate::common::run_on(ferrite_store::Backend::Postgres, super::$name);
                }
            }
        )*
    };
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
        Site::start_on(Backend::Sqlite, max, tune).await
    }

    /// A site on `backend`: SQLite in a temporary directory, or a fresh
    /// database on the PostgreSQL server of `FERRITE_TEST_PG_URL` (see
    /// [`pg_admin_url`]; the throwaway cluster goes with its databases).
    pub async fn start_on(
        backend: Backend,
        max: ferrite_model::Version,
        tune: impl FnOnce(&mut ConductorConfig),
    ) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => format!("sqlite:{}", dir.path().join("db.sqlite").display()),
            Backend::Postgres => {
                let admin = pg_admin_url().expect("PostgreSQL run without a server");
                ferrite_store::testing::create_database(&admin)
                    .await
                    .unwrap()
            }
        };
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
            url,
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
