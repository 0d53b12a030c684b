//! Deploy templates (1.55) and events (1.54) through the real router, store
//! and conductor. Written against the versions that introduced them: they
//! pass once `ferrite_model::MAX_VERSION` is at least 1.55.

mod common;

use axum::http::StatusCode;
use common::{Answer, Site, fault};
use serde_json::{Value, json};

const V: &str = "1.55";

fn bios_step(priority: Value) -> Value {
    json!({"interface": "bios", "step": "apply_configuration",
           "args": {"settings": [{"name": "HyperThreading", "value": "Enabled"}]},
           "priority": priority})
}

fn template(name: &str) -> Value {
    json!({"name": name, "steps": [bios_step(json!(150))]})
}

async fn call(site: &Site, method: &str, path: &str, body: Option<Value>) -> Answer {
    site.call(method, path, Some(V), body).await
}

async fn create(site: &Site, body: Value) -> Answer {
    call(site, "POST", "/v1/deploy_templates", Some(body)).await
}

async fn patch(site: &Site, ident: &str, ops: Value) -> Answer {
    call(
        site,
        "PATCH",
        &format!("/v1/deploy_templates/{ident}"),
        Some(ops),
    )
    .await
}

/// Asserts a 400 whose message contains `needle`.
fn refused(answer: &Answer, needle: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
    let message = fault(&answer.body);
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

#[tokio::test]
async fn create_show_list_and_delete() {
    let site = Site::start().await;
    let mut body = template("CUSTOM_HYPERTHREADING_ON");
    body["description"] = json!("HT on for the HPC flavor");
    body["extra"] = json!({"team": "hpc"});
    let created = create(&site, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let t = created.body;
    let uuid = t["uuid"].as_str().unwrap().to_string();
    assert!(
        created.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/v1/deploy_templates/{uuid}"))
    );
    assert_eq!(t["name"], "CUSTOM_HYPERTHREADING_ON");
    assert_eq!(t["steps"], json!([bios_step(json!(150))]));
    assert_eq!(t["extra"], json!({"team": "hpc"}));
    assert_eq!(t["description"], "HT on for the HPC flavor");
    assert!(t["created_at"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(t["updated_at"], Value::Null);
    assert_eq!(
        t["links"][0]["href"],
        format!("http://ferrite.test/v1/deploy_templates/{uuid}")
    );

    for ident in [uuid.as_str(), "CUSTOM_HYPERTHREADING_ON"] {
        let shown = call(&site, "GET", &format!("/v1/deploy_templates/{ident}"), None).await;
        assert_eq!(shown.status, StatusCode::OK);
        assert_eq!(shown.body, t);
    }
    let only = call(
        &site,
        "GET",
        &format!("/v1/deploy_templates/{uuid}?fields=name,steps"),
        None,
    )
    .await;
    let mut keys: Vec<&str> = only
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(keys, ["links", "name", "steps"]);

    // A second template, so paging has something to page.
    let second = create(&site, template("CUSTOM_SECOND")).await;
    assert_eq!(second.status, StatusCode::CREATED);

    let list = call(&site, "GET", "/v1/deploy_templates", None).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["deploy_templates"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let mut keys: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(keys, ["links", "name", "uuid"], "default list fields");

    let detail = call(&site, "GET", "/v1/deploy_templates?detail=true", None).await;
    assert_eq!(detail.body["deploy_templates"][0], t);
    let projected = call(
        &site,
        "GET",
        "/v1/deploy_templates?fields=description",
        None,
    )
    .await;
    assert_eq!(
        projected.body["deploy_templates"][0]["description"],
        "HT on for the HPC flavor"
    );
    let both = call(
        &site,
        "GET",
        "/v1/deploy_templates?fields=name&detail=true",
        None,
    )
    .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);

    let page = call(&site, "GET", "/v1/deploy_templates?limit=1", None).await;
    assert_eq!(page.body["deploy_templates"].as_array().unwrap().len(), 1);
    let next = page.body["next"].as_str().unwrap();
    assert!(next.contains(&format!("marker={uuid}")), "{next}");
    let rest = call(
        &site,
        "GET",
        &format!("/v1/deploy_templates?limit=1&marker={uuid}"),
        None,
    )
    .await;
    assert_eq!(rest.body["deploy_templates"][0]["name"], "CUSTOM_SECOND");
    let by_name = call(
        &site,
        "GET",
        "/v1/deploy_templates?sort_key=name&sort_dir=desc",
        None,
    )
    .await;
    assert_eq!(by_name.body["deploy_templates"][0]["name"], "CUSTOM_SECOND");
    let by_steps = call(&site, "GET", "/v1/deploy_templates?sort_key=steps", None).await;
    assert_eq!(by_steps.status, StatusCode::BAD_REQUEST);

    let deleted = call(&site, "DELETE", "/v1/deploy_templates/CUSTOM_SECOND", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = call(&site, "GET", "/v1/deploy_templates/CUSTOM_SECOND", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        fault(&gone.body),
        "Deploy template CUSTOM_SECOND could not be found."
    );
    let again = call(&site, "DELETE", "/v1/deploy_templates/CUSTOM_SECOND", None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let no_detail_path = call(&site, "GET", "/v1/deploy_templates/detail", None).await;
    assert_eq!(no_detail_path.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_templates_are_refused_with_their_reason() {
    let site = Site::start().await;
    let bad_name = create(&site, template("not-a-name")).await;
    refused(&bad_name, "does not match");
    assert_eq!(
        fault(&bad_name.body),
        "Schema error for deploy template: 'not-a-name' does not match '^CUSTOM_[A-Z0-9_]+$'"
    );
    refused(
        &create(&site, template("custom_lower")).await,
        "does not match",
    );
    refused(
        &create(&site, json!({"name": "CUSTOM_X", "steps": []})).await,
        "is too short",
    );
    refused(
        &create(&site, json!({"name": "CUSTOM_X"})).await,
        "'steps' is a required property",
    );
    refused(
        &create(&site, json!({"steps": [bios_step(json!(1))]})).await,
        "'name' is a required property",
    );
    refused(
        &create(&site, json!({"name": "CUSTOM_X", "steps": "bios"})).await,
        "is not of type 'array'",
    );

    let step = |change: Value| {
        let mut s = bios_step(json!(10));
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        json!({"name": "CUSTOM_X", "steps": [s]})
    };
    for (change, needle) in [
        (json!({"interface": "boot"}), "'boot' is not one of"),
        (json!({"interface": "network"}), "'network' is not one of"),
        (json!({"step": ""}), "'' is too short"),
        (json!({"step": 7}), "is not of type 'string'"),
        (json!({"args": null}), "'args' is a required property"),
        (json!({"args": ["x"]}), "is not of type 'object'"),
        (
            json!({"priority": null}),
            "'priority' is a required property",
        ),
        (json!({"priority": -1}), "priority"),
        (json!({"priority": "high"}), "priority"),
        (json!({"priority": 1.5}), "priority"),
        (json!({"bogus": true}), "'bogus' was unexpected"),
    ] {
        refused(&create(&site, step(change)).await, needle);
    }
    let twice = json!({"name": "CUSTOM_X",
                       "steps": [bios_step(json!(10)), bios_step(json!(20))]});
    refused(&create(&site, twice).await, "Duplicate deploy steps");
    let extra_key = json!({"name": "CUSTOM_X", "steps": [bios_step(json!(1))], "owner": "p"});
    refused(&create(&site, extra_key).await, "'owner' was unexpected");
    let long = json!({"name": "CUSTOM_X", "steps": [bios_step(json!(1))],
                      "description": "d".repeat(256)});
    refused(&create(&site, long).await, "too long");
    let not_dict = json!({"name": "CUSTOM_X", "steps": [bios_step(json!(1))], "extra": []});
    refused(&create(&site, not_dict).await, "is not of type 'object'");
    let bad_uuid = json!({"name": "CUSTOM_X", "steps": [bios_step(json!(1))], "uuid": "!@#$^*&%^"});
    let answer = create(&site, bad_uuid).await;
    refused(&answer, "Expected UUID for uuid: !@#$^*&%^");
    refused(
        &call(&site, "POST", "/v1/deploy_templates", Some(json!([1]))).await,
        "Schema error for deploy template",
    );

    // Nothing above was stored.
    let list = call(&site, "GET", "/v1/deploy_templates", None).await;
    assert_eq!(list.body["deploy_templates"], json!([]));

    // A digit-string priority is accepted and stored as a number.
    let ok = create(&site, step(json!({"priority": "15"}))).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    assert_eq!(ok.body["steps"][0]["priority"], 15);
    let uuid = ok.body["uuid"].as_str().unwrap().to_string();

    let dup_name = create(&site, template("CUSTOM_X")).await;
    assert_eq!(dup_name.status, StatusCode::CONFLICT);
    assert_eq!(
        fault(&dup_name.body),
        "A deploy template with name CUSTOM_X already exists."
    );
    let mut same_uuid = template("CUSTOM_Y");
    same_uuid["uuid"] = json!(uuid);
    let dup_uuid = create(&site, same_uuid).await;
    assert_eq!(dup_uuid.status, StatusCode::CONFLICT);
    assert_eq!(
        fault(&dup_uuid.body),
        format!("A deploy template with UUID {uuid} already exists.")
    );
}

#[tokio::test]
async fn patch_name_steps_extra_and_description() {
    let site = Site::start().await;
    let created = create(&site, template("CUSTOM_A")).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let uuid = created.body["uuid"].as_str().unwrap().to_string();
    create(&site, template("CUSTOM_TAKEN")).await;

    let raid = json!({"interface": "raid", "step": "apply_configuration",
                      "args": {"raid_config": {"logical_disks": []}}, "priority": 90});
    let answer = patch(
        &site,
        &uuid,
        json!([
            {"op": "replace", "path": "/name", "value": "CUSTOM_B"},
            {"op": "replace", "path": "/steps/0/priority", "value": "120"},
            {"op": "add", "path": "/steps/0/args/extra_arg", "value": 1},
            {"op": "add", "path": "/steps/-", "value": raid},
            {"op": "add", "path": "/extra/owner", "value": "ops"},
            {"op": "replace", "path": "/description", "value": "tuned"},
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let t = answer.body;
    assert_eq!(t["name"], "CUSTOM_B");
    assert_eq!(t["steps"][0]["priority"], 120);
    assert_eq!(t["steps"][0]["args"]["extra_arg"], 1);
    assert_eq!(t["steps"][1], raid);
    assert_eq!(t["extra"], json!({"owner": "ops"}));
    assert_eq!(t["description"], "tuned");
    assert!(t["updated_at"].is_string());
    let shown = call(&site, "GET", "/v1/deploy_templates/CUSTOM_B", None).await;
    assert_eq!(shown.body, t, "the change was stored");

    let answer = patch(
        &site,
        "CUSTOM_B",
        json!([
            {"op": "remove", "path": "/steps/0"},
            {"op": "remove", "path": "/description"},
            {"op": "remove", "path": "/extra"},
        ]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["steps"], json!([raid]));
    assert_eq!(answer.body["description"], Value::Null);
    assert_eq!(answer.body["extra"], json!({}));

    for (ops, needle) in [
        (
            json!([{"op": "remove", "path": "/steps/0"}]),
            "is too short",
        ),
        (
            json!([{"op": "replace", "path": "/steps", "value": []}]),
            "is too short",
        ),
        (
            json!([{"op": "add", "path": "/steps/0/bogus", "value": 1}]),
            "'bogus' was unexpected",
        ),
        (
            json!([{"op": "remove", "path": "/steps/0/args"}]),
            "'args' is a required property",
        ),
        (
            json!([{"op": "replace", "path": "/steps/0/interface", "value": "boot"}]),
            "is not one of",
        ),
        (
            json!([{"op": "replace", "path": "/steps/0/priority", "value": -5}]),
            "priority",
        ),
        (
            json!([{"op": "add", "path": "/steps/-", "value": raid}]),
            "Duplicate deploy steps",
        ),
        (
            json!([{"op": "replace", "path": "/name", "value": "bad name"}]),
            "does not match",
        ),
        (
            json!([{"op": "replace", "path": "/uuid", "value": uuid}]),
            "Cannot patch /uuid",
        ),
        (
            json!([{"op": "add", "path": "/owner", "value": "p"}]),
            "Cannot patch /owner",
        ),
        (
            json!([{"op": "replace", "path": "/steps/7/priority", "value": 1}]),
            "Couldn't apply patch",
        ),
    ] {
        refused(&patch(&site, &uuid, ops).await, needle);
    }
    let taken = patch(
        &site,
        &uuid,
        json!([{"op": "replace", "path": "/name", "value": "CUSTOM_TAKEN"}]),
    )
    .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(
        fault(&taken.body),
        "A deploy template with name CUSTOM_TAKEN already exists."
    );
    let unchanged = call(&site, "GET", &format!("/v1/deploy_templates/{uuid}"), None).await;
    assert_eq!(
        unchanged.body["steps"],
        json!([raid]),
        "refused patches left it alone"
    );
    assert_eq!(unchanged.body["name"], "CUSTOM_B");
    let missing = patch(
        &site,
        "CUSTOM_NOPE",
        json!([{"op": "replace", "path": "/description", "value": "x"}]),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn secrets_in_step_arguments_are_masked() {
    let site = Site::start().await;
    let body = json!({"name": "CUSTOM_SECRET", "steps": [{
        "interface": "management", "step": "set_credentials", "priority": 10,
        "args": {"bmc_password": "hunter2", "auth": {"admin_password": "x", "user": "root"},
                 "username": "admin"}}]});
    let created = create(&site, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let check = |t: &Value| {
        let args = &t["steps"][0]["args"];
        assert_eq!(args["bmc_password"], "******", "{t}");
        assert_eq!(args["auth"]["admin_password"], "******", "{t}");
        assert_eq!(args["auth"]["user"], "root");
        assert_eq!(args["username"], "admin");
        assert!(!t.to_string().contains("hunter2"));
    };
    check(&created.body);
    check(
        &call(&site, "GET", "/v1/deploy_templates/CUSTOM_SECRET", None)
            .await
            .body,
    );
    let detail = call(&site, "GET", "/v1/deploy_templates?detail=true", None).await;
    check(&detail.body["deploy_templates"][0]);
    let patched = patch(
        &site,
        "CUSTOM_SECRET",
        json!([{"op": "replace", "path": "/steps/0/priority", "value": 20}]),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    check(&patched.body);
}

/// Below 1.55 reads are 404 and writes 405, as Ironic answers them.
#[tokio::test]
async fn deploy_templates_are_hidden_below_1_55() {
    let site = Site::start().await;
    assert_eq!(
        create(&site, template("CUSTOM_A")).await.status,
        StatusCode::CREATED
    );
    let patch_body = json!([{"op": "replace", "path": "/description", "value": "x"}]);
    for version in [None, Some("1.1"), Some("1.54")] {
        for (method, path, body, status) in [
            ("GET", "/v1/deploy_templates", None, StatusCode::NOT_FOUND),
            (
                "GET",
                "/v1/deploy_templates/CUSTOM_A",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "POST",
                "/v1/deploy_templates",
                Some(template("CUSTOM_B")),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "PATCH",
                "/v1/deploy_templates/CUSTOM_A",
                Some(patch_body.clone()),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "DELETE",
                "/v1/deploy_templates/CUSTOM_A",
                None,
                StatusCode::METHOD_NOT_ALLOWED,
            ),
        ] {
            let answer = site.call(method, path, version, body).await;
            assert_eq!(answer.status, status, "{method} {path} at {version:?}");
        }
    }
    let still = call(&site, "GET", "/v1/deploy_templates/CUSTOM_A", None).await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.body["description"], Value::Null);
    let list = call(&site, "GET", "/v1/deploy_templates", None).await;
    assert_eq!(
        list.body["deploy_templates"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_deploy_runs_the_steps_of_the_instance_trait_template() {
    let site = Site::start().await;
    let created = create(&site, template("CUSTOM_HYPERTHREADING_ON")).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let node = site
        .call(
            "POST",
            "/v1/nodes",
            Some(V),
            Some(json!({"driver": "fake-hardware", "name": "hpc-1"})),
        )
        .await;
    assert_eq!(node.status, StatusCode::CREATED, "{:?}", node.body);
    let traits = json!([{"op": "add", "path": "/instance_info/traits",
                         "value": ["CUSTOM_HYPERTHREADING_ON"]}]);
    let patched = site
        .call("PATCH", "/v1/nodes/hpc-1", Some(V), Some(traits))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    for (target, state) in [
        ("manage", "manageable"),
        ("provide", "available"),
        ("active", "active"),
    ] {
        let answer = site
            .call(
                "PUT",
                "/v1/nodes/hpc-1/states/provision",
                Some(V),
                Some(json!({"target": target})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        site.wait_for("hpc-1", state).await;
    }
    let shown = site.call("GET", "/v1/nodes/hpc-1", Some(V), None).await;
    let steps: Vec<String> = shown.body["driver_internal_info"]["deploy_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}.{}:{}",
                s["interface"].as_str().unwrap(),
                s["step"].as_str().unwrap(),
                s["priority"]
            )
        })
        .collect();
    assert_eq!(
        steps[..2],
        ["bios.apply_configuration:150", "deploy.deploy:100"],
        "{steps:?}"
    );
}

fn event(kind: &str) -> Value {
    json!({
        "event": kind,
        "port_id": "f6f1cd5e-3d1b-4a0c-9b50-5e1d6b5e7c11",
        "mac_address": "52:54:00:12:34:56",
        "status": "ACTIVE",
        "device_id": "3b6a9a1c-8d2e-4f7a-b1c3-0d9e8f7a6b5c",
        "binding:host_id": "0d3c5a3e-9f44-4bde-8b1a-6f5b3a2c1d0e",
        "binding:vnic_type": "baremetal",
    })
}

#[tokio::test]
async fn events_are_accepted_or_refused() {
    let site = Site::start().await;
    let post = |version: &'static str, body: Value| {
        let site = &site;
        async move {
            site.call("POST", "/v1/events", Some(version), Some(body))
                .await
        }
    };
    let ok = post(
        "1.54",
        json!({"events": [event("network.bind_port"), event("network.unbind_port"),
                          event("network.delete_port")]}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{:?}", ok.body);
    assert_eq!(ok.body, Value::Null);
    let below = post("1.53", json!({"events": [event("network.bind_port")]})).await;
    assert_eq!(below.status, StatusCode::NOT_FOUND);
    let no_header = site
        .call(
            "POST",
            "/v1/events",
            None,
            Some(json!({"events": [event("network.bind_port")]})),
        )
        .await;
    assert_eq!(no_header.status, StatusCode::NOT_FOUND);

    let with = |key: &str, value: Value| {
        let mut e = event("network.bind_port");
        if value.is_null() {
            e.as_object_mut().unwrap().remove(key);
        } else {
            e[key] = value;
        }
        json!({"events": [e]})
    };
    for (body, needle) in [
        (json!({}), "'events' is a required property"),
        (json!({"events": []}), "is too short"),
        (json!({"events": "x"}), "is not of type 'array'"),
        (
            json!({"events": [event("network.bind_port")], "more": 1}),
            "'more' was unexpected",
        ),
        (
            with("event", json!("network.plug")),
            "'network.plug' is not one of",
        ),
        (
            with("port_id", json!("not-a-uuid")),
            "Expected UUID for port_id: not-a-uuid",
        ),
        (
            with("device_id", json!("x")),
            "Expected UUID for device_id: x",
        ),
        (
            with("mac_address", json!("52:54:00")),
            "Expected a MAC address",
        ),
        (
            with("status", Value::Null),
            "'status' is a required property",
        ),
        (with("status", json!(1)), "is not of type 'string'"),
        (with("port", json!("p")), "'port' was unexpected"),
        (json!({"events": [1]}), "is not of type 'object'"),
    ] {
        refused(&post("1.54", body).await, needle);
    }
}
