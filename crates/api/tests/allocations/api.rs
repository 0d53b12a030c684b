//! The API's answers: create, show, list, patch, delete, backfill, the
//! node's sub-resource, every refusal with its message, and the 404/405
//! below 1.52.

use std::collections::HashSet;

use axum::http::StatusCode;
use ferrite_model::ProvisionState;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::site::{Site, V, fault, served};

#[tokio::test]
async fn absent_below_1_52() {
    if !served(52) {
        return;
    }
    let site = Site::start().await;
    let node = site.free_node("n1", "gold", &[]).await;
    let get = site.at("GET", "/v1/allocations", "1.51", None).await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    let one = site
        .at(
            "GET",
            &format!("/v1/allocations/{}", Uuid::new_v4()),
            "1.51",
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::NOT_FOUND);
    let post = site
        .at(
            "POST",
            "/v1/allocations",
            "1.51",
            Some(json!({"resource_class": "gold"})),
        )
        .await;
    assert_eq!(
        post.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "as Ironic answers writes"
    );
    let sub = site
        .at("GET", "/v1/nodes/n1/allocation", "1.51", None)
        .await;
    assert_eq!(sub.status, StatusCode::NOT_FOUND);
    let shown = site.at("GET", "/v1/nodes/n1", "1.51", None).await;
    assert!(shown.body.get("allocation_uuid").is_none());
    let shown = site.at("GET", "/v1/nodes/n1", V, None).await;
    assert_eq!(shown.body["allocation_uuid"], Value::Null);
    assert_eq!(site.node(node.uuid).await.allocation_uuid, None);
}

