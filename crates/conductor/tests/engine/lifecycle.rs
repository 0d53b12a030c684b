//! Whole lifecycles with zero delays: every verb moves the node on its own
//! to where Ironic's fake hardware would.

use ferrite_model::{Intent, PowerState, PowerTarget, ProvisionArgs, ProvisionState as S, Verb};
use serde_json::json;

use crate::common::*;

fn none() -> ProvisionArgs {
    ProvisionArgs::default()
}

#[tokio::test]
async fn enroll_manage_provide_deploy_undeploy() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = add_node(s, S::Enroll).await;

    let n = run(s, &c, uuid, Verb::Manage, none()).await;
    assert_eq!(n.provision_state, S::Manageable);
    assert_eq!(n.target_provision_state, None);
    assert_eq!(
        n.power_state,
        Some(PowerState::Off),
        "verification records the power state"
    );
    assert_eq!(n.last_error, None);

    let n = run(s, &c, uuid, Verb::Provide, none()).await;
    assert_eq!(n.provision_state, S::Available);
    assert_eq!(n.target_provision_state, None);
    assert_eq!(n.driver_internal_info.get("clean_steps"), Some(&json!([])));
    assert!(n.clean_step.is_empty());

    let args = ProvisionArgs {
        configdrive: Some(json!({"meta_data": {"hostname": "h1"}})),
        deploy_steps: steps(json!([{
            "interface": "bios", "step": "apply_configuration", "priority": 150,
            "args": {"settings": [{"name": "LogicalProc", "value": "Enabled"}]}
        }])),
        ..none()
    };
    let n = run(s, &c, uuid, Verb::Active, args).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    assert_eq!(n.target_provision_state, None);
    assert_eq!(n.power_state, Some(PowerState::On));
    assert!(
        n.deploy_step.is_empty(),
        "deploy_step cleared: {:?}",
        n.deploy_step
    );
    assert_eq!(
        n.instance_info.get("configdrive"),
        Some(&json!({"meta_data": {"hostname": "h1"}}))
    );
    let recorded: Vec<String> = n.driver_internal_info["deploy_steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{}.{}",
                        s["interface"].as_str().unwrap_or(""),
                        s["step"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        recorded,
        [
            "bios.apply_configuration",
            "deploy.deploy",
            "deploy.write_image",
            "deploy.prepare_instance_boot",
            "deploy.tear_down_agent",
            "deploy.switch_to_tenant_network",
            "deploy.boot_instance",
        ]
    );
    assert!(!n.driver_internal_info.contains_key("deploy_step_index"));

    let n = run(s, &c, uuid, Verb::Undeploy, none()).await;
    assert_eq!(n.provision_state, S::Available, "{:?}", n.last_error);
    assert_eq!(n.power_state, Some(PowerState::Off));
    assert!(
        n.instance_info.is_empty(),
        "instance_info cleared: {:?}",
        n.instance_info
    );
    assert!(!n.driver_internal_info.contains_key("deploy_steps"));
    c.shutdown().await;
}

#[tokio::test]
async fn inspect_adopt_rescue_unrescue() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;

    let n = run(s, &c, uuid, Verb::Inspect, none()).await;
    assert_eq!(n.provision_state, S::Manageable);
    let (Some(started), Some(finished)) = (n.inspection_started_at, n.inspection_finished_at)
    else {
        panic!("inspection timestamps missing: {n:?}")
    };
    assert!(started <= finished);

    let n = run(s, &c, uuid, Verb::Adopt, none()).await;
    assert_eq!(n.provision_state, S::Active);

    let n = run(s, &c, uuid, Verb::Rescue, none()).await;
    assert_eq!(n.provision_state, S::RescueFailed, "no password");
    assert!(
        n.last_error
            .as_deref()
            .is_some_and(|e| e.contains("rescue_password"))
    );

    let args = ProvisionArgs {
        rescue_password: Some("s3cret".into()),
        ..none()
    };
    let n = run(s, &c, uuid, Verb::Rescue, args).await;
    assert_eq!(n.provision_state, S::Rescue, "{:?}", n.last_error);
    assert_eq!(
        n.instance_info.get("rescue_password"),
        Some(&json!("s3cret"))
    );
    assert_eq!(n.last_error, None);

    let n = run(s, &c, uuid, Verb::Unrescue, none()).await;
    assert_eq!(n.provision_state, S::Active);
    assert!(!n.instance_info.contains_key("rescue_password"));
    c.shutdown().await;
}

