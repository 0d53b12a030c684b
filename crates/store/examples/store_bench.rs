//! Measures the store on a real database: listing 1,000 nodes, and write
//! throughput with 1 and 64 concurrent clients (SQLite under
//! `synchronous=FULL`, or PostgreSQL as configured).
//!
//! `cargo run --release -p ferrite-store --example store_bench [DIR | postgresql://…]`
//! (DIR defaults to a temporary directory on the system's temp disk; a
//! PostgreSQL database must exist and be empty).

use std::time::{Duration, Instant};

use chrono::Utc;
use ferrite_model::{Node, ProvisionState};
use ferrite_store::{Filter, Ident, ListQuery, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

const NODES: usize = 1000;
const CLIENTS: usize = 64;
const UPDATES_PER_CLIENT: usize = 50;

fn realistic(i: usize) -> Node {
    let mut n = Node {
        uuid: Uuid::new_v4(),
        name: Some(format!("node-{i:04}")),
        driver: "redfish".into(),
        provision_state: ProvisionState::Available,
        resource_class: Some("baremetal".into()),
        conductor_group: if i.is_multiple_of(2) {
            "east".into()
        } else {
            String::new()
        },
        created_at: Utc::now(),
        ..Node::default()
    };
    n.driver_info.insert(
        "redfish_address".into(),
        json!(format!("https://10.0.{}.{}", i / 250, i % 250)),
    );
    n.driver_info.insert(
        "redfish_system_id".into(),
        json!(format!("/redfish/v1/Systems/{i}")),
    );
    n.driver_info
        .insert("redfish_username".into(), json!("admin"));
    n.driver_info
        .insert("redfish_password".into(), json!("secret"));
    n.properties.insert("cpus".into(), json!(64));
    n.properties.insert("memory_mb".into(), json!(262144));
    n.properties.insert("local_gb".into(), json!(1800));
    n.properties.insert("cpu_arch".into(), json!("x86_64"));
    n.properties
        .insert("capabilities".into(), json!("boot_mode:uefi"));
    n.extra.insert("rack".into(), json!(format!("r{}", i / 40)));
    n.traits = vec!["CUSTOM_GPU".into(), "HW_CPU_X86_AVX2".into()];
    n
}

fn stats(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let median = samples[samples.len() / 2];
    format!(
        "median {median:?}, min {:?}, max {:?}",
        samples[0],
        samples[samples.len() - 1]
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The argument is a directory for a new SQLite file, or the URL of an
    // existing, empty PostgreSQL database.
    let tmp = tempfile::tempdir()?;
    let arg = std::env::args().nth(1);
    let url = match arg {
        Some(url) if url.starts_with("postgres") => url,
        other => {
            let dir = other.map_or_else(|| tmp.path().to_path_buf(), Into::into);
            let path = dir.join(format!("bench-{}.db", Uuid::new_v4()));
            format!("sqlite:{}", path.display())
        }
    };
    let store = Store::open(&url).await?;

    let started = Instant::now();
    let inserts: Vec<_> = (0..NODES)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.insert(realistic(i)).await })
        })
        .collect();
    let mut uuids = Vec::new();
    for t in inserts {
        uuids.push(t.await??.uuid);
    }
    println!(
        "insert {NODES} nodes (all at once): {:?}",
        started.elapsed()
    );

    let all = ListQuery::default();
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let nodes: Vec<Node> = store.list(&all).await?;
        samples.push(t.elapsed());
        assert_eq!(nodes.len(), NODES);
    }
    println!("list {NODES} nodes: {}", stats(samples));

    let sorted = ListQuery {
        filters: vec![Filter::Eq("conductor_group".into(), json!("east"))],
        sort_key: Some("name".into()),
        sort_desc: true,
        ..ListQuery::default()
    };
    let mut samples = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let nodes: Vec<Node> = store.list(&sorted).await?;
        samples.push(t.elapsed());
        assert_eq!(nodes.len(), NODES / 2);
    }
    println!(
        "list {} nodes filtered and sorted by name: {}",
        NODES / 2,
        stats(samples)
    );

    let mut samples = Vec::new();
    for u in uuids.iter().take(200) {
        let t = Instant::now();
        let _: Node = store.get(&Ident::Uuid(*u)).await?;
        samples.push(t.elapsed());
    }
    println!("get one node: {}", stats(samples));

    let t = Instant::now();
    for u in uuids.iter().take(100) {
        store
            .update(&Ident::Uuid(*u), |n: &mut Node| {
                n.extra.insert("seq".into(), json!(1));
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    let took = t.elapsed();
    println!(
        "1 client, 100 updates: {took:?} ({:.0}/s, one fsync each)",
        100.0 / took.as_secs_f64()
    );

    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let s = store.clone();
        let mine: Vec<Uuid> = uuids.iter().skip(c).step_by(CLIENTS).copied().collect();
        tasks.push(tokio::spawn(async move {
            for k in 0..UPDATES_PER_CLIENT {
                let u = mine[k % mine.len()];
                s.update(&Ident::Uuid(u), move |n: &mut Node| {
                    n.extra.insert("k".into(), json!(k));
                    Ok::<_, StoreError>(())
                })
                .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let took = t.elapsed();
    let total = CLIENTS * UPDATES_PER_CLIENT;
    println!(
        "{CLIENTS} clients, {total} updates: {took:?} ({:.0}/s)",
        total as f64 / took.as_secs_f64()
    );
    println!("writer: {:?}", store.write_stats());
    store.close().await;
    if let Some(path) = url.strip_prefix("sqlite:") {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
