//! For each microversion boundary Ferrite serves: the feature is absent
//! one version below and present at its version.

mod common;

use axum::http::StatusCode;
use common::Site;
use ferrite_model::MAX_VERSION;
use serde_json::json;

fn below(minor: u32) -> String {
    format!("1.{}", minor - 1)
}

fn at(minor: u32) -> String {
    format!("1.{minor}")
}

#[tokio::test]
async fn node_fields_appear_at_their_version() {
    let site = Site::start().await;
    let created = site
        .latest(
            "POST",
            "/v1/nodes",
            Some(json!({"driver": "fake-hardware", "name": "mv"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let table = [
        ("driver_internal_info", 3),
        ("name", 5),
        ("inspection_started_at", 6),
        ("clean_step", 7),
        ("raid_config", 12),
        ("network_interface", 20),
        ("resource_class", 21),
        ("boot_interface", 31),
        ("storage_interface", 33),
        ("traits", 37),
        ("rescue_interface", 38),
        ("bios_interface", 40),
        ("fault", 42),
        ("deploy_step", 44),
        ("conductor_group", 46),
        ("automated_clean", 47),
        ("protected", 48),
        ("conductor", 49),
        ("owner", 50),
        ("description", 51),
        ("allocation_uuid", 52),
        ("retired", 61),
        ("lessee", 65),
        ("network_data", 66),
        ("boot_mode", 75),
        ("secure_boot", 75),
        ("shard", 82),
        ("parent_node", 83),
        ("firmware_interface", 86),
        ("service_step", 87),
        ("disable_power_off", 95),
        ("instance_name", 104),
        ("health", 109),
    ];
    let uuid = created.body["uuid"].as_str().unwrap().to_string();
    for (field, minor) in table {
        if minor > MAX_VERSION.1 {
            continue;
        }
        let path = format!("/v1/nodes/{uuid}");
        let old = site.call("GET", &path, Some(&below(minor)), None).await;
        assert!(
            old.body.get(field).is_none(),
            "{field} visible at {}",
            below(minor)
        );
        let new = site.call("GET", &path, Some(&at(minor)), None).await;
        assert!(
            new.body.get(field).is_some(),
            "{field} missing at 1.{minor}"
        );
        if minor > 8 {
            let refused = site
                .call(
                    "GET",
                    &format!("/v1/nodes?fields={field}"),
                    Some(&below(minor)),
                    None,
                )
                .await;
            assert_eq!(
                refused.status,
                StatusCode::NOT_ACCEPTABLE,
                "fields={field} below 1.{minor}"
            );
            let accepted = site
                .call(
                    "GET",
                    &format!("/v1/nodes?fields={field}"),
                    Some(&at(minor)),
                    None,
                )
                .await;
            assert_eq!(
                accepted.status,
                StatusCode::OK,
                "fields={field} at 1.{minor}"
            );
        }
    }
}

#[tokio::test]
async fn endpoints_appear_at_their_version() {
    let site = Site::start().await;
    site.latest(
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "fake-hardware", "name": "ep"})),
    )
    .await;
    let table = [
        ("/v1/lookup", 22),
        ("/v1/portgroups", 23),
        ("/v1/nodes/ep/portgroups", 24),
        ("/v1/nodes/ep/vifs", 28),
        ("/v1/volume", 32),
        ("/v1/volume/connectors", 32),
        ("/v1/nodes/ep/traits", 37),
        ("/v1/nodes/ep/bios", 40),
        ("/v1/conductors", 49),
        ("/v1/nodes/ep/management/indicators", 63),
        ("/v1/nodes/ep/management/indicators/led-0@system", 63),
        ("/v1/nodes/ep/history", 78),
        ("/v1/shards", 82),
        ("/v1/nodes/ep/children", 83),
        ("/v1/nodes/ep/firmware", 86),
        ("/v1/nodes/ep/vmedia", 93),
    ];
    for (path, minor) in table {
        if minor > MAX_VERSION.1 {
            continue;
        }
        let old = site.call("GET", path, Some(&below(minor)), None).await;
        assert_eq!(old.status, StatusCode::NOT_FOUND, "{path} below 1.{minor}");
        let new = site.call("GET", path, Some(&at(minor)), None).await;
        assert_ne!(
            new.status,
            StatusCode::NOT_FOUND,
            "{path} at 1.{minor}: {:?}",
            new.body
        );
        assert!(
            new.status.is_success() || path.contains("lookup"),
            "{path}: {}",
            new.status
        );
    }
}

#[tokio::test]
async fn verbs_and_states_follow_versions() {
    let site = Site::start().await;
    let node = site
        .call(
            "POST",
            "/v1/nodes",
            Some("1.10"),
            Some(json!({"driver": "fake-hardware"})),
        )
        .await;
    assert_eq!(
        node.body["provision_state"],
        json!("available"),
        "before 1.11 nodes start available"
    );
    let uuid = node.body["uuid"].as_str().unwrap().to_string();
    let v11 = site
        .call("GET", &format!("/v1/nodes/{uuid}"), None, None)
        .await;
    assert_eq!(
        v11.body["provision_state"],
        json!(null),
        "available reads null at 1.1"
    );
    let v12 = site
        .call("GET", &format!("/v1/nodes/{uuid}"), Some("1.2"), None)
        .await;
    assert_eq!(v12.body["provision_state"], json!("available"));
    let manage = site
        .call(
            "PUT",
            &format!("/v1/nodes/{uuid}/states/provision"),
            Some("1.3"),
            Some(json!({"target": "manage"})),
        )
        .await;
    assert_eq!(manage.status, StatusCode::NOT_ACCEPTABLE);
    let manage = site
        .call(
            "PUT",
            &format!("/v1/nodes/{uuid}/states/provision"),
            Some("1.4"),
            Some(json!({"target": "manage"})),
        )
        .await;
    assert_eq!(manage.status, StatusCode::ACCEPTED);
    let enrolled = site
        .call(
            "POST",
            "/v1/nodes",
            Some("1.11"),
            Some(json!({"driver": "fake-hardware"})),
        )
        .await;
    assert_eq!(enrolled.body["provision_state"], json!("enroll"));
    let soft = site
        .call(
            "PUT",
            &format!("/v1/nodes/{uuid}/states/power"),
            Some("1.26"),
            Some(json!({"target": "soft power off"})),
        )
        .await;
    assert_eq!(soft.status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn version_headers_are_on_every_response() {
    let site = Site::start().await;
    for (path, version, status) in [
        ("/", None, StatusCode::OK),
        ("/v1/nodes/missing", Some("latest"), StatusCode::NOT_FOUND),
        ("/v1/nodes", Some("1.999"), StatusCode::NOT_ACCEPTABLE),
        ("/nodes", Some("1.1"), StatusCode::OK),
    ] {
        let answer = site.call("GET", path, version, None).await;
        assert_eq!(answer.status, status, "{path}");
        assert_eq!(
            answer.headers["x-openstack-ironic-api-minimum-version"],
            "1.1"
        );
        assert_eq!(
            answer.headers["x-openstack-ironic-api-maximum-version"],
            MAX_VERSION.to_string().as_str()
        );
        assert!(answer.headers.contains_key("openstack-request-id"));
        assert!(answer.headers.contains_key("x-openstack-request-id"));
    }
    let bad = site.call("GET", "/v1/nodes", Some("1.999"), None).await;
    assert!(common::fault(&bad.body).contains("minor version is not supported"));
    assert!(!bad.headers.contains_key("x-openstack-ironic-api-version"));
}

#[tokio::test]
async fn query_parameters_appear_at_their_version() {
    let site = Site::start().await;
    site.latest(
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "fake-hardware", "name": "qp"})),
    )
    .await;
    let table = [
        ("/v1/nodes?fields=uuid", 8),
        ("/v1/nodes?provision_state=enroll", 9),
        ("/v1/nodes?driver=fake-hardware", 16),
        ("/v1/nodes?resource_class=x", 21),
        ("/v1/nodes?fault=power%20failure", 42),
        ("/v1/nodes?conductor_group=x", 46),
        ("/v1/nodes?conductor=test-conductor", 49),
        ("/v1/nodes?owner=x", 50),
        ("/v1/nodes?lessee=x", 65),
        ("/v1/nodes/qp/bios?detail=true", 74),
        ("/v1/drivers?fields=name", 77),
        ("/v1/nodes?shard=a,b", 82),
        ("/v1/nodes?sharded=true", 82),
        ("/v1/ports?shard=a", 82),
        ("/v1/nodes?include_children=true", 83),
        ("/v1/ports?conductor_groups=g", 99),
        ("/v1/portgroups?conductor_groups=g", 99),
        ("/v1/portgroups?shard=a", 106),
        ("/v1/nodes?instance_name=x", 104),
    ];
    for (path, minor) in table {
        if minor > MAX_VERSION.1 {
            continue;
        }
        let old = site.call("GET", path, Some(&below(minor)), None).await;
        assert_eq!(
            old.status,
            StatusCode::NOT_ACCEPTABLE,
            "{path} below 1.{minor}"
        );
        let new = site.call("GET", path, Some(&at(minor)), None).await;
        assert_eq!(
            new.status,
            StatusCode::OK,
            "{path} at 1.{minor}: {:?}",
            new.body
        );
    }
}

#[tokio::test]
async fn the_v1_document_links_resources_from_their_version() {
    let site = Site::start().await;
    for (resource, minor) in [
        ("lookup", 22),
        ("portgroups", 23),
        ("volume", 32),
        ("conductors", 49),
        ("allocations", 52),
        ("deploy_templates", 55),
        ("shards", 82),
        ("continue_inspection", 84),
    ] {
        if minor > MAX_VERSION.1 {
            continue;
        }
        let old = site.call("GET", "/v1", Some(&below(minor)), None).await;
        assert!(
            old.body.get(resource).is_none(),
            "{resource} linked below 1.{minor}"
        );
        let new = site.call("GET", "/v1", Some(&at(minor)), None).await;
        assert!(
            new.body.get(resource).is_some(),
            "{resource} missing at 1.{minor}"
        );
    }
}
