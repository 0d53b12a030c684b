//! `/v1/runbooks` (1.92): named step lists a node runs for manual cleaning
//! or servicing when a provision request names the runbook instead of
//! listing steps (reference §1.6.12). The generic document handlers of
//! [`super::crud`] serve the resource; this module states the runbook's
//! rules, its trait sub-resource (1.112), and how a provision request turns
//! a runbook into the steps the conductor runs.

use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use ferrite_model::fields::{FieldSpec, RUNBOOK_DEFAULT_LIST, RUNBOOK_FIELDS};
use ferrite_model::runbook::{
    self, MAX_DESCRIPTION, MAX_NAME, TRAITS_SINCE, check_visibility, parse_steps,
};
use ferrite_model::{DeployTemplate, Node, ProvisionArgs, Runbook, Verb, deploy_template};
use ferrite_store::{Filter, Ident};
use serde_json::{Map, Value, json};

use super::crud::{self, Resource};
use super::node_management::{check_trait, trait_list};
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiError, ApiResult, ApiVersion, BaseUrl, JsonBody, Params};

/// How messages name the resource ("Schema error for runbook: …").
const WHAT: &str = "runbook";

/// The microversion of the runbook API.
const SINCE: u32 = 92;

impl Resource for Runbook {
    const WHAT: &'static str = WHAT;
    const PLURAL: &'static str = "runbooks";
    const COLLECTION: &'static str = "runbooks";
    const FIELDS: &'static [FieldSpec] = RUNBOOK_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = RUNBOOK_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &[
        "name",
        "steps",
        "disable_ramdisk",
        "public",
        "owner",
        "extra",
        "uuid",
        "description",
    ];
    const SINCE: u32 = SINCE;
    const NAMES_SINCE: Option<u32> = Some(SINCE);
    const OLD_WRITES_405: bool = true;

    /// Accepts every name some microversion accepts (a free-form name);
    /// [`Resource::at_version`] narrows it to traits before 1.112.
    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new(WHAT, map);
        let name = doc.map.get("name").cloned().unwrap_or(Value::Null);
        runbook::check_name(&name).map_err(|e| doc.error(e))?;
        let steps = doc.map.get("steps").cloned().unwrap_or(Value::Null);
        let steps = parse_steps(&steps).map_err(|e| doc.error(e))?;
        let steps = serde_json::to_value(steps).map_err(|e| doc.error(e))?;
        doc.map.insert("steps".into(), steps);
        doc.boolean("disable_ramdisk", Some(false))?;
        doc.boolean("public", Some(false))?;
        let owner = doc.string("owner", MAX_NAME, false)?;
        doc.string("description", MAX_DESCRIPTION, false)?;
        doc.dict("extra")?;
        doc.uuid("uuid", true)?;
        let public = doc.map.get("public") == Some(&Value::Bool(true));
        check_visibility(public, owner.as_deref()).map_err(|e| doc.error(e))?;
        doc.decode()
    }

    /// Before 1.112 the name is the trait a node must carry, so a name set
    /// then must be a trait (a free-form name given at 1.112 may stay), and
    /// a new runbook's trait set starts as that name (what a 1.112 client
    /// then sees and manages).
    fn at_version(&mut self, version: ApiVersion, before: Option<&Self>) -> ApiResult<()> {
        if version.at_least(TRAITS_SINCE) || before.is_some_and(|b| b.name == self.name) {
            return Ok(());
        }
        deploy_template::check_name(&json!(self.name)).map_err(|e| ApiError::schema(WHAT, e))?;
        if before.is_none() {
            self.traits = vec![self.name.clone()];
        }
        Ok(())
    }

    async fn check_refs(_app: &App, _doc: &Self) -> ApiResult<()> {
        Ok(())
    }

    /// `project`: the runbooks a project owns.
    async fn filters(_app: &App, params: &Params, _version: ApiVersion) -> ApiResult<Vec<Filter>> {
        Ok(params
            .get("project")
            .map(|p| Filter::Eq("owner".into(), json!(p)))
            .into_iter()
            .collect())
    }

    /// Step arguments may hold credentials, exactly as in deploy templates.
    fn redact(shown: &mut Value) {
        <DeployTemplate as Resource>::redact(shown);
    }
}

