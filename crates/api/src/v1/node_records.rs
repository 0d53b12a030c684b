//! Node sub-resources that report rather than change: the inspection
//! inventory (1.81), child nodes (1.83), firmware components (1.86), and
//! virtual media (attach/detach 1.89, read 1.93), plus `/v1/shards` (1.82).

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use ferrite_conductor::{DriverCall, VIRTUAL_MEDIA_KEY};
use ferrite_model::{FirmwareComponent, Node, NodeInventory};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::{Map, Value, json};

use super::node_ctx::NodeCtx;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Obj, Params};

fn gate(version: ApiVersion, since: u32) -> ApiResult<()> {
    if version.at_least(since) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

fn of_node(node: &Node) -> ListQuery {
    ListQuery {
        filters: vec![Filter::Eq("node_uuid".into(), json!(node.uuid))],
        ..ListQuery::default()
    }
}

/// `GET /v1/nodes/{node}/inventory`: `{inventory, plugin_data}` as the
/// last inspection stored them; 404 when the node was never inspected.
pub async fn inventory(NodeCtx { app, version, node }: NodeCtx) -> ApiResult<Json<Value>> {
    gate(version, 81)?;
    match app
        .store
        .get::<NodeInventory>(&Ident::Uuid(node.uuid))
        .await
    {
        Ok(record) => Ok(Json(json!({
            "inventory": record.inventory,
            "plugin_data": record.plugin_data,
        }))),
        Err(StoreError::NotFound { .. }) => Err(ApiError::not_found(format!(
            "Node {} inventory could not be found.",
            node.uuid
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/nodes/{node}/children`: the UUIDs of nodes whose
/// `parent_node` is this node.
pub async fn children(
    NodeCtx { app, version, node }: NodeCtx,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    gate(version, 83)?;
    let query = ListQuery {
        filters: vec![Filter::Eq("parent_node".into(), json!(node.uuid))],
        ..ListQuery::default()
    };
    let kids: Vec<Node> = app.store.list(&query).await?;
    let uuids: Vec<Value> = kids.iter().map(|n| json!(n.uuid)).collect();
    Ok(Json(json!({
        "children": uuids,
        "links": base.links(&format!("nodes/{}/children", node.uuid)),
    })))
}

/// `GET /v1/nodes/{node}/firmware`: the components the firmware interface
/// last read (empty until it has read any).
pub async fn firmware(NodeCtx { app, version, node }: NodeCtx) -> ApiResult<Json<Value>> {
    gate(version, 86)?;
    let components: Vec<FirmwareComponent> = app.store.list(&of_node(&node)).await?;
    let shown: Vec<Value> = components
        .iter()
        .map(|c| {
            let mut item = Map::new();
            item.insert("component".into(), json!(c.component));
            item.insert("initial_version".into(), json!(c.initial_version));
            item.insert("current_version".into(), json!(c.current_version));
            item.insert("last_version_flashed".into(), json!(c.last_version_flashed));
            item.insert("created_at".into(), json!(c.created_at));
            item.insert("updated_at".into(), json!(c.updated_at));
            if version.at_least(114) {
                item.insert("vendor".into(), json!(c.vendor));
                item.insert("model".into(), json!(c.model));
                item.insert("serial_number".into(), json!(c.serial_number));
            }
            super::resource::ironic_times(&mut item);
            Value::Object(item)
        })
        .collect();
    Ok(Json(json!({ "firmware": shown })))
}

/// The virtual drives a client may name.
const DEVICE_TYPES: &[&str] = &["cdrom", "disk", "floppy"];
/// Where the image may come from.
const IMAGE_SOURCES: &[&str] = &["http", "local", "swift"];

/// `POST /v1/nodes/{node}/vmedia` `{device_type, image_url,
/// image_download_source?}`: inserts the image; 204 once the BMC has it.
pub async fn attach_vmedia(
    NodeCtx { app, version, node }: NodeCtx,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    gate(version, 89)?;
    let obj = Obj::new("vmedia", &body)?;
    obj.only(&["device_type", "image_url", "image_download_source"])?;
    let device_type = obj.required_str("device_type")?;
    if !DEVICE_TYPES.contains(&device_type) {
        return Err(ApiError::bad_request(format!(
            "Invalid device_type '{device_type}'; valid types are: {}.",
            DEVICE_TYPES.join(", ")
        )));
    }
    let image_url = obj.required_str("image_url")?;
    let scheme_ok = ["http://", "https://", "nfs://", "cifs://"]
        .iter()
        .any(|scheme| image_url.starts_with(scheme));
    if !scheme_ok {
        return Err(ApiError::bad_request(format!(
            "Invalid image_url '{image_url}': only http, https, nfs and cifs URLs are supported."
        )));
    }
    if let Some(source) = obj.opt_str("image_download_source", 16)?
        && !IMAGE_SOURCES.contains(&source)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid image_download_source '{source}'; valid sources are: {}.",
            IMAGE_SOURCES.join(", ")
        )));
    }
    let call = DriverCall::AttachVirtualMedia {
        device_type: device_type.to_string(),
        image_url: image_url.to_string(),
    };
    app.conductor.call(node.uuid, call).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/nodes/{node}/vmedia[?device_types=a,b]`: ejects those
/// drives' media (all when none named).
pub async fn detach_vmedia(
    NodeCtx { app, version, node }: NodeCtx,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    gate(version, 89)?;
    let params = Params::parse(query.as_deref());
    let device_types: Vec<String> = params
        .get("device_types")
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = device_types
        .iter()
        .find(|t| !DEVICE_TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid device_type '{bad}'; valid types are: {}.",
            DEVICE_TYPES.join(", ")
        )));
    }
    let call = DriverCall::DetachVirtualMedia { device_types };
    app.conductor.call(node.uuid, call).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/nodes/{node}/vmedia`: `{"vmedia": [{device_type, image_url,
/// inserted}]}` for the media attached through this API.
pub async fn get_vmedia(NodeCtx { version, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    gate(version, 93)?;
    let attached = node
        .driver_internal_info
        .get(VIRTUAL_MEDIA_KEY)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let media: Vec<Value> = attached
        .iter()
        .map(|(kind, url)| json!({"device_type": kind, "image_url": url, "inserted": true}))
        .collect();
    Ok(Json(json!({ "vmedia": media })))
}

/// `GET /v1/shards`: `{"shards": [{name, count}]}`, the nodes per shard
/// (nodes without a shard counted under `null`).
pub async fn shards(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    gate(version, 82)?;
    let groups = app
        .store
        .count_by::<Node>("shard", &ListQuery::default())
        .await?;
    let shown: Vec<Value> = groups
        .into_iter()
        .map(|(name, count)| json!({"name": name, "count": count}))
        .collect();
    Ok(Json(json!({ "shards": shown })))
}
