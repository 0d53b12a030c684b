//! The `ipmi` power interface, built through the registry like the
//! conductor builds it, running the real ipmitool against OpenIPMI's
//! `ipmi_sim` on 127.0.0.1.

mod common;

use std::time::Duration;

use common::ipmi_sim::{IPMI_PASSWORD, IPMI_VIEWER, IPMI_VIEWER_PASSWORD, IpmiSim};
use ferrite_drivers::{Driver, DriverError, FakeDelays};
use ferrite_model::{Node, PowerState, PowerTarget};
use serde_json::json;

const WAIT: Option<Duration> = Some(Duration::from_secs(30));

fn driver(node: &Node) -> Driver {
    match Driver::build(node, &FakeDelays::default()) {
        Ok(d) => d,
        Err(e) => panic!("cannot build the ipmi driver: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_changes_reach_the_simulator() {
    let sim = IpmiSim::start();
    let n = sim.node();
    let d = driver(&n);
    assert_eq!(d.power.name(), "ipmitool");
    assert_eq!(d.power.validate(&n).await, Ok(()));
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::Off));

    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::On, WAIT).await,
        Ok(PowerState::On)
    );
    assert!(sim.powered());
    assert_eq!(d.power.get_power_state(&n).await, Ok(PowerState::On));
    assert!(sim.calls().contains(&"set power 1".to_string()));

    // A reboot of a running machine is a power cycle: off, then on again
    // (ipmi_sim powers back on one second later).
    sim.clear_calls();
    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::Reboot, WAIT).await,
        Ok(PowerState::On)
    );
    let calls = sim.calls();
    let off = calls.iter().position(|c| c == "set power 0");
    let on = calls.iter().position(|c| c == "set power 1");
    assert!(off.is_some() && on > off, "{calls:?}");
    assert!(sim.powered());

    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::Off, WAIT).await,
        Ok(PowerState::Off)
    );
    assert!(!sim.powered());

    // Off already: nothing is sent to the chassis.
    sim.clear_calls();
    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::Off, WAIT).await,
        Ok(PowerState::Off)
    );
    assert!(
        !sim.calls().iter().any(|c| c.starts_with("set")),
        "{:?}",
        sim.calls()
    );

    // A reboot of a machine that is off just powers it on.
    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::Reboot, WAIT).await,
        Ok(PowerState::On)
    );
    assert!(sim.powered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_power_off_waits_for_the_os() {
    let sim = IpmiSim::start();
    let n = sim.node();
    let d = driver(&n);
    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::On, WAIT).await,
        Ok(PowerState::On)
    );
    // The simulated OS takes a second to shut down after the ACPI request.
    assert_eq!(
        d.power
            .set_power_state(&n, PowerTarget::SoftOff, WAIT)
            .await,
        Ok(PowerState::Off)
    );
    assert!(sim.calls().contains(&"set shutdown 1".to_string()));
    assert!(!sim.powered());

    sim.clear_calls();
    assert_eq!(
        d.power.set_power_state(&n, PowerTarget::On, WAIT).await,
        Ok(PowerState::On)
    );
    assert_eq!(
        d.power
            .set_power_state(&n, PowerTarget::SoftReboot, WAIT)
            .await,
        Ok(PowerState::On)
    );
    let calls = sim.calls();
    let soft = calls.iter().position(|c| c == "set shutdown 1");
    let on = calls.iter().rposition(|c| c == "set power 1");
    assert!(soft.is_some() && on > soft, "{calls:?}");
    assert!(sim.powered());

    // A BMC that does not get there in time: a clear timeout, not a hang.
    let Err(DriverError::Failed(m)) = d
        .power
        .set_power_state(&n, PowerTarget::SoftOff, Some(Duration::from_millis(300)))
        .await
    else {
        panic!("soft off did not time out")
    };
    assert!(m.contains("Timed out") && m.contains("power off"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_1_5_and_privilege_levels() {
    let sim = IpmiSim::start();
    let lan = sim.node_with(json!({"ipmi_protocol_version": "1.5"}));
    let d = driver(&lan);
    assert_eq!(d.power.get_power_state(&lan).await, Ok(PowerState::Off));
    assert_eq!(
        d.power.set_power_state(&lan, PowerTarget::On, WAIT).await,
        Ok(PowerState::On)
    );

    // A user session may read power but not change it: the BMC's refusal
    // is reported, with neither password in it.
    let viewer = sim.node_with(json!({
        "ipmi_username": IPMI_VIEWER,
        "ipmi_password": IPMI_VIEWER_PASSWORD,
        "ipmi_priv_level": "USER",
    }));
    assert_eq!(d.power.get_power_state(&viewer).await, Ok(PowerState::On));
    let Err(DriverError::Failed(m)) = d
        .power
        .set_power_state(&viewer, PowerTarget::Off, WAIT)
        .await
    else {
        panic!("a USER session powered the machine off")
    };
    assert!(m.contains("privilege"), "{m}");
    assert!(
        !m.contains(IPMI_VIEWER_PASSWORD) && !m.contains(IPMI_PASSWORD),
        "{m}"
    );
    assert!(sim.powered());
}