/// The routes of this resource, relative to `/v1`. There is no `/detail`
/// sub-path (`detail` reads as a runbook name); `?detail=true` serves.
pub fn routes() -> Router<App> {
    type R = Runbook;
    Router::new()
        .route("/runbooks", get(crud::list::<R>).post(crud::create::<R>))
        .route(
            "/runbooks/{id}",
            get(crud::show::<R>)
                .patch(crud::update::<R>)
                .delete(crud::delete::<R>),
        )
        .route(
            "/runbooks/{id}/traits",
            get(list_traits).put(set_traits).delete(clear_traits),
        )
        .route(
            "/runbooks/{id}/traits/{name}",
            put(add_trait).delete(remove_trait),
        )
}

/// Loads the runbook whose traits a request reads or changes (1.112).
async fn traits_of(app: &App, ident: &str, version: ApiVersion) -> ApiResult<Runbook> {
    if !version.at_least(TRAITS_SINCE) {
        return Err(ApiError::endpoint_not_found());
    }
    crud::load::<Runbook>(app, ident, version).await
}

/// Changes the trait set of `book` in one store write, keeping it sorted
/// and free of repeats.
async fn change_traits<F>(app: &App, book: &Runbook, change: F) -> ApiResult<()>
where
    F: FnOnce(&mut Vec<String>) -> ApiResult<()> + Send + 'static,
{
    app.store
        .update(
            &Ident::Uuid(book.uuid),
            move |stored: &mut Runbook| -> ApiResult<()> {
                change(&mut stored.traits)?;
                stored.traits.sort();
                stored.traits.dedup();
                Ok(())
            },
        )
        .await?;
    Ok(())
}

/// `GET /v1/runbooks/{id}/traits`.
async fn list_traits(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
) -> ApiResult<Json<Value>> {
    let book = traits_of(&app, &ident, version).await?;
    Ok(Json(json!({"traits": book.traits})))
}

