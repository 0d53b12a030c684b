//! Many clients at once: the single writer path must lose nothing, lock
//! nothing out and keep each job's failure to itself.

use crate::common::{Backend, node};
use ferrite_model::Node;
use ferrite_store::{Ident, ListQuery, Store, StoreError};
use serde_json::json;

const CLIENTS: usize = 64;
const ROUNDS: u64 = 20;

fn bump(n: &mut Node, key: &str) -> u64 {
    let next = n.extra.get(key).and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    n.extra.insert(key.into(), json!(next));
    next
}

on_both_backends! {
    async fn sixty_four_clients_lose_no_update(db: Db) {
        let shared = db.store.insert(node(Some("shared"))).await.unwrap();

        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let mine = store.insert(node(Some(&format!("client-{i}")))).await?;
                for _ in 0..ROUNDS {
                    store
                        .update(&Ident::parse("shared"), |n: &mut Node| {
                            Ok::<_, StoreError>(bump(n, "hits"))
                        })
                        .await?;
                    store
                        .update(&Ident::Uuid(mine.uuid), |n: &mut Node| {
                            Ok::<_, StoreError>(bump(n, "own"))
                        })
                        .await?;
                    // Readers run beside the writer.
                    let _: Node = store.get(&Ident::Uuid(mine.uuid)).await?;
                }
                Ok::<_, StoreError>(mine.uuid)
            }));
        }
        let mut mine = Vec::new();
        for t in tasks {
            mine.push(t.await.unwrap().unwrap());
        }
        let writes = CLIENTS as u64 * (2 * ROUNDS + 1);
        let took = started.elapsed();
        let stats = db.store.write_stats();
        eprintln!(
            "{writes} writes from {CLIENTS} clients in {took:?} ({:.0}/s), {stats:?}",
            writes as f64 / took.as_secs_f64()
        );
        // One for the shared node, then every write of every client.
        assert_eq!(stats.jobs, writes + 1);
        assert_eq!(stats.failed_commits, 0);
        match db.backend {
            // Group commit: the clients' writes shared transactions.
            Backend::Sqlite => assert!(stats.commits * 4 < stats.jobs, "{stats:?}"),
            // Real concurrent writers: each write its own transaction.
            Backend::Postgres => assert_eq!(stats.commits, stats.jobs, "{stats:?}"),
        }

        let check = |store: Store| {
            let mine = mine.clone();
            async move {
                let s: Node = store.get(&Ident::Uuid(shared.uuid)).await.unwrap();
                assert_eq!(s.extra["hits"], json!(CLIENTS as u64 * ROUNDS));
                for u in &mine {
                    let n: Node = store.get(&Ident::Uuid(*u)).await.unwrap();
                    assert_eq!(n.extra["own"], json!(ROUNDS));
                }
                assert_eq!(
                    store.count::<Node>(&ListQuery::default()).await.unwrap(),
                    CLIENTS as u64 + 1
                );
            }
        };
        check(db.store.clone()).await;
        let url = db.url();
        drop(db.store);
        check(Store::open(&url).await.unwrap()).await;
    }
}

on_both_backends! {
    async fn a_failing_job_fails_alone_in_its_batch(db: Db) {
        let mut tasks = Vec::new();
        for i in 0..CLIENTS {
            let store = db.store.clone();
            // Half the clients all want the name "dup"; only one can have it.
            let name = if i % 2 == 0 {
                "dup".to_string()
            } else {
                format!("n{i}")
            };
            tasks.push(tokio::spawn(async move {
                store.insert(node(Some(&name))).await
            }));
        }
        let (mut ok, mut conflicts) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict(m)) => {
                    assert_eq!(m, "A node with name dup already exists.");
                    conflicts += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((ok, conflicts), (CLIENTS / 2 + 1, CLIENTS / 2 - 1));
        let stored = db.store.count::<Node>(&ListQuery::default()).await.unwrap();
        assert_eq!(stored, ok as u64);
    }
}
