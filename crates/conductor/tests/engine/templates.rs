//! Deploy templates joining the deploy step list (reference §6.2): a
//! template named by one of the instance's traits adds its steps, the
//! user's own deploy steps override them, priority 0 disables, and a
//! template the driver cannot run fails the deployment.

use chrono::Utc;
use ferrite_model::deploy_template::parse_steps;
use ferrite_model::{DeployTemplate, ProvisionArgs, ProvisionState as S, Verb};
use ferrite_store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

/// BIOS settings the fake BIOS interface accepts.
fn bios_step(priority: u64) -> Value {
    json!({"interface": "bios", "step": "apply_configuration",
           "args": {"settings": [{"name": "HyperThreading", "value": "Enabled"}]},
           "priority": priority})
}

async fn add_template(store: &Store, name: &str, steps: Value) {
    let steps = parse_steps(&steps).expect("valid template steps");
    store
        .insert(DeployTemplate {
            uuid: Uuid::new_v4(),
            name: name.into(),
            steps,
            created_at: Utc::now(),
            ..DeployTemplate::default()
        })
        .await
        .expect("insert template");
}

async fn with_traits(store: &Store, uuid: Uuid, traits: Value) {
    edit(store, uuid, move |n| {
        n.instance_info.insert("traits".into(), traits);
    })
    .await;
}

/// `interface.step:priority` of each recorded deploy step, in order.
fn recorded(n: &ferrite_model::Node) -> Vec<String> {
    n.driver_internal_info
        .get("deploy_steps")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|s| {
                    format!(
                        "{}.{}:{}",
                        s["interface"].as_str().unwrap_or("?"),
                        s["step"].as_str().unwrap_or("?"),
                        s["priority"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

const CORE: [&str; 6] = [
    "deploy.deploy:100",
    "deploy.write_image:80",
    "deploy.prepare_instance_boot:60",
    "deploy.tear_down_agent:40",
    "deploy.switch_to_tenant_network:30",
    "deploy.boot_instance:20",
];

#[tokio::test]
async fn a_template_named_by_an_instance_trait_adds_its_steps() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    add_template(s, "CUSTOM_HYPERTHREADING_ON", json!([bios_step(150)])).await;
    add_template(
        s,
        "CUSTOM_UNUSED",
        json!([{"interface": "bios", "step": "factory_reset", "args": {}, "priority": 110}]),
    )
    .await;
    let uuid = node_in(s, &c, S::Available).await;
    with_traits(s, uuid, json!(["CUSTOM_HYPERTHREADING_ON", "CUSTOM_GPU"])).await;

    let n = run(s, &c, uuid, Verb::Active, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    let mut expected = vec!["bios.apply_configuration:150".to_string()];
    expected.extend(CORE.iter().map(|s| s.to_string()));
    assert_eq!(recorded(&n), expected);
    let first = &n.driver_internal_info["deploy_steps"][0];
    assert_eq!(first["args"]["settings"][0]["name"], "HyperThreading");
    c.shutdown().await;
}

#[tokio::test]
async fn without_instance_traits_no_template_applies() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    add_template(s, "CUSTOM_HYPERTHREADING_ON", json!([bios_step(150)])).await;
    let uuid = node_in(s, &c, S::Available).await;
    let n = run(s, &c, uuid, Verb::Active, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    assert_eq!(recorded(&n), CORE);
    c.shutdown().await;
}

#[tokio::test]
async fn user_steps_override_template_steps() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    add_template(
        s,
        "CUSTOM_TUNED",
        json!([
            bios_step(150),
            {"interface": "deploy", "step": "tear_down_agent", "args": {}, "priority": 0},
        ]),
    )
    .await;
    let uuid = node_in(s, &c, S::Available).await;
    with_traits(s, uuid, json!(["CUSTOM_TUNED"])).await;

    // The user moves the BIOS step between write_image and
    // prepare_instance_boot, with its own settings; the template's
    // priority 0 still removes tear_down_agent.
    let mut mine = bios_step(70);
    mine["args"]["settings"][0]["value"] = json!("Disabled");
    let args = ProvisionArgs {
        deploy_steps: Some(vec![mine]),
        ..ProvisionArgs::default()
    };
    let n = run(s, &c, uuid, Verb::Active, args).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    assert_eq!(
        recorded(&n),
        [
            "deploy.deploy:100",
            "deploy.write_image:80",
            "bios.apply_configuration:70",
            "deploy.prepare_instance_boot:60",
            "deploy.switch_to_tenant_network:30",
            "deploy.boot_instance:20",
        ]
    );
    assert_eq!(
        n.driver_internal_info["deploy_steps"][2]["args"]["settings"][0]["value"],
        "Disabled"
    );

    // Priority 0 from the user disables the template's step altogether.
    let n = run(s, &c, uuid, Verb::Deleted, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Available, "{:?}", n.last_error);
    with_traits(s, uuid, json!(["CUSTOM_TUNED"])).await;
    let args = ProvisionArgs {
        deploy_steps: Some(vec![bios_step(0)]),
        ..ProvisionArgs::default()
    };
    let n = run(s, &c, uuid, Verb::Active, args).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    let without_tear_down: Vec<&str> = CORE
        .iter()
        .copied()
        .filter(|s| !s.starts_with("deploy.tear_down_agent"))
        .collect();
    assert_eq!(recorded(&n), without_tear_down);
    c.shutdown().await;
}

#[tokio::test]
async fn a_template_the_driver_cannot_run_fails_the_deploy() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    add_template(
        s,
        "CUSTOM_FLY",
        json!([{"interface": "management", "step": "fly", "args": {}, "priority": 10}]),
    )
    .await;
    let uuid = node_in(s, &c, S::Available).await;
    with_traits(s, uuid, json!(["CUSTOM_FLY"])).await;
    let n = run(s, &c, uuid, Verb::Active, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::DeployFailed);
    let err = n.last_error.unwrap_or_default();
    assert!(err.contains("management.fly"), "{err}");

    // Two templates naming the same step cannot both apply.
    add_template(s, "CUSTOM_A", json!([bios_step(150)])).await;
    add_template(s, "CUSTOM_B", json!([bios_step(120)])).await;
    let other = node_in(s, &c, S::Available).await;
    with_traits(s, other, json!(["CUSTOM_A", "CUSTOM_B"])).await;
    let n = run(s, &c, other, Verb::Active, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::DeployFailed);
    let err = n.last_error.unwrap_or_default();
    assert!(err.contains("bios.apply_configuration"), "{err}");
    c.shutdown().await;
}
