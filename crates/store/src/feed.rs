//! What a change to a document means for the change feed. Everything is
//! derived from the stored document before and after the change (as JSON),
//! so every backend appends the same events and no caller can forget one.
//! Secrets are masked here, before anything is written.

use ferrite_model::provision::TRANSITIONS;
use ferrite_model::secret::mask_in_place;
use ferrite_model::{Event as Verb, ProvisionState};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::events::NewEvent;
use crate::{Document, StoreError};

/// Fields whose change alone is not news: the store stamps `updated_at` on
/// every write and the event carries the time itself.
const QUIET_FIELDS: &[&str] = &["updated_at"];

fn event(kind: impl Into<String>, resource: &'static str, uuid: Uuid, data: Value) -> NewEvent {
    let mut data = data;
    mask_in_place(&mut data);
    NewEvent {
        kind: kind.into(),
        resource,
        uuid,
        data,
    }
}

/// The events of a write of a `D` document whose stored text was `before`
/// (None for a new document) and is now `after`; nothing for kinds outside
/// the feed. Both backends call this with the texts they wrote.
pub(crate) fn for_write<D: Document>(
    uuid: Uuid,
    before: Option<&str>,
    after: &str,
) -> Result<Vec<NewEvent>, StoreError> {
    let Some(resource) = D::FEED else {
        return Ok(Vec::new());
    };
    let after = parse(after, D::KIND)?;
    Ok(match before {
        None => vec![created(resource, uuid, after)],
        Some(text) => updated(resource, uuid, &parse(text, D::KIND)?, &after),
    })
}

