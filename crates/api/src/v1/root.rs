//! `GET /` and `GET /v1`: the documents clients read to discover versions
//! (IPA and ironicclient read `default_version.version`).

use axum::Json;
use axum::extract::Extension;
use ferrite_model::MIN_VERSION;
use serde_json::{Map, Value, json};

use crate::protocol::version::MaxVersion;
use crate::protocol::{ApiVersion, BaseUrl};

fn version_document(base: &BaseUrl, MaxVersion(max): MaxVersion) -> Value {
    json!({
        "id": "v1",
        "links": [{"href": format!("{}/v1/", base.0), "rel": "self"}],
        "status": "CURRENT",
        "min_version": MIN_VERSION.to_string(),
        "version": max.to_string(),
    })
}

/// `GET /`.
pub async fn root(base: BaseUrl, Extension(max): Extension<MaxVersion>) -> Json<Value> {
    let version = version_document(&base, max);
    Json(json!({
        "name": "OpenStack Ironic API",
        "description": "Ferrite serves the OpenStack Bare Metal (Ironic) API v1 for provisioning physical servers.",
        "default_version": version,
        "versions": [version],
    }))
}

/// `GET /v1`.
pub async fn v1(
    base: BaseUrl,
    Extension(version): Extension<ApiVersion>,
    Extension(max): Extension<MaxVersion>,
) -> Json<Value> {
    let mut doc = Map::new();
    doc.insert("id".into(), json!("v1"));
    doc.insert(
        "links".into(),
        json!([
            {"href": format!("{}/v1/", base.0), "rel": "self"},
            {"href": "https://docs.openstack.org//ironic/latest/contributor//webapi.html", "rel": "describedby", "type": "text/html"},
        ]),
    );
    doc.insert(
        "media_types".into(),
        json!({"base": "application/json", "type": "application/vnd.openstack.ironic.v1+json"}),
    );
    for (resource, since) in [
        ("chassis", 1),
        ("nodes", 1),
        ("ports", 1),
        ("drivers", 1),
        ("lookup", 22),
        ("heartbeat", 22),
        ("portgroups", 23),
        ("volume", 32),
        ("conductors", 49),
        ("allocations", 52),
        ("events", 54),
        ("deploy_templates", 55),
        ("shards", 82),
        ("continue_inspection", 84),
        ("runbooks", 92),
        ("inspection_rules", 96),
    ] {
        if version.at_least(since) {
            doc.insert(resource.into(), resource_links(&base, resource));
        }
    }
    doc.insert("version".into(), version_document(&base, max));
    Json(Value::Object(doc))
}

fn resource_links(base: &BaseUrl, resource: &str) -> Value {
    json!([
        {"href": format!("{}/v1/{resource}/", base.0), "rel": "self"},
        {"href": format!("{}/{resource}/", base.0), "rel": "bookmark"},
    ])
}
