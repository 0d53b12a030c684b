//! `/v1/nodes`: list, show, create, update (JSON Patch) and delete.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ferrite_conductor::ConductorApi;
use ferrite_model::fields::{NODE_FIELDS, find};
use ferrite_model::{Chassis, Node, ProvisionState};
use ferrite_store::{Filter, Ident, StoreError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::node_doc::StoredNode;
use super::node_schema::{
    CREATE_KEYS, INTERFACE_FIELDS, check_versions, initial_state, reset_interfaces, validate,
};
use super::node_view::{NodeOut, Shown, View, render};
use crate::App;
use crate::protocol::listing::parse_fields;
use crate::protocol::patch::{self, Op};
use crate::protocol::{
    ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, ListParams, Obj, Params,
};
use serde::Serialize;

/// Loads a node by name or UUID (names only from 1.5).
pub async fn load(app: &App, ident: &str, version: ApiVersion) -> ApiResult<Node> {
    let parsed = Ident::parse(ident);
    if matches!(parsed, Ident::Name(_)) && !version.at_least(5) {
        return Err(ApiError::not_found(format!(
            "Node {ident} could not be found."
        )));
    }
    Ok(app.store.get::<Node>(&parsed).await?)
}

/// The node filters of reference §1.7, each refused below its version.
fn filters(params: &Params, version: ApiVersion) -> ApiResult<Vec<Filter>> {
    let mut out = Vec::new();
    let eq = |k: &str, v: &str| Filter::Eq(k.to_string(), json!(v));
    if let Some(b) = params.bool("associated")? {
        out.push(Filter::IsNull("instance_uuid".into(), !b));
    }
    for key in ["maintenance", "retired"] {
        if let Some(b) = params.bool(key)? {
            out.push(Filter::Eq(key.into(), json!(b)));
        }
    }
    for (key, since) in [
        ("instance_uuid", 1),
        ("chassis_uuid", 1),
        ("driver", 16),
        ("resource_class", 21),
        ("fault", 42),
        ("owner", 50),
        ("lessee", 65),
        ("instance_name", 104),
    ] {
        params.gate(key, version, since)?;
        if let Some(v) = params.get(key) {
            out.push(eq(key, v));
        }
    }
    params.gate("provision_state", version, 9)?;
    if let Some(state) = params.get("provision_state") {
        state.parse::<ProvisionState>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid value for provision_state: '{state}' is not a valid state"
            ))
        })?;
        out.push(eq("provision_state", state));
    }
    params.gate("conductor_group", version, 46)?;
    if let Some(group) = params.get("conductor_group") {
        out.push(Filter::EqIgnoreCase(
            "conductor_group".into(),
            group.to_string(),
        ));
    }
    params.gate("conductor", version, 49)?;
    if let Some(text) = params.get("description_contains") {
        out.push(Filter::Contains("description".into(), text.to_string()));
    }
    if let Some(project) = params.get("project") {
        out.push(Filter::OwnerOrLessee(project.to_string()));
    }
    for key in ["shard", "sharded"] {
        params.gate(key, version, 82)?;
    }
    if let Some(shards) = params.get("shard") {
        out.push(Filter::In("shard".into(), list_values(shards)));
    }
    if let Some(sharded) = params.bool("sharded")? {
        out.push(Filter::IsNull("shard".into(), !sharded));
    }
    for key in ["include_children", "parent_node"] {
        params.gate(key, version, 83)?;
    }
    match params.get("parent_node") {
        Some(parent) => {
            let uuid = Uuid::parse_str(parent).map_err(|_| {
                ApiError::bad_request(format!("Invalid UUID for parent_node: '{parent}'"))
            })?;
            out.push(Filter::Eq("parent_node".into(), json!(uuid)));
        }
        // From 1.83 child nodes are listed only when asked for.
        None if version.at_least(83) && params.bool("include_children")? != Some(true) => {
            out.push(Filter::IsNull("parent_node".into(), true));
        }
        None => {}
    }
    Ok(out)
}

/// The values of a comma-separated list parameter (`shard=a,b`).
pub fn list_values(raw: &str) -> Vec<Value> {
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| json!(v))
        .collect()
}

