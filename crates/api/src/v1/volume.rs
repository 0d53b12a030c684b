//! `/v1/volume` (1.32): volume connectors and targets for boot from volume,
//! and the node's `/volume` view of them.

use axum::Json;
use axum::extract::{Extension, Path, State};
use ferrite_model::fields::{
    FieldSpec, VOLUME_CONNECTOR_DEFAULT_LIST, VOLUME_CONNECTOR_FIELDS, VOLUME_TARGET_DEFAULT_LIST,
    VOLUME_TARGET_FIELDS,
};
use ferrite_model::{Node, PowerState, VolumeConnector, VolumeTarget};
use ferrite_store::Filter;
use serde_json::{Map, Value, json};

use super::crud::{Change, Resource, node_exists, node_filter};
use super::nodes::load as load_node;
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, Params};

/// Connector types Ironic knows.
const CONNECTOR_TYPES: &[&str] = &["iqn", "ip", "mac", "wwnn", "wwpn", "port", "portgroup"];

fn gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(32) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// Volume changes need the node powered off (targets: or not deployed).
fn check_node_for_change(node: &Node, what: &str, targets: bool) -> ApiResult<()> {
    let off = node.power_state == Some(PowerState::Off);
    if off || (targets && node.provision_state.allows_delete()) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "The {what} of node {} can only be changed while the node is powered off.",
        node.uuid
    )))
}

impl Resource for VolumeConnector {
    const WHAT: &'static str = "volume connector";
    const PLURAL: &'static str = "connectors";
    const COLLECTION: &'static str = "volume/connectors";
    const FIELDS: &'static [FieldSpec] = VOLUME_CONNECTOR_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = VOLUME_CONNECTOR_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] =
        &["node_uuid", "type", "connector_id", "extra", "uuid"];
    const SINCE: u32 = 32;
    const DETAIL_SINCE: u32 = 32;

    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new("volume connector", map);
        doc.uuid("node_uuid", true)?;
        let kind = doc.string("type", 32, true)?.unwrap_or_default();
        if !CONNECTOR_TYPES.contains(&kind.as_str()) {
            return Err(doc.error(format!(
                "'{kind}' is not one of {CONNECTOR_TYPES:?} for 'type'"
            )));
        }
        doc.string("connector_id", 255, true)?;
        doc.dict("extra")?;
        doc.decode()
    }

    async fn check_refs(app: &App, connector: &Self) -> ApiResult<()> {
        node_exists(app, connector.node_uuid).await.map(|_| ())
    }

    async fn filters(app: &App, params: &Params, version: ApiVersion) -> ApiResult<Vec<Filter>> {
        node_filter(app, params, version).await
    }

    async fn before_change(app: &App, connector: &Self, change: Change) -> ApiResult<()> {
        if change == Change::Create {
            return Ok(());
        }
        let node = node_exists(app, connector.node_uuid).await?;
        check_node_for_change(&node, "volume connectors", false)
    }
}

impl Resource for VolumeTarget {
    const WHAT: &'static str = "volume target";
    const PLURAL: &'static str = "targets";
    const COLLECTION: &'static str = "volume/targets";
    const FIELDS: &'static [FieldSpec] = VOLUME_TARGET_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = VOLUME_TARGET_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &[
        "node_uuid",
        "volume_type",
        "volume_id",
        "boot_index",
        "properties",
        "extra",
        "uuid",
    ];
    const SINCE: u32 = 32;
    const DETAIL_SINCE: u32 = 32;

    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new("volume target", map);
        doc.uuid("node_uuid", true)?;
        doc.string("volume_type", 64, true)?;
        doc.string("volume_id", 255, true)?;
        doc.integer("boot_index", true)?;
        doc.dict("properties")?;
        doc.dict("extra")?;
        doc.decode()
    }

    async fn check_refs(app: &App, target: &Self) -> ApiResult<()> {
        node_exists(app, target.node_uuid).await.map(|_| ())
    }

    async fn filters(app: &App, params: &Params, version: ApiVersion) -> ApiResult<Vec<Filter>> {
        node_filter(app, params, version).await
    }

    async fn before_change(app: &App, target: &Self, change: Change) -> ApiResult<()> {
        if change == Change::Create {
            return Ok(());
        }
        let node = node_exists(app, target.node_uuid).await?;
        check_node_for_change(&node, "volume targets", true)
    }
}

fn volume_links(base: &BaseUrl, prefix: &str) -> Value {
    json!({
        "links": base.links(prefix),
        "connectors": base.links(&format!("{prefix}/connectors")),
        "targets": base.links(&format!("{prefix}/targets")),
    })
}

/// `GET /v1/volume`.
pub async fn root(
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    Ok(Json(volume_links(&base, "volume")))
}

/// `GET /v1/nodes/{node}/volume`.
pub async fn of_node(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    let node = load_node(&app, &ident, version).await?;
    Ok(Json(volume_links(
        &base,
        &format!("nodes/{}/volume", node.uuid),
    )))
}
