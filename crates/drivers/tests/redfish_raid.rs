//! The `redfish` RAID interface's deploy/service step
//! `raid.apply_configuration` and the `redfish-graphical` console against
//! bmcsim (sushy-tools' fake driver has no storage): cleaning's create and
//! delete steps are covered through the API by scripts/bmcsim_e2e.py.

use ferrite_bmcsim::{Config, Simulator};
use ferrite_drivers::{
    Driver, DriverError, FakeDelays, InterfaceKind, NodeUpdate, StepOutcome, StepPhase,
};
use ferrite_model::{Dict, Node};
use serde_json::{Value, json};

async fn start() -> (Simulator, usize) {
    let sim = Simulator::start(Config {
        systems: 16,
        ..Config::default()
    })
    .await
    .expect("bmcsim starts");
    let four = (0..16)
        .find(|i| sim.fleet().inventory().hardware(*i).drives.len() == 4)
        .expect("a system with four drives");
    (sim, four)
}

fn node(sim: &Simulator, i: usize) -> Node {
    let info = json!({
        "redfish_address": sim.base_url(),
        "redfish_system_id": sim.fleet().system_path(i),
        "redfish_username": "admin",
        "redfish_password": "password",
    });
    Node {
        driver: "redfish".into(),
        raid_interface: Some("redfish".into()),
        console_interface: Some("redfish-graphical".into()),
        driver_info: info.as_object().cloned().unwrap_or_default(),
        ..Node::default()
    }
}

fn args(v: Value) -> Dict {
    v.as_object().cloned().unwrap_or_default()
}

async fn apply(n: &Node, phase: StepPhase, a: Value) -> Result<NodeUpdate, DriverError> {
    let d = Driver::build(n, &FakeDelays::default())?;
    match d
        .execute_step(
            n,
            phase,
            InterfaceKind::Raid,
            "apply_configuration",
            &args(a),
        )
        .await?
    {
        StepOutcome::Done(update) => Ok(update),
        StepOutcome::Wait(_) => panic!("the redfish RAID step never waits"),
    }
}

fn disks(update: &NodeUpdate) -> Vec<Value> {
    update
        .raid_config
        .as_ref()
        .and_then(|c| c.get("logical_disks"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn apply_configuration_replaces_the_volumes() {
    let (sim, i) = start().await;
    let n = node(&sim, i);
    let config = json!({"logical_disks": [
        {"size_gb": 200, "raid_level": "1", "is_root_volume": true},
        {"size_gb": "MAX", "raid_level": "0", "volume_name": "data"},
    ]});
    let Ok(update) = apply(&n, StepPhase::Deploy, json!({"raid_config": config})).await else {
        panic!("apply_configuration failed")
    };
    let got = disks(&update);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["size_gb"], 200);
    assert_eq!(got[1]["volume_name"], "data");
    let snapshot = sim.fleet().snapshot(i).expect("snapshot");
    assert_eq!(snapshot.volumes, 2);

    // Without deleting first there are no free drives left.
    let keep = json!({"raid_config": {"logical_disks": [{"size_gb": 10, "raid_level": "1"}]},
                      "delete_existing": false});
    match apply(&n, StepPhase::Service, keep).await {
        Err(DriverError::Failed(m)) => assert!(m.contains("free drives"), "{m}"),
        other => panic!("built on used drives: {other:?}"),
    }
    assert_eq!(sim.fleet().snapshot(i).expect("snapshot").volumes, 2);

    // Only the root volume when asked so.
    let root_only = json!({"raid_config": config, "create_nonroot_volumes": false});
    let Ok(update) = apply(&n, StepPhase::Service, root_only).await else {
        panic!("root-only apply failed")
    };
    assert_eq!(disks(&update).len(), 1);
    assert_eq!(sim.fleet().snapshot(i).expect("snapshot").volumes, 1);

    let bad = json!({"raid_config": {"logical_disks": [{"size_gb": 1}]}});
    assert!(matches!(
        apply(&n, StepPhase::Deploy, bad).await,
        Err(DriverError::InvalidParameter(_))
    ));
}

#[tokio::test]
async fn graphical_console_checks_the_bmc_and_names_its_web_console() {
    let (sim, i) = start().await;
    let n = node(&sim, i);
    let d = Driver::build(&n, &FakeDelays::default()).expect("driver");
    assert_eq!(d.console.name(), "redfish-graphical");
    assert_eq!(d.console.start_console(&n).await, Ok(()));
    let info = d.console.console_info(&n).expect("console info");
    assert_eq!(
        info,
        json!({"type": "vnc", "url": format!("{}/", sim.base_url())})
    );
    let mut wrong = n.clone();
    wrong.driver_info.insert(
        "redfish_system_id".into(),
        json!("/redfish/v1/Systems/nope"),
    );
    assert!(d.console.start_console(&wrong).await.is_err());
}