/// Lists nodes, optionally restricted (e.g. to a chassis), with the
/// projection implied by `detail_path` (`/detail`) or the parameters.
pub async fn list_nodes(
    app: &App,
    version: ApiVersion,
    base: &BaseUrl,
    query: Option<&str>,
    mut scope: Vec<Filter>,
    resource_path: &str,
    detail_path: bool,
) -> ApiResult<Response> {
    let params = Params::parse(query);
    let list = ListParams::parse(&params, NODE_FIELDS, version)?;
    if detail_path && list.fields.is_some() {
        return Err(ApiError::bad_request(
            "Can not specify fields in /detail requests.",
        ));
    }
    scope.extend(filters(&params, version)?);
    let text = app.store.list_json::<Node>(&list.query(scope)).await?;
    let nodes: Vec<StoredNode<'_>> =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("node page: {e}")))?;
    let mut nodes: Vec<(StoredNode<'_>, Option<String>)> = nodes
        .into_iter()
        .map(|n| {
            let owner = Uuid::parse_str(&n.uuid)
                .ok()
                .and_then(|uuid| app.conductor.owner(uuid, &n.group()));
            (n, owner)
        })
        .collect();
    // `?conductor=` selects by owner, which the ring computes rather than
    // the store keeps: filtered here, so such a page may come up short.
    if let Some(host) = params.get("conductor") {
        nodes.retain(|(_, owner)| owner.as_deref() == Some(host));
    }
    let view = match (&list.fields, detail_path || list.detail) {
        (Some(fields), _) => View::Only(fields),
        (None, true) => View::Detail,
        (None, false) => View::Summary,
    };
    let last = nodes.last().map(|(n, _)| n.uuid.to_string());
    let next = if params.get("instance_uuid").is_none() {
        list.next_link(
            base,
            resource_path,
            &params,
            &[
                "sort_key",
                "sort_dir",
                "associated",
                "maintenance",
                "retired",
                "detail",
                "fields",
                "provision_state",
                "driver",
            ],
            nodes.len(),
            last.as_deref(),
        )
    } else {
        None
    };
    let shown = Shown::new(version, view);
    let page = NodePage {
        nodes: nodes
            .iter()
            .map(|(node, owner)| NodeOut {
                node,
                shown: &shown,
                base,
                conductor: owner.as_deref(),
            })
            .collect(),
        next,
    };
    // About 1.5 KB a node in full: one allocation instead of regrowing.
    let mut bytes = Vec::with_capacity(256 + page.nodes.len() * 1536);
    serde_json::to_writer(&mut bytes, &page)
        .map_err(|e| ApiError::bad_request(format!("The nodes could not be encoded: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// One page of nodes, serialized straight into the response body.
#[derive(Serialize)]
struct NodePage<'a> {
    nodes: Vec<NodeOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `GET /v1/nodes` and (`DETAIL`) `GET /v1/nodes/detail`.
pub async fn list<const DETAIL: bool>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let resource = if DETAIL { "nodes/detail" } else { "nodes" };
    list_nodes(
        &app,
        version,
        &base,
        query.as_deref(),
        Vec::new(),
        resource,
        DETAIL,
    )
    .await
}

/// `GET /v1/nodes/{node}`.
pub async fn show(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    params.gate("fields", version, 8)?;
    let fields = params
        .get("fields")
        .map(|raw| parse_fields(raw, NODE_FIELDS, version))
        .transpose()?;
    let node = load(&app, &ident, version).await?;
    let view = fields.as_deref().map_or(View::Full, View::Only);
    Ok(Json(render(
        &node,
        version,
        &base,
        app.conductor
            .owner(node.uuid, &node.conductor_group)
            .as_deref(),
        view,
    )))
}

/// Refuses a node in a conductor group no live conductor serves: nothing
/// would ever work on it (400, as Ironic's "No valid host").
fn check_group(conductor: &dyn ConductorApi, node: &Node) -> ApiResult<()> {
    if conductor.serves_group(&node.conductor_group) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "No valid host was found. Reason: No conductor service registered which supports \
         driver {} for conductor group \"{}\".",
        node.driver, node.conductor_group
    )))
}

/// Checks that a referenced chassis exists (400 when not, as Ironic does).
async fn check_chassis(app: &App, chassis: Option<Uuid>) -> ApiResult<()> {
    if let Some(uuid) = chassis {
        app.store
            .get::<Chassis>(&Ident::Uuid(uuid))
            .await
            .map_err(|_| ApiError::bad_request(format!("Chassis {uuid} could not be found.")))?;
    }
    Ok(())
}

/// A node whose `instance_info.display_name` is set by a patch takes it as
/// its `instance_name` when it has none (Nova sets the display name; the
/// field of 1.104 makes it queryable). An explicit name is never replaced.
fn name_instance_from_display_name(node: &mut Node, ops: &[patch::PatchOp]) {
    if node.instance_name.is_some() || !ops.iter().any(|op| op.root() == "instance_info") {
        return;
    }
    if let Some(Value::String(name)) = node.instance_info.get("display_name") {
        node.instance_name = Some(name.clone());
    }
}

/// The UUID a patch sets `field` to (`Some(None)` when the value is not a
/// UUID; validation refuses it later), or `None` when it does not set it.
fn patched_uuid(ops: &[patch::PatchOp], field: &str) -> Option<Option<Uuid>> {
    ops.iter()
        .find(|op| op.root() == field && op.op != Op::Remove)
        .map(|op| {
            op.value
                .as_ref()
                .and_then(Value::as_str)
                .and_then(ferrite_model::ident::parse_uuid)
        })
}

/// Checks that a named parent node exists and is not the node itself (400
/// otherwise, as for a missing chassis).
async fn check_parent(app: &App, node: Uuid, parent: Option<Uuid>) -> ApiResult<()> {
    let Some(parent) = parent else {
        return Ok(());
    };
    if parent == node {
        return Err(ApiError::bad_request(format!(
            "Node {node} cannot be its own parent_node."
        )));
    }
    app.store
        .get::<Node>(&Ident::Uuid(parent))
        .await
        .map_err(|_| ApiError::bad_request(format!("Node {parent} could not be found.")))?;
    Ok(())
}

/// `POST /v1/nodes`.
pub async fn create(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let obj = Obj::new("node", &body)?;
    obj.only(CREATE_KEYS)?;
    check_versions(obj.map().keys(), version)?;
    let mut map = match serde_json::to_value(Node::default()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (k, v) in obj.map() {
        map.insert(k.clone(), v.clone());
    }
    let uuid = match obj.opt_uuid("uuid")? {
        Some(u) => u,
        None => Uuid::new_v4(),
    };
    map.insert("uuid".into(), json!(uuid));
    let mut node = validate(map, app.conductor.hardware_types())?;
    check_group(app.conductor.as_ref(), &node)?;
    check_chassis(&app, node.chassis_uuid).await?;
    check_parent(&app, node.uuid, node.parent_node).await?;
    let now = Utc::now();
    node.created_at = now;
    node.updated_at = None;
    node.provision_state = initial_state(version);
    let node = app.store.insert(node).await?;
    let owner = app.conductor.owner(node.uuid, &node.conductor_group);
    let shown = render(&node, version, &base, owner.as_deref(), View::Full);
    created(&base, &format!("nodes/{}", node.uuid), shown)
}

/// A 201 with `Location` and the new resource as body.
pub fn created(base: &BaseUrl, path: &str, body: Value) -> ApiResult<Response> {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&base.v1(path)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(body)).into_response())
}

