//! `/v1/drivers`: the hardware types this site's conductors serve.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use ferrite_conductor::{HardwareType, InterfaceKind};
use serde_json::{Map, Value, json};

use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, Params};

/// The hardware type named `name`, or 404.
pub fn find<'a>(app: &'a App, name: &str) -> ApiResult<&'a HardwareType> {
    app.conductor
        .hardware_types()
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Could not find the following driver(s) or hardware type(s): {name}."
            ))
        })
}

fn render(
    app: &App,
    hw: &HardwareType,
    version: ApiVersion,
    base: &BaseUrl,
    detail: bool,
) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), json!(hw.name));
    map.insert("hosts".into(), json!([app.conductor.hostname()]));
    map.insert("links".into(), base.links(&format!("drivers/{}", hw.name)));
    if version.at_least(14) {
        map.insert(
            "properties".into(),
            base.links(&format!("drivers/{}/properties", hw.name)),
        );
    }
    if version.at_least(30) {
        map.insert("type".into(), json!("dynamic"));
        if detail {
            for kind in InterfaceKind::ALL {
                if !interface_visible(*kind, version) {
                    continue;
                }
                let (default, enabled) = hw
                    .interfaces
                    .iter()
                    .find(|(k, _, _)| k == kind)
                    .map(|(_, d, e)| (json!(d), json!(e)))
                    .unwrap_or((Value::Null, json!([])));
                map.insert(format!("default_{}_interface", kind.as_str()), default);
                map.insert(format!("enabled_{}_interfaces", kind.as_str()), enabled);
            }
        }
    }
    Value::Object(map)
}

/// Interface kinds appear on drivers with the node field that names them.
fn interface_visible(kind: InterfaceKind, version: ApiVersion) -> bool {
    let since = match kind {
        InterfaceKind::Storage => 33,
        InterfaceKind::Rescue => 38,
        InterfaceKind::Bios => 40,
        InterfaceKind::Firmware => 86,
        _ => 31,
    };
    version.at_least(since)
}

/// `GET /v1/drivers`.
pub async fn list(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    params.gate("type", version, 30)?;
    params.gate("detail", version, 30)?;
    params.gate("fields", version, 77)?;
    let detail = params.bool("detail")?.unwrap_or(false);
    let fields = requested_fields(&params)?;
    let drivers: Vec<Value> = match params.get("type") {
        Some("classic") => Vec::new(),
        None | Some("dynamic") => app
            .conductor
            .hardware_types()
            .iter()
            .map(|hw| {
                select(
                    render(&app, hw, version, &base, detail || fields.is_some()),
                    fields.as_deref(),
                )
            })
            .collect(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid driver type \"{other}\"; valid types are classic and dynamic."
            )));
        }
    };
    Ok(Json(json!({"drivers": drivers})))
}

/// `GET /v1/drivers/{name}`.
pub async fn show(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(query.as_deref());
    params.gate("fields", version, 77)?;
    let fields = requested_fields(&params)?;
    let hw = find(&app, &name)?;
    Ok(Json(select(
        render(&app, hw, version, &base, true),
        fields.as_deref(),
    )))
}

/// Field names a driver document can have (for `fields=`, 1.77).
fn is_driver_field(name: &str) -> bool {
    matches!(name, "name" | "hosts" | "type" | "links" | "properties")
        || InterfaceKind::ALL.iter().any(|k| {
            name == format!("default_{}_interface", k.as_str())
                || name == format!("enabled_{}_interfaces", k.as_str())
        })
}

fn requested_fields(params: &Params) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = params.get("fields") else {
        return Ok(None);
    };
    let names: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = names.iter().find(|n| !is_driver_field(n)) {
        return Err(ApiError::bad_request(format!(
            "Field(s) \"{bad}\" are not valid"
        )));
    }
    Ok(Some(names))
}

/// Keeps only the requested keys of a rendered driver.
fn select(driver: Value, fields: Option<&[String]>) -> Value {
    match (driver, fields) {
        (Value::Object(map), Some(names)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .collect(),
        ),
        (other, _) => other,
    }
}

/// `GET /v1/drivers/{name}/properties`.
pub async fn properties(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let hw = find(&app, &name)?;
    let map: Map<String, Value> = hw
        .properties
        .iter()
        .map(|(k, d)| ((*k).to_string(), json!(d)))
        .collect();
    Ok(Json(Value::Object(map)))
}

/// `GET /v1/drivers/{name}/raid/logical_disk_properties` (1.12).
pub async fn raid_properties(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if !version.at_least(12) {
        return Err(ApiError::endpoint_not_found());
    }
    let hw = find(&app, &name)?;
    let map: Map<String, Value> = hw
        .raid_logical_disk_properties
        .iter()
        .map(|(k, d)| ((*k).to_string(), json!(d)))
        .collect();
    Ok(Json(Value::Object(map)))
}
