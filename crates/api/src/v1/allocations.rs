//! `/v1/allocations` (1.52) and `/v1/nodes/{node}/allocation`: asking for a
//! node by resource class and traits, and letting the conductor pick one.
//!
//! Listing, showing and patching reuse the generic handlers of
//! [`super::crud`]; creating and deleting are written here because an
//! allocation reaches into a node: creation hands the allocation to the
//! conductor (or, for a backfill, binds a deployed node at once) and
//! deletion releases the node in the same store transaction that checks the
//! node may let go of it.

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use ferrite_model::allocation::{ALLOCATION_DEFAULT_LIST, ALLOCATION_FIELDS, release_node};
use ferrite_model::fields::{FieldSpec, find};
use ferrite_model::ident::{is_valid_name, is_valid_trait, parse_uuid};
use ferrite_model::{Allocation, AllocationState, Node};
use ferrite_store::{Filter, Ident, ListQuery, StoreError};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::crud::{self, Resource};
use super::nodes::{busy, created};
use super::schema::Doc;
use crate::App;
use crate::protocol::body::show;
use crate::protocol::listing::{check_version, parse_fields};
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Obj, Params};

/// How messages name the resource ("Schema error for allocation: …").
const WHAT: &str = "allocation";

/// The microversion of the allocation API.
const SINCE: u32 = 52;
/// PATCH of allocations.
const PATCH_SINCE: u32 = 57;
/// Creating an allocation for a given (deployed) node.
const BACKFILL_SINCE: u32 = 58;

/// Keys accepted by `POST /v1/allocations`.
const CREATE_KEYS: &[&str] = &[
    "resource_class",
    "traits",
    "candidate_nodes",
    "name",
    "uuid",
    "extra",
    "owner",
    "node",
];

/// The pattern Ironic's schema checks custom traits against; quoted in the
/// message so clients that look for "does not match" find it.
const CUSTOM_TRAIT_PATTERN: &str = "^CUSTOM_[A-Z0-9_]+$";

impl Resource for Allocation {
    const WHAT: &'static str = WHAT;
    const PLURAL: &'static str = "allocations";
    const COLLECTION: &'static str = "allocations";
    const FIELDS: &'static [FieldSpec] = ALLOCATION_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = ALLOCATION_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = CREATE_KEYS;
    const SINCE: u32 = SINCE;
    const NAMES_SINCE: Option<u32> = Some(SINCE);

    /// Checks a stored-form document (candidate nodes already UUIDs); PATCH
    /// re-validates through here, hence the update wording for names.
    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new(WHAT, map);
        doc.uuid("uuid", true)?;
        check_types(&mut doc)?;
        if let Some(Value::String(name)) = doc.map.get("name")
            && !is_valid_name(name)
        {
            return Err(ApiError::bad_request(format!(
                "Cannot update allocation with invalid name '{name}'"
            )));
        }
        for value in strings(&doc, "candidate_nodes")? {
            if parse_uuid(&value).is_none() {
                return Err(super::schema::expected_uuid(
                    "candidate_nodes",
                    &Value::String(value),
                ));
            }
        }
        doc.decode()
    }

    async fn check_refs(_app: &App, _doc: &Self) -> ApiResult<()> {
        Ok(())
    }

    /// `node` (a name or UUID; an unknown node is a 400, as in Ironic),
    /// `resource_class`, `state` and, from 1.60, `owner`.
    async fn filters(app: &App, params: &Params, version: ApiVersion) -> ApiResult<Vec<Filter>> {
        let mut out = Vec::new();
        if let Some(ident) = params.get("node") {
            let node = referenced_node(app, ident, version).await?;
            out.push(Filter::Eq("node_uuid".into(), json!(node.uuid)));
        }
        for key in ["resource_class", "state"] {
            if let Some(value) = params.get(key) {
                out.push(Filter::Eq(key.into(), json!(value)));
            }
        }
        params.gate("owner", version, 60)?;
        if let Some(owner) = params.get("owner") {
            out.push(Filter::Eq("owner".into(), json!(owner)));
        }
        Ok(out)
    }
}

/// The routes of this resource, relative to `/v1`. There is no `/detail`
/// sub-path: lists already show every field, as Ironic's do.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/allocations", get(list).post(create))
        .route(
            "/allocations/{id}",
            get(crud::show::<Allocation>).patch(update).delete(delete),
        )
        .route(
            "/nodes/{node}/allocation",
            get(show_of_node).delete(delete_of_node),
        )
}