/// Whether an operator request must wait for the conductor: the node's lock
/// is held or accepted work is still pending.
pub fn busy(node: &Node, hostname: &str) -> Option<ApiError> {
    if let Some(holder) = &node.reservation {
        return Some(ApiError::node_locked(node.uuid, holder));
    }
    node.intent
        .as_ref()
        .map(|_| ApiError::node_locked(node.uuid, hostname))
}

/// `PATCH /v1/nodes/{node}`.
pub async fn update(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    params.gate("reset_interfaces", version, 45)?;
    let reset = params.bool("reset_interfaces")?.unwrap_or(false);
    let ops = patch::parse(&body)?;
    for op in &ops {
        let spec = find(NODE_FIELDS, op.root()).ok_or_else(|| {
            ApiError::bad_request(format!("Cannot patch {}: there is no such field.", op.path))
        })?;
        crate::protocol::listing::check_version(spec, version)?;
        if !spec.patch {
            return Err(ApiError::bad_request(format!(
                "Cannot patch {}: the field is read-only.",
                op.path
            )));
        }
    }
    let driver_changes = ops.iter().any(|op| op.root() == "driver");
    if reset && !driver_changes {
        return Err(ApiError::bad_request(
            "The reset_interfaces parameter can be provided only when changing the node's driver.",
        ));
    }
    let node = load(&app, &ident, version).await?;
    if let Some(target) = patched_uuid(&ops, "chassis_uuid") {
        check_chassis(&app, target).await?;
    }
    if let Some(target) = patched_uuid(&ops, "parent_node") {
        check_parent(&app, node.uuid, target).await?;
    }
    let types = app.conductor.hardware_types().to_vec();
    let hostname = app.conductor.hostname().to_string();
    let conductor = app.conductor.clone();
    let (updated, ()) = app
        .store
        .update(&Ident::Uuid(node.uuid), move |node: &mut Node| -> ApiResult<()> {
            let only_unassign = ops.len() == 1 && ops[0].op == Op::Remove && ops[0].path == "/instance_uuid";
            if !(only_unassign && node.maintenance) {
                if let Some(locked) = busy(node, &hostname) {
                    return Err(locked);
                }
                if node.target_provision_state.is_some() && !node.provision_state.allows_update_in_transition() {
                    return Err(ApiError::conflict(format!(
                        "Node {} can not be updated while a state transition is in progress.",
                        node.uuid
                    )));
                }
            }
            if node.provision_state == ProvisionState::Inspecting && version.at_least(39) {
                return Err(ApiError::conflict(format!("Node {} can not be updated while it is being inspected.", node.uuid)));
            }
            if driver_changes && node.console_enabled {
                return Err(ApiError::conflict(format!(
                    "Node {} can not update the driver while the console is enabled. Please stop the console first.",
                    node.uuid
                )));
            }
            let Ok(Value::Object(mut doc)) = serde_json::to_value(&*node) else {
                return Err(ApiError::bad_request("The node could not be read for patching."));
            };
            let Ok(Value::Object(defaults)) = serde_json::to_value(Node::default()) else {
                return Err(ApiError::bad_request("The node defaults could not be computed."));
            };
            patch::apply(&mut doc, &ops, &defaults)?;
            if reset {
                let kept: Vec<&str> = INTERFACE_FIELDS
                    .iter()
                    .map(|(k, _)| *k)
                    .filter(|k| ops.iter().any(|op| op.root() == *k))
                    .collect();
                reset_interfaces(&mut doc, &kept);
            }
            let mut patched = validate(doc, &types)?;
            if patched.conductor_group != node.conductor_group {
                check_group(conductor.as_ref(), &patched)?;
            }
            name_instance_from_display_name(&mut patched, &ops);
            if patched.uuid != node.uuid {
                return Err(ApiError::bad_request("The uuid of a node cannot be changed."));
            }
            if !patched.maintenance {
                patched.maintenance_reason = None;
                patched.fault = None;
            }
            if patched.protected && !node.protected && node.provision_state != ProvisionState::Active {
                return Err(ApiError::conflict(format!(
                    "Node {} can only be made protected in provision state active, not \"{}\".",
                    node.uuid, node.provision_state
                )));
            }
            if patched.retired && !node.retired && node.provision_state == ProvisionState::Available {
                return Err(ApiError::conflict(format!(
                    "Cannot set retired=True on node {} while it is in state \"available\"; manage it first.",
                    node.uuid
                )));
            }
            if !patched.retired {
                if patched.retired_reason.is_some() && ops.iter().any(|op| op.root() == "retired_reason") {
                    return Err(ApiError::bad_request("Cannot set retired_reason without setting retired to true."));
                }
                patched.retired_reason = None;
            }
            if !patched.protected {
                if patched.protected_reason.is_some() && ops.iter().any(|op| op.root() == "protected_reason") {
                    return Err(ApiError::bad_request("Cannot set protected_reason without setting protected to true."));
                }
                patched.protected_reason = None;
            }
            *node = patched;
            Ok(())
        })
        .await?;
    Ok(Json(render(
        &updated,
        version,
        &base,
        app.conductor
            .owner(updated.uuid, &updated.conductor_group)
            .as_deref(),
        View::Full,
    )))
}

/// `DELETE /v1/nodes/{node}`.
pub async fn delete(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
) -> ApiResult<StatusCode> {
    let node = load(&app, &ident, version).await?;
    if let Some(locked) = busy(&node, app.conductor.hostname()) {
        return Err(locked);
    }
    if node.protected {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Node {} is protected and cannot be undeployed, rebuilt or deleted",
                node.uuid
            ),
        ));
    }
    if !node.maintenance {
        if let Some(instance) = node.instance_uuid {
            return Err(ApiError::conflict(format!(
                "Node {} is associated with instance {instance}.",
                node.uuid
            )));
        }
        if !node.provision_state.allows_delete() {
            return Err(ApiError::conflict(format!(
                "Can not delete node \"{}\" while it is in provision state \"{}\". Valid provision states to start deletion are: available, enroll, manageable, adopt failed",
                node.uuid, node.provision_state
            )));
        }
    }
    app.store.delete::<Node>(node.uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
