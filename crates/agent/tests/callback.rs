//! Lookup, heartbeat and inspection against a real Ferrite API (store,
//! conductor and router, served on loopback), then the conductor's side:
//! the token lookup handed out opens the agent's command API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CopyWriter, FakeRoot, agent, command};
use ferrite_agent::config::Settings;
use ferrite_api::{App, Auth};
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_model::{Node, NodeInventory, ProvisionState};
use ferrite_store::{Ident, Store};
use serde_json::{Value, json};

struct Api {
    base: String,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!(
        "sqlite:{}",
        dir.path().join("db.sqlite").display()
    ))
    .await
    .unwrap();
    let config = ConductorConfig {
        hostname: "agent-test".into(),
        ..ConductorConfig::default()
    };
    let conductor = Conductor::start(store.clone(), config).await.unwrap();
    let app = App {
        store: store.clone(),
        conductor,
        auth: Auth::NoAuth,
        public_url: None,
        max_body_bytes: 1 << 20,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, ferrite_api::router(app))
            .await
            .unwrap()
    });
    Api {
        base,
        store,
        _dir: dir,
    }
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .header("X-OpenStack-Ironic-API-Version", "latest");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// A node with a port for the fake machine's NIC, put in `state`.
    async fn node(&self, state: ProvisionState) -> uuid::Uuid {
        let (code, node) = self
            .call(
                reqwest::Method::POST,
                "/v1/nodes",
                Some(json!({"driver": "fake-hardware"})),
            )
            .await;
        assert_eq!(code, 201, "{node}");
        let uuid: uuid::Uuid = node["uuid"].as_str().unwrap().parse().unwrap();
        let port = json!({"node_uuid": uuid, "address": "52:54:00:12:34:56"});
        assert_eq!(
            self.call(reqwest::Method::POST, "/v1/ports", Some(port))
                .await
                .0,
            201
        );
        self.store
            .update(
                &Ident::Uuid(uuid),
                move |n: &mut Node| -> Result<(), ferrite_store::StoreError> {
                    n.set_provision_state(state, None, chrono::Utc::now());
                    Ok(())
                },
            )
            .await
            .map(|(_, ())| ())
            .unwrap_or_else(|e: ferrite_store::StoreError| panic!("{e}"));
        uuid
    }

    async fn stored(&self, uuid: uuid::Uuid) -> Node {
        self.store.get(&Ident::Uuid(uuid)).await.unwrap()
    }

    /// Waits until the node records an agent URL.
    async fn heartbeat_seen(&self, uuid: uuid::Uuid) -> Node {
        for _ in 0..200 {
            let node = self.stored(uuid).await;
            if node.driver_internal_info.contains_key("agent_url") {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no heartbeat recorded");
    }
}

async fn start_agent(root: &FakeRoot, mut settings: Settings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    settings.listen_port = Some(port);
    let (a, _) = agent(root, settings, Arc::new(CopyWriter));
    tokio::spawn(ferrite_agent::run(a, listener));
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn lookup_then_heartbeat_with_the_token_then_commands_need_it() {
    let api = api().await;
    let uuid = api.node(ProvisionState::DeployWait).await;
    let root = FakeRoot::new();
    let settings = Settings::from_cmdline(&format!(
        "ipa-api-url={} BOOTIF=01-52-54-00-12-34-56",
        api.base
    ))
    .unwrap();
    let agent_url = start_agent(&root, settings).await;

    let node = api.heartbeat_seen(uuid).await;
    let info = &node.driver_internal_info;
    assert_eq!(
        info["agent_url"],
        json!(agent_url),
        "callback URL from the route to the API"
    );
    assert_eq!(info["agent_version"], json!(ferrite_agent::VERSION));
    let token = info["agent_secret_token"].as_str().unwrap().to_string();

    // The conductor's side: the token opens the command API, nothing else does.
    let (code, body) = command(
        &agent_url,
        Some(&token),
        "deploy.get_deploy_steps",
        json!({}),
        false,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = command(
        &agent_url,
        None,
        "deploy.get_deploy_steps",
        json!({}),
        false,
    )
    .await;
    assert_eq!(code, 401);
    // A second lookup does not reveal the token.
    let (code, doc) = api
        .call(
            reqwest::Method::GET,
            "/v1/lookup?addresses=52:54:00:12:34:56",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(doc["config"]["agent_token"], "******");
    let status: Value = reqwest::get(format!("{agent_url}/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["node_uuid"], json!(uuid));
}

#[tokio::test]
async fn inspection_sends_the_inventory_and_continues_as_an_agent() {
    let api = api().await;
    let uuid = api.node(ProvisionState::InspectWait).await;
    let root = FakeRoot::new();
    root.add_disk("vda", 10 << 30, false, "V");
    let settings = Settings {
        api_url: Some(api.base.clone()),
        inspection_callback_url: Some(format!("{}/v1/continue_inspection", api.base)),
        ..Settings::default()
    };
    start_agent(&root, settings).await;
    let node = api.heartbeat_seen(uuid).await;
    assert_ne!(node.provision_state, ProvisionState::InspectWait);
    let record: NodeInventory = api.store.get(&Ident::Uuid(uuid)).await.unwrap();
    let inv: ferrite_model::inventory::Inventory =
        serde_json::from_value(record.inventory).unwrap();
    assert_eq!(inv.disks[0].name, "/dev/vda");
    assert_eq!(inv.interfaces[0].mac_address, "52:54:00:12:34:56");
    assert_eq!(inv.memory_mb, Some(2048));
}

#[tokio::test]
async fn an_agent_whose_token_was_already_given_out_stops_with_a_clear_error() {
    let api = api().await;
    let uuid = api.node(ProvisionState::CleanWait).await;
    // Someone else looked the node up first.
    let (code, _) = api
        .call(
            reqwest::Method::GET,
            "/v1/lookup?addresses=52:54:00:12:34:56",
            None,
        )
        .await;
    assert_eq!(code, 200);
    let root = FakeRoot::new();
    let settings = Settings {
        api_url: Some(api.base.clone()),
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a, _) = agent(&root, settings, Arc::new(CopyWriter));
    let err = tokio::time::timeout(Duration::from_secs(10), ferrite_agent::run(a, listener))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("already handed out"), "{err}");
    assert!(
        !api.stored(uuid)
            .await
            .driver_internal_info
            .contains_key("agent_url")
    );
}
