//! Create, show, list, JSON-Patch and delete for the document resources
//! (ports, portgroups, chassis, volume connectors and targets). Each
//! resource states its rules once in a [`Resource`] impl; the handlers here
//! apply them the same way everywhere.

use std::future::Future;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use ferrite_model::fields::{FieldSpec, find};
use ferrite_store::{Document, Filter, Ident};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::nodes::created;
use super::resource::{collection, columns, next, render};
use crate::App;
use crate::protocol::listing::{check_version, parse_fields};
use crate::protocol::patch;
use crate::protocol::{
    ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, ListParams, Obj, Params,
};

/// The rules of one document resource.
pub trait Resource: Document + Default + Clone {
    /// Singular name used in messages ("port").
    const WHAT: &'static str;
    /// Key of the list body ("ports").
    const PLURAL: &'static str;
    /// Path of the collection under `/v1` ("ports", "volume/connectors").
    const COLLECTION: &'static str;
    const FIELDS: &'static [FieldSpec];
    const DEFAULT_LIST: &'static [&'static str];
    /// Keys accepted in a POST body.
    const CREATE_KEYS: &'static [&'static str];
    /// The microversion that introduced the endpoint.
    const SINCE: u32;
    /// The microversion from which the resource can be named by `name`.
    const NAMES_SINCE: Option<u32> = None;
    /// Sub-resource link lists shown on a full document: (key, sub-path).
    const SUB_LINKS: &'static [(&'static str, &'static str)] = &[];
    /// The microversion from which lists accept `detail=`.
    const DETAIL_SINCE: u32 = 43;
    /// Whether writes below [`Resource::SINCE`] are refused with 405 rather
    /// than 404, as Ironic answers for its step-list resources (runbooks,
    /// inspection rules) so clients probing the version tell reads from
    /// writes.
    const OLD_WRITES_405: bool = false;
    /// The microversion of `/v1/nodes/{node}/<collection>`.
    const NODE_SCOPED_SINCE: u32 = Self::SINCE;

    /// Normalises and checks a whole document (create and PATCH alike).
    fn validate(map: Map<String, Value>) -> ApiResult<Self>;

    /// Checks references to other resources before a write.
    fn check_refs(app: &App, doc: &Self) -> impl Future<Output = ApiResult<()>> + Send;

    /// Resource-specific list filters from the query string.
    fn filters(
        app: &App,
        params: &Params,
        version: ApiVersion,
    ) -> impl Future<Output = ApiResult<Vec<Filter>>> + Send;

    /// Hides secrets in a rendered document before it leaves the API
    /// (deploy template step arguments may carry passwords). Most
    /// resources hold none, hence the no-op default.
    fn redact(_shown: &mut Value) {}

    /// Turns create-only conveniences of the body into stored fields
    /// before validation (a port's `node_ident`). Most have none.
    fn prepare(
        _app: &App,
        _map: &mut Map<String, Value>,
        _version: ApiVersion,
    ) -> impl Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }

    /// Hides what this particular document keeps secret, whatever fields
    /// were asked for (an inspection rule marked sensitive shows neither
    /// conditions nor actions). Most documents keep nothing back.
    fn conceal(&self, _shown: &mut Value) {}

    /// Rules that depend on the request's microversion, applied after
    /// [`Resource::validate`] to a new document (`before` is None) or to
    /// an updated one (`before` is the stored one): a runbook's name must
    /// be a trait when a client before 1.112 sets it. Most resources have
    /// none.
    fn at_version(&mut self, _version: ApiVersion, _before: Option<&Self>) -> ApiResult<()> {
        Ok(())
    }

    /// Refuses changes that the state of related resources forbids.
    fn before_change(
        _app: &App,
        _doc: &Self,
        _change: Change,
    ) -> impl Future<Output = ApiResult<()>> + Send {
        async { Ok(()) }
    }
}

/// Which kind of write is about to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Create,
    Update,
    Delete,
}

fn gate<R: Resource>(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(R::SINCE) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// [`gate`] for writes: 405 instead of 404 where the resource says so.
pub fn gate_write<R: Resource>(version: ApiVersion) -> ApiResult<()> {
    match gate::<R>(version) {
        Err(_) if R::OLD_WRITES_405 => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "The API version does not allow {}",
                R::PLURAL.replace('_', " ")
            ),
        )),
        other => other,
    }
}

/// Renders one document for a client.
pub fn view<R: Resource>(
    doc: &R,
    version: ApiVersion,
    base: &BaseUrl,
    only: Option<&[&str]>,
) -> Value {
    let path = format!("{}/{}", R::COLLECTION, doc.uuid());
    let mut shown = render(doc, R::FIELDS, version, base, &path, only, R::SUB_LINKS);
    R::redact(&mut shown);
    doc.conceal(&mut shown);
    shown
}

