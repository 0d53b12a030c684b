//! Node history: written with the change that causes it, bounded per node,
//! gone with its node.

use ferrite_model::{Node, NodeHistory, ProvisionState};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::json;

use crate::common::node;

fn of_node(uuid: uuid::Uuid) -> ListQuery {
    ListQuery {
        filters: vec![Filter::Eq("node_uuid".into(), json!(uuid))],
        ..ListQuery::default()
    }
}

on_both_backends! {
    async fn a_failure_is_recorded_in_the_same_write_and_trimmed_to_the_bound(db: Db) {
        let n = db.store.insert(node(Some("h1"))).await.unwrap();
        let id = Ident::Uuid(n.uuid);
        db.store
            .update::<Node, _, StoreError, _>(&id, |n| {
                n.provision_state = ProvisionState::Manageable;
                n.last_error = Some("power failure".into());
                Ok(())
            })
            .await
            .unwrap();
        let entries: Vec<NodeHistory> = db.store.list(&of_node(n.uuid)).await.unwrap();
        let severities: Vec<&str> = entries.iter().map(|e| e.severity.as_str()).collect();
        assert_eq!(severities, ["INFO", "ERROR"]);
        assert_eq!(entries[1].event, "power failure");
        assert_eq!(entries[0].state.as_deref(), Some("manageable"));

        // A write that changes neither state nor error adds nothing.
        db.store
            .update::<Node, _, StoreError, _>(&id, |n| {
                n.extra.insert("k".into(), json!(1));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            db.store
                .count::<NodeHistory>(&of_node(n.uuid))
                .await
                .unwrap(),
            2
        );

        for i in 0..310 {
            db.store
                .update::<Node, _, StoreError, _>(&id, move |n| {
                    n.last_error = Some(format!("failure {i}"));
                    Ok(())
                })
                .await
                .unwrap();
        }
        let kept: Vec<NodeHistory> = db.store.list(&of_node(n.uuid)).await.unwrap();
        assert_eq!(kept.len(), 300);
        assert_eq!(kept.last().unwrap().event, "failure 309");
        assert_eq!(kept[0].event, "failure 10");

        db.store.delete::<Node>(n.uuid).await.unwrap();
        assert_eq!(
            db.store
                .count::<NodeHistory>(&of_node(n.uuid))
                .await
                .unwrap(),
            0
        );
    }
}
