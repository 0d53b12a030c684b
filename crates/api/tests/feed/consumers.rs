//! 10,000 changes while consumers disconnect and resume at random points:
//! each receives every event exactly once, in order — by long poll and by
//! Server-Sent Events.

use std::time::Duration;

use ferrite_model::Node;
use ferrite_store::{Ident, StoreError};
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Rng;
use crate::common::Site;

const CHANGES: u64 = 10_000;
const NODES: u64 = 500;

/// Makes exactly [`CHANGES`] events: [`NODES`] nodes created, the rest
/// updates of their `extra`, from 8 concurrent writers.
async fn produce(site: &Site) {
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let store = site.store.clone();
        writers.push(tokio::spawn(async move {
            let mut uuids = Vec::new();
            for i in 0..NODES / 8 + u64::from(w < NODES % 8) {
                let node = store
                    .insert(Node {
                        uuid: Uuid::new_v4(),
                        name: Some(format!("n-{w}-{i}")),
                        driver: "fake-hardware".into(),
                        ..Node::default()
                    })
                    .await
                    .unwrap();
                uuids.push(node.uuid);
            }
            let updates = (CHANGES - NODES) / 8 + u64::from(w < (CHANGES - NODES) % 8);
            for i in 0..updates {
                let uuid = uuids[(i as usize) % uuids.len()];
                store
                    .update::<Node, _, StoreError, _>(&Ident::Uuid(uuid), move |n| {
                        n.extra.insert("i".into(), json!(i));
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
}

/// Checks what a consumer received: seqs 1..=CHANGES, each once, in order.
fn check_exactly_once_in_order(seqs: &[u64]) {
    assert_eq!(seqs.len() as u64, CHANGES, "wrong number of events");
    for (i, seq) in seqs.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "event {i} out of order or duplicated");
    }
}

on_both_backends! {
    async fn a_long_poll_consumer_that_keeps_disconnecting_misses_nothing(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        let addr = site.serve().await;
        let mut rng = Rng::seeded();
        let consumer = tokio::spawn(async move {
            let mut seqs = Vec::new();
            let mut since = 0u64;
            let mut client = reqwest::Client::new();
            while (seqs.len() as u64) < CHANGES {
                // A new connection now and then.
                if rng.below(10) == 0 {
                    client = reqwest::Client::new();
                }
                let limit = 1 + rng.below(400);
                let url = format!("http://{addr}/ferrite/v1/events?since={since}&limit={limit}&wait=5");
                let mut request = client.get(&url);
                // Sometimes hang up while the server is still holding the poll.
                if rng.below(8) == 0 {
                    request = request.timeout(Duration::from_millis(1 + rng.below(20)));
                }
                let Ok(answer) = request.send().await else {
                    continue;
                };
                assert_eq!(answer.status(), 200);
                let Ok(page) = answer.json::<Value>().await else {
                    continue;
                };
                for event in page["events"].as_array().unwrap() {
                    seqs.push(event["seq"].as_u64().unwrap());
                }
                since = page["next_since"].as_u64().unwrap();
            }
            seqs
        });
        produce(&site).await;
        let seqs = tokio::time::timeout(Duration::from_secs(300), consumer)
            .await
            .expect("the consumer did not catch up")
            .unwrap();
        check_exactly_once_in_order(&seqs);
    }

    async fn a_stream_consumer_that_keeps_disconnecting_misses_nothing(backend: Backend) {
        let site = Site::start_on(backend, ferrite_model::MAX_VERSION, |_| {}).await;
        let addr = site.serve().await;
        let mut rng = Rng::seeded();
        let consumer = tokio::spawn(async move {
            let mut seqs: Vec<u64> = Vec::new();
            let client = reqwest::Client::new();
            while (seqs.len() as u64) < CHANGES {
                let last = seqs.last().copied().unwrap_or(0);
                // Resume by header or by query, alternately.
                let request = if rng.below(2) == 0 {
                    client
                        .get(format!("http://{addr}/ferrite/v1/events/stream"))
                        .header("Last-Event-ID", last.to_string())
                } else {
                    client.get(format!(
                        "http://{addr}/ferrite/v1/events/stream?since={last}"
                    ))
                };
                let answer = request.send().await.unwrap();
                assert_eq!(answer.status(), 200);
                let mut body = answer.bytes_stream();
                let quota = 1 + rng.below(1500);
                let mut taken = 0;
                let mut buffer = String::new();
                // Drop the connection after `quota` events.
                'read: while taken < quota {
                    let Some(Ok(chunk)) = body.next().await else {
                        break;
                    };
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let text: String = buffer.drain(..end + 2).collect();
                        if let Some((id, event)) = frame(&text) {
                            assert_eq!(event["seq"].as_u64(), Some(id));
                            seqs.push(id);
                            taken += 1;
                            if taken == quota || seqs.len() as u64 == CHANGES {
                                break 'read;
                            }
                        }
                    }
                }
            }
            seqs
        });
        produce(&site).await;
        let seqs = tokio::time::timeout(Duration::from_secs(300), consumer)
            .await
            .expect("the consumer did not catch up")
            .unwrap();
        check_exactly_once_in_order(&seqs);
    }
}

/// One SSE frame's `id` and JSON data, from its lines.
fn frame(text: &str) -> Option<(u64, Value)> {
    let mut id = None;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    Some((id?, serde_json::from_str(&data).ok()?))
}
