//! `/v1/inspection_rules` (1.96): the rules inspection applies to the data
//! it gathers (reference §1.6.13). The generic document handlers of
//! [`super::crud`] serve the resource; this module states the rule's
//! checks, hides sensitive rules' contents, and adds the bulk delete.
//! Applying rules during inspection is not part of the API.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::routing::get;
use ferrite_model::InspectionRule;
use ferrite_model::fields::{FieldSpec, INSPECTION_RULE_DEFAULT_LIST, INSPECTION_RULE_FIELDS};
use ferrite_model::inspection_rule::{
    DEFAULT_PHASE, MAX_DESCRIPTION, check_phase, check_priority, parse_actions, parse_conditions,
};
use ferrite_store::{Document, Filter, ListQuery};
use serde_json::{Map, Value, json};

use super::crud::{self, Resource};
use super::schema::Doc;
use crate::App;
use crate::protocol::{ApiResult, ApiVersion, Params};

/// How messages name the resource ("Schema error for inspection rule: …").
const WHAT: &str = "inspection rule";

impl Resource for InspectionRule {
    const WHAT: &'static str = WHAT;
    const PLURAL: &'static str = "inspection_rules";
    const COLLECTION: &'static str = "inspection_rules";
    const FIELDS: &'static [FieldSpec] = INSPECTION_RULE_FIELDS;
    const DEFAULT_LIST: &'static [&'static str] = INSPECTION_RULE_DEFAULT_LIST;
    const CREATE_KEYS: &'static [&'static str] = &[
        "uuid",
        "description",
        "priority",
        "phase",
        "sensitive",
        "conditions",
        "actions",
    ];
    const SINCE: u32 = 96;
    const OLD_WRITES_405: bool = true;

    /// A null priority, phase or sensitivity means the default, as when
    /// the key is left out.
    fn validate(map: Map<String, Value>) -> ApiResult<Self> {
        let mut doc = Doc::new(WHAT, map);
        doc.uuid("uuid", true)?;
        doc.string("description", MAX_DESCRIPTION, false)?;
        let priority = match doc.map.get("priority") {
            None | Some(Value::Null) => 0,
            Some(value) => check_priority(value).map_err(|e| doc.error(e))?,
        };
        doc.map.insert("priority".into(), json!(priority));
        let phase = match doc.map.get("phase") {
            None | Some(Value::Null) => DEFAULT_PHASE.to_string(),
            Some(value) => check_phase(value).map_err(|e| doc.error(e))?,
        };
        doc.map.insert("phase".into(), json!(phase));
        doc.boolean("sensitive", Some(false))?;
        let conditions = doc.map.get("conditions").cloned().unwrap_or(Value::Null);
        let conditions = parse_conditions(&conditions).map_err(|e| doc.error(e))?;
        let conditions = serde_json::to_value(conditions).map_err(|e| doc.error(e))?;
        doc.map.insert("conditions".into(), conditions);
        let actions = doc.map.get("actions").cloned().unwrap_or(Value::Null);
        parse_actions(&actions).map_err(|e| doc.error(e))?;
        doc.decode()
    }

    async fn check_refs(_app: &App, _doc: &Self) -> ApiResult<()> {
        Ok(())
    }

    /// `phase`: the rules of one inspection phase.
    async fn filters(_app: &App, params: &Params, _version: ApiVersion) -> ApiResult<Vec<Filter>> {
        Ok(params
            .get("phase")
            .map(|p| Filter::Eq("phase".into(), json!(p)))
            .into_iter()
            .collect())
    }

    /// A sensitive rule's conditions and actions may carry credentials
    /// (BMC passwords set by `set-attribute`): they read as null, as in
    /// Ironic, whichever fields were asked for.
    fn conceal(&self, shown: &mut Value) {
        if !self.sensitive {
            return;
        }
        for key in ["conditions", "actions"] {
            if let Some(slot) = shown.get_mut(key) {
                *slot = Value::Null;
            }
        }
    }
}

/// The routes of this resource, relative to `/v1`.
pub fn routes() -> Router<App> {
    type R = InspectionRule;
    Router::new()
        .route(
            "/inspection_rules",
            get(crud::list::<R>)
                .post(crud::create::<R>)
                .delete(delete_all),
        )
        .route(
            "/inspection_rules/{id}",
            get(crud::show::<R>)
                .patch(crud::update::<R>)
                .delete(crud::delete::<R>),
        )
}

/// `DELETE /v1/inspection_rules`: deletes every rule the API manages.
/// Built-in rules never live in the store, so they are never touched.
async fn delete_all(
    State(app): State<App>,
    Extension(version): Extension<ApiVersion>,
) -> ApiResult<StatusCode> {
    crud::gate_write::<InspectionRule>(version)?;
    let rules: Vec<InspectionRule> = app.store.list(&ListQuery::default()).await?;
    for rule in rules {
        match app.store.delete::<InspectionRule>(rule.uuid()).await {
            // Deleted meanwhile by someone else: the goal is reached.
            Err(ferrite_store::StoreError::NotFound { .. }) | Ok(()) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Map<String, Value> {
        json!({
            "uuid": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
            "description": null,
            "priority": null,
            "phase": null,
            "sensitive": "yes",
            "conditions": null,
            "actions": [{"op": "set-attribute", "args": {"path": "/driver", "value": "x"}}],
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": null,
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn defaults_fill_nulls_and_refusals_name_the_field() {
        let rule = InspectionRule::validate(valid()).unwrap();
        assert_eq!((rule.priority, rule.phase.as_str()), (0, "main"));
        assert!(rule.sensitive && rule.conditions.is_empty());

        for (key, value, needle) in [
            ("priority", json!(10000), "'priority'"),
            ("phase", json!("x".repeat(17)), "'phase'"),
            ("actions", json!([]), "'actions'"),
            (
                "conditions",
                json!([{"op": "nope", "args": {}}]),
                "'conditions'",
            ),
            ("sensitive", json!("maybe"), "'sensitive'"),
            ("description", json!(5), "'description'"),
        ] {
            let mut bad = valid();
            bad.insert(key.into(), value);
            let e = InspectionRule::validate(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(needle), "{key}: {}", e.message);
        }
    }

    #[test]
    fn sensitive_rules_hide_their_contents() {
        let mut rule = InspectionRule::validate(valid()).unwrap();
        let mut shown = json!({"uuid": "u", "conditions": [], "actions": [1]});
        rule.conceal(&mut shown);
        assert_eq!(
            shown,
            json!({"uuid": "u", "conditions": null, "actions": null})
        );
        let mut projected = json!({"uuid": "u"});
        rule.conceal(&mut projected);
        assert_eq!(projected, json!({"uuid": "u"}));
        rule.sensitive = false;
        let mut open = json!({"actions": [1]});
        rule.conceal(&mut open);
        assert_eq!(open, json!({"actions": [1]}));
    }
}
