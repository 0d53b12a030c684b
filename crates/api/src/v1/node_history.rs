//! `GET /v1/nodes/{node}/history[/{uuid}]` (API 1.78): the node's failures
//! and, from 1.115, its provision state transitions with their durations.
//! Entries are written by the store with the change they describe; this
//! module only reads them.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use ferrite_model::NodeHistory;
use ferrite_model::fields::{HISTORY_DEFAULT_LIST, HISTORY_FIELDS};
use ferrite_store::{Filter, Ident};
use serde_json::{Value, json};

use super::resource::{collection, columns, next, render};
use crate::App;
use crate::protocol::listing::parse_fields;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, ListParams, Params};

/// The microversion that introduced node history.
const SINCE: u32 = 78;

fn gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(SINCE) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

fn view(entry: &NodeHistory, version: ApiVersion, base: &BaseUrl, only: Option<&[&str]>) -> Value {
    let path = format!("nodes/{}/history/{}", entry.node_uuid, entry.uuid);
    render(entry, HISTORY_FIELDS, version, base, &path, only, &[])
}

/// `GET /v1/nodes/{node}/history`: oldest first, paginated; `detail=true`
/// shows every field.
pub async fn list(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    let node = super::nodes::load(&app, &ident, version).await?;
    let params = Params::parse(query.as_deref());
    let list = ListParams::parse_with_detail_since(&params, HISTORY_FIELDS, version, SINCE)?;
    let scope = vec![Filter::Eq("node_uuid".into(), json!(node.uuid))];
    let entries: Vec<NodeHistory> = app.store.list(&list.query(scope)).await?;
    let only = columns(&list, false, HISTORY_DEFAULT_LIST);
    let items = entries
        .iter()
        .map(|e| view(e, version, &base, only.as_deref()))
        .collect();
    let next = next(
        &list,
        &base,
        &format!("nodes/{}/history", node.uuid),
        &params,
        entries.len(),
        entries.last().map(|e| e.uuid.to_string()),
    );
    Ok(Json(collection("history", items, next)))
}

/// `GET /v1/nodes/{node}/history/{uuid}`: one entry with every field.
pub async fn show(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path((ident, entry)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    let node = super::nodes::load(&app, &ident, version).await?;
    let params = Params::parse(query.as_deref());
    let fields = params
        .get("fields")
        .map(|raw| parse_fields(raw, HISTORY_FIELDS, version))
        .transpose()?;
    let not_found =
        || ApiError::not_found(format!("Node history record {entry} could not be found."));
    let Ident::Uuid(uuid) = Ident::parse(&entry) else {
        return Err(not_found());
    };
    let found: NodeHistory = app
        .store
        .get(&Ident::Uuid(uuid))
        .await
        .map_err(|_| not_found())?;
    if found.node_uuid != node.uuid {
        return Err(not_found());
    }
    let only: Option<Vec<&str>> = fields
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    Ok(Json(view(&found, version, &base, only.as_deref())))
}
