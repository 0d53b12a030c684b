//! The node sub-resources of 1.78–1.94: history recorded as the node moves
//! and fails, the inventory inspection stores, shards and children,
//! firmware, virtual media, continue_inspection and ports by node name.

mod common;

use axum::http::StatusCode;
use common::Site;
use serde_json::{Value, json};

async fn node(site: &Site, name: &str, extra: Value) -> String {
    let mut body = json!({"driver": "fake-hardware", "name": name});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let created = site.latest("POST", "/v1/nodes", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body["uuid"].as_str().unwrap().to_string()
}

async fn provision(site: &Site, node: &str, target: &str) {
    let path = format!("/v1/nodes/{node}/states/provision");
    let answer = site
        .latest("PUT", &path, Some(json!({"target": target})))
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
}

#[tokio::test]
async fn history_records_transitions_and_failures_in_order() {
    let site = Site::start().await;
    let uuid = node(&site, "hist", json!({"properties": {"cpus": 4}})).await;
    provision(&site, &uuid, "manage").await;
    site.wait_for(&uuid, "manageable").await;
    // An inspect with an unsupported interface fails with a last_error.
    let broken = site
        .latest(
            "PATCH",
            &format!("/v1/nodes/{uuid}"),
            Some(json!([{"op": "replace", "path": "/inspect_interface", "value": "no-inspect"}])),
        )
        .await;
    assert_eq!(broken.status, StatusCode::OK, "{:?}", broken.body);
    provision(&site, &uuid, "inspect").await;
    // A failed state keeps its target, so poll the state alone.
    for _ in 0..200 {
        let got = site.latest("GET", &format!("/v1/nodes/{uuid}"), None).await;
        if got.body["provision_state"] == "inspect failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    let list = site
        .latest("GET", &format!("/v1/nodes/{uuid}/history"), None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let entries = list.body["history"].as_array().unwrap().clone();
    let keys: Vec<&str> = entries[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["uuid", "created_at", "severity", "event", "links"]);
    let last = entries.last().unwrap();
    assert_eq!(last["severity"], "ERROR");
    assert!(
        last["event"].as_str().unwrap().contains("inspect"),
        "{last}"
    );
    let detail = site
        .latest(
            "GET",
            &format!("/v1/nodes/{uuid}/history?detail=true"),
            None,
        )
        .await;
    let states: Vec<&str> = detail.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["severity"] == "INFO")
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["verifying", "manageable", "inspecting", "inspect failed"]
    );
    let one = last["uuid"].as_str().unwrap();
    let shown = site
        .latest("GET", &format!("/v1/nodes/{uuid}/history/{one}"), None)
        .await;
    assert_eq!(shown.body["event_type"], "inspecting");
    assert!(shown.body.get("duration_seconds").is_some());
    let old = site
        .call(
            "GET",
            &format!("/v1/nodes/{uuid}/history/{one}"),
            Some("1.114"),
            None,
        )
        .await;
    assert!(old.body.get("duration_seconds").is_none());
    let missing = site
        .latest(
            "GET",
            &format!("/v1/nodes/{uuid}/history/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn inspection_stores_an_inventory() {
    let site = Site::start().await;
    let uuid = node(
        &site,
        "inv",
        json!({"properties": {"cpus": 8, "memory_mb": 4096}}),
    )
    .await;
    let path = format!("/v1/nodes/{uuid}/inventory");
    let none = site.latest("GET", &path, None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    provision(&site, &uuid, "manage").await;
    site.wait_for(&uuid, "manageable").await;
    provision(&site, &uuid, "inspect").await;
    site.wait_for(&uuid, "manageable").await;
    let found = site.latest("GET", &path, None).await;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    assert_eq!(found.body["inventory"]["cpu"]["count"], 8);
    assert_eq!(found.body["plugin_data"], json!({}));
}

#[tokio::test]
async fn shards_children_and_placement_filters() {
    let site = Site::start().await;
    let parent = node(&site, "parent", json!({"shard": "s1"})).await;
    let child = node(
        &site,
        "child",
        json!({"shard": "s1", "parent_node": parent}),
    )
    .await;
    let orphan = site
        .latest(
            "POST",
            "/v1/nodes",
            Some(json!({"driver": "fake-hardware", "parent_node": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_eq!(orphan.status, StatusCode::BAD_REQUEST, "missing parent");
    node(&site, "other", json!({"shard": "s2"})).await;
    node(&site, "loose", json!({})).await;
    let shards = site.latest("GET", "/v1/shards", None).await;
    assert_eq!(
        shards.body["shards"],
        json!([{"name": "s1", "count": 2}, {"name": null, "count": 1}, {"name": "s2", "count": 1}])
    );
    let kids = site
        .latest("GET", &format!("/v1/nodes/{parent}/children"), None)
        .await;
    assert_eq!(kids.body["children"], json!([child]));
    let names = |answer: &common::Answer| -> Vec<String> {
        answer.body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    };
    let listed = site.latest("GET", "/v1/nodes", None).await;
    assert_eq!(
        names(&listed),
        ["parent", "other", "loose"],
        "children hidden"
    );
    let all = site
        .latest("GET", "/v1/nodes?include_children=true&shard=s1", None)
        .await;
    assert_eq!(names(&all), ["parent", "child"]);
    let unsharded = site.latest("GET", "/v1/nodes?sharded=false", None).await;
    assert_eq!(names(&unsharded), ["loose"]);
    let port = site
        .latest(
            "POST",
            "/v1/ports",
            Some(json!({"address": "52:54:00:00:00:0a", "node_ident": "other"})),
        )
        .await;
    assert_eq!(port.status, StatusCode::CREATED, "{:?}", port.body);
    let by_shard = site.latest("GET", "/v1/ports?shard=s2", None).await;
    assert_eq!(by_shard.body["ports"].as_array().unwrap().len(), 1);
    let none = site.latest("GET", "/v1/ports?shard=s1", None).await;
    assert_eq!(none.body["ports"], json!([]));
    let old = site
        .call(
            "POST",
            "/v1/ports",
            Some("1.93"),
            Some(json!({"address": "52:54:00:00:00:0b", "node_ident": "other"})),
        )
        .await;
    assert_eq!(old.status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn virtual_media_and_firmware() {
    let site = Site::start().await;
    let uuid = node(&site, "vm", json!({})).await;
    let path = format!("/v1/nodes/{uuid}/vmedia");
    let attach = site
        .latest(
            "POST",
            &path,
            Some(json!({"device_type": "cdrom", "image_url": "http://image"})),
        )
        .await;
    assert_eq!(attach.status, StatusCode::NO_CONTENT, "{:?}", attach.body);
    let shown = site.latest("GET", &path, None).await;
    assert_eq!(
        shown.body["vmedia"],
        json!([{"device_type": "cdrom", "image_url": "http://image", "inserted": true}])
    );
    for bad in [
        json!({"device_type": "tape", "image_url": "http://image"}),
        json!({"device_type": "cdrom", "image_url": "file:///etc/passwd"}),
        json!({"device_type": "cdrom"}),
    ] {
        let refused = site.latest("POST", &path, Some(bad.clone())).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let detach = site.latest("DELETE", &path, None).await;
    assert_eq!(detach.status, StatusCode::NO_CONTENT);
    assert_eq!(
        site.latest("GET", &path, None).await.body["vmedia"],
        json!([])
    );
    let missing = site
        .latest(
            "DELETE",
            &format!("/v1/nodes/{}/vmedia", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let firmware = site
        .latest("GET", &format!("/v1/nodes/{uuid}/firmware"), None)
        .await;
    assert_eq!(firmware.body, json!({"firmware": []}));
}

#[tokio::test]
async fn continue_inspection_needs_a_waiting_node() {
    let site = Site::start().await;
    let uuid = node(&site, "ci", json!({})).await;
    site.latest(
        "POST",
        "/v1/ports",
        Some(json!({"address": "52:54:00:00:00:0c", "node_uuid": uuid})),
    )
    .await;
    let data = json!({"inventory": {"interfaces": [{"mac_address": "52:54:00:00:00:0c"}]}});
    let refused = site
        .latest("POST", "/v1/continue_inspection", Some(data))
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{:?}", refused.body);
    let empty = site
        .latest(
            "POST",
            "/v1/continue_inspection",
            Some(json!({"inventory": {"interfaces": []}})),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let too_old = site
        .call(
            "POST",
            "/v1/continue_inspection",
            Some("1.83"),
            Some(json!({})),
        )
        .await;
    assert_eq!(too_old.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_graphical_console_answers_with_a_url() {
    let site = Site::start().await;
    let uuid = node(&site, "gfx", json!({"console_interface": "fake-graphical"})).await;
    let path = format!("/v1/nodes/{uuid}/states/console");
    let enabled = site
        .latest("PUT", &path, Some(json!({"enabled": true})))
        .await;
    assert_eq!(enabled.status, StatusCode::ACCEPTED, "{:?}", enabled.body);
    for _ in 0..200 {
        let shown = site.latest("GET", &path, None).await;
        if shown.body["console_enabled"] == true {
            assert_eq!(shown.body["console_info"]["type"], "vnc");
            let url = shown.body["console_info"]["url"].as_str().unwrap();
            assert!(url.starts_with("http://") && url.contains(&uuid), "{url}");
            let alias = site
                .latest("GET", &format!("/v1/nodes/states/console/{uuid}"), None)
                .await;
            assert_eq!(alias.body, shown.body);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the console never came up");
}
