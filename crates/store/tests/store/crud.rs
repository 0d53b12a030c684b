//! Round trips, conflicts, refusals and deletes of single documents.

use crate::common::{Backend, chassis, node, port, raw_execute, raw_i64};
use ferrite_model::{Chassis, Node, Port, ProvisionState};
use ferrite_store::{Ident, ListQuery, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

fn conflict_text(e: StoreError) -> String {
    match e {
        StoreError::Conflict(m) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

on_both_backends! {
    async fn node_round_trip_by_uuid_and_name(db: Db) {
        let mut n = node(Some("n1"));
        n.driver_info
            .insert("redfish_address".into(), json!("http://127.0.0.1:8000"));
        n.provision_state = ProvisionState::Available;
        n.maintenance = true;
        let stored = db.store.insert(n.clone()).await.unwrap();
        assert_eq!(stored, n);

        let by_uuid: Node = db.store.get(&Ident::Uuid(n.uuid)).await.unwrap();
        assert_eq!(by_uuid, n);
        let by_name: Node = db.store.get(&Ident::parse("n1")).await.unwrap();
        assert_eq!(by_name, n);

        let err = db
            .store
            .get::<Node>(&Ident::parse("nope"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Node nope could not be found.");
        let missing = Uuid::new_v4();
        let err = db
            .store
            .get::<Node>(&Ident::Uuid(missing))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Node {missing} could not be found.")
        );
    }
}

on_both_backends! {
    async fn update_stamps_and_persists(db: Db) {
        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        let (updated, answer): (Node, u32) = db
            .store
            .update(&Ident::parse("n1"), |n: &mut Node| {
                n.name = Some("renamed".into());
                n.extra.insert("k".into(), json!([1, 2]));
                Ok::<_, StoreError>(42)
            })
            .await
            .unwrap();
        assert_eq!(answer, 42);
        assert!(updated.updated_at.is_some());
        let read: Node = db.store.get(&Ident::Uuid(n.uuid)).await.unwrap();
        assert_eq!(read, updated);
        assert!(matches!(
            db.store.get::<Node>(&Ident::parse("n1")).await,
            Err(StoreError::NotFound { kind: "Node", .. })
        ));

        let err = db
            .store
            .update(&Ident::parse("ghost"), |_: &mut Node| {
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Node ghost could not be found.");
    }
}

on_both_backends! {
    async fn port_and_chassis_round_trip(db: Db) {
        let n = db.store.insert(node(None)).await.unwrap();
        let mut p = port(n.uuid, "52:54:00:00:00:01");
        p.name = Some("eth0".into());
        p.local_link_connection
            .insert("switch_id".into(), json!("aa:bb:cc:dd:ee:ff"));
        db.store.insert(p.clone()).await.unwrap();
        assert_eq!(db.store.get::<Port>(&Ident::Uuid(p.uuid)).await.unwrap(), p);
        assert_eq!(
            db.store.get::<Port>(&Ident::parse("eth0")).await.unwrap(),
            p
        );

        let c = chassis("rack 1");
        db.store.insert(c.clone()).await.unwrap();
        assert_eq!(
            db.store.get::<Chassis>(&Ident::Uuid(c.uuid)).await.unwrap(),
            c
        );
        let err = db
            .store
            .get::<Chassis>(&Ident::parse("rack1"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Chassis rack1 could not be found.");

        let (c2, ()) = db
            .store
            .update(&Ident::Uuid(c.uuid), |c: &mut Chassis| {
                c.description = None;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        assert_eq!(
            db.store.get::<Chassis>(&Ident::Uuid(c.uuid)).await.unwrap(),
            c2
        );
        db.store.delete::<Chassis>(c.uuid).await.unwrap();
        db.store.delete::<Port>(p.uuid).await.unwrap();
        let err = db.store.delete::<Port>(p.uuid).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Port {} could not be found.", p.uuid)
        );
        assert_eq!(
            db.store.count::<Port>(&ListQuery::default()).await.unwrap(),
            0
        );
    }
}

on_both_backends! {
    async fn every_conflict_has_ironic_wording(db: Db) {
        let s = &db.store;
        let mut a = node(Some("n1"));
        a.instance_uuid = Some(Uuid::new_v4());
        s.insert(a.clone()).await.unwrap();

        let mut same_uuid = node(None);
        same_uuid.uuid = a.uuid;
        let e = s.insert(same_uuid).await.unwrap_err();
        assert_eq!(
            conflict_text(e),
            format!("A node with UUID {} already exists.", a.uuid)
        );

        let e = s.insert(node(Some("n1"))).await.unwrap_err();
        assert_eq!(conflict_text(e), "A node with name n1 already exists.");

        let mut b = node(Some("n2"));
        b.instance_uuid = a.instance_uuid;
        let e = s.insert(b.clone()).await.unwrap_err();
        assert_eq!(
            conflict_text(e),
            format!(
                "Instance {} is already associated with a node, it cannot be associated with this \
                 other node {}",
                a.instance_uuid.unwrap(),
                b.uuid
            )
        );

        let p = port(a.uuid, "52:54:00:00:00:01");
        let p = Port {
            name: Some("eth0".into()),
            ..p
        };
        s.insert(p.clone()).await.unwrap();
        let e = s
            .insert(Port {
                uuid: p.uuid,
                ..port(a.uuid, "52:54:00:00:00:02")
            })
            .await
            .unwrap_err();
        assert_eq!(
            conflict_text(e),
            format!("A port with UUID {} already exists.", p.uuid)
        );
        let e = s
            .insert(port(a.uuid, "52:54:00:00:00:01"))
            .await
            .unwrap_err();
        assert_eq!(
            conflict_text(e),
            "A port with MAC address 52:54:00:00:00:01 already exists."
        );
        let named = Port {
            name: Some("eth0".into()),
            ..port(a.uuid, "52:54:00:00:00:03")
        };
        let e = s.insert(named).await.unwrap_err();
        assert_eq!(conflict_text(e), "A port with name eth0 already exists.");

        let c = s.insert(chassis("c")).await.unwrap();
        let e = s
            .insert(Chassis {
                uuid: c.uuid,
                ..chassis("d")
            })
            .await
            .unwrap_err();
        assert_eq!(
            conflict_text(e),
            format!("A chassis with UUID {} already exists.", c.uuid)
        );

        // Nameless nodes never collide with each other.
        s.insert(node(None)).await.unwrap();
        s.insert(node(None)).await.unwrap();
        assert_eq!(s.count::<Node>(&ListQuery::default()).await.unwrap(), 3);
    }
}

#[derive(Debug)]
enum Refusal {
    No(&'static str),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

on_both_backends! {
    async fn refused_update_writes_nothing(db: Db) {
        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        let r: Result<(Node, ()), Refusal> = db
            .store
            .update(&Ident::Uuid(n.uuid), |n: &mut Node| {
                n.name = Some("changed".into());
                n.maintenance = true;
                Err(Refusal::No("node is locked"))
            })
            .await;
        assert!(matches!(r, Err(Refusal::No("node is locked"))));
        assert_eq!(db.store.get::<Node>(&Ident::Uuid(n.uuid)).await.unwrap(), n);

        let r: Result<(Node, ()), Refusal> = db
            .store
            .update(&Ident::parse("ghost"), |_: &mut Node| Ok(()))
            .await;
        assert!(matches!(
            r,
            Err(Refusal::Store(StoreError::NotFound { kind: "Node", .. }))
        ));
    }
}

on_both_backends! {
    async fn conflicting_update_writes_nothing(db: Db) {
        db.store.insert(node(Some("n1"))).await.unwrap();
        let n2 = db.store.insert(node(Some("n2"))).await.unwrap();
        let e = db
            .store
            .update(&Ident::Uuid(n2.uuid), |n: &mut Node| {
                n.name = Some("n1".into());
                n.description = Some("should not stick".into());
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap_err();
        assert_eq!(conflict_text(e), "A node with name n1 already exists.");
        assert_eq!(
            db.store.get::<Node>(&Ident::Uuid(n2.uuid)).await.unwrap(),
            n2
        );
    }
}

on_both_backends! {
    async fn panicking_update_reaches_the_caller_and_the_store_survives(db: Db) {
        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        let store = db.store.clone();
        let uuid = n.uuid;
        let joined = tokio::spawn(async move {
            store
                .update(
                    &Ident::Uuid(uuid),
                    |n: &mut Node| -> Result<(), StoreError> {
                        n.name = Some("half-done".into());
                        panic!("boom")
                    },
                )
                .await
        })
        .await;
        assert!(joined.unwrap_err().is_panic());
        assert_eq!(db.store.get::<Node>(&Ident::Uuid(n.uuid)).await.unwrap(), n);
        db.store.insert(node(Some("n2"))).await.unwrap();
    }
}

on_both_backends! {
    async fn deleting_a_node_deletes_its_ports_only(db: Db) {
        let a = db.store.insert(node(Some("a"))).await.unwrap();
        let b = db.store.insert(node(Some("b"))).await.unwrap();
        for i in 0..3 {
            db.store
                .insert(port(a.uuid, &format!("52:54:00:00:0a:0{i}")))
                .await
                .unwrap();
        }
        let kept = db
            .store
            .insert(port(b.uuid, "52:54:00:00:0b:00"))
            .await
            .unwrap();
        db.store.delete::<Node>(a.uuid).await.unwrap();
        let ports: Vec<Port> = db.store.list(&ListQuery::default()).await.unwrap();
        assert_eq!(ports, vec![kept]);
        let err = db.store.delete::<Node>(a.uuid).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Node {} could not be found.", a.uuid)
        );
        // The freed MAC address can be used again.
        db.store
            .insert(port(b.uuid, "52:54:00:00:0a:00"))
            .await
            .unwrap();
    }
}

on_both_backends! {
    async fn references_are_kept_whole(db: Db) {
        let ghost = Uuid::new_v4();
        let err = db
            .store
            .insert(port(ghost, "52:54:00:00:00:01"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), format!("Node {ghost} could not be found."));

        let c = db.store.insert(chassis("rack")).await.unwrap();
        let mut n = node(None);
        n.chassis_uuid = Some(ghost);
        let err = db.store.insert(n.clone()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Chassis {ghost} could not be found.")
        );
        n.chassis_uuid = Some(c.uuid);
        db.store.insert(n.clone()).await.unwrap();
        let err = db.store.delete::<Chassis>(c.uuid).await.unwrap_err();
        assert_eq!(
            conflict_text(err),
            format!(
                "Cannot complete the requested action because chassis {} contains nodes.",
                c.uuid
            )
        );
        db.store.delete::<Node>(n.uuid).await.unwrap();
        db.store.delete::<Chassis>(c.uuid).await.unwrap();
    }
}

on_both_backends! {
    async fn reopen_keeps_everything_and_pragmas_hold(db: Db) {
        let url = db.url();
        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        db.store.close().await;
        assert!(
            db.store.insert(node(None)).await.is_err(),
            "a closed store must refuse writes"
        );
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.get::<Node>(&Ident::Uuid(n.uuid)).await.unwrap(), n);

        let folder = match db.backend {
            Backend::Sqlite => {
                use sqlx::Connection;
                let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(&mut raw)
                    .await
                    .unwrap();
                assert_eq!(mode, "wal");
                "migrations/sqlite"
            }
            Backend::Postgres => "migrations/postgres",
        };
        let applied = raw_i64(&db, "SELECT COUNT(*) FROM _sqlx_migrations").await;
        // Every migration shipped, and each once.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let shipped = std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
            })
            .count();
        assert_eq!(applied, i64::try_from(shipped).unwrap());
        let pending = Store::migrations(&url).await.unwrap();
        assert_eq!(pending.len(), shipped);
        assert!(
            pending
                .iter()
                .all(|m| m.state == ferrite_store::MigrationState::Applied),
            "{pending:?}"
        );
        store.close().await;
    }
}

on_both_backends! {
    async fn a_corrupt_row_is_reported_not_panicked_on(db: Db) {
        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        // `extra` must be a map; each backend's own JSON function breaks it.
        let damage = match db.backend {
            Backend::Sqlite => "UPDATE nodes SET doc = json_set(doc, '$.extra', 'maybe')",
            Backend::Postgres => "UPDATE nodes SET doc = jsonb_set(doc, '{extra}', '\"maybe\"')",
        };
        raw_execute(&db, damage).await;
        let err = db
            .store
            .get::<Node>(&Ident::Uuid(n.uuid))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        let err = db
            .store
            .list::<Node>(&ListQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}

#[tokio::test]
async fn in_memory_and_unknown_urls_are_refused() {
    assert!(Store::open("sqlite::memory:").await.is_err());
    let err = Store::open("mysql://u:secret@h/db").await.err().unwrap();
    assert!(
        err.to_string()
            .contains("expected sqlite:PATH or postgresql://"),
        "{err}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn a_missing_sqlite_file_has_every_migration_pending_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.db");
    let url = format!("sqlite:{}", path.display());
    let all = Store::migrations(&url).await.unwrap();
    assert!(!all.is_empty());
    assert!(
        all.iter()
            .all(|m| m.state == ferrite_store::MigrationState::Pending)
    );
    assert!(!path.exists());
    assert!(Store::open_unmigrated(&url).await.is_err());
    assert!(!path.exists());
}

on_both_backends! {
    async fn portgroups_and_volumes_belong_to_their_node(db: Db) {
        use ferrite_model::{Portgroup, VolumeConnector, VolumeTarget};
        let s = &db.store;
        let a = s.insert(node(Some("a"))).await.unwrap();
        let b = s.insert(node(Some("b"))).await.unwrap();

        let pg = Portgroup {
            uuid: Uuid::new_v4(),
            name: Some("bond0".into()),
            address: Some("52:54:00:00:00:aa".into()),
            node_uuid: a.uuid,
            ..Portgroup::default()
        };
        s.insert(pg.clone()).await.unwrap();
        assert_eq!(
            s.get::<Portgroup>(&Ident::parse("bond0")).await.unwrap(),
            pg
        );
        let dup = Portgroup {
            uuid: Uuid::new_v4(),
            node_uuid: b.uuid,
            address: None,
            ..pg.clone()
        };
        assert_eq!(
            conflict_text(s.insert(dup).await.unwrap_err()),
            "A portgroup with name bond0 already exists."
        );
        let dup = Portgroup {
            uuid: Uuid::new_v4(),
            name: None,
            ..pg.clone()
        };
        assert_eq!(
            conflict_text(s.insert(dup).await.unwrap_err()),
            "A portgroup with MAC address 52:54:00:00:00:aa already exists."
        );
        let in_group = Port {
            portgroup_uuid: Some(pg.uuid),
            ..port(a.uuid, "52:54:00:00:00:01")
        };
        s.insert(in_group.clone()).await.unwrap();
        let query = ListQuery {
            filters: vec![ferrite_store::Filter::Eq(
                "portgroup_uuid".into(),
                json!(pg.uuid),
            )],
            ..ListQuery::default()
        };
        assert_eq!(s.list::<Port>(&query).await.unwrap(), vec![in_group]);

        let vc = VolumeConnector {
            uuid: Uuid::new_v4(),
            node_uuid: a.uuid,
            kind: "iqn".into(),
            connector_id: "iqn.2024-01.org.example:a".into(),
            ..VolumeConnector::default()
        };
        s.insert(vc.clone()).await.unwrap();
        let dup = VolumeConnector {
            uuid: Uuid::new_v4(),
            node_uuid: b.uuid,
            ..vc.clone()
        };
        assert_eq!(
            conflict_text(s.insert(dup).await.unwrap_err()),
            "A volume connector with type iqn and connector ID iqn.2024-01.org.example:a already \
             exists."
        );
        let vt = VolumeTarget {
            uuid: Uuid::new_v4(),
            node_uuid: a.uuid,
            volume_type: "iscsi".into(),
            volume_id: "v1".into(),
            boot_index: 0,
            ..VolumeTarget::default()
        };
        s.insert(vt.clone()).await.unwrap();
        let dup = VolumeTarget {
            uuid: Uuid::new_v4(),
            volume_id: "v2".into(),
            ..vt.clone()
        };
        assert_eq!(
            conflict_text(s.insert(dup).await.unwrap_err()),
            "A volume target with boot index '0' for the same node already exists."
        );
        // The same boot index on another node is fine.
        s.insert(VolumeTarget {
            uuid: Uuid::new_v4(),
            node_uuid: b.uuid,
            ..vt.clone()
        })
        .await
        .unwrap();
        let err = s
            .get::<VolumeTarget>(&Ident::parse("v1"))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "Volume target v1 could not be found.");
        let ghost = Uuid::new_v4();
        let err = s
            .insert(VolumeConnector {
                uuid: ghost,
                node_uuid: ghost,
                connector_id: "other".into(),
                ..vc.clone()
            })
            .await;
        assert_eq!(
            err.unwrap_err().to_string(),
            format!("Node {ghost} could not be found.")
        );

        s.delete::<Node>(a.uuid).await.unwrap();
        let all = ListQuery::default();
        assert_eq!(s.count::<Portgroup>(&all).await.unwrap(), 0);
        assert_eq!(s.count::<Port>(&all).await.unwrap(), 0);
        assert_eq!(s.count::<VolumeConnector>(&all).await.unwrap(), 0);
        assert_eq!(s.count::<VolumeTarget>(&all).await.unwrap(), 1);
    }
}
