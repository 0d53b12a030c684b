//! The client against a tiny in-process HTTP server that answers the way
//! Ironic does (status codes, double-encoded error bodies, `next` links).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::*;

#[derive(Clone, Default)]
struct Mock {
    provision_calls: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
}

fn ironic_error(status: StatusCode, msg: &str) -> Response {
    let inner = json!({"faultcode": "Client", "faultstring": msg, "debuginfo": null});
    let body = json!({"error_message": inner.to_string()});
    (status, axum::Json(body)).into_response()
}

async fn node(
    State(m): State<Mock>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if id == "missing" {
        return ironic_error(StatusCode::NOT_FOUND, "Node missing could not be found.");
    }
    let version = headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    let auth = headers.get("authorization").is_some();
    // The third poll onwards sees the node settled.
    let n = m.polls.fetch_add(1, Ordering::SeqCst);
    let (state, target) = if id == "broken" {
        ("deploy failed", json!("active"))
    } else if n >= 2 {
        ("manageable", Value::Null)
    } else {
        ("verifying", json!("manageable"))
    };
    axum::Json(json!({
        "uuid": "07a5a29e-ad5d-41ba-9b15-b2617e6f455e",
        "name": id,
        "provision_state": state,
        "target_provision_state": target,
        "last_error": if id == "broken" { json!("image gone") } else { Value::Null },
        "extra": {"version_seen": version, "auth_seen": auth},
    }))
    .into_response()
}

async fn provision(State(m): State<Mock>, body: axum::Json<Value>) -> Response {
    if body.0["target"] != "manage" {
        return ironic_error(StatusCode::BAD_REQUEST, "bad target");
    }
    // Locked twice, then accepted.
    if m.provision_calls.fetch_add(1, Ordering::SeqCst) < 2 {
        return ironic_error(
            StatusCode::CONFLICT,
            "Node n1 is locked by host c1, please retry after the current operation is completed.",
        );
    }
    StatusCode::ACCEPTED.into_response()
}

async fn nodes(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    // Three nodes in pages of `limit`; `marker` is the index of the last one.
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(1000);
    let start = q
        .get("marker")
        .and_then(|m| m.parse::<usize>().ok())
        .map_or(0, |m| m + 1);
    let end = (start + limit).min(3);
    let nodes: Vec<Value> = (start..end)
        .map(|i| json!({"uuid": uuid::Uuid::from_u128(i as u128 + 1), "name": format!("n{i}"), "provision_state": "enroll", "fields_seen": q.get("fields")}))
        .collect();
    let mut body = json!({ "nodes": nodes });
    if end - start == limit {
        body["next"] = json!(format!(
            "http://example.invalid/v1/nodes?limit={limit}&fields=uuid%2Cname&marker={}",
            end - 1
        ));
    }
    axum::Json(body).into_response()
}

async fn serve() -> (String, Mock) {
    let mock = Mock::default();
    let app = Router::new()
        .route("/v1/nodes", get(nodes))
        .route("/v1/nodes/{id}", get(node))
        .route("/v1/nodes/{id}/states/provision", put(provision))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), mock)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn api_errors_carry_status_and_faultstring() {
    let (url, _) = serve().await;
    let c = Client::builder(&url).build().unwrap();
    let err = c.get_node("missing").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    match err {
        Error::Api {
            faultstring, body, ..
        } => {
            assert_eq!(faultstring, "Node missing could not be found.");
            assert!(body.contains("error_message"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn sends_version_header_and_basic_auth() {
    let (url, _) = serve().await;
    let c = Client::builder(format!("{url}/v1/"))
        .api_version("1.49")
        .basic_auth("u", "p")
        .build()
        .unwrap();
    let n = c.get_node("n1").await.unwrap();
    let extra = n.extra.unwrap();
    assert_eq!(extra["version_seen"], "1.49");
    assert_eq!(extra["auth_seen"], true);
    let raw = c
        .request_raw(
            Method::GET,
            "/v1/nodes/n1",
            &ListQuery::new(),
            None,
            Some(""),
        )
        .await
        .unwrap();
    assert_eq!(raw.json().unwrap()["extra"]["version_seen"], "none");
}

#[tokio::test]
async fn retries_node_locked_then_succeeds() {
    let (url, mock) = serve().await;
    let c = Client::builder(&url).retry(fast_retry()).build().unwrap();
    c.set_provision_state("n1", "manage", None).await.unwrap();
    assert_eq!(mock.provision_calls.load(Ordering::SeqCst), 3);

    let (url, _) = serve().await;
    let c = Client::builder(&url)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = c
        .set_provision_state("n1", "manage", None)
        .await
        .unwrap_err();
    assert!(err.is_node_locked());
    let err = c
        .set_provision_state("n1", "bogus", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn waits_until_settled_or_failed() {
    let (url, mock) = serve().await;
    let c = Client::builder(&url).build().unwrap();
    let n = c
        .wait_for_provision_state("n1", "manageable", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(n.provision_state.as_deref(), Some("manageable"));
    assert!(mock.polls.load(Ordering::SeqCst) >= 3);
    match c
        .wait_for_provision_state("broken", "active", Duration::from_secs(10))
        .await
    {
        Err(Error::WaitFailed {
            state, last_error, ..
        }) => {
            assert_eq!(state, "deploy failed");
            assert_eq!(last_error, "image gone");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn wait_times_out() {
    let (url, _) = serve().await;
    let c = Client::builder(&url).build().unwrap();
    let err = c
        .wait_for_provision_state("n1", "active", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn list_all_follows_next_links_on_the_same_endpoint() {
    let (url, _) = serve().await;
    let c = Client::builder(&url).build().unwrap();
    let all = c
        .list_nodes_all(&ListQuery::new().limit(2).fields(&["uuid", "name"]))
        .await
        .unwrap();
    let names: Vec<_> = all.iter().filter_map(|n| n.name.clone()).collect();
    assert_eq!(names, ["n0", "n1", "n2"]);
    // The second page was requested with the parameters of the `next` link.
    assert_eq!(all[2].other["fields_seen"], "uuid,name");
    let counted = c.count_nodes_all(&ListQuery::new().limit(2)).await.unwrap();
    assert_eq!(counted, (3, 2));
}

#[test]
fn rejects_unusable_base_urls() {
    assert!(Client::builder("127.0.0.1:6385").build().is_err());
    assert!(Client::builder("http://").build().is_err());
    let c = Client::builder("http://127.0.0.1:6385/v1").build().unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:6385");
}

#[test]
fn segments_are_escaped_and_failures_recognised() {
    assert_eq!(segment("n-1.a_b~"), "n-1.a_b~");
    assert_eq!(segment("a/b c"), "a%2Fb%20c");
    assert!(is_failure_state("deploy failed"));
    assert!(is_failure_state("error"));
    assert!(!is_failure_state("active"));
}
