//! Webhook delivery through a receiver outage: a real HTTP receiver on
//! loopback is down for 60 s, then up, and receives every event; every
//! delivery's signature checks against its subscription's secret, and a
//! forged or tampered one does not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ferrite_conductor::feed::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use ferrite_model::Node;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::Site;

const SECRET: &str = "a-webhook-secret-of-some-length";
const OUTAGE: Duration = Duration::from_secs(60);

/// What the receiver saw.
#[derive(Default)]
struct Received {
    /// Seqs of deliveries whose signature checked, in arrival order.
    seqs: Vec<u64>,
    /// Deliveries whose signature did not check.
    forged: usize,
}

async fn receive(
    State(seen): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut seen = seen.lock().unwrap();
    if !verify(
        SECRET,
        &header(TIMESTAMP_HEADER),
        &body,
        &header(SIGNATURE_HEADER),
    ) {
        seen.forged += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let delivery: Value = serde_json::from_slice(&body).unwrap();
    for event in delivery["events"].as_array().unwrap() {
        seen.seqs.push(event["seq"].as_u64().unwrap());
    }
    StatusCode::NO_CONTENT
}

async fn changes(site: &Site, count: usize) {
    for _ in 0..count {
        site.store
            .insert(Node {
                uuid: Uuid::new_v4(),
                driver: "fake-hardware".into(),
                ..Node::default()
            })
            .await
            .unwrap();
    }
}

on_both_backends! {
    async fn a_receiver_down_for_a_minute_then_up_receives_every_event_once_signed(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |c| {
            c.feed.webhook_initial_backoff = 0.2;
            c.feed.webhook_max_backoff = 2.0;
            c.feed.webhook_batch = 50;
        })
        .await;
        // A port nobody listens on yet: deliveries are refused.
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/hook");
        let made = site
            .latest(
                "POST",
                "/ferrite/v1/webhooks",
                Some(json!({"url": url, "secret": SECRET, "types": ["node.*"]})),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        assert!(
            made.body.get("secret").is_none(),
            "the secret is shown back"
        );
        let hook = made.body["uuid"].as_str().unwrap().to_string();
        // A second subscription whose secret the receiver does not know: all
        // of its deliveries must be told apart as forged.
        let other = site
            .latest(
                "POST",
                "/ferrite/v1/webhooks",
                Some(json!({"url": url, "secret": "not-the-receivers-secret"})),
            )
            .await;
        assert_eq!(other.status, 201);
        let other_uuid = other.body["uuid"].as_str().unwrap().to_string();

        changes(&site, 300).await;
        tokio::time::sleep(OUTAGE).await;
        changes(&site, 200).await;
        let status = site
            .latest("GET", &format!("/ferrite/v1/webhooks/{hook}"), None)
            .await
            .body;
        assert!(
            status["status"]["failures"].as_u64().unwrap() > 0,
            "{status}"
        );
        assert!(status["status"]["last_error"].is_string(), "{status}");
        assert_eq!(status["status"]["last_delivered_seq"], 0);

        // The receiver comes up on the same port.
        let seen = Arc::new(Mutex::new(Received::default()));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        changes(&site, 100).await;

        // Bounded wait for delivery to catch up (backoff is at most 2 s).
        let head = site.store.event_head().await.unwrap();
        assert_eq!(head, 600);
        for _ in 0..600 {
            let done = site
                .latest("GET", &format!("/ferrite/v1/webhooks/{hook}"), None)
                .await
                .body;
            if done["status"]["last_delivered_seq"] == head {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let done = site
            .latest("GET", &format!("/ferrite/v1/webhooks/{hook}"), None)
            .await
            .body;
        assert_eq!(done["status"]["last_delivered_seq"], head, "{done}");
        assert_eq!(done["status"]["failures"], 0);
        assert!(done["status"]["last_error"].is_null());
        assert_eq!(done["status"]["pending"], 0);

        let (seqs, forged) = {
            let received = seen.lock().unwrap();
            (received.seqs.clone(), received.forged)
        };
        // At least once and in order: once repeats (a resent batch whose
        // answer was lost: seqs at or below the newest seen) are dropped, as a
        // receiver does, every seq 1..=head appears, ascending.
        let mut newest = 0;
        let fresh: Vec<u64> = seqs
            .into_iter()
            .filter(|seq| {
                let new = *seq > newest;
                newest = newest.max(*seq);
                new
            })
            .collect();
        assert_eq!(fresh, (1..=head).collect::<Vec<_>>());
        assert!(forged > 0, "deliveries of the other secret were not caught");
        let other = site
            .latest("GET", &format!("/ferrite/v1/webhooks/{other_uuid}"), None)
            .await
            .body;
        assert_eq!(other["status"]["last_delivered_seq"], 0);
        assert!(
            other["status"]["last_error"]
                .as_str()
                .unwrap()
                .contains("401"),
            "{other}"
        );
        let list = site.latest("GET", "/ferrite/v1/webhooks", None).await.body;
        assert_eq!(list["webhooks"].as_array().unwrap().len(), 2);
        let gone = site
            .latest(
                "DELETE",
                &format!("/ferrite/v1/webhooks/{other_uuid}"),
                None,
            )
            .await;
        assert_eq!(gone.status, 204);
    }
}