/// Below 1.52 Ironic answers 404 to reads and 405 to writes of allocations.
fn gate_write(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(SINCE) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The API version does not allow allocations",
        ))
    }
}

/// `/v1/nodes/{node}/allocation` is absent (404) below 1.52.
fn gate_node_scoped(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(SINCE) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// The strings of a list field; null or absent is the empty list.
fn strings(doc: &Doc<'_>, key: &str) -> ApiResult<Vec<String>> {
    match doc.map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(doc.error(format!(
                    "{} is not of type 'string' for '{key}'",
                    show(other)
                ))),
            })
            .collect(),
        Some(other) => Err(doc.error(format!(
            "{} is not of type 'array' for '{key}'",
            show(other)
        ))),
    }
}

/// The type and format checks shared by create and PATCH: lengths, the
/// trait pattern, lists of strings, `extra` an object. Nulls become the
/// field's empty value.
fn check_types(doc: &mut Doc<'_>) -> ApiResult<()> {
    doc.string("name", 255, false)?;
    doc.string("resource_class", 80, false)?;
    doc.string("owner", 255, false)?;
    doc.dict("extra")?;
    let traits = strings(doc, "traits")?;
    if let Some(bad) = traits.iter().find(|t| !is_valid_trait(t)) {
        return Err(doc.error(format!(
            "'{bad}' does not match '{CUSTOM_TRAIT_PATTERN}' and is not a standard trait for \
             'traits'"
        )));
    }
    doc.map.insert("traits".into(), json!(traits));
    let candidates = strings(doc, "candidate_nodes")?;
    doc.map.insert("candidate_nodes".into(), json!(candidates));
    Ok(())
}

/// A node named by a query parameter or body field; unknown is a 400
/// (the request is wrong, not the URL).
async fn referenced_node(app: &App, ident: &str, version: ApiVersion) -> ApiResult<Node> {
    match super::nodes::load(app, ident, version).await {
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(ApiError::bad_request(e.message)),
        other => other,
    }
}

/// Resolves candidate node names or UUIDs to UUIDs, keeping their order;
/// all unknown ones are named in one 400.
async fn resolve_candidates(app: &App, idents: &[String]) -> ApiResult<Vec<Uuid>> {
    let (uuids, names): (Vec<&String>, Vec<&String>) =
        idents.iter().partition(|i| parse_uuid(i).is_some());
    let mut known: Vec<(String, Uuid)> = Vec::new();
    for (field, keys) in [("uuid", uuids), ("name", names)] {
        let keys: Vec<Value> = keys
            .into_iter()
            .filter(|k| field == "uuid" || is_valid_name(k))
            .map(|k| json!(k))
            .collect();
        if keys.is_empty() {
            continue;
        }
        let query = ListQuery {
            filters: vec![Filter::In(field.into(), keys)],
            ..ListQuery::default()
        };
        let nodes: Vec<Node> = app.store.list(&query).await?;
        for node in nodes {
            known.push((node.uuid.to_string(), node.uuid));
            if let Some(name) = node.name {
                known.push((name, node.uuid));
            }
        }
    }
    let mut missing: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(idents.len());
    for ident in idents {
        match known.iter().find(|(k, _)| k == ident) {
            Some((_, uuid)) => out.push(*uuid),
            None if !missing.contains(&ident.as_str()) => missing.push(ident),
            None => {}
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::bad_request(format!(
            "Nodes cannot be found: {}",
            missing.join(", ")
        )))
    }
}

/// `GET /v1/allocations`.
async fn list(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    crud::list_scoped::<Allocation>(
        &app,
        version,
        &base,
        query.as_deref(),
        Vec::new(),
        "allocations",
        false,
    )
    .await
}