#[tokio::test]
async fn create_show_list_and_delete() {
    if !served(52) {
        return;
    }
    let site = Site::start().await;
    let node = site
        .free_node("n1", "gold", &["CUSTOM_GPU", "CUSTOM_NVME"])
        .await;
    site.free_node("other", "silver", &[]).await;
    let created = site
        .at(
            "POST",
            "/v1/allocations",
            V,
            Some(
                json!({"resource_class": "gold", "traits": ["CUSTOM_GPU"], "name": "a1",
                        "extra": {"k": "v"}}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let uuid = created.body["uuid"].as_str().unwrap().to_string();
    assert!(
        created.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/v1/allocations/{uuid}"))
    );
    assert_eq!(created.body["state"], "allocating");
    assert_eq!(created.body["node_uuid"], Value::Null);
    assert_eq!(created.body["candidate_nodes"], json!([]));
    assert!(created.body.get("owner").is_none(), "owner is 1.60");
    assert_eq!(
        created.body["links"][0]["href"],
        format!("http://ferrite.test/v1/allocations/{uuid}")
    );

    let done = site.settle("a1").await;
    assert_eq!(done["state"], "active", "{done}");
    assert_eq!(done["node_uuid"], json!(node.uuid));
    assert_eq!(done["last_error"], Value::Null);
    let bound = site.node(node.uuid).await;
    assert_eq!(
        bound.instance_uuid.map(|u| u.to_string()),
        Some(uuid.clone())
    );
    assert_eq!(
        bound.allocation_uuid.map(|u| u.to_string()),
        Some(uuid.clone())
    );
    assert_eq!(bound.instance_info["traits"], json!(["CUSTOM_GPU"]));
    let shown = site.at("GET", "/v1/nodes/n1", V, None).await;
    assert_eq!(shown.body["allocation_uuid"], json!(uuid));

    let sub = site.at("GET", "/v1/nodes/n1/allocation", V, None).await;
    assert_eq!(sub.body["uuid"], json!(uuid));
    let sub = site
        .at("GET", "/v1/nodes/n1/allocation?fields=uuid", V, None)
        .await;
    assert_eq!(sub.body.as_object().unwrap().len(), 2, "{}", sub.body);

    let list = site.at("GET", "/v1/allocations", V, None).await;
    let all = list.body["allocations"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["extra"], json!({"k": "v"}), "lists show every field");
    for (query, expected) in [
        ("state=active", 1),
        ("state=error", 0),
        ("resource_class=gold", 1),
        ("resource_class=silver", 0),
        ("node=n1", 1),
        ("node=other", 0),
    ] {
        let got = site
            .at("GET", &format!("/v1/allocations?{query}"), V, None)
            .await;
        assert_eq!(
            got.body["allocations"].as_array().unwrap().len(),
            expected,
            "{query}"
        );
    }
    let unknown = site.at("GET", "/v1/allocations?node=nope", V, None).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let fields = site
        .at("GET", "/v1/allocations?fields=uuid,node_uuid", V, None)
        .await;
    let keys: HashSet<&str> = fields.body["allocations"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["uuid", "node_uuid", "links"]));
    for query in ["fields=owner", "owner=p1"] {
        let got = site
            .at("GET", &format!("/v1/allocations?{query}"), V, None)
            .await;
        assert_eq!(got.status, StatusCode::NOT_ACCEPTABLE, "{query}");
    }
    let bad_sort = site
        .at("GET", "/v1/allocations?sort_key=traits", V, None)
        .await;
    assert_eq!(bad_sort.status, StatusCode::BAD_REQUEST);

    let deleted = site.at("DELETE", "/v1/allocations/a1", V, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let freed = site.node(node.uuid).await;
    assert_eq!(freed.instance_uuid, None);
    assert_eq!(freed.allocation_uuid, None);
    assert!(!freed.instance_info.contains_key("traits"));
    let gone = site
        .at("GET", &format!("/v1/allocations/{uuid}"), V, None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        fault(&gone.body),
        format!("Allocation {uuid} could not be found.")
    );
    let again = site
        .at("DELETE", &format!("/v1/allocations/{uuid}"), V, None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_requests_name_their_problem() {
    if !served(52) {
        return;
    }
    let site = Site::start().await;
    site.free_node("n1", "gold", &[]).await;
    let cases = [
        (
            json!({"resource_class": "gold", "uuid": "!@#$^*&%^"}),
            400,
            "Expected UUID for uuid",
        ),
        (
            json!({"resource_class": "gold", "name": "not/a/name"}),
            400,
            "invalid name",
        ),
        (
            json!({"resource_class": "x".repeat(81)}),
            400,
            "is too long",
        ),
        (
            json!({"resource_class": "gold", "traits": ["foo"]}),
            400,
            "does not match",
        ),
        (
            json!({"resource_class": "gold", "traits": "CUSTOM_X"}),
            400,
            "is not of type 'array'",
        ),
        (
            json!({"resource_class": "gold", "candidate_nodes": ["banana?", "n1", "ghost"]}),
            400,
            "Nodes cannot be found: banana?, ghost",
        ),
        (
            json!({"traits": ["CUSTOM_X"]}),
            400,
            "The resource_class field is mandatory",
        ),
        (
            json!({"resource_class": ""}),
            400,
            "The resource_class field is mandatory",
        ),
        (
            json!({"resource_class": "gold", "bogus": 1}),
            400,
            "'bogus' was unexpected",
        ),
        (
            json!({"resource_class": "gold", "extra": [1]}),
            400,
            "is not of type 'object'",
        ),
        (
            json!({"resource_class": "gold", "node": "n1"}),
            400,
            "Cannot set node",
        ),
        (
            json!({"resource_class": "gold", "owner": "p1"}),
            406,
            "owner",
        ),
        (json!(["resource_class"]), 400, "is not of type 'object'"),
    ];
    for (body, status, text) in cases {
        let got = site
            .at("POST", "/v1/allocations", V, Some(body.clone()))
            .await;
        assert_eq!(got.status.as_u16(), status, "{body}: {}", got.body);
        assert!(
            fault(&got.body).contains(text),
            "{body}: {}",
            fault(&got.body)
        );
    }
    let list = site.at("GET", "/v1/allocations", V, None).await;
    assert_eq!(list.body["allocations"], json!([]), "nothing was recorded");

    let first = site
        .create(json!({"resource_class": "none", "name": "dup"}))
        .await;
    let dup = site
        .at(
            "POST",
            "/v1/allocations",
            V,
            Some(json!({"resource_class": "none", "name": "dup"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(
        fault(&dup.body),
        "An allocation with name dup already exists."
    );
    let same = site
        .at(
            "POST",
            "/v1/allocations",
            V,
            Some(json!({"resource_class": "none", "uuid": first["uuid"]})),
        )
        .await;
    assert_eq!(same.status, StatusCode::CONFLICT);
    assert!(fault(&same.body).contains("An allocation with UUID"));
}

#[tokio::test]
async fn unsatisfiable_allocations_end_in_error() {
    if !served(52) {
        return;
    }
    let site = Site::start().await;
    let busy = site.free_node("busy", "gold", &["CUSTOM_GPU"]).await;
    site.edit_node(busy.uuid, |n| n.maintenance = true).await;
    site.free_node("plain", "gold", &[]).await;
    let cases = [
        (
            json!({"resource_class": "bronze"}),
            "no available nodes match the resource class bronze",
        ),
        (
            json!({"resource_class": "gold", "traits": ["CUSTOM_GPU"]}),
            "no suitable nodes have the requested traits CUSTOM_GPU",
        ),
        (
            json!({"resource_class": "gold", "candidate_nodes": ["busy"]}),
            "none of the requested nodes are available and match the resource class gold",
        ),
    ];
    for (body, reason) in cases {
        let created = site.create(body.clone()).await;
        let uuid = created["uuid"].as_str().unwrap();
        let done = site.settle(uuid).await;
        assert_eq!(done["state"], "error", "{body}");
        assert_eq!(done["node_uuid"], Value::Null);
        assert_eq!(
            done["last_error"],
            format!("Failed to process allocation {uuid}: {reason}."),
            "{body}"
        );
    }
    let errors = site.at("GET", "/v1/allocations?state=error", V, None).await;
    assert_eq!(errors.body["allocations"].as_array().unwrap().len(), 3);
    assert_eq!(site.node(busy.uuid).await.instance_uuid, None);
}

#[tokio::test]
async fn candidates_and_names_steer_the_choice() {
    if !served(52) {
        return;
    }
    let site = Site::start().await;
    let mut nodes = Vec::new();
    for i in 0..6 {
        nodes.push(site.free_node(&format!("node-{i}"), "gold", &[]).await);
    }
    let created = site
        .create(json!({"resource_class": "gold",
                        "candidate_nodes": ["node-4", nodes[5].uuid.to_string()]}))
        .await;
    assert_eq!(
        created["candidate_nodes"],
        json!([nodes[4].uuid, nodes[5].uuid])
    );
    let done = site.settle(created["uuid"].as_str().unwrap()).await;
    assert!(
        done["node_uuid"] == json!(nodes[4].uuid) || done["node_uuid"] == json!(nodes[5].uuid),
        "{done}"
    );
    // A node named like the allocation is tried first (1.79 behaviour).
    for i in [0, 1, 2, 3] {
        let created = site
            .create(json!({"resource_class": "gold", "name": format!("node-{i}")}))
            .await;
        let done = site.settle(created["uuid"].as_str().unwrap()).await;
        assert_eq!(done["node_uuid"], json!(nodes[i].uuid), "{done}");
    }
}

#[tokio::test]
async fn removal_waits_for_the_node() {
    if !served(52) {
        return;
    }
    let site = Site::start().await;
    let node = site.free_node("n1", "gold", &[]).await;
    let created = site.create(json!({"resource_class": "gold"})).await;
    let uuid = created["uuid"].as_str().unwrap().to_string();
    assert_eq!(site.settle(&uuid).await["state"], "active");

    site.edit_node(node.uuid, |n| n.provision_state = ProvisionState::Active)
        .await;
    let refused = site
        .at("DELETE", &format!("/v1/allocations/{uuid}"), V, None)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(fault(&refused.body).contains("because the node is active"));
    site.edit_node(node.uuid, |n| {
        n.provision_state = ProvisionState::Deploying;
        n.target_provision_state = Some(ProvisionState::Active);
    })
    .await;
    let refused = site.at("DELETE", "/v1/nodes/n1/allocation", V, None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(fault(&refused.body).contains("where updates are not allowed"));
    site.edit_node(node.uuid, |n| n.reservation = Some("elsewhere".into()))
        .await;
    let locked = site.at("DELETE", "/v1/nodes/n1/allocation", V, None).await;
    assert_eq!(locked.status, StatusCode::CONFLICT);
    assert!(fault(&locked.body).contains("is locked by host elsewhere"));
    assert_eq!(
        site.node(node.uuid)
            .await
            .allocation_uuid
            .map(|u| u.to_string()),
        Some(uuid.clone())
    );

    site.edit_node(node.uuid, |n| {
        n.reservation = None;
        n.maintenance = true;
    })
    .await;
    let deleted = site.at("DELETE", "/v1/nodes/n1/allocation", V, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let freed = site.node(node.uuid).await;
    assert_eq!((freed.instance_uuid, freed.allocation_uuid), (None, None));
    let none = site.at("GET", "/v1/nodes/n1/allocation", V, None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(fault(&none.body), "Allocation for node n1 was not found");
    let none = site.at("DELETE", "/v1/nodes/n1/allocation", V, None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let unknown = site.at("GET", "/v1/nodes/ghost/allocation", V, None).await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "Ironic reads the node as a filter"
    );
    let unknown = site
        .at("DELETE", "/v1/nodes/ghost/allocation", V, None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_changes_name_and_extra_only() {
    if !served(57) {
        return;
    }
    let site = Site::start().await;
    let created = site
        .create(json!({"resource_class": "none", "name": "p1"}))
        .await;
    site.create(json!({"resource_class": "none", "name": "taken"}))
        .await;
    let path = format!("/v1/allocations/{}", created["uuid"].as_str().unwrap());
    let patch = |ops: Value| (path.clone(), ops);
    let (p, ops) = patch(json!([{"op": "replace", "path": "/name", "value": "p2"}]));
    let old = site.at("PATCH", &p, "1.56", Some(ops.clone())).await;
    assert_eq!(old.status, StatusCode::METHOD_NOT_ALLOWED);
    let ok = site.at("PATCH", &p, "1.57", Some(ops)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["name"], "p2");
    let ok = site
        .at(
            "PATCH",
            "/v1/allocations/p2",
            "1.57",
            Some(json!([{"op": "add", "path": "/extra/answer", "value": 42}])),
        )
        .await;
    assert_eq!(ok.body["extra"], json!({"answer": 42}));
    for (ops, status, text) in [
        (
            json!([{"op": "replace", "path": "/name", "value": "not/a/name"}]),
            400,
            "invalid name",
        ),
        (
            json!([{"op": "replace", "path": "/name", "value": "taken"}]),
            409,
            "already exists",
        ),
        (
            json!([{"op": "replace", "path": "/resource_class", "value": "x"}]),
            400,
            "Cannot patch",
        ),
        (
            json!([{"op": "replace", "path": "/state", "value": "active"}]),
            400,
            "Cannot patch",
        ),
    ] {
        let got = site
            .at("PATCH", "/v1/allocations/p2", "1.57", Some(ops.clone()))
            .await;
        assert_eq!(got.status.as_u16(), status, "{ops}: {}", got.body);
        assert!(
            fault(&got.body).contains(text),
            "{ops}: {}",
            fault(&got.body)
        );
    }
    let cleared = site
        .at(
            "PATCH",
            "/v1/allocations/p2",
            "1.57",
            Some(json!([{"op": "remove", "path": "/name"},
                           {"op": "remove", "path": "/extra/answer"}])),
        )
        .await;
    assert_eq!(cleared.body["name"], Value::Null);
    assert_eq!(cleared.body["extra"], json!({}));
}

#[tokio::test]
async fn backfill_binds_a_deployed_node() {
    if !served(58) {
        return;
    }
    let site = Site::start().await;
    let instance = Uuid::new_v4();
    let deployed = site.free_node("deployed", "gold", &["CUSTOM_GPU"]).await;
    site.edit_node(deployed.uuid, move |n| {
        n.provision_state = ProvisionState::Active;
        n.instance_uuid = Some(instance);
    })
    .await;
    site.free_node("idle", "gold", &[]).await;

    let post = |body: Value| site.at("POST", "/v1/allocations", "1.58", Some(body));
    let missing = post(json!({"node": "ghost"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(fault(&missing.body), "Node ghost could not be found.");

    let unfit = post(json!({"node": "idle", "name": "unfit"})).await;
    assert_eq!(unfit.status, StatusCode::BAD_REQUEST);
    assert!(fault(&unfit.body).contains("Node must be in the \"active\" state"));
    let kept = site.at("GET", "/v1/allocations/unfit", V, None).await;
    assert_eq!(
        kept.body["state"], "error",
        "Ironic keeps the failed record"
    );

    let wrong = post(json!({"node": "deployed", "traits": ["CUSTOM_FPGA"]})).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(fault(&wrong.body).contains("does not match the requested traits"));
    // As in Ironic the failed record stays, under the node's instance uuid,
    // until it is deleted.
    let path = format!("/v1/allocations/{instance}");
    let failed = site.at("GET", &path, V, None).await;
    assert_eq!(failed.body["state"], "error");
    assert!(
        failed.body["last_error"]
            .as_str()
            .unwrap()
            .contains("Cannot backfill")
    );
    let blocked = post(json!({"node": "deployed"})).await;
    assert_eq!(blocked.status, StatusCode::CONFLICT);
    let deleted = site.at("DELETE", &path, V, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(site.node(deployed.uuid).await.instance_uuid, Some(instance));

    let done = post(json!({"node": "deployed", "traits": ["CUSTOM_GPU"]})).await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert_eq!(done.body["state"], "active");
    assert_eq!(
        done.body["uuid"],
        json!(instance),
        "the instance uuid is reused"
    );
    assert_eq!(done.body["resource_class"], "gold", "taken from the node");
    assert_eq!(done.body["node_uuid"], json!(deployed.uuid));
    let node = site.node(deployed.uuid).await;
    assert_eq!(node.allocation_uuid, Some(instance));
    assert_eq!(node.instance_uuid, Some(instance));

    let twice = post(json!({"node": "deployed"})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
}

#[tokio::test]
async fn owner_restricts_the_choice() {
    if !served(60) {
        return;
    }
    let site = Site::start().await;
    let owned = site.free_node("owned", "gold", &[]).await;
    site.edit_node(owned.uuid, |n| n.owner = Some("p1".into()))
        .await;
    let leased = site.free_node("leased", "gold", &[]).await;
    site.edit_node(leased.uuid, |n| n.lessee = Some("p2".into()))
        .await;
    site.free_node("nobody", "gold", &[]).await;
    for (owner, node) in [
        ("p1", Some(owned.uuid)),
        ("p2", Some(leased.uuid)),
        ("p3", None),
    ] {
        let created = site
            .at(
                "POST",
                "/v1/allocations",
                "1.60",
                Some(json!({"resource_class": "gold", "owner": owner})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["owner"], owner);
        let done = site.settle(created.body["uuid"].as_str().unwrap()).await;
        assert_eq!(done["node_uuid"], json!(node), "{owner}: {done}");
    }
    let mine = site
        .at("GET", "/v1/allocations?owner=p1", "1.60", None)
        .await;
    assert_eq!(mine.body["allocations"].as_array().unwrap().len(), 1);
    let hidden = site
        .at("GET", "/v1/allocations?owner=p1", "1.59", None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_ACCEPTABLE);
}
