//! `/v1/conductors` (1.49): the registered conductors and whether they are
//! alive (online and heartbeating within the timeout).

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use chrono::{Duration, Utc};
use ferrite_model::Conductor;
use ferrite_model::fields::{CONDUCTOR_DEFAULT_LIST, CONDUCTOR_FIELDS};
use serde_json::{Value, json};

use super::resource::{collection, columns, next, render};
use crate::App;
use crate::protocol::listing::parse_fields;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, ListParams, Params};

/// A conductor is dead once its heartbeat is this old.
const HEARTBEAT_TIMEOUT_SECS: i64 = 60;

fn view(c: &Conductor, version: ApiVersion, base: &BaseUrl, only: Option<&[&str]>) -> Value {
    let fresh = c.updated_at.unwrap_or(c.created_at)
        > Utc::now() - Duration::seconds(HEARTBEAT_TIMEOUT_SECS);
    let doc = json!({
        "hostname": c.hostname,
        "conductor_group": c.conductor_group,
        "alive": c.online && fresh,
        "drivers": c.drivers,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    });
    render(
        &doc,
        CONDUCTOR_FIELDS,
        version,
        base,
        &format!("conductors/{}", c.hostname),
        only,
        &[],
    )
}

fn gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(49) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// `GET /v1/conductors`.
pub async fn list(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    let params = Params::parse(query.as_deref());
    let list = ListParams::parse(&params, CONDUCTOR_FIELDS, version)?;
    let all = app.store.list_conductors(&list.query(Vec::new())).await?;
    let only = columns(&list, false, CONDUCTOR_DEFAULT_LIST);
    let items = all
        .iter()
        .map(|c| view(c, version, &base, only.as_deref()))
        .collect();
    let next = next(
        &list,
        &base,
        "conductors",
        &params,
        all.len(),
        all.last().map(|c| c.hostname.clone()),
    );
    Ok(Json(collection("conductors", items, next)))
}

/// `GET /v1/conductors/{hostname}`.
pub async fn show(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(hostname): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    gate(version)?;
    let params = Params::parse(query.as_deref());
    let fields = params
        .get("fields")
        .map(|raw| parse_fields(raw, CONDUCTOR_FIELDS, version))
        .transpose()?;
    let conductor = app.store.conductor(&hostname).await?;
    let only: Option<Vec<&str>> = fields
        .as_ref()
        .map(|f| f.iter().map(String::as_str).collect());
    Ok(Json(view(&conductor, version, &base, only.as_deref())))
}