/// `POST /v1/allocations`: records the allocation as `allocating` and wakes
/// the conductor (201 at once; the client polls), or binds the given node
/// at once when backfilling (1.58).
async fn create(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    gate_write(version)?;
    let obj = Obj::new(WHAT, &body)?;
    obj.only(CREATE_KEYS)?;
    let uuid = obj.opt_uuid("uuid")?;
    let node_ident = obj.opt_str("node", 255)?.map(str::to_string);
    let mut doc = Doc::new(WHAT, obj.map().clone());
    doc.map.remove("node");
    check_types(&mut doc)?;
    for key in doc.map.keys() {
        if let Some(spec) = find(ALLOCATION_FIELDS, key) {
            check_version(spec, version)?;
        }
    }
    if let Some(Value::String(name)) = doc.map.get("name")
        && !is_valid_name(name)
    {
        return Err(ApiError::bad_request(format!(
            "Cannot create allocation with invalid name '{name}'"
        )));
    }
    let node = match node_ident {
        None => None,
        Some(_) if !version.at_least(BACKFILL_SINCE) => {
            return Err(ApiError::bad_request(
                "Cannot set node when creating an allocation in this API version",
            ));
        }
        Some(ident) => Some(referenced_node(&app, &ident, version).await?),
    };
    let rc_given = matches!(doc.map.get("resource_class"), Some(Value::String(s)) if !s.is_empty());
    if !rc_given {
        match &node {
            Some(n) => {
                doc.map
                    .insert("resource_class".into(), json!(n.resource_class));
            }
            None => {
                return Err(ApiError::bad_request(
                    "The resource_class field is mandatory when not backfilling",
                ));
            }
        }
    }
    let idents = strings(&doc, "candidate_nodes")?;
    let candidates = resolve_candidates(&app, &idents).await?;
    doc.map.insert("candidate_nodes".into(), json!(candidates));
    let uuid = uuid
        .or_else(|| node.as_ref().and_then(|n| n.instance_uuid))
        .unwrap_or_else(Uuid::new_v4);
    doc.map.insert("uuid".into(), json!(uuid));
    doc.map.insert("state".into(), json!("allocating"));
    doc.map.insert("created_at".into(), json!(Utc::now()));
    for key in ["node_uuid", "last_error", "updated_at"] {
        doc.map.insert(key.into(), Value::Null);
    }
    let allocation = Allocation::validate(doc.map)?;
    let allocation = app.store.insert(allocation).await?;
    let allocation = match node {
        Some(node) => backfill(&app, allocation, node.uuid).await?,
        None => {
            app.conductor.wake_allocation(allocation.uuid);
            allocation
        }
    };
    created(
        &base,
        &format!("allocations/{}", allocation.uuid),
        crud::view(&allocation, version, &base, None),
    )
}

/// Why a backfill did not bind its node.
enum Refused {
    /// The node does not fit the allocation (400, Ironic's AllocationFailed).
    Unfit(String),
    /// Anything else, answered as it is (locked, associated, store).
    Api(ApiError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Api(e.into())
    }
}

/// Binds a freshly recorded allocation to the deployed node it describes.
/// On refusal the allocation stays, in state `error` with the reason, as
/// Ironic leaves it.
async fn backfill(app: &App, allocation: Allocation, node: Uuid) -> ApiResult<Allocation> {
    let wanted = allocation.clone();
    let host = app.conductor.hostname().to_string();
    let bound = app
        .store
        .update(
            &Ident::Uuid(node),
            move |n: &mut Node| -> Result<(), Refused> {
                if let Some(locked) = busy(n, &host) {
                    return Err(Refused::Api(locked));
                }
                let problems = wanted.backfill_problems(n);
                if !problems.is_empty() {
                    return Err(Refused::Unfit(format!(
                        "Cannot backfill an allocation for node {}: {}",
                        n.uuid,
                        problems.join("; ")
                    )));
                }
                wanted
                    .bind(n)
                    .map_err(|m| Refused::Api(ApiError::conflict(m)))
            },
        )
        .await;
    let error = match bound {
        Ok(_) => None,
        Err(Refused::Unfit(reason)) => Some(ApiError::bad_request(allocation.failure(&reason))),
        Err(Refused::Api(e)) if e.status == StatusCode::NOT_FOUND => {
            Some(ApiError::bad_request(e.message))
        }
        Err(Refused::Api(e)) => Some(e),
    };
    if let Some(error) = error {
        record_failure(app, allocation.uuid, error.message.clone()).await;
        return Err(error);
    }
    let activated = app
        .store
        .update(&Ident::Uuid(allocation.uuid), move |a: &mut Allocation| {
            a.state = AllocationState::Active;
            a.node_uuid = Some(node);
            a.last_error = None;
            Ok::<_, StoreError>(())
        })
        .await;
    match activated {
        Ok((active, ())) => Ok(active),
        Err(e) => {
            // The record vanished or collided: do not leave the node bound
            // to nothing.
            let id = allocation.uuid;
            let _ = app
                .store
                .update(&Ident::Uuid(node), move |n: &mut Node| {
                    Ok::<_, StoreError>(release_node(n, id))
                })
                .await;
            Err(e.into())
        }
    }
}