#[tokio::test]
async fn service_runs_steps_and_fails_on_unknown_ones() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Active).await;

    let args = ProvisionArgs {
        service_steps: steps(json!([
            {"interface": "power", "step": "power_off"},
            {"interface": "bios", "step": "factory_reset"},
            {"interface": "power", "step": "power_on"}
        ])),
        ..none()
    };
    let n = run(s, &c, uuid, Verb::Service, args).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    assert!(n.service_step.is_empty());
    assert_eq!(n.power_state, Some(PowerState::On));
    assert_eq!(
        n.driver_internal_info["service_steps"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    let args = ProvisionArgs {
        service_steps: steps(json!([{"interface": "deploy", "step": "levitate"}])),
        ..none()
    };
    let n = run(s, &c, uuid, Verb::Service, args).await;
    assert_eq!(n.provision_state, S::ServiceFailed);
    assert!(
        n.last_error
            .as_deref()
            .is_some_and(|e| e.contains("deploy.levitate")),
        "{:?}",
        n.last_error
    );

    let n = run(s, &c, uuid, Verb::Service, none()).await;
    assert_eq!(n.provision_state, S::ServiceFailed);
    assert!(
        n.last_error
            .as_deref()
            .is_some_and(|e| e.contains("service_steps"))
    );
    c.shutdown().await;
}

#[tokio::test]
async fn power_boot_mode_secure_boot_and_console_intents() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;

    power(s, &c, uuid, PowerTarget::On).await;
    let n = settle(s, uuid).await;
    assert_eq!(n.power_state, Some(PowerState::On));
    assert_eq!(n.target_power_state, None);

    power(s, &c, uuid, PowerTarget::SoftOff).await;
    let n = settle(s, uuid).await;
    assert_eq!(n.power_state, Some(PowerState::Off));

    power(s, &c, uuid, PowerTarget::Reboot).await;
    let n = settle(s, uuid).await;
    assert_eq!(n.power_state, Some(PowerState::On));
    assert_eq!(
        n.provision_state,
        S::Manageable,
        "power never moves the provision state"
    );

    intend(
        s,
        &c,
        uuid,
        Intent::BootMode {
            target: "uefi".into(),
        },
    )
    .await;
    let n = settle(s, uuid).await;
    assert_eq!(n.boot_mode.as_deref(), Some("uefi"));

    intend(
        s,
        &c,
        uuid,
        Intent::BootMode {
            target: "floppy".into(),
        },
    )
    .await;
    let n = settle(s, uuid).await;
    assert_eq!(n.boot_mode.as_deref(), Some("uefi"));
    assert!(
        n.last_error
            .as_deref()
            .is_some_and(|e| e.contains("floppy")),
        "{:?}",
        n.last_error
    );

    intend(s, &c, uuid, Intent::SecureBoot { target: true }).await;
    let n = settle(s, uuid).await;
    assert_eq!(n.secure_boot, Some(true));
    assert_eq!(n.last_error, None, "success clears last_error");

    intend(s, &c, uuid, Intent::Console { enabled: true }).await;
    assert!(settle(s, uuid).await.console_enabled);
    intend(s, &c, uuid, Intent::Console { enabled: false }).await;
    assert!(!settle(s, uuid).await.console_enabled);

    // A power interface the build cannot drive fails with a last_error and
    // clears the pending target.
    edit(s, uuid, |n| n.power_interface = Some("redfish".into())).await;
    power(s, &c, uuid, PowerTarget::Off).await;
    let n = settle(s, uuid).await;
    assert_eq!(n.target_power_state, None);
    assert_eq!(n.power_state, Some(PowerState::On));
    assert!(
        n.last_error
            .as_deref()
            .is_some_and(|e| e.contains("redfish")),
        "{:?}",
        n.last_error
    );
    c.shutdown().await;
}

#[tokio::test]
async fn automated_clean_can_be_turned_off_and_retired_nodes_end_manageable() {
    let site = site().await;
    let s = &site.store;
    let c = start(
        s,
        ferrite_conductor::ConductorConfig {
            automated_clean: false,
            ..config()
        },
    )
    .await;
    let uuid = node_in(s, &c, S::Available).await;
    assert_eq!(
        get(s, uuid).await.driver_internal_info.get("clean_steps"),
        Some(&json!([]))
    );

    run(s, &c, uuid, Verb::Active, none()).await;
    edit(s, uuid, |n| {
        n.retired = true;
        n.instance_uuid = Some(uuid::Uuid::new_v4());
    })
    .await;
    let n = run(s, &c, uuid, Verb::Deleted, none()).await;
    assert_eq!(
        n.provision_state,
        S::Manageable,
        "retired nodes stop at manageable"
    );
    assert_eq!(n.instance_uuid, None);
    c.shutdown().await;
}

#[tokio::test]
async fn unknown_hardware_type_fails_the_operation() {
    let site = site().await;
    let s = &site.store;
    let c = start(s, config()).await;
    let uuid = add(
        s,
        ferrite_model::Node {
            driver: "ilo".into(),
            ..fresh()
        },
    )
    .await;
    let n = run(s, &c, uuid, Verb::Manage, none()).await;
    assert_eq!(n.provision_state, S::Enroll);
    assert!(
        n.last_error.as_deref().is_some_and(|e| e.contains("ilo")),
        "{:?}",
        n.last_error
    );
    c.shutdown().await;
}
