//! `/v1/portgroups` (1.23), `/v1/portgroups/{pg}/ports` and
//! `/v1/nodes/{node}/portgroups` (1.24).

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use ferrite_model::fields::{PORTGROUP_DEFAULT_LIST, PORTGROUP_FIELDS};
use ferrite_model::ident::normalize_mac;
use ferrite_model::{Port, Portgroup};
use ferrite_store::Filter;
use serde_json::{Map, Value, json};

use super::crud::{self, Change, Resource, by_node_placement, node_exists, node_filter};
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, Params};

/// Bonding mode of new portgroups (`[DEFAULT]default_portgroup_mode`).
const DEFAULT_MODE: &str = "active-backup";

impl Resource for Portgroup {
    const WHAT: &'static str = "portgroup";
    const PLURAL: &'static str = "portgroups";
    const COLLECTION: &'static str = "portgroups";
    const FIELDS: &'static [ferrite_model::fields::FieldSpec] = PORTGROUP_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = PORTGROUP_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &[
        "node_uuid",
        "address",
        "name",
        "extra",
        "mode",
        "properties",
        "standalone_ports_supported",
        "physical_network",
        "category",
        "uuid",
    ];
    const SINCE: u32 = 23;
    const NAMES_SINCE: Option<u32> = Some(23);
    const SUB_LINKS: &'static [(&'static str, &'static str)] = &[("ports", "ports")];
    const NODE_SCOPED_SINCE: u32 = 24;

    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new("portgroup", map);
        doc.uuid("node_uuid", true)?;
        doc.mac("address", false)?;
        doc.name("name")?;
        if doc.string("mode", 255, false)?.is_none() {
            doc.map.insert("mode".into(), json!(DEFAULT_MODE));
        }
        doc.string("physical_network", 64, false)?;
        doc.string("category", 80, false)?;
        doc.boolean("standalone_ports_supported", Some(true))?;
        for key in ["extra", "properties", "internal_info"] {
            doc.dict(key)?;
        }
        doc.decode()
    }

    async fn check_refs(app: &App, group: &Self) -> ApiResult<()> {
        node_exists(app, group.node_uuid).await.map(|_| ())
    }

    async fn filters(app: &App, params: &Params, version: ApiVersion) -> ApiResult<Vec<Filter>> {
        let mut out = node_filter(app, params, version).await?;
        if let Some(address) = params.get("address") {
            let mac = normalize_mac(address).unwrap_or_else(|| address.to_ascii_lowercase());
            out.push(Filter::Eq("address".into(), json!(mac)));
        }
        out.extend(by_node_placement(params, version, 106)?);
        Ok(out)
    }

    async fn before_change(app: &App, group: &Self, change: Change) -> ApiResult<()> {
        if change != Change::Delete {
            return Ok(());
        }
        if crud::has_children::<Port>(app, "portgroup_uuid", group.uuid).await? {
            return Err(ApiError::conflict(format!(
                "Cannot complete the requested action because portgroup {} contains ports.",
                group.uuid
            )));
        }
        Ok(())
    }
}

fn sub_gate(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(24) {
        Ok(())
    } else {
        Err(ApiError::endpoint_not_found())
    }
}

/// `GET /v1/portgroups/{pg}/ports` and (`DETAIL`) `…/ports/detail` (1.24).
pub async fn ports<const DETAIL: bool>(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(ident): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    sub_gate(version)?;
    let group = crud::load::<Portgroup>(&app, &ident, version).await?;
    let scope = vec![Filter::Eq("portgroup_uuid".into(), json!(group.uuid))];
    let resource = format!(
        "portgroups/{}/ports{}",
        group.uuid,
        if DETAIL { "/detail" } else { "" }
    );
    crud::list_scoped::<Port>(
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
