//! Allocations: round trips by uuid and name, the unique name and uuid the
//! API's 409s rely on, the one-allocation-per-node guarantee the scheduler
//! relies on, filtering by state, and going with their node.

use chrono::Utc;
use ferrite_model::{Allocation, AllocationState, Node};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::common::node;

fn allocation(name: Option<&str>) -> Allocation {
    Allocation {
        uuid: Uuid::new_v4(),
        name: name.map(str::to_string),
        resource_class: Some("gold".into()),
        traits: vec!["CUSTOM_GPU".into()],
        created_at: Utc::now(),
        ..Allocation::default()
    }
}

fn conflict_text(e: StoreError) -> String {
    match e {
        StoreError::Conflict(m) => m,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

on_both_backends! {
    async fn allocation_round_trip_by_uuid_and_name(db: Db) {
        let a = allocation(Some("alloc-1"));
        assert_eq!(db.store.insert(a.clone()).await.unwrap(), a);
        let by_uuid: Allocation = db.store.get(&Ident::Uuid(a.uuid)).await.unwrap();
        assert_eq!(by_uuid, a);
        let by_name: Allocation = db.store.get(&Ident::parse("alloc-1")).await.unwrap();
        assert_eq!(by_name, a);
        let missing = db
            .store
            .get::<Allocation>(&Ident::parse("nope"))
            .await
            .unwrap_err();
        assert_eq!(missing.to_string(), "Allocation nope could not be found.");

        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        let (active, ()) = db
            .store
            .update(&Ident::Uuid(a.uuid), move |x: &mut Allocation| {
                x.state = AllocationState::Active;
                x.node_uuid = Some(n.uuid);
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        assert!(active.updated_at.is_some());
        let again: Allocation = db.store.get(&Ident::Uuid(a.uuid)).await.unwrap();
        assert_eq!(again.state, AllocationState::Active);
        assert_eq!(again.node_uuid, Some(n.uuid));

        db.store.delete::<Allocation>(a.uuid).await.unwrap();
        let gone = db.store.delete::<Allocation>(a.uuid).await.unwrap_err();
        assert!(matches!(
            gone,
            StoreError::NotFound {
                kind: "Allocation",
                ..
            }
        ));
    }
}

on_both_backends! {
    async fn allocation_names_uuids_and_nodes_are_unique(db: Db) {
        let first = db.store.insert(allocation(Some("a"))).await.unwrap();
        let err = db.store.insert(allocation(Some("a"))).await.unwrap_err();
        assert_eq!(
            conflict_text(err),
            "An allocation with name a already exists."
        );
        let same_uuid = Allocation {
            uuid: first.uuid,
            ..allocation(Some("b"))
        };
        let err = db.store.insert(same_uuid).await.unwrap_err();
        assert_eq!(
            conflict_text(err),
            format!("An allocation with UUID {} already exists.", first.uuid)
        );
        // Unnamed allocations do not collide with each other.
        db.store.insert(allocation(None)).await.unwrap();
        db.store.insert(allocation(None)).await.unwrap();

        // Renaming onto a taken name is refused and leaves the row untouched.
        let second = db.store.insert(allocation(Some("b"))).await.unwrap();
        let err = db
            .store
            .update(&Ident::Uuid(second.uuid), |x: &mut Allocation| {
                x.name = Some("a".into());
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap_err();
        assert_eq!(
            conflict_text(err),
            "An allocation with name a already exists."
        );
        let kept: Allocation = db.store.get(&Ident::Uuid(second.uuid)).await.unwrap();
        assert_eq!(kept.name.as_deref(), Some("b"));

        // A node serves at most one allocation, whatever the writers believed.
        let n = db.store.insert(node(None)).await.unwrap();
        let bound = Allocation {
            node_uuid: Some(n.uuid),
            state: AllocationState::Active,
            ..allocation(None)
        };
        db.store.insert(bound).await.unwrap();
        let twice = Allocation {
            node_uuid: Some(n.uuid),
            state: AllocationState::Active,
            ..allocation(None)
        };
        let err = db.store.insert(twice).await.unwrap_err();
        assert!(conflict_text(err).contains("already associated"));

        // And it must be a node that exists.
        let dangling = Allocation {
            node_uuid: Some(Uuid::new_v4()),
            ..allocation(None)
        };
        let err = db.store.insert(dangling).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { kind: "Node", .. }));
    }
}

on_both_backends! {
    async fn allocations_filter_by_state_and_go_with_their_node(db: Db) {
        let n = db.store.insert(node(Some("n1"))).await.unwrap();
        let pending = db.store.insert(allocation(None)).await.unwrap();
        let bound = db
            .store
            .insert(Allocation {
                node_uuid: Some(n.uuid),
                state: AllocationState::Active,
                ..allocation(None)
            })
            .await
            .unwrap();
        let query = |state: &str| ListQuery {
            filters: vec![Filter::Eq("state".into(), json!(state))],
            ..ListQuery::default()
        };
        let waiting: Vec<Allocation> = db.store.list(&query("allocating")).await.unwrap();
        assert_eq!(
            waiting.iter().map(|a| a.uuid).collect::<Vec<_>>(),
            [pending.uuid]
        );
        let active: Vec<Allocation> = db.store.list(&query("active")).await.unwrap();
        assert_eq!(
            active.iter().map(|a| a.uuid).collect::<Vec<_>>(),
            [bound.uuid]
        );

        db.store.delete::<Node>(n.uuid).await.unwrap();
        let err = db
            .store
            .get::<Allocation>(&Ident::Uuid(bound.uuid))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }));
        let left: Vec<Allocation> = db.store.list(&ListQuery::default()).await.unwrap();
        assert_eq!(left.len(), 1);
    }
}
