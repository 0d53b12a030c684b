//! Runbooks (1.92; traits and description 1.112) through the real router,
//! store and conductor, including their use for manual cleaning and
//! servicing of fake-hardware nodes. The site serves up to 1.112 although
//! the advertised maximum is lower: the tests pin the versions they mean.

mod common;

use axum::http::StatusCode;
use common::{Answer, Site, fault};
use ferrite_model::Version;
use serde_json::{Value, json};

/// The highest version these tests need.
const SERVED: Version = Version(1, 112);

async fn site() -> Site {
    Site::start_up_to(SERVED).await
}

fn step(interface: &str, name: &str, args: Value, order: u64) -> Value {
    json!({"interface": interface, "step": name, "args": args, "order": order})
}

fn bios(order: u64) -> Value {
    step(
        "bios",
        "apply_configuration",
        json!({"settings": [{"name": "LogicalProc", "value": "Enabled"}]}),
        order,
    )
}

fn runbook(name: &str) -> Value {
    json!({"name": name, "steps": [bios(1)]})
}

async fn create(site: &Site, version: &str, body: Value) -> Answer {
    site.call("POST", "/v1/runbooks", Some(version), Some(body))
        .await
}

/// Asserts a 400 whose message contains `needle`.
fn refused(answer: &Answer, needle: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
    let message = fault(&answer.body);
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn endpoints_appear_at_their_version() {
    let site = site().await;
    let created = create(&site, "1.92", runbook("CUSTOM_MV")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let uuid = created.body["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let traits = format!("/v1/runbooks/{uuid}/traits");
    let table = [
        ("/v1/runbooks", 92, Some("runbooks")),
        ("/v1/runbooks/CUSTOM_MV", 92, None),
        ("/v1/inspection_rules", 96, Some("inspection_rules")),
        (traits.as_str(), 112, None),
    ];
    for (path, minor, root_key) in table {
        let below = format!("1.{}", minor - 1);
        let at = format!("1.{minor}");
        let old = site.call("GET", path, Some(&below), None).await;
        assert_eq!(old.status, StatusCode::NOT_FOUND, "{path} at {below}");
        let new = site.call("GET", path, Some(&at), None).await;
        assert_eq!(new.status, StatusCode::OK, "{path} at {at}: {:?}", new.body);
        if let Some(key) = root_key {
            let old_root = site.call("GET", "/v1", Some(&below), None).await.body;
            assert!(old_root.get(key).is_none(), "{key} at {below}");
            let new_root = site.call("GET", "/v1", Some(&at), None).await.body;
            assert!(new_root.get(key).is_some(), "{key} at {at}");
            // Writes below the version are refused as Ironic refuses them.
            let write = site.call("POST", path, Some(&below), Some(json!({}))).await;
            assert_eq!(write.status, StatusCode::METHOD_NOT_ALLOWED, "POST {path}");
        }
    }
    // Fields of 1.112 are hidden before it, and refused when asked for.
    let path = format!("/v1/runbooks/{uuid}");
    let old = site.call("GET", &path, Some("1.111"), None).await.body;
    assert!(old.get("description").is_none() && old.get("traits").is_none());
    let new = site.call("GET", &path, Some("1.112"), None).await.body;
    assert_eq!(new["traits"], json!(["CUSTOM_MV"]));
    assert_eq!(new["description"], Value::Null);
    let asked = format!("{path}?fields=description");
    let early = site.call("GET", &asked, Some("1.111"), None).await;
    assert_eq!(early.status, StatusCode::NOT_ACCEPTABLE);

    // The advertised maximum is untouched: a default site refuses 1.92.
    let plain = Site::start().await;
    let refused = plain.call("GET", "/v1/runbooks", Some("1.92"), None).await;
    if ferrite_model::MAX_VERSION < Version(1, 92) {
        assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE);
    }
    let advertised = site.call("GET", "/", None, None).await;
    assert_eq!(advertised.body["default_version"]["version"], "1.112");
}

#[tokio::test]
async fn create_show_list_patch_and_delete() {
    let site = site().await;
    let body = json!({
        "name": "CUSTOM_FIRMWARE",
        "steps": [step("power", "reboot", json!({}), 2), bios(1)],
        "extra": {"team": "dc1"},
        "owner": "project-a",
    });
    let created = create(&site, "1.92", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let book = created.body;
    let uuid = book["uuid"].as_str().unwrap_or_default().to_string();
    assert!(
        created.headers["location"]
            .to_str()
            .unwrap_or_default()
            .ends_with(&format!("/v1/runbooks/{uuid}"))
    );
    assert_eq!(
        keys(&book),
        [
            "created_at",
            "disable_ramdisk",
            "extra",
            "links",
            "name",
            "owner",
            "public",
            "steps",
            "updated_at",
            "uuid"
        ]
    );
    assert_eq!(book["disable_ramdisk"], false);
    assert_eq!(book["public"], false);
    assert_eq!(book["owner"], "project-a");
    assert_eq!(book["steps"][1], bios(1), "steps are kept as given");
    assert!(
        book["created_at"]
            .as_str()
            .unwrap_or_default()
            .ends_with("+00:00")
    );

    for ident in [uuid.as_str(), "CUSTOM_FIRMWARE"] {
        let shown = site
            .call("GET", &format!("/v1/runbooks/{ident}"), Some("1.92"), None)
            .await;
        assert_eq!(shown.body, book, "{ident}");
    }
    let public = json!({"name": "CUSTOM_PUBLIC", "steps": [bios(5)], "public": true});
    assert_eq!(
        create(&site, "1.92", public).await.status,
        StatusCode::CREATED
    );

    let list = site.call("GET", "/v1/runbooks", Some("1.92"), None).await;
    let items = list.body["runbooks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(keys(&items[0]), ["links", "name", "uuid"], "default fields");
    let detail = site
        .call("GET", "/v1/runbooks?detail=true", Some("1.92"), None)
        .await;
    assert_eq!(detail.body["runbooks"][0], book);
    let owned = site
        .call("GET", "/v1/runbooks?project=project-a", Some("1.92"), None)
        .await;
    let names: Vec<&Value> = owned.body["runbooks"]
        .as_array()
        .map(|a| a.iter().map(|r| &r["name"]).collect())
        .unwrap_or_default();
    assert_eq!(names, [&json!("CUSTOM_FIRMWARE")]);
    let sorted = site
        .call(
            "GET",
            "/v1/runbooks?sort_key=name&sort_dir=desc&fields=name,public",
            Some("1.92"),
            None,
        )
        .await;
    assert_eq!(sorted.body["runbooks"][0]["name"], "CUSTOM_PUBLIC");
    assert_eq!(sorted.body["runbooks"][0]["public"], true);

    let patched = site
        .call(
            "PATCH",
            "/v1/runbooks/CUSTOM_FIRMWARE",
            Some("1.92"),
            Some(json!([
                {"op": "replace", "path": "/name", "value": "CUSTOM_FIRMWARE_V2"},
                {"op": "replace", "path": "/disable_ramdisk", "value": true},
                {"op": "add", "path": "/extra/rack", "value": "r1"},
                {"op": "replace", "path": "/steps/0/order", "value": 3},
            ])),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["name"], "CUSTOM_FIRMWARE_V2");
    assert_eq!(patched.body["disable_ramdisk"], true);
    assert_eq!(patched.body["extra"], json!({"team": "dc1", "rack": "r1"}));
    assert_eq!(patched.body["steps"][0]["order"], 3);
    assert!(patched.body["updated_at"].is_string());

    let deleted = site
        .call(
            "DELETE",
            &format!("/v1/runbooks/{uuid}"),
            Some("1.92"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = site
        .call("GET", &format!("/v1/runbooks/{uuid}"), Some("1.92"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        fault(&gone.body),
        format!("Runbook {uuid} could not be found.")
    );
}

#[tokio::test]
async fn bad_runbooks_are_refused_and_nothing_changes() {
    let site = site().await;
    let with = |key: &str, value: Value| {
        let mut body = runbook("CUSTOM_BAD");
        body[key] = value;
        body
    };
    let table: Vec<(&str, Value, &str)> = vec![
        ("1.92", runbook("not-a-trait"), "does not match"),
        (
            "1.92",
            json!({"name": "CUSTOM_X"}),
            "'steps' is a required property",
        ),
        (
            "1.92",
            json!({"steps": [bios(1)]}),
            "'name' is a required property",
        ),
        ("1.92", with("steps", json!([])), "[] is too short"),
        ("1.92", with("steps", json!({})), "is not of type 'array'"),
        (
            "1.92",
            with("steps", json!([step("boot", "x", json!({}), 1)])),
            "is not one of",
        ),
        (
            "1.92",
            with("steps", json!([step("bios", "", json!({}), 1)])),
            "'' is too short",
        ),
        (
            "1.92",
            with("steps", json!([step("bios", "x", json!([]), 1)])),
            "is not of type 'object'",
        ),
        (
            "1.92",
            with("steps", json!([step("bios", "x", json!({}), 1), bios(1)])),
            "Duplicate step orders: 1",
        ),
        (
            "1.92",
            with(
                "steps",
                json!([{"interface": "bios", "step": "x", "args": {}}]),
            ),
            "'order' is a required property",
        ),
        (
            "1.92",
            with(
                "steps",
                json!([{"interface": "bios", "step": "x", "args": {}, "order": -2}]),
            ),
            "not a valid order",
        ),
        (
            "1.92",
            with(
                "steps",
                json!([{"interface": "bios", "step": "x", "args": {}, "order": 1, "priority": 1}]),
            ),
            "'priority' was unexpected",
        ),
        ("1.92", with("public", json!("perhaps")), "'public'"),
        (
            "1.92",
            with("disable_ramdisk", json!(3)),
            "'disable_ramdisk'",
        ),
        ("1.92", with("extra", json!([])), "'extra'"),
        ("1.92", with("owner", json!(7)), "'owner'"),
        (
            "1.92",
            with("uuid", json!("nope")),
            "Expected UUID for uuid",
        ),
        (
            "1.92",
            json!({"name": "CUSTOM_X", "steps": [bios(1)], "public": true, "owner": "p"}),
            "A public runbook cannot have an owner",
        ),
        (
            "1.112",
            with("traits", json!(["CUSTOM_X"])),
            "'traits' was unexpected",
        ),
        ("1.112", with("name", json!("")), "too short"),
        ("1.112", with("name", json!("x".repeat(256))), "too long"),
        (
            "1.112",
            with("description", json!("d".repeat(256))),
            "too long",
        ),
        (
            "1.92",
            json!([runbook("CUSTOM_X")]),
            "is not of type 'object'",
        ),
    ];
    for (version, body, needle) in table {
        refused(&create(&site, version, body).await, needle);
    }
    let early = create(&site, "1.92", with("description", json!("d"))).await;
    assert_eq!(
        early.status,
        StatusCode::NOT_ACCEPTABLE,
        "description is 1.112"
    );
    let list = site.call("GET", "/v1/runbooks", Some("1.112"), None).await;
    assert_eq!(list.body["runbooks"], json!([]), "nothing was created");

    assert_eq!(
        create(&site, "1.92", runbook("CUSTOM_ONE")).await.status,
        StatusCode::CREATED
    );
    let twice = create(&site, "1.92", runbook("CUSTOM_ONE")).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(
        fault(&twice.body),
        "A runbook with name CUSTOM_ONE already exists."
    );

    let before = site
        .call("GET", "/v1/runbooks/CUSTOM_ONE", Some("1.112"), None)
        .await
        .body;
    let shared = &site;
    let patch = |ops: Value| async move {
        shared
            .call("PATCH", "/v1/runbooks/CUSTOM_ONE", Some("1.112"), Some(ops))
            .await
    };
    let patches: Vec<(Value, &str)> = vec![
        (
            json!([{"op": "add", "path": "/traits", "value": ["CUSTOM_X"]}]),
            "read-only",
        ),
        (
            json!([{"op": "replace", "path": "/uuid", "value": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"}]),
            "read-only",
        ),
        (
            json!([{"op": "add", "path": "/bogus", "value": 1}]),
            "no such field",
        ),
        (
            json!([{"op": "remove", "path": "/steps"}]),
            "'steps' is a required property",
        ),
        (
            json!([{"op": "replace", "path": "/steps/0/interface", "value": "boot"}]),
            "is not one of",
        ),
        (
            json!([{"op": "replace", "path": "/public", "value": true}, {"op": "replace", "path": "/owner", "value": "p"}]),
            "public runbook",
        ),
        (
            json!([{"op": "remove", "path": "/steps/5"}]),
            "out of range",
        ),
        (json!({"op": "remove"}), "list of operations"),
    ];
    for (ops, needle) in patches {
        refused(&patch(ops).await, needle);
    }
    let after = site
        .call("GET", "/v1/runbooks/CUSTOM_ONE", Some("1.112"), None)
        .await
        .body;
    assert_eq!(before, after, "refused patches change nothing");
    let renamed = site
        .call(
            "PATCH",
            "/v1/runbooks/CUSTOM_ONE",
            Some("1.92"),
            Some(json!([{"op": "replace", "path": "/name", "value": "free form"}])),
        )
        .await;
    refused(&renamed, "does not match");
}

#[tokio::test]
async fn free_names_and_the_trait_set_from_1_112() {
    let site = site().await;
    let mut body = runbook("fw-upgrade");
    body["description"] = json!("BIOS and firmware refresh");
    let created = create(&site, "1.112", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["traits"], json!([]));
    assert_eq!(created.body["description"], "BIOS and firmware refresh");
    let path = "/v1/runbooks/fw-upgrade/traits";
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let site = &site;
        async move { site.call(method, &path, Some("1.112"), body).await }
    };

    let set = call(
        "PUT",
        path.into(),
        Some(json!({"traits": ["CUSTOM_B", "CUSTOM_A"]})),
    )
    .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{:?}", set.body);
    let added = call("PUT", format!("{path}/CUSTOM_C"), None).await;
    assert_eq!(added.status, StatusCode::NO_CONTENT);
    assert!(
        added.headers["location"]
            .to_str()
            .unwrap_or_default()
            .ends_with("/traits")
    );
    let again = call("PUT", format!("{path}/CUSTOM_C"), None).await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "adding twice is harmless"
    );
    let listed = call("GET", path.into(), None).await;
    assert_eq!(
        listed.body,
        json!({"traits": ["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"]})
    );
    let shown = call("GET", "/v1/runbooks/fw-upgrade".into(), None).await;
    assert_eq!(shown.body["traits"], listed.body["traits"]);

    let removed = call("DELETE", format!("{path}/CUSTOM_B"), None).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let missing = call("DELETE", format!("{path}/CUSTOM_B"), None).await;
    assert_eq!(
        missing.status,
        StatusCode::NO_CONTENT,
        "removing twice is a no-op"
    );

    refused(
        &call("PUT", format!("{path}/lower_case"), None).await,
        "Invalid trait",
    );
    refused(
        &call("PUT", format!("{path}/CUSTOM_D"), Some(json!({"x": 1}))).await,
        "No body is allowed",
    );
    refused(
        &call("PUT", path.into(), Some(json!({"traits": "CUSTOM_A"}))).await,
        "is not of type 'array'",
    );
    refused(
        &call("PUT", path.into(), Some(json!({"traits": ["bad trait"]}))).await,
        "Invalid trait",
    );
    let unchanged = call("GET", path.into(), None).await;
    assert_eq!(unchanged.body, json!({"traits": ["CUSTOM_A", "CUSTOM_C"]}));
    let nobody = call("GET", "/v1/runbooks/nobody/traits".into(), None).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);

    let cleared = call("DELETE", path.into(), None).await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call("GET", path.into(), None).await.body,
        json!({"traits": []})
    );

    // A free-form name may stay when an older client edits the runbook.
    let old_edit = site
        .call(
            "PATCH",
            "/v1/runbooks/fw-upgrade",
            Some("1.92"),
            Some(json!([{"op": "add", "path": "/extra/k", "value": 1}])),
        )
        .await;
    assert_eq!(old_edit.status, StatusCode::OK, "{:?}", old_edit.body);
}

/// A fake-hardware node, enrolled at 1.112 and moved to `manageable`.
async fn manageable_node(site: &Site, name: &str, traits: &[&str]) -> String {
    let created = site
        .call(
            "POST",
            "/v1/nodes",
            Some("1.112"),
            Some(json!({"driver": "fake-hardware", "name": name})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let set = site
        .call(
            "PUT",
            &format!("/v1/nodes/{name}/traits"),
            Some("1.112"),
            Some(json!({"traits": traits})),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT);
    let manage = provision(site, name, "1.112", json!({"target": "manage"})).await;
    assert_eq!(manage.status, StatusCode::ACCEPTED);
    site.wait_for(name, "manageable").await;
    name.to_string()
}

async fn provision(site: &Site, node: &str, version: &str, body: Value) -> Answer {
    site.call(
        "PUT",
        &format!("/v1/nodes/{node}/states/provision"),
        Some(version),
        Some(body),
    )
    .await
}

/// The steps the conductor recorded for `phase` (`clean` or `service`).
fn ran(node: &Value, phase: &str) -> Vec<String> {
    node["driver_internal_info"][format!("{phase}_steps")]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    format!(
                        "{}.{}",
                        s["interface"].as_str().unwrap_or("?"),
                        s["step"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_runbook_drives_manual_cleaning() {
    let site = site().await;
    let steps = json!([
        step("raid", "create_configuration", json!({}), 30),
        step("power", "power_on", json!({}), 10),
        bios(20),
    ]);
    let created = create(
        &site,
        "1.92",
        json!({"name": "CUSTOM_RAID", "steps": steps}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let node = manageable_node(&site, "clean-me", &["CUSTOM_RAID"]).await;
    let raid = site
        .call(
            "PUT",
            "/v1/nodes/clean-me/states/raid",
            Some("1.112"),
            Some(json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1"}]})),
        )
        .await;
    assert_eq!(raid.status, StatusCode::NO_CONTENT, "{:?}", raid.body);

    // Refusals first: the node stays where it is.
    let other = manageable_node(&site, "no-trait", &["CUSTOM_OTHER"]).await;
    let refusals = [
        (
            other.as_str(),
            json!({"target": "clean", "runbook": "CUSTOM_RAID"}),
            "needs the trait CUSTOM_RAID",
        ),
        (
            node.as_str(),
            json!({"target": "clean", "runbook": "CUSTOM_NOPE"}),
            "Runbook CUSTOM_NOPE could not be found",
        ),
        (
            node.as_str(),
            json!({"target": "clean", "runbook": "CUSTOM_RAID", "clean_steps": [{"interface": "power", "step": "power_on"}]}),
            "cannot both be given",
        ),
        (
            node.as_str(),
            json!({"target": "provide", "runbook": "CUSTOM_RAID"}),
            "only valid when setting target provision state to clean or service",
        ),
        (
            node.as_str(),
            json!({"target": "clean", "runbook": 5}),
            "is not of type 'string'",
        ),
    ];
    for (target, body, needle) in refusals {
        refused(&provision(&site, target, "1.92", body).await, needle);
        let still = site
            .call("GET", &format!("/v1/nodes/{target}"), Some("1.92"), None)
            .await;
        assert_eq!(still.body["provision_state"], "manageable");
        assert_eq!(still.body["last_error"], Value::Null);
    }
    let early = provision(
        &site,
        &node,
        "1.91",
        json!({"target": "clean", "runbook": "CUSTOM_RAID"}),
    )
    .await;
    assert_eq!(early.status, StatusCode::NOT_ACCEPTABLE);

    let uuid = created.body["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let accepted = provision(
        &site,
        &node,
        "1.92",
        json!({"target": "clean", "runbook": uuid}),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let done = site.wait_for(&node, "manageable").await;
    assert_eq!(done["last_error"], Value::Null);
    assert_eq!(
        ran(&done, "clean"),
        [
            "power.power_on",
            "bios.apply_configuration",
            "raid.create_configuration"
        ],
        "the runbook's steps ran by order"
    );
    assert_eq!(
        done["driver_internal_info"]["clean_steps"][1]["args"],
        json!({"settings": [{"name": "LogicalProc", "value": "Enabled"}]})
    );
    assert_eq!(done["power_state"], "power on");
    assert_eq!(
        done["raid_config"]["logical_disks"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the RAID step ran"
    );
}

#[tokio::test]
async fn a_runbook_drives_servicing_by_its_traits() {
    let site = site().await;
    let node = manageable_node(&site, "svc", &["CUSTOM_GPU"]).await;
    provision(&site, &node, "1.112", json!({"target": "provide"})).await;
    site.wait_for(&node, "available").await;
    provision(&site, &node, "1.112", json!({"target": "active"})).await;
    site.wait_for(&node, "active").await;

    let steps = json!([
        step("power", "power_on", json!({}), 2),
        step("bios", "factory_reset", json!({}), 1),
    ]);
    let body = json!({"name": "gpu-refresh", "steps": steps, "disable_ramdisk": true});
    assert_eq!(
        create(&site, "1.112", body).await.status,
        StatusCode::CREATED
    );
    let service = json!({"target": "service", "runbook": "gpu-refresh"});

    // At 1.112 the trait set decides: empty, so nobody may use it.
    refused(
        &provision(&site, &node, "1.112", service.clone()).await,
        "one of the runbook's traits []",
    );
    site.call(
        "PUT",
        "/v1/runbooks/gpu-refresh/traits/CUSTOM_GPU",
        Some("1.112"),
        None,
    )
    .await;
    // Before 1.112 the name decides, and "gpu-refresh" is no node trait.
    refused(
        &provision(&site, &node, "1.111", service.clone()).await,
        "needs the trait gpu-refresh",
    );
    // Skipping the ramdisk in servicing needs 1.108, from a runbook too.
    let old = json!({"name": "CUSTOM_GPU", "steps": [bios(1)], "disable_ramdisk": true});
    assert_eq!(create(&site, "1.92", old).await.status, StatusCode::CREATED);
    let by_name = json!({"target": "service", "runbook": "CUSTOM_GPU"});
    refused(&provision(&site, &node, "1.107", by_name).await, "1.108");
    let state = site
        .call("GET", &format!("/v1/nodes/{node}"), Some("1.112"), None)
        .await;
    assert_eq!(state.body["provision_state"], "active");

    let accepted = provision(&site, &node, "1.112", service).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    let done = site.wait_for(&node, "active").await;
    assert_eq!(done["last_error"], Value::Null);
    assert_eq!(
        ran(&done, "service"),
        ["bios.factory_reset", "power.power_on"]
    );
    assert_eq!(done["power_state"], "power on");
}
