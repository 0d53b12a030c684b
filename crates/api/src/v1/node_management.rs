//! Node management endpoints: boot device, NMI, maintenance, validation,
//! traits and VIFs.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrite_conductor::DriverCall;
use ferrite_model::ident::is_valid_trait;
use ferrite_model::{Node, Port};
use ferrite_store::{Filter, Ident, ListQuery};
use serde_json::{Value, json};

use super::node_ctx::NodeCtx;
use super::nodes::{busy, load};
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Obj, Params};

/// Most traits a node may carry (Ironic's limit).
const MAX_TRAITS: usize = 50;

/// `GET /v1/nodes/{node}/management/boot_device`.
pub async fn get_boot_device(NodeCtx { app, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    Ok(Json(
        app.conductor
            .call(node.uuid, DriverCall::GetBootDevice)
            .await?,
    ))
}

/// `GET /v1/nodes/{node}/management/boot_device/supported`.
pub async fn supported_boot_devices(NodeCtx { app, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    Ok(Json(
        app.conductor
            .call(node.uuid, DriverCall::SupportedBootDevices)
            .await?,
    ))
}

/// `PUT /v1/nodes/{node}/management/boot_device`.
pub async fn set_boot_device(
    NodeCtx { app, node, .. }: NodeCtx,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let params = Params::parse(query.as_deref());
    let obj = Obj::new("boot_device", &body)?;
    obj.only(&["boot_device", "persistent"])?;
    let device = obj.required_str("boot_device")?.to_string();
    let persistent = match obj.opt_bool("persistent")? {
        Some(p) => p,
        None => params.bool("persistent")?.unwrap_or(false),
    };
    app.conductor
        .call(node.uuid, DriverCall::SetBootDevice { device, persistent })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/nodes/{node}/management/inject_nmi` (1.29).
pub async fn inject_nmi(NodeCtx { app, version, node }: NodeCtx) -> ApiResult<StatusCode> {
    if !version.at_least(29) {
        return Err(ApiError::endpoint_not_found());
    }
    app.conductor.call(node.uuid, DriverCall::InjectNmi).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/nodes/{node}/maintenance`: unlike most changes this is allowed
/// while the node is locked, so an operator can always fence a node.
pub async fn set_maintenance(
    NodeCtx { app, node, .. }: NodeCtx,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    let params = Params::parse(query.as_deref());
    let reason = match &body {
        Value::Null => params.get("reason").map(str::to_string),
        other => {
            let obj = Obj::new("maintenance", other)?;
            obj.only(&["reason"])?;
            obj.opt_str("reason", 255)?
                .map(str::to_string)
                .or_else(|| params.get("reason").map(str::to_string))
        }
    };
    change_maintenance(&app, &node, true, reason).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `DELETE /v1/nodes/{node}/maintenance`.
pub async fn clear_maintenance(NodeCtx { app, node, .. }: NodeCtx) -> ApiResult<StatusCode> {
    change_maintenance(&app, &node, false, None).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn change_maintenance(
    app: &App,
    node: &Node,
    on: bool,
    reason: Option<String>,
) -> ApiResult<()> {
    app.store
        .update(
            &Ident::Uuid(node.uuid),
            move |node: &mut Node| -> ApiResult<()> {
                node.maintenance = on;
                node.maintenance_reason = reason;
                if !on {
                    node.fault = None;
                }
                Ok(())
            },
        )
        .await?;
    Ok(())
}

/// `GET /v1/nodes/{node}/validate`.
pub async fn validate(NodeCtx { app, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    Ok(Json(
        app.conductor.call(node.uuid, DriverCall::Validate).await?,
    ))
}

/// `GET /v1/nodes/validate?node=…` (or the older `node_uuid`).
pub async fn validate_by_query(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    let ident = params
        .get("node")
        .or_else(|| params.get("node_uuid"))
        .ok_or_else(|| ApiError::bad_request("The node parameter is required."))?;
    let node = load(&app, ident, version).await?;
    Ok(Json(
        app.conductor.call(node.uuid, DriverCall::Validate).await?,
    ))
}

fn traits_gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(37) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// Refuses a name that is not a trait (node and runbook traits alike).
pub(crate) fn check_trait(name: &str) -> ApiResult<()> {
    if is_valid_trait(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid trait {name}: a trait must be a standard trait name or CUSTOM_ followed by A-Z, 0-9 and _, at most 255 characters."
        )))
    }
}

/// Reads the body of a `PUT …/traits` that replaces a whole trait set
/// (nodes and runbooks): `{"traits": [<trait>, …]}`.
pub(crate) fn trait_list(body: &Value) -> ApiResult<Vec<String>> {
    let obj = Obj::new("traits", body)?;
    obj.only(&["traits"])?;
    let list = obj
        .map()
        .get("traits")
        .ok_or_else(|| obj.error("'traits' is a required property"))?;
    let Value::Array(items) = list else {
        return Err(obj.type_error(list, "array"));
    };
    let mut names = Vec::new();
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| obj.type_error(item, "string"))?;
        check_trait(name)?;
        names.push(name.to_string());
    }
    Ok(names)
}

/// Removes `name` from a trait set (a node's or a runbook's), 404 when
/// `owner` (as messages name it) does not have it.
pub(crate) fn drop_trait(traits: &mut Vec<String>, name: &str, owner: &str) -> ApiResult<()> {
    let before = traits.len();
    traits.retain(|t| t != name);
    if traits.len() == before {
        return Err(ApiError::not_found(format!(
            "{owner} doesn't have a trait {name}"
        )));
    }
    Ok(())
}

async fn change_traits<F>(app: &App, node: &Node, change: F) -> ApiResult<()>
where
    F: FnOnce(&mut Vec<String>) -> ApiResult<()> + Send + 'static,
{
    let hostname = app.conductor.hostname().to_string();
    app.store
        .update(
            &Ident::Uuid(node.uuid),
            move |node: &mut Node| -> ApiResult<()> {
                if let Some(locked) = busy(node, &hostname) {
                    return Err(locked);
                }
                change(&mut node.traits)?;
                node.traits.sort();
                node.traits.dedup();
                if node.traits.len() > MAX_TRAITS {
                    return Err(ApiError::bad_request(format!(
                        "A node may have at most {MAX_TRAITS} traits."
                    )));
                }
                Ok(())
            },
        )
        .await?;
    Ok(())
}

/// `GET /v1/nodes/{node}/traits`.
pub async fn list_traits(NodeCtx { version, node, .. }: NodeCtx) -> ApiResult<Json<Value>> {
    traits_gate(version)?;
    Ok(Json(json!({"traits": node.traits})))
}

/// `PUT /v1/nodes/{node}/traits`: replaces the whole set.
pub async fn set_traits(
    NodeCtx { app, version, node }: NodeCtx,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    traits_gate(version)?;
    let names = trait_list(&body)?;
    change_traits(&app, &node, move |traits| {
        *traits = names;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/nodes/{node}/traits/{trait}`: adds one.
pub async fn add_trait(
    NodeCtx { app, version, node }: NodeCtx,
    base: BaseUrl,
    Path((_, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    traits_gate(version)?;
    if !body.is_null() {
        return Err(ApiError::bad_request(
            "No body is allowed when adding a single trait.",
        ));
    }
    check_trait(&name)?;
    let added = name.clone();
    change_traits(&app, &node, move |traits| {
        traits.push(added);
        Ok(())
    })
    .await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&base.v1(&format!("nodes/{}/traits", node.uuid))) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// `DELETE /v1/nodes/{node}/traits`: removes all.
pub async fn clear_traits(NodeCtx { app, version, node }: NodeCtx) -> ApiResult<StatusCode> {
    traits_gate(version)?;
    change_traits(&app, &node, |traits| {
        traits.clear();
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/nodes/{node}/traits/{trait}`.
pub async fn remove_trait(
    NodeCtx { app, version, node }: NodeCtx,
    Path((_, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    traits_gate(version)?;
    let owner = format!("Node {}", node.uuid);
    change_traits(&app, &node, move |traits| drop_trait(traits, &name, &owner)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The port key Ironic keeps an attached VIF under.
const VIF_KEY: &str = "tenant_vif_port_id";

fn vifs_gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(28) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

async fn node_ports(app: &App, node: &Node) -> ApiResult<Vec<Port>> {
    let query = ListQuery {
        filters: vec![Filter::Eq("node_uuid".into(), json!(node.uuid))],
        ..ListQuery::default()
    };
    Ok(app.store.list::<Port>(&query).await?)
}

/// Nodes on the `noop` network interface accept VIFs and keep none, as
/// Ironic's noop interface does.
fn keeps_vifs(node: &Node) -> bool {
    node.network_interface.as_deref() != Some("noop")
}

/// `GET /v1/nodes/{node}/vifs` (1.28).
pub async fn list_vifs(NodeCtx { app, version, node }: NodeCtx) -> ApiResult<Json<Value>> {
    vifs_gate(version)?;
    let vifs: Vec<Value> = node_ports(&app, &node)
        .await?
        .iter()
        .filter_map(|p| p.internal_info.get(VIF_KEY).cloned())
        .map(|id| json!({"id": id}))
        .collect();
    Ok(Json(json!({"vifs": vifs})))
}

/// `POST /v1/nodes/{node}/vifs`: binds the VIF to a free port.
pub async fn attach_vif(
    NodeCtx { app, version, node }: NodeCtx,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    vifs_gate(version)?;
    let obj = Obj::new("vif", &body)?;
    let id = obj.required_str("id")?.to_string();
    if obj.has("port_uuid") || obj.has("portgroup_uuid") {
        if !version.at_least(67) {
            return Err(ApiError::not_acceptable(
                "port_uuid and portgroup_uuid require API version 1.67 or later.",
            ));
        }
        if obj.has("port_uuid") && obj.has("portgroup_uuid") {
            return Err(ApiError::bad_request(
                "port_uuid and portgroup_uuid are mutually exclusive.",
            ));
        }
    }
    let wanted_port = obj.opt_uuid("port_uuid")?;
    if let Some(locked) = busy(&node, app.conductor.hostname()) {
        return Err(locked);
    }
    if !keeps_vifs(&node) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let ports = node_ports(&app, &node).await?;
    if let Some(port) = ports
        .iter()
        .find(|p| p.internal_info.get(VIF_KEY).and_then(Value::as_str) == Some(id.as_str()))
    {
        return Err(ApiError::conflict(format!(
            "Unable to attach VIF {id}, it is already attached to port {}.",
            port.uuid
        )));
    }
    let free = ports
        .iter()
        .filter(|p| wanted_port.is_none_or(|w| p.uuid == w))
        .find(|p| !p.internal_info.contains_key(VIF_KEY))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unable to attach VIF {id}, not enough free physical ports."
            ))
        })?;
    let vif = id.clone();
    app.store
        .update(
            &Ident::Uuid(free.uuid),
            move |port: &mut Port| -> ApiResult<()> {
                if port.internal_info.contains_key(VIF_KEY) {
                    return Err(ApiError::conflict(format!(
                        "Unable to attach VIF {vif}: the port was taken concurrently; retry."
                    )));
                }
                port.internal_info.insert(VIF_KEY.into(), json!(vif));
                Ok(())
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/nodes/{node}/vifs/{vif}`.
pub async fn detach_vif(
    NodeCtx { app, version, node }: NodeCtx,
    Path((_, vif)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    vifs_gate(version)?;
    if let Some(locked) = busy(&node, app.conductor.hostname()) {
        return Err(locked);
    }
    if !keeps_vifs(&node) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let ports = node_ports(&app, &node).await?;
    let port = ports
        .iter()
        .find(|p| p.internal_info.get(VIF_KEY).and_then(Value::as_str) == Some(vif.as_str()))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unable to detach VIF {vif} from node {}: it is not attached.",
                node.uuid
            ))
        })?;
    app.store
        .update(
            &Ident::Uuid(port.uuid),
            |port: &mut Port| -> ApiResult<()> {
                port.internal_info.remove(VIF_KEY);
                Ok(())
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn indicators_gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(63) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// `GET /v1/nodes/{node}/management/indicators` (1.63).
pub async fn list_indicators(
    NodeCtx { app, version, node }: NodeCtx,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    indicators_gate(version)?;
    let mut answer = app
        .conductor
        .call(node.uuid, DriverCall::Indicators)
        .await?;
    if let Some(list) = answer.get_mut("indicators").and_then(Value::as_array_mut) {
        for indicator in list {
            let id = format!(
                "{}@{}",
                indicator["name"].as_str().unwrap_or(""),
                indicator["component"].as_str().unwrap_or("")
            );
            indicator["name"] = json!(id);
            indicator["links"] =
                base.links(&format!("nodes/{}/management/indicators/{id}", node.uuid));
        }
    }
    Ok(Json(answer))
}

/// `GET /v1/nodes/{node}/management/indicators/{name@component}` (1.63).
pub async fn get_indicator(
    NodeCtx { app, version, node }: NodeCtx,
    Path((_, indicator)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    indicators_gate(version)?;
    Ok(Json(
        app.conductor
            .call(node.uuid, DriverCall::GetIndicator { indicator })
            .await?,
    ))
}

/// `PUT /v1/nodes/{node}/management/indicators/{name@component}` (1.63).
pub async fn set_indicator(
    NodeCtx { app, version, node }: NodeCtx,
    Path((_, indicator)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    indicators_gate(version)?;
    let state = match &body {
        Value::Null => Params::parse(query.as_deref())
            .get("state")
            .map(str::to_string),
        other => {
            let obj = Obj::new("indicator", other)?;
            obj.only(&["state"])?;
            obj.opt_str("state", 16)?.map(str::to_string)
        }
    }
    .ok_or_else(|| ApiError::bad_request("The indicator state is required."))?;
    app.conductor
        .call(
            node.uuid,
            DriverCall::SetIndicator {
                indicator,
                state: state.to_ascii_uppercase(),
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
