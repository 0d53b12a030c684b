//! Node behaviour through the real router, store and conductor.

mod common;

use axum::http::StatusCode;
use common::{Site, fault};
use serde_json::json;

async fn enrolled(site: &Site, name: &str, extra: serde_json::Value) -> String {
    let mut body = json!({"driver": "fake-hardware", "name": name});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = site.latest("POST", "/v1/nodes", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert!(
        created.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(created.body["uuid"].as_str().unwrap())
    );
    created.body["uuid"].as_str().unwrap().to_string()
}

async fn provision(site: &Site, node: &str, body: serde_json::Value) -> common::Answer {
    site.latest(
        "PUT",
        &format!("/v1/nodes/{node}/states/provision"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn lifecycle_enroll_to_active_and_back() {
    let site = Site::start().await;
    let node = enrolled(&site, "life", json!({})).await;
    let answer = provision(&site, &node, json!({"target": "manage"})).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(
        answer.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/v1/nodes/{node}/states"))
    );
    site.wait_for(&node, "manageable").await;
    provision(&site, &node, json!({"target": "provide"})).await;
    site.wait_for(&node, "available").await;
    let refused = provision(&site, &node, json!({"target": "provide"})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(fault(&refused.body).contains("while it is in state \"available\""));
    provision(
        &site,
        &node,
        json!({"target": "active", "configdrive": "H4sI"}),
    )
    .await;
    let active = site.wait_for(&node, "active").await;
    assert_eq!(active["power_state"], "power on");
    assert_eq!(active["deploy_step"], json!({}));
    assert_eq!(
        active["instance_info"]["configdrive"], "******",
        "configdrive is masked"
    );
    let off = site
        .latest(
            "PUT",
            &format!("/v1/nodes/{node}/states/power"),
            Some(json!({"target": "power off"})),
        )
        .await;
    assert_eq!(off.status, StatusCode::ACCEPTED);
    let locked = provision(&site, &node, json!({"target": "deleted"})).await;
    if locked.status == StatusCode::CONFLICT {
        assert!(fault(&locked.body).contains("is locked by host"));
        site.wait_for_power(&node, "power off").await;
        let undeploy = provision(&site, &node, json!({"target": "deleted"})).await;
        assert_eq!(undeploy.status, StatusCode::ACCEPTED);
    }
    let back = site.wait_for(&node, "available").await;
    assert_eq!(back["power_state"], "power off");
    let states = site
        .latest("GET", &format!("/v1/nodes/{node}/states"), None)
        .await;
    assert_eq!(states.body["provision_state"], "available");
    let has_boot_mode = ferrite_model::MAX_VERSION >= ferrite_model::Version(1, 75);
    assert_eq!(
        states.body.get("boot_mode").is_some(),
        has_boot_mode,
        "boot_mode is shown from 1.75"
    );
}

#[tokio::test]
async fn vendor_passthru_sync_async_and_errors() {
    let site = Site::start().await;
    let node = enrolled(&site, "vendor", json!({})).await;
    let methods = site
        .latest(
            "GET",
            &format!("/v1/nodes/{node}/vendor_passthru/methods"),
            None,
        )
        .await;
    assert_eq!(methods.body["first_method"]["async"], true);
    assert_eq!(
        methods.body["second_method"]["http_methods"],
        json!(["POST"])
    );
    let sync = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vendor_passthru?method=second_method"),
            Some(json!({"x": 1})),
        )
        .await;
    assert_eq!(sync.status, StatusCode::OK);
    assert_eq!(sync.body["args"], json!({"x": 1}));
    let async_ = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vendor_passthru?method=first_method"),
            Some(json!({"bar": 2})),
        )
        .await;
    assert_eq!(async_.status, StatusCode::ACCEPTED);
    let missing = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vendor_passthru?method=first_method"),
            Some(json!({})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(fault(&missing.body).contains("'bar'"));
    let unknown = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vendor_passthru?method=nope"),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let wrong_verb = site
        .latest(
            "GET",
            &format!("/v1/nodes/{node}/vendor_passthru?method=second_method"),
            None,
        )
        .await;
    assert_eq!(wrong_verb.status, StatusCode::BAD_REQUEST);
    let drivers = site
        .latest(
            "GET",
            "/v1/drivers/fake-hardware/vendor_passthru/methods",
            None,
        )
        .await;
    assert_eq!(drivers.body, json!({}));
}

#[tokio::test]
async fn vifs_bind_free_ports_on_flat_networks() {
    let site = Site::start().await;
    let node = enrolled(&site, "vifs", json!({"network_interface": "flat"})).await;
    let none = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vifs"),
            Some(json!({"id": "vif-1"})),
        )
        .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST, "no free port");
    let port = site
        .latest(
            "POST",
            "/v1/ports",
            Some(json!({"address": "52:54:00:AA:BB:01", "node_uuid": node})),
        )
        .await;
    assert_eq!(port.status, StatusCode::CREATED);
    assert_eq!(port.body["address"], "52:54:00:aa:bb:01");
    let attach = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vifs"),
            Some(json!({"id": "vif-1"})),
        )
        .await;
    assert_eq!(attach.status, StatusCode::NO_CONTENT);
    let again = site
        .latest(
            "POST",
            &format!("/v1/nodes/{node}/vifs"),
            Some(json!({"id": "vif-1"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let list = site
        .latest("GET", &format!("/v1/nodes/{node}/vifs"), None)
        .await;
    assert_eq!(list.body, json!({"vifs": [{"id": "vif-1"}]}));
    let detach = site
        .latest("DELETE", &format!("/v1/nodes/{node}/vifs/vif-1"), None)
        .await;
    assert_eq!(detach.status, StatusCode::NO_CONTENT);
    let list = site
        .latest("GET", &format!("/v1/nodes/{node}/vifs"), None)
        .await;
    assert_eq!(list.body, json!({"vifs": []}));
}

#[tokio::test]
async fn traits_protected_and_delete_rules() {
    let site = Site::start().await;
    let node = enrolled(&site, "rules", json!({})).await;
    let put = site
        .latest(
            "PUT",
            &format!("/v1/nodes/{node}/traits"),
            Some(json!({"traits": ["CUSTOM_B", "CUSTOM_A"]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    let one = site
        .latest("PUT", &format!("/v1/nodes/{node}/traits/CUSTOM_C"), None)
        .await;
    assert_eq!(one.status, StatusCode::NO_CONTENT);
    let bad = site
        .latest("PUT", &format!("/v1/nodes/{node}/traits/lower"), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let got = site
        .latest("GET", &format!("/v1/nodes/{node}/traits"), None)
        .await;
    assert_eq!(
        got.body,
        json!({"traits": ["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"]})
    );
    let missing = site
        .latest("DELETE", &format!("/v1/nodes/{node}/traits/CUSTOM_Z"), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let protect = site
        .latest(
            "PATCH",
            &format!("/v1/nodes/{node}"),
            Some(json!([{"op": "replace", "path": "/protected", "value": true}])),
        )
        .await;
    assert_eq!(
        protect.status,
        StatusCode::CONFLICT,
        "only active nodes can be protected"
    );
    let traits_patch = site
        .latest(
            "PATCH",
            &format!("/v1/nodes/{node}"),
            Some(json!([{"op": "add", "path": "/traits", "value": []}])),
        )
        .await;
    assert_eq!(traits_patch.status, StatusCode::BAD_REQUEST);
    provision(&site, &node, json!({"target": "manage"})).await;
    site.wait_for(&node, "manageable").await;
    let claimed = site.latest("PATCH", &format!("/v1/nodes/{node}"), Some(json!([{"op": "add", "path": "/instance_uuid", "value": "5b0c8c5e-3b5e-4c2e-9c1a-1d2d3e4f5a6b"}]))).await;
    assert_eq!(claimed.status, StatusCode::OK);
    let refused = site
        .latest("DELETE", &format!("/v1/nodes/{node}"), None)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::CONFLICT,
        "associated with an instance"
    );
    site.latest(
        "PUT",
        &format!("/v1/nodes/{node}/maintenance"),
        Some(json!({"reason": "broken"})),
    )
    .await;
    let shown = site.latest("GET", &format!("/v1/nodes/{node}"), None).await;
    assert_eq!(shown.body["maintenance_reason"], "broken");
    let deleted = site
        .latest("DELETE", &format!("/v1/nodes/{node}"), None)
        .await;
    assert_eq!(
        deleted.status,
        StatusCode::NO_CONTENT,
        "maintenance allows deletion"
    );
    let gone = site.latest("GET", &format!("/v1/nodes/{node}"), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_page_with_next_links_and_fields() {
    let site = Site::start().await;
    for i in 0..5 {
        enrolled(
            &site,
            &format!("page-{i}"),
            json!({"resource_class": if i % 2 == 0 { "gold" } else { "iron" }}),
        )
        .await;
    }
    let first = site
        .latest("GET", "/v1/nodes?limit=2&sort_key=name&sort_dir=desc", None)
        .await;
    let names: Vec<_> = first.body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["page-4", "page-3"]);
    let next = first.body["next"].as_str().unwrap();
    assert!(next.starts_with("http://ferrite.test/v1/nodes?"), "{next}");
    assert!(next.contains("sort_key=name") && next.contains("limit=2") && next.contains("marker="));
    let path = next.trim_start_matches("http://ferrite.test");
    let second = site.latest("GET", path, None).await;
    let names: Vec<_> = second.body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["page-2", "page-1"]);
    let gold = site
        .latest(
            "GET",
            "/v1/nodes?resource_class=gold&fields=name,resource_class",
            None,
        )
        .await;
    assert_eq!(gold.body["nodes"].as_array().unwrap().len(), 3);
    assert!(gold.body.get("next").is_none());
    let keys: Vec<_> = gold.body["nodes"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 3, "name, resource_class and links: {keys:?}");
    let detail = site.latest("GET", "/v1/nodes/detail", None).await;
    assert!(detail.body["nodes"][0].get("driver_info").is_some());
    let unprefixed = site.latest("GET", "/nodes?limit=1", None).await;
    assert_eq!(unprefixed.body["nodes"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn indicators_round_trip() {
    let site = Site::start().await;
    let node = enrolled(&site, "leds", json!({})).await;
    if ferrite_model::MAX_VERSION < ferrite_model::Version(1, 63) {
        return;
    }
    let list = site
        .latest(
            "GET",
            &format!("/v1/nodes/{node}/management/indicators"),
            None,
        )
        .await;
    assert_eq!(list.body["indicators"][0]["name"], "led-0@system");
    let path = format!("/v1/nodes/{node}/management/indicators/led-0@system");
    let set = site
        .latest("PUT", &path, Some(json!({"state": "BLINKING"})))
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);
    let got = site.latest("GET", &path, None).await;
    assert_eq!(got.body, json!({"state": "BLINKING"}));
    let readonly = site
        .latest(
            "PUT",
            &format!("/v1/nodes/{node}/management/indicators/led-2@drive"),
            Some(json!({"state": "ON"})),
        )
        .await;
    assert_eq!(readonly.status, StatusCode::BAD_REQUEST);
    let missing = site
        .latest(
            "GET",
            &format!("/v1/nodes/{node}/management/indicators/nope@system"),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn retired_rules_and_patch_wording() {
    let site = Site::start().await;
    let node = enrolled(&site, "old", json!({})).await;
    let path = format!("/v1/nodes/{node}");
    let patch = |ops: serde_json::Value| site.latest("PATCH", &path, Some(ops));
    let missing = patch(json!([{"op": "remove", "path": "/properties/prop"}])).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        fault(&missing.body).contains("Reason: can't remove a non-existent object 'prop'"),
        "{}",
        fault(&missing.body)
    );
    let retired = patch(json!([{"op": "replace", "path": "/retired", "value": true}, {"op": "add", "path": "/retired_reason", "value": "old"}])).await;
    assert_eq!(retired.body["retired_reason"], "old");
    let back = patch(json!([{"op": "replace", "path": "/retired", "value": false}])).await;
    assert_eq!(
        back.body["retired_reason"],
        serde_json::Value::Null,
        "un-retiring clears the reason"
    );
    let created = site
        .call(
            "POST",
            "/v1/nodes",
            Some("1.10"),
            Some(json!({"driver": "fake-hardware"})),
        )
        .await;
    let available = created.body["uuid"].as_str().unwrap().to_string();
    let refused = site
        .latest(
            "PATCH",
            &format!("/v1/nodes/{available}"),
            Some(json!([{"op": "replace", "path": "/retired", "value": true}])),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::CONFLICT,
        "an available node cannot be retired"
    );
}

#[tokio::test]
async fn conductor_groups_need_a_live_conductor_and_name_the_owner() {
    let site = Site::start().await;
    let refused = site
        .latest(
            "POST",
            "/v1/nodes",
            Some(json!({"driver": "fake-hardware", "conductor_group": "Edge-1"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let message = fault(&refused.body);
    assert!(message.contains("conductor group \"edge-1\""), "{message}");
    assert_eq!(
        site.latest("GET", "/v1/nodes", None).await.body["nodes"],
        json!([])
    );

    let uuid = enrolled(&site, "grouped", json!({})).await;
    let shown = site.latest("GET", &format!("/v1/nodes/{uuid}"), None).await;
    assert_eq!(shown.body["conductor"], json!("test-conductor"));
    let moved = site
        .latest(
            "PATCH",
            &format!("/v1/nodes/{uuid}"),
            Some(json!([{"op": "replace", "path": "/conductor_group", "value": "edge-2"}])),
        )
        .await;
    assert_eq!(moved.status, StatusCode::BAD_REQUEST);
    let after = site.latest("GET", &format!("/v1/nodes/{uuid}"), None).await;
    assert_eq!(after.body["conductor_group"], json!(""));
    let listed = site
        .latest(
            "GET",
            "/v1/nodes?conductor=test-conductor&fields=uuid",
            None,
        )
        .await;
    assert_eq!(listed.body["nodes"].as_array().map(Vec::len), Some(1));
    let elsewhere = site
        .latest("GET", "/v1/nodes?conductor=other&fields=uuid", None)
        .await;
    assert_eq!(elsewhere.body["nodes"], json!([]));
}
