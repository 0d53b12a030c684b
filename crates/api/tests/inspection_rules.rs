//! Inspection rules (1.96) through the real router and store: the CRUD,
//! the checks of conditions and actions, sensitive rules, the bulk delete.
//! The site serves up to 1.96 although the advertised maximum is lower:
//! the tests pin the version they mean.

mod common;

use axum::http::StatusCode;
use common::{Answer, Site, fault};
use ferrite_model::Version;
use serde_json::{Value, json};

const V: &str = "1.96";

async fn site() -> Site {
    Site::start_up_to(Version(1, 96)).await
}

async fn call(site: &Site, method: &str, path: &str, body: Option<Value>) -> Answer {
    site.call(method, path, Some(V), body).await
}

fn rule() -> Value {
    json!({
        "description": "Set properties on discovered data",
        "priority": 50,
        "conditions": [{"op": "is-true", "args": {"value": "{inventory[cpu][count]}"}}],
        "actions": [
            {"op": "set-attribute",
             "args": {"path": "/properties/cpus", "value": "{inventory[cpu][count]}"}},
        ],
    })
}

fn credentials() -> Value {
    json!({
        "description": "BMC credentials",
        "priority": 100,
        "sensitive": true,
        "conditions": [{"op": "contains",
                        "args": {"value": "{inventory[system_vendor][manufacturer]}",
                                 "regex": "(?i)dell"}}],
        "actions": [{"op": "set-attribute",
                     "args": {"path": "/driver_info/redfish_password", "value": "s3cret"}}],
    })
}