/// Loads by UUID, or by name where the resource has names at `version`.
pub async fn load<R: Resource>(app: &App, ident: &str, version: ApiVersion) -> ApiResult<R> {
    let parsed = Ident::parse(ident);
    let names_ok = R::NAMES_SINCE.is_some_and(|since| version.at_least(since));
    if matches!(parsed, Ident::Name(_)) && !names_ok {
        return Err(ApiError::not_found(format!(
            "{} {ident} could not be found.",
            R::KIND
        )));
    }
    Ok(app.store.get::<R>(&parsed).await?)
}

/// Refuses fields newer than `version` (406).
fn check_keys<'a, R: Resource>(
    keys: impl Iterator<Item = &'a String>,
    version: ApiVersion,
) -> ApiResult<()> {
    for key in keys {
        if let Some(spec) = find(R::FIELDS, key) {
            check_version(spec, version)?;
        }
    }
    Ok(())
}

fn as_map<T: serde::Serialize>(doc: &T, what: &str) -> ApiResult<Map<String, Value>> {
    match serde_json::to_value(doc) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request(format!(
            "The {what} could not be represented as a document."
        ))),
    }
}

/// `POST /v1/<collection>`.
pub async fn create<R: Resource>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    gate_write::<R>(version)?;
    let obj = Obj::new(R::WHAT, &body)?;
    obj.only(R::CREATE_KEYS)?;
    check_keys::<R>(obj.map().keys(), version)?;
    let mut map = as_map(&R::default(), R::WHAT)?;
    for (k, v) in obj.map() {
        map.insert(k.clone(), v.clone());
    }
    map.insert(
        "uuid".into(),
        json!(obj.opt_uuid("uuid")?.unwrap_or_else(Uuid::new_v4)),
    );
    map.insert("created_at".into(), json!(Utc::now()));
    map.insert("updated_at".into(), Value::Null);
    R::prepare(&app, &mut map, version).await?;
    let mut doc = R::validate(map)?;
    doc.at_version(version, None)?;
    R::check_refs(&app, &doc).await?;
    R::before_change(&app, &doc, Change::Create).await?;
    let doc = app.store.insert(doc).await?;
    created(
        &base,
        &format!("{}/{}", R::COLLECTION, doc.uuid()),
        view(&doc, version, &base, None),
    )
}

/// Lists documents restricted by `scope`, listed at `resource` for links.
pub async fn list_scoped<R: Resource>(
    app: &App,
    version: ApiVersion,
    base: &BaseUrl,
    query: Option<&str>,
    mut scope: Vec<Filter>,
    resource: &str,
    detail: bool,
) -> ApiResult<Json<Value>> {
    gate::<R>(version)?;
    let params = Params::parse(query);
    let list = ListParams::parse_with_detail_since(&params, R::FIELDS, version, R::DETAIL_SINCE)?;
    if detail && list.fields.is_some() {
        return Err(ApiError::bad_request(
            "Can not specify fields in /detail requests.",
        ));
    }
    scope.extend(R::filters(app, &params, version).await?);
    let docs: Vec<R> = app.store.list(&list.query(scope)).await?;
    let only = columns(&list, detail, R::DEFAULT_LIST);
    let items = docs
        .iter()
        .map(|d| view(d, version, base, only.as_deref()))
        .collect();
    let next = next(
        &list,
        base,
        resource,
        &params,
        docs.len(),
        docs.last().map(|d| d.uuid().to_string()),
    );
    Ok(Json(collection(R::PLURAL, items, next)))
}

/// `GET /v1/<collection>`.
pub async fn list<R: Resource>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    list_scoped::<R>(
        &app,
        version,
        &base,
        query.as_deref(),
        Vec::new(),
        R::COLLECTION,
        false,
    )
    .await
}

/// `GET /v1/<collection>/detail`.
pub async fn detail<R: Resource>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let resource = format!("{}/detail", R::COLLECTION);
    list_scoped::<R>(
        &app,
        version,
        &base,
        query.as_deref(),
        Vec::new(),
        &resource,
        true,
    )
    .await
}

/// `GET /v1/<collection>/{id}`.
pub async fn show<R: Resource>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate::<R>(version)?;
    let params = Params::parse(query.as_deref());
    params.gate("fields", version, 8)?;
    let fields = params
        .get("fields")
        .map(|raw| parse_fields(raw, R::FIELDS, version))
        .transpose()?;
    let doc = load::<R>(&app, &ident, version).await?;
    let only: Option<Vec<&str>> = fields
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    Ok(Json(view(&doc, version, &base, only.as_deref())))
}

