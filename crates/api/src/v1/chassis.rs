//! `/v1/chassis` and `/v1/chassis/{chassis}/nodes`.

use axum::extract::{Extension, Path, RawQuery, State};
use axum::response::Response;
use ferrite_model::fields::{CHASSIS_DEFAULT_LIST, CHASSIS_FIELDS};
use ferrite_model::{Chassis, Node};
use ferrite_store::Filter;
use serde_json::{Map, Value, json};

use super::crud::{self, Change, Resource};
use super::nodes::list_nodes;
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, Params};

impl Resource for Chassis {
    const WHAT: &'static str = "chassis";
    const PLURAL: &'static str = "chassis";
    const COLLECTION: &'static str = "chassis";
    const FIELDS: &'static [ferrite_model::fields::FieldSpec] = CHASSIS_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = CHASSIS_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &["description", "extra", "uuid"];
    const SINCE: u32 = 1;
    const SUB_LINKS: &'static [(&'static str, &'static str)] = &[("nodes", "nodes")];

    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new("chassis", map);
        doc.string("description", 255, false)?;
        doc.dict("extra")?;
        doc.decode()
    }

    async fn check_refs(_app: &App, _doc: &Self) -> ApiResult<()> {
        Ok(())
    }

    async fn filters(_app: &App, _params: &Params, _version: ApiVersion) -> ApiResult<Vec<Filter>> {
        Ok(Vec::new())
    }

    async fn before_change(app: &App, chassis: &Self, change: Change) -> ApiResult<()> {
        if change != Change::Delete {
            return Ok(());
        }
        if crud::has_children::<Node>(app, "chassis_uuid", chassis.uuid).await? {
            return Err(ApiError::bad_request(format!(
                "Chassis {} contains nodes.",
                chassis.uuid
            )));
        }
        Ok(())
    }
}

/// `GET /v1/chassis/{chassis}/nodes` and (`DETAIL`) `…/nodes/detail`.
pub async fn nodes<const DETAIL: bool>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let chassis = crud::load::<Chassis>(&app, &ident, version).await?;
    let scope = vec![Filter::Eq("chassis_uuid".into(), json!(chassis.uuid))];
    let resource = format!(
        "chassis/{}/nodes{}",
        chassis.uuid,
        if DETAIL { "/detail" } else { "" }
    );
    list_nodes(
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