/// Asserts a 400 whose message contains `needle`.
fn refused(answer: &Answer, needle: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
    let message = fault(&answer.body);
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

fn sorted_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn create_show_list_patch_and_delete() {
    let site = site().await;
    let created = call(&site, "POST", "/v1/inspection_rules", Some(rule())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let shown = created.body;
    let uuid = shown["uuid"].as_str().unwrap_or_default().to_string();
    assert!(
        created.headers["location"]
            .to_str()
            .unwrap_or_default()
            .ends_with(&format!("/v1/inspection_rules/{uuid}"))
    );
    assert_eq!(shown["phase"], "main", "the default phase");
    assert_eq!(shown["sensitive"], false);
    assert_eq!(shown["priority"], 50);
    assert_eq!(shown["conditions"], rule()["conditions"]);
    assert_eq!(shown["actions"], rule()["actions"]);
    assert_eq!(
        sorted_keys(&shown),
        [
            "actions",
            "conditions",
            "created_at",
            "description",
            "links",
            "phase",
            "priority",
            "sensitive",
            "updated_at",
            "uuid"
        ]
    );
    let path = format!("/v1/inspection_rules/{uuid}");
    assert_eq!(call(&site, "GET", &path, None).await.body, shown);

    let minimal = json!({"actions": [{"op": "fail", "args": {"msg": "no"}}], "phase": "early"});
    let second = call(&site, "POST", "/v1/inspection_rules", Some(minimal)).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    assert_eq!(second.body["priority"], 0);
    assert_eq!(second.body["conditions"], json!([]));

    let list = call(&site, "GET", "/v1/inspection_rules", None).await;
    let items = list.body["inspection_rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(
        sorted_keys(&items[0]),
        ["description", "links", "phase", "priority", "uuid"],
        "default list fields"
    );
    let detail = call(&site, "GET", "/v1/inspection_rules?detail=true", None).await;
    assert_eq!(detail.body["inspection_rules"][0], shown);
    let early = call(&site, "GET", "/v1/inspection_rules?phase=early", None).await;
    assert_eq!(
        early.body["inspection_rules"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(early.body["inspection_rules"][0]["phase"], "early");
    let by_priority = call(
        &site,
        "GET",
        "/v1/inspection_rules?sort_key=priority&sort_dir=desc&fields=priority",
        None,
    )
    .await;
    assert_eq!(by_priority.body["inspection_rules"][0]["priority"], 50);
    let by_name = call(&site, "GET", "/v1/inspection_rules/some-name", None).await;
    assert_eq!(by_name.status, StatusCode::NOT_FOUND);

    let patched = call(
        &site,
        "PATCH",
        &path,
        Some(json!([
            {"op": "replace", "path": "/description", "value": "Updated"},
            {"op": "replace", "path": "/priority", "value": 75},
            {"op": "replace", "path": "/conditions/0",
             "value": {"op": "!is-empty", "args": {"value": "{inventory[cpu]}"}}},
            {"op": "add", "path": "/actions/-",
             "value": {"op": "add-trait", "args": {"name": "CUSTOM_{item}"}, "loop": ["A", "B"]}},
        ])),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["priority"], 75);
    assert_eq!(patched.body["conditions"][0]["op"], "!is-empty");
    assert_eq!(patched.body["actions"][1]["loop"], json!(["A", "B"]));
    assert!(patched.body["updated_at"].is_string());

    let deleted = call(&site, "DELETE", &path, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = call(&site, "GET", &path, None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        fault(&gone.body),
        format!("Inspection rule {uuid} could not be found.")
    );
}

#[tokio::test]
async fn sensitive_rules_never_show_their_contents() {
    let site = site().await;
    let created = call(&site, "POST", "/v1/inspection_rules", Some(credentials())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["conditions"], Value::Null);
    assert_eq!(created.body["actions"], Value::Null);
    assert_eq!(created.body["sensitive"], true);
    let uuid = created.body["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/v1/inspection_rules/{uuid}");
    for read in [
        path.clone(),
        format!("{path}?fields=actions,conditions"),
        "/v1/inspection_rules?detail=true".to_string(),
        "/v1/inspection_rules?fields=uuid,actions".to_string(),
    ] {
        let answer = call(&site, "GET", &read, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{read}");
        let text = answer.body.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("dell"),
            "{read}: {text}"
        );
    }
    let renamed = call(
        &site,
        "PATCH",
        &path,
        Some(json!([{"op": "replace", "path": "/description", "value": "creds"}])),
    )
    .await;
    assert_eq!(renamed.body["actions"], Value::Null, "still hidden");
    let opened = call(
        &site,
        "PATCH",
        &path,
        Some(json!([{"op": "replace", "path": "/sensitive", "value": false}])),
    )
    .await;
    assert_eq!(opened.status, StatusCode::OK);
    assert_eq!(
        opened.body["actions"],
        credentials()["actions"],
        "kept, only hidden"
    );
}

#[tokio::test]
async fn bad_rules_are_refused_and_nothing_is_stored() {
    let site = site().await;
    let with = |key: &str, value: Value| {
        let mut body = rule();
        body[key] = value;
        body
    };
    let action = |a: Value| with("actions", json!([a]));
    let condition = |c: Value| with("conditions", json!([c]));
    let table: Vec<(Value, &str)> = vec![
        (with("priority", json!(-1)), "less than the minimum of 0"),
        (
            with("priority", json!(10000)),
            "greater than the maximum of 9999",
        ),
        (with("priority", json!("high")), "'priority'"),
        (with("phase", json!("p".repeat(17))), "too long"),
        (with("phase", json!(1)), "'phase'"),
        (with("sensitive", json!("maybe")), "'sensitive'"),
        (with("description", json!("d".repeat(256))), "too long"),
        (with("uuid", json!("rule-1")), "Expected UUID for uuid"),
        (
            with("actions", Value::Null),
            "'actions' is a required property",
        ),
        (with("actions", json!([])), "too short for 'actions'"),
        (
            with("actions", json!({"op": "fail"})),
            "is not of type 'array' for 'actions'",
        ),
        (with("conditions", json!("eq")), "'conditions'"),
        (with("scope", json!("x")), "'scope' was unexpected"),
        (
            action(json!({"op": "explode", "args": {}})),
            "'explode' is not a known action operator",
        ),
        (
            action(json!({"op": "!fail", "args": {"msg": "m"}})),
            "not a known action",
        ),
        (
            action(json!({"op": "fail", "args": {}})),
            "needs the argument 'msg'",
        ),
        (
            action(json!({"op": "fail"})),
            "'args' is a required property",
        ),
        (
            action(json!({"args": {"msg": "m"}})),
            "'op' is a required property",
        ),
        (action(json!({"op": "fail", "args": "m"})), "'args'"),
        (
            action(json!({"op": "fail", "args": {"msg": "m"}, "loop": 3})),
            "'loop'",
        ),
        (
            action(json!({"op": "fail", "args": {"msg": "m"}, "multiple": "all"})),
            "'multiple' was unexpected",
        ),
        (
            condition(json!({"op": "equals", "args": {}})),
            "'equals' is not a known condition operator",
        ),
        (
            condition(json!({"op": "in-net", "args": {"address": "1.2.3.4"}})),
            "needs the argument 'subnet'",
        ),
        (
            condition(json!({"op": "eq", "args": [1, 1], "multiple": "most"})),
            "'multiple'",
        ),
        (condition(json!(["eq", 1, 1])), "'conditions' item 0"),
        (json!("rule"), "is not of type 'object'"),
    ];
    for (body, needle) in table {
        let answer = call(&site, "POST", "/v1/inspection_rules", Some(body)).await;
        refused(&answer, needle);
    }
    let list = call(&site, "GET", "/v1/inspection_rules", None).await;
    assert_eq!(
        list.body["inspection_rules"],
        json!([]),
        "nothing was stored"
    );

    let mut fixed = rule();
    fixed["uuid"] = json!("1be26c0b-03f2-4d2e-ae87-c02d7f33c123");
    let first = call(&site, "POST", "/v1/inspection_rules", Some(fixed.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let twice = call(&site, "POST", "/v1/inspection_rules", Some(fixed)).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(fault(&twice.body).contains("already exists"));

    let path = "/v1/inspection_rules/1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
    let before = call(&site, "GET", path, None).await.body;
    for (ops, needle) in [
        (
            json!([{"op": "replace", "path": "/priority", "value": 10001}]),
            "maximum",
        ),
        (
            json!([{"op": "remove", "path": "/actions"}]),
            "'actions' is a required property",
        ),
        (
            json!([{"op": "add", "path": "/conditions/-", "value": {"op": "nope", "args": {}}}]),
            "not a known condition",
        ),
        (
            json!([{"op": "replace", "path": "/created_at", "value": "2020-01-01"}]),
            "read-only",
        ),
    ] {
        refused(&call(&site, "PATCH", path, Some(ops)).await, needle);
    }
    assert_eq!(call(&site, "GET", path, None).await.body, before);
}

#[tokio::test]
async fn bulk_delete_removes_every_rule() {
    let site = site().await;
    for body in [rule(), credentials(), rule()] {
        let created = call(&site, "POST", "/v1/inspection_rules", Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED);
    }
    let early = site
        .call("DELETE", "/v1/inspection_rules", Some("1.95"), None)
        .await;
    assert_eq!(early.status, StatusCode::METHOD_NOT_ALLOWED);
    let listed = call(&site, "GET", "/v1/inspection_rules", None).await;
    assert_eq!(
        listed.body["inspection_rules"].as_array().map(Vec::len),
        Some(3)
    );

    let all = call(&site, "DELETE", "/v1/inspection_rules", None).await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    let listed = call(&site, "GET", "/v1/inspection_rules", None).await;
    assert_eq!(listed.body["inspection_rules"], json!([]));
    let again = call(&site, "DELETE", "/v1/inspection_rules", None).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "nothing left is fine");
}