/// `PUT /v1/runbooks/{id}/traits`: replaces the whole set.
async fn set_traits(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<StatusCode> {
    replace_traits(&app, &ident, version, || trait_list(&body)).await
}

/// `DELETE /v1/runbooks/{id}/traits`: removes them all.
async fn clear_traits(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path(ident): Path<String>,
) -> ApiResult<StatusCode> {
    replace_traits(&app, &ident, version, || Ok(Vec::new())).await
}

/// Replaces a runbook's trait set with the one `names` reads (from the
/// body, once the runbook is known to exist at this version).
async fn replace_traits(
    app: &App,
    ident: &str,
    version: ApiVersion,
    names: impl FnOnce() -> ApiResult<Vec<String>>,
) -> ApiResult<StatusCode> {
    let book = traits_of(app, ident, version).await?;
    let names = names()?;
    change_traits(app, &book, move |traits| {
        *traits = names;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/runbooks/{id}/traits/{trait}`: adds one.
async fn add_trait(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    base: BaseUrl,
    Path((ident, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let book = traits_of(&app, &ident, version).await?;
    if !body.is_null() {
        return Err(ApiError::bad_request(
            "No body is allowed when adding a single trait.",
        ));
    }
    check_trait(&name)?;
    change_traits(&app, &book, move |traits| {
        traits.push(name);
        Ok(())
    })
    .await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&base.v1(&format!("runbooks/{}/traits", book.uuid)))
    {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// `DELETE /v1/runbooks/{id}/traits/{trait}`. Unlike a node's, removing
/// a trait the runbook does not have is a no-op (openstacksdk's suite
/// relies on it).
async fn remove_trait(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
    Path((ident, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let book = traits_of(&app, &ident, version).await?;
    change_traits(&app, &book, move |traits| {
        traits.retain(|t| *t != name);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The runbook a provision request for manual cleaning or servicing names
/// (by name or UUID). A runbook that skips the ramdisk obeys the same
/// version rule as a request that says so itself; an unknown one is a
/// mistake in the request (400), not a missing endpoint.
pub async fn for_provision(
    app: &App,
    ident: &str,
    verb: Verb,
    version: ApiVersion,
) -> ApiResult<Runbook> {
    let book = crud::load::<Runbook>(app, ident, version)
        .await
        .map_err(|e| match e.status {
            StatusCode::NOT_FOUND => ApiError::bad_request(format!(
                "Runbook {ident} could not be found; it cannot be used to {verb} a node."
            )),
            _ => e,
        })?;
    if book.disable_ramdisk && verb == Verb::Service && !version.at_least(108) {
        return Err(ApiError::bad_request(format!(
            "Runbook {} disables the ramdisk, which servicing allows from API version 1.108 \
             on.",
            book.name
        )));
    }
    Ok(book)
}

/// Turns `book` into the steps (ordered) and ramdisk choice of a request
/// for `node`, after checking the node may use it: the node needs the
/// runbook's name as a trait before 1.112, one of its traits from then.
pub fn expand(
    book: &Runbook,
    node: &Node,
    verb: Verb,
    version: ApiVersion,
    args: &mut ProvisionArgs,
) -> ApiResult<()> {
    if !book.allows(&node.traits, version.0.1) {
        let needed = if version.at_least(TRAITS_SINCE) {
            format!("one of the runbook's traits [{}]", book.traits.join(", "))
        } else {
            format!("the trait {}", book.name)
        };
        return Err(ApiError::bad_request(format!(
            "Node {} cannot use runbook {} ({}): the node needs {needed}.",
            node.uuid, book.name, book.uuid
        )));
    }
    let steps = Some(book.ordered_steps());
    match verb {
        Verb::Service => args.service_steps = steps,
        _ => args.clean_steps = steps,
    }
    args.disable_ramdisk = book.disable_ramdisk.then_some(true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minor: u32) -> ApiVersion {
        ApiVersion(ferrite_model::Version(1, minor))
    }

    fn valid() -> Map<String, Value> {
        json!({
            "uuid": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
            "name": "CUSTOM_FW",
            "steps": [{"interface": "bios", "step": "apply_configuration",
                       "args": {"password": "p"}, "order": 1}],
            "disable_ramdisk": null,
            "public": "true",
            "owner": null,
            "extra": null,
            "description": null,
            "traits": [],
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": null,
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn validation_normalises_and_refuses() {
        let book = Runbook::validate(valid()).unwrap();
        assert!(book.public && !book.disable_ramdisk && book.extra.is_empty());

        let mut owned = valid();
        owned.insert("owner".into(), json!("p1"));
        let e = Runbook::validate(owned).unwrap_err();
        assert!(
            e.message
                .starts_with("Schema error for runbook: A public runbook")
        );

        let mut free = valid();
        free.insert("name".into(), json!("firmware upgrade"));
        let mut book = Runbook::validate(free).unwrap();
        assert!(book.at_version(at(112), None).is_ok());
        let e = book.at_version(at(111), None).unwrap_err();
        assert!(e.message.contains("does not match"), "{}", e.message);
        let unchanged = book.clone();
        assert!(book.at_version(at(92), Some(&unchanged)).is_ok());
    }

    #[test]
    fn names_seed_traits_before_1_112_only() {
        let mut book = Runbook::validate(valid()).unwrap();
        book.at_version(at(92), None).unwrap();
        assert_eq!(book.traits, ["CUSTOM_FW"]);
        let before = book.clone();
        book.name = "CUSTOM_OTHER".into();
        book.at_version(at(92), Some(&before)).unwrap();
        assert_eq!(book.traits, ["CUSTOM_FW"], "an update keeps the set");
        let mut book = Runbook::validate(valid()).unwrap();
        book.at_version(at(112), None).unwrap();
        assert!(book.traits.is_empty());
    }
}
