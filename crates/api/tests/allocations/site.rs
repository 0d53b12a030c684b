//! The site under test: a real store, conductor and router, with the
//! store at hand so tests can prepare nodes directly.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use ferrite_api::{App, Auth, router};
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_model::{MAX_VERSION, Node, PowerState, ProvisionState, Version};
use ferrite_store::{Ident, Store, StoreError};
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

/// The allocation API's own version; most tests run at it.
pub const V: &str = "1.52";

/// One site: the router the tests call, the store they prepare nodes in,
/// and the conductor and directory kept alive as long as it.
pub struct Site {
    pub router: Router,
    pub store: Store,
    pub _conductor: Arc<Conductor>,
    pub _dir: tempfile::TempDir,
}

/// One HTTP answer: status, headers and JSON body (Null when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

/// Whether the server advertises `1.minor`; tests of later features wait
/// for it.
pub fn served(minor: u32) -> bool {
    if MAX_VERSION >= Version(1, minor) {
        return true;
    }
    eprintln!("1.{minor} is above the maximum {MAX_VERSION}; skipped until it is raised");
    false
}

/// The faultstring (or 406 description) of an Ironic error body.
pub fn fault(body: &Value) -> String {
    let inner: Value = serde_json::from_str(body["error_message"].as_str().unwrap()).unwrap();
    inner["faultstring"]
        .as_str()
        .or(inner["description"].as_str())
        .unwrap()
        .to_string()
}

impl Site {
    /// Opens a fresh store in a temporary directory and starts a conductor
    /// and the router on it.
    pub async fn start() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("db.sqlite").display());
        let store = Store::open(&url).await.unwrap();
        let config = ConductorConfig {
            hostname: "test-conductor".into(),
            ..ConductorConfig::default()
        };
        let conductor = Conductor::start(store.clone(), config).await.unwrap();
        let app = App {
            store: store.clone(),
            conductor: conductor.clone(),
            auth: Auth::NoAuth,
            public_url: None,
            max_body_bytes: 1 << 20,
        };
        Site {
            router: router(app),
            store,
            _conductor: conductor,
            _dir: dir,
        }
    }

    /// Sends one request at `version` through the router.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        version: &str,
        body: Option<Value>,
    ) -> Answer {
        call(&self.router, method, path, version, body).await
    }

    /// A node ready to be allocated, written straight into the store.
    pub async fn free_node(&self, name: &str, rc: &str, traits: &[&str]) -> Node {
        let node = Node {
            uuid: Uuid::new_v4(),
            name: Some(name.into()),
            driver: "fake-hardware".into(),
            provision_state: ProvisionState::Available,
            power_state: Some(PowerState::Off),
            resource_class: Some(rc.into()),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            created_at: Utc::now(),
            ..Node::default()
        };
        self.store.insert(node).await.unwrap()
    }

    /// The node as stored now.
    pub async fn node(&self, uuid: Uuid) -> Node {
        self.store.get(&Ident::Uuid(uuid)).await.unwrap()
    }

    /// Changes a node behind the API's back (test set-up).
    pub async fn edit_node(&self, uuid: Uuid, change: impl FnOnce(&mut Node) + Send + 'static) {
        self.store
            .update(&Ident::Uuid(uuid), move |n: &mut Node| {
                change(n);
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }

    /// `POST /v1/allocations` that must succeed; the created body.
    pub async fn create(&self, body: Value) -> Value {
        let answer = self.call("POST", "/v1/allocations", V, Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    /// Polls an allocation until the conductor is done with it.
    pub async fn settle(&self, ident: &str) -> Value {
        for _ in 0..400 {
            let got = self
                .call("GET", &format!("/v1/allocations/{ident}"), V, None)
                .await;
            assert_eq!(got.status, StatusCode::OK, "{}", got.body);
            if got.body["state"] != "allocating" {
                return got.body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("allocation {ident} never left state allocating");
    }
}

/// Sends one request at `version` through `router` (usable from spawned
/// tasks, which cannot borrow the site).
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    version: &str,
    body: Option<Value>,
) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "ferrite.test")
        .header("X-OpenStack-Ironic-API-Version", version)
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
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
