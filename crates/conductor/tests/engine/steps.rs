//! Step pipelines: manual cleaning with hold/unhold, wait steps, callback
//! timeouts, abort, failing steps, deploy holds.

use std::time::Duration;

use ferrite_conductor::ConductorConfig;
use ferrite_model::{PowerState, ProvisionArgs, ProvisionState as S, Verb};
use serde_json::{Value, json};

use crate::common::*;

fn clean(list: Value) -> ProvisionArgs {
    ProvisionArgs {
        clean_steps: steps(list),
        ..ProvisionArgs::default()
    }
}

#[tokio::test]
async fn manual_clean_with_hold_then_unhold_completes() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    edit(s, uuid, |n| {
        n.target_raid_config = json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1"}]})
            .as_object()
            .cloned()
            .unwrap_or_default();
    })
    .await;

    let args = clean(json!([
        {"interface": "power", "step": "power_on"},
        {"interface": "deploy", "step": "hold"},
        {"interface": "raid", "step": "create_configuration"},
    ]));
    let n = run(s, &c, uuid, Verb::Clean, args).await;
    assert_eq!(n.provision_state, S::CleanHold, "{:?}", n.last_error);
    assert_eq!(n.target_provision_state, Some(S::Manageable));
    assert_eq!(n.clean_step.get("step"), Some(&json!("hold")));
    assert_eq!(
        n.power_state,
        Some(PowerState::On),
        "steps before the hold ran"
    );
    assert!(n.raid_config.is_empty(), "steps after the hold did not run");

    let n = run(s, &c, uuid, Verb::Unhold, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Manageable, "{:?}", n.last_error);
    assert_eq!(n.target_provision_state, None);
    assert!(n.clean_step.is_empty());
    assert_eq!(
        n.raid_config
            .get("logical_disks")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(1)
    );
    assert!(!n.maintenance);
    c.shutdown().await;
}

#[tokio::test]
async fn wait_with_seconds_resumes_by_itself() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    let args = clean(json!([
        {"interface": "deploy", "step": "wait", "args": {"seconds": 0.6}},
        {"interface": "power", "step": "power_on"},
    ]));
    provision(s, &c, uuid, Verb::Clean, args)
        .await
        .expect("accepted");
    let n = wait_for(s, uuid, "clean wait", |n| n.provision_state == S::CleanWait).await;
    assert_eq!(n.reservation, None, "the lock is not held while waiting");
    let n = wait_for(s, uuid, "manageable", |n| {
        n.provision_state == S::Manageable
    })
    .await;
    assert_eq!(n.power_state, Some(PowerState::On));
    assert!(!n.driver_internal_info.contains_key("step_wait_until"));
    c.shutdown().await;
}

#[tokio::test]
async fn wait_without_seconds_times_out_into_clean_failed() {
    let site = site().await;
    let s = &site.store;
    let config = ConductorConfig {
        clean_callback_timeout: 1.0,
        check_provision_state_interval: 0.1,
        ..config()
    };
    let c = start(s, config).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    let n = run(
        s,
        &c,
        uuid,
        Verb::Clean,
        clean(json!([{"interface": "deploy", "step": "wait"}])),
    )
    .await;
    assert_eq!(n.provision_state, S::CleanWait);
    let n = wait_for(s, uuid, "clean failed", |n| {
        n.provision_state == S::CleanFailed
    })
    .await;
    assert_eq!(
        n.target_provision_state,
        Some(S::Manageable),
        "manual cleaning keeps its target"
    );
    assert!(n.maintenance);
    assert_eq!(n.fault.as_deref(), Some("clean failure"));
    let err = n.last_error.unwrap_or_default();
    assert!(err.contains("clean_callback_timeout"), "{err}");
    assert!(n.clean_step.is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn timeouts_skip_maintenance_and_fresh_nodes() {
    let site = site().await;
    let s = &site.store;
    let config = ConductorConfig {
        deploy_callback_timeout: 0.3,
        check_provision_state_interval: 0.05,
        ..config()
    };
    let c = start(s, config).await;
    let in_maintenance = add(
        s,
        ferrite_model::Node {
            provision_state: S::DeployWait,
            target_provision_state: Some(S::Active),
            provision_updated_at: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
            maintenance: true,
            ..fresh()
        },
    )
    .await;
    let stale = add(
        s,
        ferrite_model::Node {
            provision_state: S::DeployWait,
            target_provision_state: Some(S::Active),
            provision_updated_at: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
            ..fresh()
        },
    )
    .await;
    let n = wait_for(s, stale, "deploy failed", |n| {
        n.provision_state == S::DeployFailed
    })
    .await;
    assert!(
        n.last_error
            .unwrap_or_default()
            .contains("deploy_callback_timeout")
    );
    assert!(!n.maintenance, "only clean wait timeouts set maintenance");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(s, in_maintenance).await.provision_state, S::DeployWait);
    c.shutdown().await;
}

#[tokio::test]
async fn abort_stops_a_waiting_node_for_good() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    let args = clean(json!([
        {"interface": "deploy", "step": "wait", "args": {"seconds": 1.0}},
        {"interface": "power", "step": "power_on"},
    ]));
    let n = run(s, &c, uuid, Verb::Clean, args).await;
    assert_eq!(n.provision_state, S::CleanWait);
    provision(s, &c, uuid, Verb::Abort, ProvisionArgs::default())
        .await
        .expect("abort");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let n = settle(s, uuid).await;
    assert_eq!(
        n.provision_state,
        S::CleanFailed,
        "the wait timer must not resume an aborted node"
    );
    assert_ne!(n.power_state, Some(PowerState::On));

    // Abort out of a hold, then recover with manage.
    let n = run(s, &c, uuid, Verb::Manage, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Manageable);
    let n = run(
        s,
        &c,
        uuid,
        Verb::Clean,
        clean(json!([{"interface": "deploy", "step": "hold"}])),
    )
    .await;
    assert_eq!(n.provision_state, S::CleanHold);
    provision(s, &c, uuid, Verb::Abort, ProvisionArgs::default())
        .await
        .expect("abort");
    assert_eq!(settle(s, uuid).await.provision_state, S::CleanFailed);
    c.shutdown().await;
}