/// `PATCH /v1/<collection>/{id}`.
pub async fn update<R: Resource>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    gate_write::<R>(version)?;
    let ops = patch::parse(&body)?;
    for op in &ops {
        let spec = find(R::FIELDS, op.root()).ok_or_else(|| {
            ApiError::bad_request(format!("Cannot patch {}: there is no such field.", op.path))
        })?;
        check_version(spec, version)?;
        if !spec.patch {
            return Err(ApiError::bad_request(format!(
                "Cannot patch {}: the field is read-only.",
                op.path
            )));
        }
    }
    let current = load::<R>(&app, &ident, version).await?;
    let defaults = as_map(&R::default(), R::WHAT)?;
    let mut doc = as_map(&current, R::WHAT)?;
    patch::apply(&mut doc, &ops, &defaults)?;
    let mut proposed = R::validate(doc)?;
    proposed.at_version(version, Some(&current))?;
    if proposed.uuid() != current.uuid() {
        return Err(ApiError::bad_request(format!(
            "The uuid of a {} cannot be changed.",
            R::WHAT
        )));
    }
    R::check_refs(&app, &proposed).await?;
    R::before_change(&app, &current, Change::Update).await?;
    R::before_change(&app, &proposed, Change::Update).await?;
    // Re-apply the same patch inside the write so a concurrent change is
    // never overwritten by a stale copy.
    let (updated, ()) = app
        .store
        .update(
            &Ident::Uuid(current.uuid()),
            move |stored: &mut R| -> ApiResult<()> {
                let mut doc = as_map(&*stored, R::WHAT)?;
                patch::apply(&mut doc, &ops, &defaults)?;
                let mut patched = R::validate(doc)?;
                patched.at_version(version, Some(&*stored))?;
                *stored = patched;
                Ok(())
            },
        )
        .await?;
    Ok(Json(view(&updated, version, &base, None)))
}

/// `DELETE /v1/<collection>/{id}`.
pub async fn delete<R: Resource>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
) -> ApiResult<StatusCode> {
    gate_write::<R>(version)?;
    let doc = load::<R>(&app, &ident, version).await?;
    R::before_change(&app, &doc, Change::Delete).await?;
    app.store.delete::<R>(doc.uuid()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/nodes/{node}/<collection>[/detail]`.
pub async fn of_node<R: Resource, const DETAIL: bool>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    if !version.at_least(R::NODE_SCOPED_SINCE) {
        return Err(ApiError::endpoint_not_found());
    }
    let node = super::nodes::load(&app, &ident, version).await?;
    let scope = vec![Filter::Eq("node_uuid".into(), json!(node.uuid))];
    let resource = format!(
        "nodes/{}/{}{}",
        node.uuid,
        R::COLLECTION,
        if DETAIL { "/detail" } else { "" }
    );
    list_scoped::<R>(
        &app,
        version,
        &base,
        query.as_deref(),
        scope,
        &resource,
        DETAIL,
    )
    .await
}

/// Whether any `D` still points at `uuid` through `field` (deletes of a
/// parent are refused while it has children).
pub async fn has_children<D: Document>(app: &App, field: &str, uuid: Uuid) -> ApiResult<bool> {
    let query = ferrite_store::ListQuery {
        filters: vec![Filter::Eq(field.into(), json!(uuid))],
        ..ferrite_store::ListQuery::default()
    };
    Ok(app.store.count::<D>(&query).await? > 0)
}

/// `shard=` (from `shard_since`) and `conductor_groups=` (1.99) filters of
/// ports and portgroups: those of nodes in the given shards or groups.
pub fn by_node_placement(
    params: &Params,
    version: ApiVersion,
    shard_since: u32,
) -> ApiResult<Vec<Filter>> {
    params.gate("shard", version, shard_since)?;
    params.gate("conductor_groups", version, 99)?;
    let mut out = Vec::new();
    if let Some(shards) = params.get("shard") {
        let values = super::nodes::list_values(shards);
        out.push(Filter::OfNodes(Box::new(Filter::In(
            "shard".into(),
            values,
        ))));
    }
    if let Some(groups) = params.get("conductor_groups") {
        let values = super::nodes::list_values(&groups.to_ascii_lowercase());
        out.push(Filter::OfNodes(Box::new(Filter::In(
            "conductor_group".into(),
            values,
        ))));
    }
    Ok(out)
}

/// Checks that a referenced node exists (400 when not, as Ironic does).
pub async fn node_exists(app: &App, uuid: Uuid) -> ApiResult<ferrite_model::Node> {
    app.store
        .get::<ferrite_model::Node>(&Ident::Uuid(uuid))
        .await
        .map_err(|_| ApiError::bad_request(format!("Node {uuid} could not be found.")))
}

/// A `node` / `node_uuid` query filter resolved to the node's UUID.
pub async fn node_filter(
    app: &App,
    params: &Params,
    version: ApiVersion,
) -> ApiResult<Vec<Filter>> {
    match params.get("node").or_else(|| params.get("node_uuid")) {
        Some(ident) => {
            let node = super::nodes::load(app, ident, version).await?;
            Ok(vec![Filter::Eq("node_uuid".into(), json!(node.uuid))])
        }
        None => Ok(Vec::new()),
    }
}
