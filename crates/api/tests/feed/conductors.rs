//! Two conductors on one database (on PostgreSQL each with a store of its
//! own, as two processes have) deliver one subscription: every event
//! arrives exactly once, and never two POSTs to it at the same time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_model::Node;
use ferrite_store::{Backend, Store};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::Site;

const CHANGES: u64 = 200;

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    seqs: Vec<u64>,
    in_flight: usize,
    most_in_flight: usize,
}

/// Holds each delivery a moment, so that a second one sent meanwhile by
/// the other conductor would overlap it.
async fn receive(State(seen): State<Arc<Mutex<Seen>>>, body: Bytes) -> StatusCode {
    {
        let mut s = seen.lock().unwrap();
        s.in_flight += 1;
        s.most_in_flight = s.most_in_flight.max(s.in_flight);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let delivery: Value = serde_json::from_slice(&body).unwrap();
    let mut s = seen.lock().unwrap();
    for event in delivery["events"].as_array().unwrap() {
        s.seqs.push(event["seq"].as_u64().unwrap());
    }
    s.in_flight -= 1;
    StatusCode::NO_CONTENT
}

on_both_backends! {
    async fn two_conductors_deliver_a_subscription_one_post_at_a_time(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |c| {
            c.feed.webhook_batch = 10;
        })
        .await;
        let store = match backend {
            Backend::Sqlite => site.store.clone(),
            Backend::Postgres => Store::open(&site.url).await.unwrap(),
        };
        let second = Conductor::start(
            store,
            ConductorConfig {
                hostname: "second-conductor".into(),
                feed: ferrite_conductor::FeedConfig {
                    webhook_batch: 10,
                    ..Default::default()
                },
                ..ConductorConfig::default()
            },
        )
        .await
        .unwrap();

        let seen = Arc::new(Mutex::new(Seen::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let made = site
            .latest(
                "POST",
                "/ferrite/v1/webhooks",
                Some(json!({"url": url, "secret": "a-webhook-secret-of-some-length"})),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let hook = made.body["uuid"].as_str().unwrap().to_string();

        for _ in 0..CHANGES {
            site.store
                .insert(Node {
                    uuid: Uuid::new_v4(),
                    driver: "fake-hardware".into(),
                    ..Node::default()
                })
                .await
                .unwrap();
        }
        // Bounded wait for delivery to catch up.
        let mut done = Value::Null;
        for _ in 0..600 {
            done = site
                .latest("GET", &format!("/ferrite/v1/webhooks/{hook}"), None)
                .await
                .body;
            if done["status"]["last_delivered_seq"] == CHANGES {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(done["status"]["last_delivered_seq"], CHANGES, "{done}");
        second.shutdown().await;
        let s = seen.lock().unwrap();
        assert_eq!(s.most_in_flight, 1, "two deliveries of one subscription overlapped");
        assert_eq!(s.seqs, (1..=CHANGES).collect::<Vec<_>>());
    }
}
