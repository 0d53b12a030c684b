//! `/v1/deploy_templates` (1.55): named lists of deploy steps that the
//! conductor adds to a deployment whose instance asks for the template's
//! trait. The generic document handlers of [`super::crud`] serve it; this
//! module states the template's rules (a trait for a name, a checked step
//! list, masked step arguments) and its routes.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferrite_model::DeployTemplate;
use ferrite_model::deploy_template::{
    DEPLOY_TEMPLATE_DEFAULT_LIST, DEPLOY_TEMPLATE_FIELDS, MAX_DESCRIPTION, check_name, parse_steps,
};
use ferrite_model::fields::FieldSpec;
use ferrite_store::Filter;
use serde_json::{Map, Value};

use super::crud::{self, Resource};
use super::node_view::mask;
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Params};

/// How messages name the resource ("Schema error for deploy template: …").
const WHAT: &str = "deploy template";

impl Resource for DeployTemplate {
    const WHAT: &'static str = WHAT;
    const PLURAL: &'static str = "deploy_templates";
    const COLLECTION: &'static str = "deploy_templates";
    const FIELDS: &'static [FieldSpec] = DEPLOY_TEMPLATE_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = DEPLOY_TEMPLATE_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &["name", "steps", "extra", "uuid", "description"];
    const SINCE: u32 = 55;
    const NAMES_SINCE: Option<u32> = Some(55);

    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new(WHAT, map);
        let name = doc.map.get("name").cloned().unwrap_or(Value::Null);
        check_name(&name).map_err(|e| doc.error(e))?;
        let steps = doc.map.get("steps").cloned().unwrap_or(Value::Null);
        let steps = parse_steps(&steps).map_err(|e| doc.error(e))?;
        // Store the normalised form: priorities given as digit strings
        // become integers, so the conductor reads one shape only.
        let steps = serde_json::to_value(steps).map_err(|e| doc.error(e))?;
        doc.map.insert("steps".into(), steps);
        doc.string("description", MAX_DESCRIPTION, false)?;
        doc.dict("extra")?;
        doc.uuid("uuid", true)?;
        doc.decode()
    }

    async fn check_refs(_app: &App, _doc: &Self) -> ApiResult<()> {
        Ok(())
    }

    async fn filters(_app: &App, _params: &Params, _version: ApiVersion) -> ApiResult<Vec<Filter>> {
        Ok(Vec::new())
    }

    /// Step arguments are free-form and may hold BMC or image credentials;
    /// they never leave the API in clear.
    fn redact(shown: &mut Value) {
        let Some(Value::Array(steps)) = shown.get_mut("steps") else {
            return;
        };
        for step in steps {
            if let Some(slot) = step.get_mut("args")
                && let Value::Object(args) = slot
            {
                *slot = mask(args);
            }
        }
    }
}

/// The routes of this resource, relative to `/v1`. Unlike ports there is
/// no `/detail` sub-path (Ironic has none either, so `detail` reads as a
/// template name); `?detail=true` serves the same purpose.
pub fn routes() -> Router<App> {
    type T = DeployTemplate;
    Router::new()
        .route("/deploy_templates", get(crud::list::<T>).post(create))
        .route(
            "/deploy_templates/{id}",
            get(crud::show::<T>).patch(update).delete(delete),
        )
}

/// Below 1.55 Ironic answers reads with 404 (the generic handlers do) and
/// writes with 405; clients probing the version tell the two apart.
fn gate_write(version: ApiVersion) -> ApiResult<()> {
    if version.at_least(<DeployTemplate as Resource>::SINCE) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The API version does not allow deploy templates",
        ))
    }
}

/// `POST /v1/deploy_templates`.
async fn create(
    state: State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    body: JsonBody,
) -> ApiResult<Response> {
    gate_write(version)?;
    crud::create::<DeployTemplate>(state, Extension(version), base, body).await
}

/// `PATCH /v1/deploy_templates/{id}`.
async fn update(
    state: State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    ident: Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    gate_write(version)?;
    crud::update::<DeployTemplate>(state, Extension(version), base, ident, body).await
}

/// `DELETE /v1/deploy_templates/{id}`.
async fn delete(
    state: State<App>,
    Extension(version): Extension<ApiVersion>,
    ident: Path<String>,
) -> ApiResult<StatusCode> {
    gate_write(version)?;
    crud::delete::<DeployTemplate>(state, Extension(version), ident).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Map<String, Value> {
        json!({
            "uuid": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
            "name": "CUSTOM_HT_ON",
            "steps": [{"interface": "bios", "step": "apply_configuration",
                       "args": {"settings": []}, "priority": "150"}],
            "extra": null,
            "description": null,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": null,
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn validation_normalises_and_refuses() {
        let t = DeployTemplate::validate(valid()).unwrap();
        assert_eq!(t.steps[0].priority, 150);
        assert!(t.extra.is_empty());

        let mut bad = valid();
        bad.insert("name".into(), json!("not-a-name"));
        let e = DeployTemplate::validate(bad).unwrap_err();
        assert_eq!(
            e.message,
            "Schema error for deploy template: 'not-a-name' does not match '^CUSTOM_[A-Z0-9_]+$'"
        );
        let mut bad = valid();
        bad.insert("description".into(), json!("x".repeat(256)));
        assert_eq!(DeployTemplate::validate(bad).unwrap_err().status, 400);
    }

    #[test]
    fn passwords_in_args_are_masked() {
        let mut shown = json!({"steps": [
            {"args": {"password": "p", "nested": {"bmc_password": "q"}, "keep": 1}},
            {"args": {}},
        ]});
        DeployTemplate::redact(&mut shown);
        assert_eq!(shown["steps"][0]["args"]["password"], "******");
        assert_eq!(
            shown["steps"][0]["args"]["nested"]["bmc_password"],
            "******"
        );
        assert_eq!(shown["steps"][0]["args"]["keep"], 1);
        let mut projected = json!({"uuid": "u"});
        DeployTemplate::redact(&mut projected);
        assert_eq!(projected, json!({"uuid": "u"}));
    }
}
