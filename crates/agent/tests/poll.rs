//! Poll-only mode: the agent never calls the API; a conductor finds it by
//! its status, claims it once with a node and token, and drives it.

mod common;

use std::sync::Arc;

use common::{CopyWriter, FakeRoot, TOKEN, agent, command, serve};
use ferrite_agent::config::Settings;
use serde_json::{Value, json};

fn poll() -> Settings {
    Settings {
        poll_only: Some(true),
        ..Settings::default()
    }
}

async fn claim(base: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/claim"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn an_unclaimed_agent_shows_itself_and_accepts_one_claim() {
    let root = FakeRoot::new();
    let (a, _) = agent(&root, poll(), Arc::new(CopyWriter));
    let base = serve(a).await;
    let status: Value = reqwest::get(format!("{base}/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["mode"], "poll");
    assert_eq!(status["claimed"], false);
    assert_eq!(status["macs"], json!(["52:54:00:12:34:56"]));
    assert_eq!(status["inventory"]["boot_mode"], "uefi");
    // Unclaimed, no command runs, whatever token is offered.
    let (code, _) = command(
        &base,
        Some(TOKEN),
        "clean.get_clean_steps",
        json!({}),
        false,
    )
    .await;
    assert_eq!(code, 401);

    let node = uuid::Uuid::new_v4();
    let (code, _) = claim(&base, json!({"node_uuid": node, "agent_token": "short"})).await;
    assert_eq!(code, 400);
    let (code, _) = claim(
        &base,
        json!({"node_uuid": "not-a-uuid", "agent_token": TOKEN}),
    )
    .await;
    assert_eq!(code, 400);
    let first = json!({"node_uuid": node, "agent_token": TOKEN, "node": {"properties": {}}});
    let (code, body) = claim(&base, first.clone()).await;
    assert_eq!(code, 200);
    assert_eq!(body["node_uuid"], json!(node));
    // The same claim again (a retry) is fine; any other is refused.
    assert_eq!(claim(&base, first).await.0, 200);
    let other = "f".repeat(32);
    let (code, body) = claim(&base, json!({"node_uuid": node, "agent_token": other})).await;
    assert_eq!(code, 409);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&node.to_string())
    );
    let (code, _) = claim(
        &base,
        json!({"node_uuid": uuid::Uuid::new_v4(), "agent_token": TOKEN}),
    )
    .await;
    assert_eq!(code, 409);

    let status: Value = reqwest::get(format!("{base}/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["claimed"], true);
    assert_eq!(status["node_uuid"], json!(node));
    assert!(
        status.get("inventory").is_none(),
        "a claimed agent stops advertising its hardware"
    );
    let (code, body) = command(
        &base,
        Some(TOKEN),
        "clean.get_clean_steps",
        json!({}),
        false,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = command(
        &base,
        Some(&other),
        "clean.get_clean_steps",
        json!({}),
        false,
    )
    .await;
    assert_eq!(code, 401);
    let (code, _) = command(&base, None, "clean.get_clean_steps", json!({}), false).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn a_callback_agent_cannot_be_claimed() {
    let root = FakeRoot::new();
    let settings = Settings {
        api_url: Some("http://127.0.0.1:9".into()),
        ..Settings::default()
    };
    let (a, _) = agent(&root, settings, Arc::new(CopyWriter));
    let base = serve(a).await;
    let (code, _) = claim(
        &base,
        json!({"node_uuid": uuid::Uuid::new_v4(), "agent_token": TOKEN}),
    )
    .await;
    assert_eq!(code, 403);
}

#[tokio::test]
async fn a_poll_only_agent_makes_no_request() {
    // The API URL points at a listener that records any connection.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let settings = Settings {
        poll_only: Some(true),
        api_url: Some(format!("http://{}", trap.local_addr().unwrap())),
        ..Settings::default()
    };
    let root = FakeRoot::new();
    let (a, _) = agent(&root, settings, Arc::new(CopyWriter));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ferrite_agent::run(a, listener));
    let status = reqwest::get(format!("{base}/v1/status")).await.unwrap();
    assert_eq!(status.status(), 200);
    let contacted = tokio::time::timeout(std::time::Duration::from_secs(2), trap.accept()).await;
    assert!(contacted.is_err(), "the agent called the API");
}
