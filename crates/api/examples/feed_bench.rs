//! Change-feed benchmark: throughput and end-to-end latency from a change
//! to a Server-Sent-Events consumer, over a real loopback connection.
//!
//! A site (store, conductor, API) runs in this process on a temporary
//! SQLite file, or with `--pg ADMIN_URL` on a fresh database of that
//! PostgreSQL server; `--writers` tasks make `--changes` node updates
//! (each one event), while one SSE consumer reads the stream. On
//! PostgreSQL the writers use a store of their own (their own pool and
//! listener), as another process would, so the API learns of their events
//! only through NOTIFY. The latency of an event is the time from just
//! before its write was submitted to its arrival at the consumer, so it
//! includes the commit's fsync. Run with:
//!
//! `cargo run --release -p ferrite-api --example feed_bench -- --changes 20000 --writers 16 [--pg URL]`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrite_api::{App, Auth, router};
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_model::Node;
use ferrite_store::{Ident, Store, StoreError};
use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

/// When each change (by its index) was submitted.
type Submitted = Arc<Mutex<HashMap<u64, Instant>>>;

/// `--name value` from the command line.
fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// `--name number` from the command line, or `default`.
fn arg(name: &str, default: usize) -> usize {
    text_arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Reads the stream until `changes` benchmark events arrived; returns
/// their latencies and when the last one came.
async fn consume(
    stream: reqwest::Response,
    changes: usize,
    submitted: Submitted,
) -> (Vec<Duration>, Instant) {
    let mut body = stream.bytes_stream();
    let mut buffer = String::new();
    let mut latencies = Vec::with_capacity(changes);
    while latencies.len() < changes {
        let Some(Ok(chunk)) = body.next().await else {
            break;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let event: Value = serde_json::from_str(data.trim()).unwrap_or_default();
            let Some(i) = event["data"]["changed"]["extra"]["i"].as_u64() else {
                continue;
            };
            let at = submitted.lock().ok().and_then(|m| m.get(&i).copied());
            if let Some(at) = at {
                latencies.push(at.elapsed());
            }
        }
    }
    (latencies, Instant::now())
}

/// Writer `w` of `writers` updates `node` for every `i ≡ w (mod writers)`.
async fn write(
    store: Store,
    node: Uuid,
    w: usize,
    writers: usize,
    changes: usize,
    submitted: Submitted,
) -> Result<(), StoreError> {
    for i in (w..changes).step_by(writers) {
        let n = i as u64;
        if let Ok(mut m) = submitted.lock() {
            m.insert(n, Instant::now());
        }
        store
            .update::<Node, _, StoreError, _>(&Ident::Uuid(node), move |node| {
                node.extra.insert("i".into(), json!(n));
                Ok(())
            })
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let changes = arg("--changes", 20_000);
    let writers = arg("--writers", 16).max(1);
    let dir = tempfile::tempdir()?;
    let url = match text_arg("--pg") {
        Some(admin) => ferrite_store::testing::create_database(&admin).await?,
        None => format!("sqlite:{}", dir.path().join("b.db").display()),
    };
    let store = Store::open(&url).await?;
    // The writers' store: on PostgreSQL another one, as another process's.
    let writing = match store.backend() {
        ferrite_store::Backend::Sqlite => store.clone(),
        ferrite_store::Backend::Postgres => Store::open(&url).await?,
    };
    let config = ConductorConfig {
        hostname: "bench".into(),
        ..ConductorConfig::default()
    };
    let conductor = Conductor::start(store.clone(), config).await?;
    let app = App {
        store: store.clone(),
        conductor: conductor.clone(),
        auth: Auth::NoAuth,
        public_url: None,
        max_body_bytes: 1 << 20,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(app)).await });

    // One node per writer; the benchmark's events are their updates.
    let mut nodes = Vec::new();
    for w in 0..writers {
        let node = store
            .insert(Node {
                uuid: Uuid::new_v4(),
                name: Some(format!("bench-{w}")),
                driver: "fake-hardware".into(),
                ..Node::default()
            })
            .await?;
        nodes.push(node.uuid);
    }
    let since = store.event_head().await?;
    let submitted: Submitted = Arc::default();
    let stream = reqwest::get(format!(
        "http://{addr}/ferrite/v1/events/stream?since={since}"
    ))
    .await?;
    let consumer = tokio::spawn(consume(stream, changes, submitted.clone()));

    let started = Instant::now();
    let tasks: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(w, node)| {
            let job = write(
                writing.clone(),
                *node,
                w,
                writers,
                changes,
                submitted.clone(),
            );
            tokio::spawn(job)
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let written = started.elapsed();
    let (mut latencies, finished) =
        tokio::time::timeout(Duration::from_secs(600), consumer).await??;
    let delivered = finished - started;
    latencies.sort();
    let stats = writing.write_stats();
    println!(
        "{}",
        json!({
            "backend": store.backend().as_str(),
            "changes": changes,
            "writers": writers,
            "received": latencies.len(),
            "write_seconds": written.as_secs_f64(),
            "write_changes_per_second": changes as f64 / written.as_secs_f64(),
            "delivered_seconds": delivered.as_secs_f64(),
            "delivered_events_per_second": latencies.len() as f64 / delivered.as_secs_f64(),
            "latency_ms": {
                "p50": percentile(&latencies, 0.50),
                "p90": percentile(&latencies, 0.90),
                "p99": percentile(&latencies, 0.99),
                "max": percentile(&latencies, 1.0),
            },
            "writes_per_commit": stats.jobs as f64 / stats.commits.max(1) as f64,
        })
    );
    conductor.shutdown().await;
    writing.close().await;
    store.close().await;
    Ok(())
}