/// The events of deleting `uuid` of a `D`: first those of the feed
/// resources that go with it (a node's ports, portgroups and allocations,
/// by ON DELETE CASCADE, as `children` lists them), then its own.
pub(crate) fn for_delete<D: Document>(
    uuid: Uuid,
    children: Vec<(&'static str, Uuid)>,
) -> Vec<NewEvent> {
    let Some(resource) = D::FEED else {
        return Vec::new();
    };
    let mut out: Vec<NewEvent> = children
        .into_iter()
        .map(|(child, id)| deleted(child, id))
        .collect();
    out.push(deleted(resource, uuid));
    out
}

/// Feed resources whose rows go when their node does (ON DELETE CASCADE):
/// the feed name and the table, in the order their deletions are announced.
pub(crate) const NODE_CHILDREN: &[(&str, &str)] = &[
    ("port", "ports"),
    ("portgroup", "portgroups"),
    ("allocation", "allocations"),
];

pub(crate) fn parse(text: &str, what: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// `<resource>.created`, carrying the whole new document.
fn created(resource: &'static str, uuid: Uuid, after: Value) -> NewEvent {
    event(format!("{resource}.created"), resource, uuid, after)
}

/// `<resource>.deleted`.
fn deleted(resource: &'static str, uuid: Uuid) -> NewEvent {
    event(format!("{resource}.deleted"), resource, uuid, json!({}))
}

/// The events of an update: `<resource>.updated` with the fields that
/// changed and their new values, then, for nodes, one event per notable
/// change. Nothing when only `updated_at` moved.
fn updated(resource: &'static str, uuid: Uuid, before: &Value, after: &Value) -> Vec<NewEvent> {
    let changed = diff(before, after);
    if changed.is_empty() {
        return Vec::new();
    }
    let mut out = vec![event(
        format!("{resource}.updated"),
        resource,
        uuid,
        json!({ "changed": changed }),
    )];
    if resource == "node" {
        node_events(uuid, before, after, &changed, &mut out);
    }
    out
}

/// Top-level fields whose value differs, with their new value (null when
/// the field went away).
fn diff(before: &Value, after: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let old = before.as_object().unwrap_or(&empty);
    let new = after.as_object().unwrap_or(&empty);
    let mut changed = Map::new();
    let keys = new
        .keys()
        .chain(old.keys().filter(|k| !new.contains_key(*k)));
    for key in keys {
        if QUIET_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let now = new.get(key).unwrap_or(&Value::Null);
        if old.get(key).unwrap_or(&Value::Null) != now {
            changed.insert(key.clone(), now.clone());
        }
    }
    changed
}

fn field<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc.get(name).unwrap_or(&Value::Null)
}

fn state(doc: &Value) -> Option<ProvisionState> {
    serde_json::from_value(field(doc, "provision_state").clone()).ok()
}

/// The node-specific events of a change whose fields `changed` holds.
fn node_events(
    uuid: Uuid,
    before: &Value,
    after: &Value,
    changed: &Map<String, Value>,
    out: &mut Vec<NewEvent>,
) {
    let node = |kind: &str, data: Value| event(kind, "node", uuid, data);
    if changed.contains_key("provision_state")
        && let (Some(from), Some(to)) = (state(before), state(after))
    {
        out.push(node(
            "node.provision_state.changed",
            json!({
                "from": from.as_str(),
                "to": to.as_str(),
                "event": provision_event(from, to, after),
                "target": field(after, "target_provision_state"),
            }),
        ));
        if let Some((kind, result)) = finished(from, to) {
            out.push(node(
                kind,
                json!({
                    "result": result,
                    "provision_state": to.as_str(),
                    "last_error": field(after, "last_error"),
                }),
            ));
        }
    }
    if changed.contains_key("power_state") {
        out.push(node(
            "node.power_state.changed",
            json!({
                "from": field(before, "power_state"),
                "to": field(after, "power_state"),
                "source": power_source(before, after),
            }),
        ));
    }
    if changed.contains_key("fault") {
        let fault = field(after, "fault");
        if fault.is_null() {
            out.push(node(
                "node.fault.cleared",
                json!({ "fault": field(before, "fault") }),
            ));
        } else {
            out.push(node(
                "node.fault.set",
                json!({
                    "fault": fault,
                    "maintenance_reason": field(after, "maintenance_reason"),
                }),
            ));
        }
    }
}

/// The state-machine event that took a node from `from` to `to`: the only
/// edge between them, or, where several are (`manageable` → `cleaning` by
/// `provide` or `clean`), the one the node's recorded intent names.
fn provision_event(
    from: ProvisionState,
    to: ProvisionState,
    after: &Value,
) -> Option<&'static str> {
    let edges: Vec<Verb> = TRANSITIONS
        .iter()
        .filter(|(f, _, t, _)| *f == from && *t == to)
        .map(|(_, e, _, _)| *e)
        .collect();
    let verb = after
        .get("intent")
        .and_then(|i| i.get("verb"))
        .and_then(Value::as_str);
    match edges.as_slice() {
        [only] => Some(only.as_str()),
        several => several
            .iter()
            .find(|e| Some(e.as_str()) == verb)
            .map(|e| e.as_str()),
    }
}

/// Whether `from` → `to` ends a deployment or a cleaning, and how.
fn finished(from: ProvisionState, to: ProvisionState) -> Option<(&'static str, &'static str)> {
    use ProvisionState as S;
    let deploying = matches!(from, S::Deploying | S::DeployWait | S::DeployHold);
    let cleaning = matches!(from, S::Cleaning | S::CleanWait | S::CleanHold);
    match to {
        S::Active if deploying => Some(("node.deploy.finished", "success")),
        S::DeployFailed if deploying => Some(("node.deploy.finished", "failure")),
        S::Available | S::Manageable if cleaning => Some(("node.clean.finished", "success")),
        S::CleanFailed if cleaning => Some(("node.clean.finished", "failure")),
        _ => None,
    }
}

