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

use crate::common::{node, open, port};

fn kinds(page: &ferrite_store::events::EventPage) -> Vec<&str> {
    page.events.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn every_change_is_an_event_in_commit_order_with_secrets_masked() {
    let db = open().await;
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

#[tokio::test]
async fn type_filters_take_names_and_families_and_skip_ahead() {
    let db = open().await;
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

#[tokio::test]
async fn waiters_are_woken_by_the_commit() {
    let db = open().await;
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

#[tokio::test]
async fn retention_trims_by_count_keeps_undelivered_events_and_410s_old_cursors() {
    let db = open().await;
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
