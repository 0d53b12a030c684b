//! Filters, counts, limits, markers and the pending-intent query.

use crate::common::{Db, node, port};
use ferrite_model::{Intent, Node, Port, PowerTarget, ProvisionState};
use ferrite_store::{Filter, Ident, ListQuery, Store, StoreError};
use serde_json::{Value, json};
use uuid::Uuid;

fn q(filters: Vec<Filter>) -> ListQuery {
    ListQuery {
        filters,
        ..ListQuery::default()
    }
}

/// Names of the nodes `filters` select, in id order, checked against count.
async fn names(store: &Store, filters: Vec<Filter>) -> Vec<String> {
    let query = q(filters);
    let nodes: Vec<Node> = store.list(&query).await.unwrap();
    assert_eq!(
        store.count::<Node>(&query).await.unwrap(),
        nodes.len() as u64
    );
    nodes
        .into_iter()
        .map(|n| n.name.unwrap_or_default())
        .collect()
}

/// Five nodes with varied fields: a (maint, owner p1), b (lessee p1),
/// c (owner p2, description), d (Rack-Node), e (maint, resource class).
async fn fixture(db: Db) -> (Db, Vec<Node>) {
    let mut nodes = vec![
        node(Some("a")),
        node(Some("b")),
        node(Some("c")),
        node(Some("Rack-Node")),
        node(Some("e")),
    ];
    nodes[0].maintenance = true;
    nodes[0].owner = Some("p1".into());
    nodes[1].lessee = Some("p1".into());
    nodes[1].provision_state = ProvisionState::Available;
    nodes[2].owner = Some("p2".into());
    nodes[2].description = Some("Top of RACK".into());
    nodes[2].driver = "redfish".into();
    nodes[3].retired = true;
    nodes[4].maintenance = true;
    nodes[4].resource_class = Some("gpu".into());
    for n in &nodes {
        db.store.insert(n.clone()).await.unwrap();
    }
    (db, nodes)
}

on_both_backends! {
    async fn boolean_filters_compare_as_json_booleans(db: Db) {
        let (db, _) = fixture(db).await;
        let s = &db.store;
        assert_eq!(
            names(s, vec![Filter::Eq("maintenance".into(), json!(true))]).await,
            ["a", "e"]
        );
        assert_eq!(
            names(s, vec![Filter::Eq("maintenance".into(), json!(false))]).await,
            ["b", "c", "Rack-Node"]
        );
        // `retired` has no generated column: the JSON path answers.
        assert_eq!(
            names(s, vec![Filter::Eq("retired".into(), json!(true))]).await,
            ["Rack-Node"]
        );
    }
}

on_both_backends! {
    async fn null_filters_match_null_and_absent(db: Db) {
        let (db, _) = fixture(db).await;
        let s = &db.store;
        assert_eq!(
            names(s, vec![Filter::Eq("owner".into(), Value::Null)]).await,
            ["b", "Rack-Node", "e"]
        );
        assert_eq!(
            names(s, vec![Filter::IsNull("owner".into(), false)]).await,
            ["a", "c"]
        );
        assert_eq!(
            names(s, vec![Filter::IsNull("description".into(), false)]).await,
            ["c"]
        );
        // A field no document has is absent everywhere.
        assert_eq!(
            names(s, vec![Filter::Eq("no_such_field".into(), Value::Null)])
                .await
                .len(),
            5
        );
        assert!(
            names(s, vec![Filter::Eq("no_such_field".into(), json!(1))])
                .await
                .is_empty()
        );
        assert!(
            names(s, vec![Filter::Eq("bad field'".into(), json!("x"))])
                .await
                .is_empty()
        );
    }
}

on_both_backends! {
    async fn text_filters(db: Db) {
        let (db, _) = fixture(db).await;
        let s = &db.store;
        assert_eq!(
            names(s, vec![Filter::Contains("name".into(), "rACK".into())]).await,
            ["Rack-Node"]
        );
        assert_eq!(
            names(
                s,
                vec![Filter::Contains("description".into(), "rack".into())]
            )
            .await,
            ["c"]
        );
        assert_eq!(
            names(s, vec![Filter::Contains("name".into(), "%".into())]).await,
            Vec::<String>::new()
        );
        assert_eq!(
            names(
                s,
                vec![Filter::EqIgnoreCase("name".into(), "rack-node".into())]
            )
            .await,
            ["Rack-Node"]
        );
        assert_eq!(
            names(
                s,
                vec![Filter::Eq("provision_state".into(), json!("available"))]
            )
            .await,
            ["b"]
        );
    }
}