/// Who changed a node's power state. `api`: a conductor carried out a
/// power action (it holds the node's lock, or a target power state was
/// pending) — asked for through the API, or part of an operation the API
/// started. Otherwise the power sync recorded what the BMC reports:
/// `out_of_band` when a known state became another (someone pressed the
/// button), `sync` when the state was unknown before or after (a first
/// reading, or a BMC that stopped answering).
fn power_source(before: &Value, after: &Value) -> &'static str {
    let conductor =
        !field(before, "reservation").is_null() || !field(before, "target_power_state").is_null();
    if conductor {
        "api"
    } else if field(before, "power_state").is_null() || field(after, "power_state").is_null() {
        "sync"
    } else {
        "out_of_band"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(events: &[NewEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn only_updated_at_is_no_news() {
        let before = json!({"name": "a", "updated_at": "1"});
        let after = json!({"name": "a", "updated_at": "2"});
        assert!(updated("port", Uuid::nil(), &before, &after).is_empty());
    }

    #[test]
    fn a_finished_deployment_reads_as_three_events() {
        let before = json!({"provision_state": "wait call-back", "reservation": "c1",
                            "target_provision_state": "active"});
        let after = json!({"provision_state": "active", "reservation": null,
                           "target_provision_state": null, "last_error": null});
        let out = updated("node", Uuid::nil(), &before, &after);
        assert_eq!(
            kinds(&out),
            [
                "node.updated",
                "node.provision_state.changed",
                "node.deploy.finished"
            ]
        );
        assert_eq!(out[1].data["from"], "wait call-back");
        assert_eq!(out[1].data["event"], Value::Null);
        assert_eq!(out[2].data["result"], "success");
    }

    #[test]
    fn the_event_is_found_by_edge_or_by_intent() {
        use ProvisionState as S;
        assert_eq!(
            provision_event(S::Deploying, S::Active, &json!({})),
            Some("done")
        );
        let provide = json!({"intent": {"kind": "provision", "verb": "provide"}});
        assert_eq!(
            provision_event(S::Manageable, S::Cleaning, &provide),
            Some("provide")
        );
        assert_eq!(
            provision_event(S::Manageable, S::Cleaning, &json!({})),
            None
        );
        assert_eq!(
            finished(S::CleanWait, S::CleanFailed),
            Some(("node.clean.finished", "failure"))
        );
    }

    #[test]
    fn power_sources_tell_the_conductor_from_the_sync() {
        let source = |before: Value, after: Value| {
            updated("node", Uuid::nil(), &before, &after)
                .into_iter()
                .find(|e| e.kind == "node.power_state.changed")
                .map(|e| e.data["source"].clone())
        };
        let api = source(
            json!({"power_state": "power off", "target_power_state": "power on"}),
            json!({"power_state": "power on"}),
        );
        assert_eq!(api, Some(json!("api")));
        let oob = source(
            json!({"power_state": "power off"}),
            json!({"power_state": "power on"}),
        );
        assert_eq!(oob, Some(json!("out_of_band")));
        let first = source(json!({}), json!({"power_state": "power on"}));
        assert_eq!(first, Some(json!("sync")));
    }

    #[test]
    fn faults_and_secrets() {
        let out = updated(
            "node",
            Uuid::nil(),
            &json!({"fault": null, "driver_info": {"ipmi_password": "a"}}),
            &json!({"fault": "power failure", "maintenance_reason": "r",
                    "driver_info": {"ipmi_password": "b"}}),
        );
        assert_eq!(kinds(&out), ["node.updated", "node.fault.set"]);
        assert_eq!(
            out[0].data["changed"]["driver_info"]["ipmi_password"],
            "******"
        );
        let cleared = updated(
            "node",
            Uuid::nil(),
            &json!({"fault": "power failure"}),
            &json!({"fault": null}),
        );
        assert_eq!(kinds(&cleared), ["node.updated", "node.fault.cleared"]);
        let made = created(
            "node",
            Uuid::nil(),
            json!({"driver_info": {"x_password": "p"}}),
        );
        assert_eq!(made.data["driver_info"]["x_password"], "******");
    }
}