/// Leaves a failed backfill in state `error` with `message`; best effort,
/// the client gets the error either way.
async fn record_failure(app: &App, uuid: Uuid, message: String) {
    let result = app
        .store
        .update(&Ident::Uuid(uuid), move |a: &mut Allocation| {
            a.state = AllocationState::Error;
            a.last_error = Some(message);
            a.node_uuid = None;
            Ok::<_, StoreError>(())
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(allocation = %uuid, error = %e, "could not record the failed backfill");
    }
}

/// `PATCH /v1/allocations/{id}` (1.57): `name` and `extra` only.
async fn update(
    state: State<App>,
    version: Extension<ApiVersion>,
    base: BaseUrl,
    ident: Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    gate_write(version.0)?;
    if !version.0.at_least(PATCH_SINCE) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The API version does not allow updating allocations",
        ));
    }
    if let Value::Array(ops) = &body {
        for op in ops {
            let is_name = op.get("path").and_then(Value::as_str) == Some("/name");
            if is_name
                && let Some(Value::String(name)) = op.get("value")
                && !is_valid_name(name)
            {
                return Err(ApiError::bad_request(format!(
                    "Cannot update allocation with invalid name '{name}'"
                )));
            }
        }
    }
    crud::update::<Allocation>(state, version, base, ident, JsonBody(body)).await
}

/// Releases the allocation's node (if it still holds it) and deletes the
/// allocation. The node is checked and released in one transaction, so a
/// node that started deploying meanwhile is never stripped.
async fn remove(app: &App, allocation: &Allocation) -> ApiResult<()> {
    if let Some(node) = allocation.node_uuid {
        let wanted = allocation.clone();
        let host = app.conductor.hostname().to_string();
        let released = app
            .store
            .update(&Ident::Uuid(node), move |n: &mut Node| -> ApiResult<()> {
                if n.allocation_uuid != Some(wanted.uuid) {
                    return Ok(());
                }
                if let Some(locked) = busy(n, &host) {
                    return Err(locked);
                }
                if let Some(why) = wanted.removal_refused(n) {
                    return Err(ApiError::conflict(why));
                }
                release_node(n, wanted.uuid);
                Ok(())
            })
            .await;
        match released {
            Ok(_) => {}
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    app.store.delete::<Allocation>(allocation.uuid).await?;
    Ok(())
}

/// `DELETE /v1/allocations/{id}`.
async fn delete(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
) -> ApiResult<StatusCode> {
    gate_write(version)?;
    let allocation = crud::load::<Allocation>(&app, &ident, version).await?;
    remove(&app, &allocation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The allocation bound to `node`, or Ironic's 404.
async fn of_node(app: &App, node: &Node, ident: &str) -> ApiResult<Allocation> {
    let query = ListQuery {
        filters: vec![Filter::Eq("node_uuid".into(), json!(node.uuid))],
        limit: Some(1),
        ..ListQuery::default()
    };
    let found: Vec<Allocation> = app.store.list(&query).await?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("Allocation for node {ident} was not found")))
}

/// `GET /v1/nodes/{node}/allocation` (1.52). An unknown node is a 400, as
/// Ironic answers it (the node is read as a filter).
async fn show_of_node(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate_node_scoped(version)?;
    let params = Params::parse(query.as_deref());
    let fields = params
        .get("fields")
        .map(|raw| parse_fields(raw, ALLOCATION_FIELDS, version))
        .transpose()?;
    let node = referenced_node(&app, &ident, version).await?;
    let allocation = of_node(&app, &node, &ident).await?;
    let only: Option<Vec<&str>> = fields
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    Ok(Json(crud::view(
        &allocation,
        version,
        &base,
        only.as_deref(),
    )))
}

/// `DELETE /v1/nodes/{node}/allocation` (1.52).
async fn delete_of_node(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
) -> ApiResult<StatusCode> {
    gate_node_scoped(version)?;
    let node = super::nodes::load(&app, &ident, version).await?;
    let allocation = of_node(&app, &node, &ident).await?;
    remove(&app, &allocation).await?;
    Ok(StatusCode::NO_CONTENT)
}
