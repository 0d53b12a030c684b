//! The change feed: appended in the change's transaction, strictly
//! ordered, filtered by type, woken on commit, trimmed by retention but
//! never past an undelivered webhook, and gone-with-410 when trimmed.

use std::time::Duration;

use chrono::Utc;
use ferrite_model::{Node, ProvisionState, Webhook};
use ferrite_store::events::Retention;
use ferrite_store::{Ident, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::common::{Backend, node, port};

fn kinds(page: &ferrite_store::events::EventPage) -> Vec<&str> {
    page.events.iter().map(|e| e.kind.as_str()).collect()
}

on_both_backends! {
    async fn every_change_is_an_event_in_commit_order_with_secrets_masked(db: Db) {
        let mut n = node(Some("f1"));
        n.driver_info
            .insert("ipmi_password".into(), json!("hunter2"));
        let n = db.store.insert(n).await.unwrap();
        let p = db
            .store
            .insert(port(n.uuid, "52:54:00:00:00:01"))
            .await
            .unwrap();
        db.store
            .update::<Node, _, StoreError, _>(&Ident::Uuid(n.uuid), |n| {
                n.provision_state = ProvisionState::Verifying;
                Ok(())
            })
            .await
            .unwrap();
        // A refused update appends nothing.
        let refused = db
            .store
            .update::<Node, (), StoreError, _>(&Ident::Uuid(n.uuid), |n| {
                n.provision_state = ProvisionState::Active;
                Err(StoreError::Conflict("no".into()))
            })
            .await;
        assert!(refused.is_err());
        db.store.delete::<Node>(n.uuid).await.unwrap();

        let page = db.store.events(0, 100, &[]).await.unwrap();
        assert_eq!(
            kinds(&page),
            [
                "node.created",
                "port.created",
                "node.updated",
                "node.provision_state.changed",
                "port.deleted",
                "node.deleted"
            ]
        );
        let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(page.next_since, *seqs.last().unwrap());
        assert_eq!(page.head, page.next_since);
        assert_eq!(
            page.events[0].data["driver_info"]["ipmi_password"],
            "******"
        );
        assert!(!page.events[0].data.to_string().contains("hunter2"));
        assert_eq!(page.events[1].uuid, p.uuid);
        assert_eq!(page.events[3].data["from"], "enroll");
        assert_eq!(page.events[3].data["to"], "verifying");
        assert_eq!(page.events[3].data["event"], "manage");

        // Paging resumes exactly after the cursor.
        let first = db.store.events(0, 2, &[]).await.unwrap();
        let rest = db.store.events(first.next_since, 100, &[]).await.unwrap();
        assert_eq!(first.events.len() + rest.events.len(), page.events.len());
        assert_eq!(rest.events[0].seq, seqs[2]);
    }

    async fn type_filters_take_names_and_families_and_skip_ahead(db: Db) {
        let n = db.store.insert(node(Some("f2"))).await.unwrap();
        db.store
            .insert(port(n.uuid, "52:54:00:00:00:02"))
            .await
            .unwrap();
        let ports = db
            .store
            .events(0, 100, &["port.*".to_string()])
            .await
            .unwrap();
        assert_eq!(kinds(&ports), ["port.created"]);
        let none = db
            .store
            .events(0, 100, &["node.deleted".to_string(), "x.*".to_string()])
            .await
            .unwrap();
        assert!(none.events.is_empty());
        // Nothing matched, so the next read starts at the head.
        assert_eq!(none.next_since, none.head);
        assert_eq!(none.head, 2);
    }

    async fn waiters_are_woken_by_the_commit(db: Db) {
        let mut head = db.store.watch_events();
        let start = *head.borrow_and_update();
        let store = db.store.clone();
        let writer = tokio::spawn(async move { store.insert(node(Some("f3"))).await.unwrap() });
        tokio::time::timeout(Duration::from_secs(30), head.changed())
            .await
            .expect("no wake-up")
            .unwrap();
        let now = *head.borrow();
        assert_eq!(now, start + 1);
        // What the wake-up announced is readable.
        let page = db.store.events(start, 10, &[]).await.unwrap();
        assert_eq!(page.events.len(), 1);
        writer.await.unwrap();
    }

    async fn retention_trims_by_count_keeps_undelivered_events_and_410s_old_cursors(db: Db) {
        for i in 0..20 {
            db.store.insert(node(Some(&format!("t{i}")))).await.unwrap();
        }
        let hook = db
            .store
            .insert(Webhook {
                uuid: Uuid::new_v4(),
                url: "http://127.0.0.1:9/".into(),
                last_delivered_seq: 5,
                created_at: Utc::now(),
                ..Webhook::default()
            })
            .await
            .unwrap();
        let keep_five = Retention {
            max_count: Some(5),
            max_age: None,
        };
        // The webhook has delivered up to 5: only 1..=5 may go.
        assert_eq!(db.store.trim_events(keep_five).await.unwrap(), 5);
        db.store
            .update::<Webhook, _, StoreError, _>(&Ident::Uuid(hook.uuid), |w| {
                w.last_delivered_seq = 20;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(db.store.trim_events(keep_five).await.unwrap(), 10);
        assert_eq!(db.store.trim_events(keep_five).await.unwrap(), 0);

        match db.store.events(3, 10, &[]).await {
            Err(StoreError::Trimmed { oldest }) => assert_eq!(oldest, 16),
            other => panic!("expected Trimmed, got {other:?}"),
        }
        // A cursor right before the oldest kept event is still whole.
        let page = db.store.events(15, 10, &[]).await.unwrap();
        assert_eq!(page.events.first().map(|e| e.seq), Some(16));
        assert_eq!(page.oldest, 16);

        // Age: everything is younger than an hour; nothing older than 0 s stays
        // (but the webhook, now at 20, holds nothing back).
        let hour = Retention {
            max_age: Some(Duration::from_secs(3600)),
            max_count: None,
        };
        assert_eq!(db.store.trim_events(hour).await.unwrap(), 0);
        let now = Retention {
            max_age: Some(Duration::ZERO),
            max_count: None,
        };
        assert_eq!(db.store.trim_events(now).await.unwrap(), 5);
        // An empty feed still knows its head: seq is never reused.
        let empty = db.store.events(20, 10, &[]).await.unwrap();
        assert_eq!((empty.head, empty.oldest), (20, 21));
        db.store.insert(node(Some("after"))).await.unwrap();
        let next = db.store.events(20, 10, &[]).await.unwrap();
        assert_eq!(next.events[0].seq, 21);
    }
}

/// Writers inserting at once while a consumer follows the feed.
const WRITERS: usize = 16;
const INSERTS: usize = 40;

on_both_backends! {
    async fn concurrent_writers_never_leave_a_gap_behind_a_reader(db: Db) {
        // Each writer inserts nodes as fast as it can: on PostgreSQL their
        // transactions overlap and commit in any order.
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let store = db.store.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..INSERTS {
                    store.insert(node(Some(&format!("w{w}-{i}")))).await.unwrap();
                }
            }));
        }
        // The consumer moves its cursor past everything it was shown, as a
        // real one does; an event committed late below the cursor would
        // never be shown to it.
        let total = (WRITERS * INSERTS) as u64;
        let mut seen = Vec::new();
        let mut cursor = 0;
        while (seen.len() as u64) < total {
            // Read before the page: when every writer had finished, every
            // event is committed, and an empty page means some were skipped.
            let all_written = writers.iter().all(|w| w.is_finished());
            let page = db.store.events(cursor, 50, &[]).await.unwrap();
            for e in &page.events {
                assert!(e.seq > cursor, "seq {} at or below cursor {cursor}", e.seq);
                seen.push(e.seq);
            }
            cursor = page.next_since;
            if page.events.is_empty() {
                assert!(
                    !all_written,
                    "cursor at {cursor} with {} of {total} events seen: the rest were skipped",
                    seen.len()
                );
                tokio::task::yield_now().await;
            }
        }
        for w in writers {
            w.await.unwrap();
        }
        let all = db.store.events(0, 10_000, &[]).await.unwrap();
        let every: Vec<u64> = all.events.iter().map(|e| e.seq).collect();
        assert_eq!(seen, every, "the consumer missed events or saw them out of order");
        assert_eq!(every.len() as u64, total);
    }
}

/// Another process on the same PostgreSQL database (a second store here,
/// with its own connections) appends; this store's waiters wake, also
/// after their listening connection was cut.
#[test]
fn waiters_wake_for_another_process_and_after_a_lost_connection() {
    crate::common::run(Backend::Postgres, |db| async move {
        let other = ferrite_store::Store::open(&db.url()).await.unwrap();
        let mut head = db.store.watch_events();
        let start = *head.borrow_and_update();
        other.insert(node(Some("elsewhere"))).await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), head.wait_for(|h| *h > start))
            .await
            .expect("no wake-up from the other process")
            .unwrap();
        assert_eq!(db.store.event_head().await.unwrap(), start + 1);

        // Cut every LISTEN connection on the database: the listeners
        // reconnect, and an append made meanwhile is still noticed.
        crate::common::raw_execute(
            &db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .await;
        other.insert(node(Some("after-cut"))).await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), head.wait_for(|h| *h > start + 1))
            .await
            .expect("no wake-up after the connection was cut")
            .unwrap();
        other.close().await;
    });
}