#[tokio::test]
async fn a_failing_clean_step_sets_maintenance_and_names_the_step() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    let args = clean(json!([{"interface": "raid", "step": "create_configuration"}]));
    let n = run(s, &c, uuid, Verb::Clean, args).await;
    assert_eq!(n.provision_state, S::CleanFailed);
    assert!(n.maintenance);
    assert_eq!(n.fault.as_deref(), Some("clean failure"));
    let err = n.last_error.unwrap_or_default();
    assert!(
        err.contains("raid.create_configuration") && err.contains("target_raid_config"),
        "{err}"
    );

    // An unknown step is refused before anything runs: no maintenance.
    edit(s, uuid, |n| {
        n.maintenance = false;
        n.fault = None;
    })
    .await;
    run(s, &c, uuid, Verb::Manage, ProvisionArgs::default()).await;
    let n = run(
        s,
        &c,
        uuid,
        Verb::Clean,
        clean(json!([{"interface": "bios", "step": "overclock"}])),
    )
    .await;
    assert_eq!(n.provision_state, S::CleanFailed);
    assert!(!n.maintenance);
    assert!(n.last_error.unwrap_or_default().contains("bios.overclock"));
    c.shutdown().await;
}

#[tokio::test]
async fn deploy_hold_unhold_and_bad_deploy_steps() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Available).await;
    let args = ProvisionArgs {
        deploy_steps: steps(json!([{"interface": "deploy", "step": "hold", "priority": 50}])),
        ..ProvisionArgs::default()
    };
    let n = run(s, &c, uuid, Verb::Active, args).await;
    assert_eq!(n.provision_state, S::DeployHold, "{:?}", n.last_error);
    assert_eq!(n.deploy_step.get("step"), Some(&json!("hold")));
    assert_eq!(
        n.power_state,
        Some(PowerState::Off),
        "boot_instance (20) comes after the hold (50)"
    );

    let n = run(s, &c, uuid, Verb::Unhold, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    assert_eq!(n.power_state, Some(PowerState::On));
    assert!(n.deploy_step.is_empty());

    let n = run(
        s,
        &c,
        uuid,
        Verb::Rebuild,
        ProvisionArgs {
            deploy_steps: steps(
                json!([{"interface": "deploy", "step": "teleport", "priority": 5}]),
            ),
            ..ProvisionArgs::default()
        },
    )
    .await;
    assert_eq!(n.provision_state, S::DeployFailed);
    assert!(n.last_error.unwrap_or_default().contains("deploy.teleport"));
    assert!(n.deploy_step.is_empty());

    // A deploy failure is recoverable by deploying again.
    let n = run(s, &c, uuid, Verb::Active, ProvisionArgs::default()).await;
    assert_eq!(n.provision_state, S::Active);
    assert_eq!(n.last_error, None);
    c.shutdown().await;
}