on_both_backends! {
    async fn set_and_project_filters(db: Db) {
        let (db, nodes) = fixture(db).await;
        let s = &db.store;
        assert_eq!(
            names(
                s,
                vec![Filter::In(
                    "driver".into(),
                    vec![json!("redfish"), json!("ipmi")]
                )]
            )
            .await,
            ["c"]
        );
        assert_eq!(
            names(
                s,
                vec![Filter::In(
                    "resource_class".into(),
                    vec![json!("gpu"), Value::Null]
                )]
            )
            .await
            .len(),
            5
        );
        assert!(
            names(s, vec![Filter::In("driver".into(), vec![])])
                .await
                .is_empty()
        );
        assert_eq!(
            names(s, vec![Filter::OwnerOrLessee("p1".into())]).await,
            ["a", "b"]
        );
        assert_eq!(
            names(
                s,
                vec![
                    Filter::OwnerOrLessee("p1".into()),
                    Filter::Eq("maintenance".into(), json!(false))
                ]
            )
            .await,
            ["b"]
        );
        let uuid = nodes[3].uuid.to_string();
        assert_eq!(
            names(s, vec![Filter::Eq("uuid".into(), json!(uuid))]).await,
            ["Rack-Node"]
        );
    }
}

on_both_backends! {
    async fn port_filters_use_node_uuid(db: Db) {
        let a = db.store.insert(node(None)).await.unwrap();
        let b = db.store.insert(node(None)).await.unwrap();
        db.store
            .insert(port(a.uuid, "52:54:00:00:00:01"))
            .await
            .unwrap();
        db.store
            .insert(port(b.uuid, "52:54:00:00:00:02"))
            .await
            .unwrap();
        db.store
            .insert(port(a.uuid, "52:54:00:00:00:03"))
            .await
            .unwrap();
        let query = q(vec![Filter::Eq(
            "node_uuid".into(),
            json!(a.uuid.to_string()),
        )]);
        let ports: Vec<Port> = db.store.list(&query).await.unwrap();
        let macs: Vec<_> = ports.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(macs, ["52:54:00:00:00:01", "52:54:00:00:00:03"]);
        let query = q(vec![Filter::Eq(
            "address".into(),
            json!("52:54:00:00:00:02"),
        )]);
        assert_eq!(db.store.count::<Port>(&query).await.unwrap(), 1);
    }
}

on_both_backends! {
    async fn limit_marker_and_unknown_marker(db: Db) {
        let (db, nodes) = fixture(db).await;
        let s = &db.store;
        let page = |marker: Option<&Node>| ListQuery {
            limit: Some(2),
            marker: marker.map(|n| n.uuid.to_string()),
            ..ListQuery::default()
        };
        let p1: Vec<Node> = s.list(&page(None)).await.unwrap();
        assert_eq!(p1, nodes[..2]);
        let p2: Vec<Node> = s.list(&page(p1.last())).await.unwrap();
        assert_eq!(p2, nodes[2..4]);
        let p3: Vec<Node> = s.list(&page(p2.last())).await.unwrap();
        assert_eq!(p3, nodes[4..]);
        let p4: Vec<Node> = s.list(&page(p3.last())).await.unwrap();
        assert!(p4.is_empty());

        let ghost = Uuid::new_v4().to_string();
        let query = ListQuery {
            marker: Some(ghost.clone()),
            ..ListQuery::default()
        };
        let err = s.list::<Node>(&query).await.unwrap_err();
        assert_eq!(err.to_string(), format!("Node {ghost} could not be found."));
        let err = s.list::<Port>(&query).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { kind: "Port", .. }));
    }
}

on_both_backends! {
    async fn sort_by_a_json_field_descending(db: Db) {
        let (db, _) = fixture(db).await;
        let query = ListQuery {
            sort_key: Some("name".into()),
            sort_desc: true,
            ..ListQuery::default()
        };
        let nodes: Vec<Node> = db.store.list(&query).await.unwrap();
        let got: Vec<_> = nodes.iter().map(|n| n.name.clone().unwrap()).collect();
        // BINARY collation: upper case sorts before lower case.
        assert_eq!(got, ["e", "c", "b", "a", "Rack-Node"]);
    }
}

on_both_backends! {
    async fn pending_intents_are_unreserved_nodes_with_intents_in_id_order(db: Db) {
        let s = &db.store;
        let mut want = Vec::new();
        for i in 0..6 {
            let mut n = node(None);
            if i % 2 == 0 {
                n.intent = Some(Intent::Power {
                    target: PowerTarget::On,
                    timeout: None,
                });
                want.push(n.uuid);
            }
            s.insert(n).await.unwrap();
        }
        assert_eq!(s.nodes_with_pending_intent().await.unwrap(), want);

        // A conductor takes the first one: reserved nodes are not pending.
        s.update(&Ident::Uuid(want[0]), |n: &mut Node| {
            n.reservation = Some("cond-1".into());
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
        // ...and finishes the second: its intent is gone.
        s.update(&Ident::Uuid(want[1]), |n: &mut Node| {
            n.intent = None;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
        assert_eq!(s.nodes_with_pending_intent().await.unwrap(), want[2..]);
    }
}
