//! The site under test: a real store, conductor and router, with the
//! store at hand so tests can prepare nodes directly.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use ferrite_model::{MAX_VERSION, Node, PowerState, ProvisionState, Version};
use ferrite_store::{Ident, StoreError};
use serde_json::Value;
use uuid::Uuid;

pub use crate::common::{Answer, Site, fault, send};

/// The allocation API's own version; most tests run at it.
pub const V: &str = "1.52";

/// Whether the server advertises `1.minor`; tests of later features wait
/// for it.
pub fn served(minor: u32) -> bool {
    if MAX_VERSION >= Version(1, minor) {
        return true;
    }
    eprintln!("1.{minor} is above the maximum {MAX_VERSION}; skipped until it is raised");
    false
}

/// Preparation helpers of the allocation tests.
impl Site {
    /// Sends one request at `version`.
    pub async fn at(&self, method: &str, path: &str, version: &str, body: Option<Value>) -> Answer {
        send(&self.router, method, path, Some(version), body).await
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
        let answer = self.at("POST", "/v1/allocations", V, Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    /// Polls an allocation until the conductor is done with it.
    pub async fn settle(&self, ident: &str) -> Value {
        for _ in 0..400 {
            let got = self
                .at("GET", &format!("/v1/allocations/{ident}"), V, None)
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
