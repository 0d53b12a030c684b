//! Coordination of split processes: lease renewal, conductor roles,
//! notifications and driver calls addressed to a conductor.

use std::time::Duration;

use chrono::Utc;
use ferrite_model::{Conductor, Node};
use ferrite_store::Ident;
use serde_json::json;

use crate::common::{Backend, Db, node, run};

on_both_backends! {
    async fn renewing_moves_only_the_holders_leases(db: Db) {
        let s = &db.store;
        let soon = Utc::now();
        let mut mine = node(Some("mine"));
        mine.reservation = Some("c1".into());
        mine.reservation_expires_at = Some(soon);
        let mut theirs = node(Some("theirs"));
        theirs.reservation = Some("c2".into());
        theirs.reservation_expires_at = Some(soon);
        let free = node(Some("free"));
        for n in [mine.clone(), theirs.clone(), free.clone()] {
            s.insert(n).await.unwrap();
        }
        let later = soon + chrono::Duration::seconds(60);
        assert_eq!(s.renew_leases("c1", later).await.unwrap(), 1);
        let get = |u| async move { s.get::<Node>(&Ident::Uuid(u)).await.unwrap() };
        let after = get(mine.uuid).await;
        assert_eq!(after.reservation_expires_at.map(|t| t.timestamp_micros()),
                   Some(later.timestamp_micros()));
        assert_eq!(after.reservation.as_deref(), Some("c1"));
        // Bookkeeping, not a change of the node.
        assert_eq!(after.updated_at, mine.updated_at);
        let other = get(theirs.uuid).await;
        assert_eq!(other.reservation_expires_at.map(|t| t.timestamp_micros()),
                   Some(soon.timestamp_micros()));
        assert_eq!(get(free.uuid).await.reservation_expires_at, None);
    }

    async fn roles_are_registered_beside_the_group(db: Db) {
        let s = &db.store;
        let c = Conductor {
            hostname: "p1".into(),
            conductor_group: "edge-1".into(),
            drivers: vec!["fake-hardware".into()],
            online: true,
            created_at: Utc::now(),
            updated_at: None,
            roles: vec!["power".into()],
        };
        s.register_conductor(&c).await.unwrap();
        let got = s.conductor("p1").await.unwrap();
        assert_eq!(got.roles, ["power"]);
        assert_eq!(got.conductor_group, "edge-1");
        let listed = s.list_conductors(&Default::default()).await.unwrap();
        assert_eq!(listed[0].roles, ["power"]);
    }
}

#[test]
fn sqlite_refuses_cross_process_coordination() {
    run(Backend::Sqlite, |db: Db| async move {
        let err = db.store.notify("ferrite_wake", "x").await.unwrap_err();
        assert!(err.to_string().contains("needs PostgreSQL"), "{err}");
    });
}

#[test]
fn notifications_reach_listeners_with_the_nodes_group() {
    run(Backend::Postgres, |db: Db| async move {
        let s = &db.store;
        let mut n = node(Some("n"));
        n.conductor_group = "edge-1".into();
        s.insert(n.clone()).await.unwrap();
        let mut listener = s.listen(&["ferrite_wake"]).await.unwrap();
        s.notify_node("ferrite_wake", n.uuid).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(30), listener.recv())
            .await
            .expect("a notification")
            .unwrap()
            .expect("a live connection");
        assert_eq!(got.channel, "ferrite_wake");
        assert_eq!(got.payload, format!("node {} edge-1", n.uuid));
    });
}

#[test]
fn a_driver_call_runs_once_and_only_before_its_deadline() {
    run(Backend::Postgres, |db: Db| async move {
        let s = &db.store;
        let node = uuid::Uuid::new_v4();
        let call = json!({"GetBootDevice": null});

        let on_time = uuid::Uuid::new_v4();
        s.submit_call(on_time, node, "c1", &call, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            s.pending_calls("c2").await.unwrap(),
            Vec::<uuid::Uuid>::new()
        );
        assert_eq!(s.claim_call(on_time, "c2").await.unwrap(), None);
        assert_eq!(s.pending_calls("c1").await.unwrap(), [on_time]);
        let claimed = s.claim_call(on_time, "c1").await.unwrap().unwrap();
        assert_eq!((claimed.node, &claimed.call), (node, &call));
        assert_eq!(
            s.claim_call(on_time, "c1").await.unwrap(),
            None,
            "claimed twice"
        );
        assert_eq!(s.call_result(on_time).await.unwrap(), None);
        s.finish_call(on_time, &json!({"ok": 1})).await.unwrap();
        assert_eq!(
            s.call_result(on_time).await.unwrap(),
            Some(json!({"ok": 1}))
        );
        assert!(!s.drop_call(on_time).await.unwrap(), "it had run");

        // Nobody claimed it in time: it is never run late, and withdrawing
        // it says it never ran.
        let late = uuid::Uuid::new_v4();
        s.submit_call(late, node, "c1", &call, Duration::from_millis(200))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            s.pending_calls("c1").await.unwrap(),
            Vec::<uuid::Uuid>::new()
        );
        assert_eq!(s.claim_call(late, "c1").await.unwrap(), None);
        assert!(s.drop_call(late).await.unwrap());
        assert_eq!(s.purge_calls(Duration::ZERO).await.unwrap(), 0);
    });
}
