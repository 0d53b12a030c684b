//! Power semantics as a driver observes them over HTTP: reset types,
//! delayed transitions seen by polling, out-of-band changes.

mod common;

use std::time::{Duration, Instant};

use common::Sim;
use ferrite_bmcsim::{Config, PowerState};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn reset_types_with_immediate_power() {
    let s = Sim::with_systems(3).await;
    assert_eq!(s.power_state(0).await, "Off");
    assert_eq!(s.reset(0, "On").await, StatusCode::NO_CONTENT);
    assert_eq!(s.power_state(0).await, "On");
    // On when on is an accepted no-op.
    assert_eq!(s.reset(0, "On").await, StatusCode::NO_CONTENT);
    assert_eq!(s.sim.fleet().snapshot(0).unwrap().boot_count, 1);
    assert_eq!(s.reset(0, "ForceRestart").await, StatusCode::NO_CONTENT);
    assert_eq!(s.power_state(0).await, "On");
    assert_eq!(s.sim.fleet().snapshot(0).unwrap().boot_count, 2);
    assert_eq!(s.reset(0, "Nmi").await, StatusCode::NO_CONTENT);
    assert_eq!(s.sim.fleet().snapshot(0).unwrap().nmi_count, 1);
    assert_eq!(s.reset(0, "ForceOff").await, StatusCode::NO_CONTENT);
    assert_eq!(s.power_state(0).await, "Off");
    // NMI needs power.
    assert_eq!(s.reset(0, "Nmi").await, StatusCode::CONFLICT);
    assert_eq!(s.reset(0, "PushPowerButton").await, StatusCode::NO_CONTENT);
    assert_eq!(s.power_state(0).await, "On");
    assert_eq!(s.reset(0, "GracefulShutdown").await, StatusCode::NO_CONTENT);
    assert_eq!(s.power_state(0).await, "Off");
    // Only system 0 changed.
    assert_eq!(s.power_state(1).await, "Off");
    assert_eq!(s.sim.fleet().snapshot(1).unwrap().boot_count, 0);

    // Bad requests.
    let path = format!("{}/Actions/ComputerSystem.Reset", s.sys(0));
    let (status, body) = s.post(&path, json!({"ResetType": "Explode"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["code"],
        "Base.1.8.ActionParameterValueNotInList"
    );
    let (status, body) = s.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "Base.1.8.ActionParameterMissing");
    let (status, _) = s
        .post(
            "/redfish/v1/Systems/sys-00099/Actions/ComputerSystem.Reset",
            json!({"ResetType": "On"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.sim.fleet().stats().power_actions,
        7,
        "refused actions are not counted"
    );
}

#[tokio::test]
async fn delayed_transitions_are_observed_by_polling() {
    let s = Sim::start(Config {
        systems: 2,
        power_transition: Duration::from_millis(1000),
        ..Config::default()
    })
    .await;
    let t0 = Instant::now();
    assert_eq!(s.reset(0, "On").await, StatusCode::NO_CONTENT);
    assert_eq!(
        s.power_state(0).await,
        "PoweringOn",
        "the action returns before the change"
    );
    let seen = s.poll_power(0, "On", Duration::from_secs(5)).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(980),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(seen, ["PoweringOn", "On"]);

    s.reset(0, "ForceRestart").await;
    let seen = s.poll_power(0, "On", Duration::from_secs(5)).await;
    assert_eq!(seen, ["PoweringOff", "PoweringOn", "On"]);
    assert_eq!(s.sim.fleet().snapshot(0).unwrap().boot_count, 2);

    s.reset(0, "GracefulShutdown").await;
    let seen = s.poll_power(0, "Off", Duration::from_secs(5)).await;
    assert_eq!(seen, ["PoweringOff", "Off"]);

    // A later action supersedes a pending one: On then ForceOff ends Off.
    s.reset(1, "On").await;
    s.reset(1, "ForceOff").await;
    s.poll_power(1, "Off", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        s.power_state(1).await,
        "Off",
        "the stale power-on never lands"
    );
}

#[tokio::test]
async fn out_of_band_changes_via_control_api_and_handle() {
    let s = Sim::with_systems(4).await;
    let (status, body) = s
        .control(
            Method::POST,
            "/bmcsim/systems/sys-00002/power",
            Some(json!({"state": "On"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["previous"], "Off");
    assert_eq!(s.power_state(2).await, "On");
    // Through the embedding handle too.
    s.sim.fleet().set_power_oob(2, PowerState::Off).unwrap();
    assert_eq!(s.power_state(2).await, "Off");
    let (status, snap) = s.control(Method::GET, "/bmcsim/systems/2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snap["oob_changes"], 2);
    assert_eq!(snap["power_state"], "Off");
    let (status, _) = s
        .control(
            Method::POST,
            "/bmcsim/systems/sys-00002/power",
            Some(json!({"state": "PoweringOn"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .control(
            Method::POST,
            "/bmcsim/systems/sys-00009/power",
            Some(json!({"state": "On"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn random_out_of_band_changes_happen_at_the_configured_rate() {
    // 200 systems x 180 changes/system/hour = 10 changes per second.
    let s = Sim::start(Config {
        systems: 200,
        oob_power_change_rate: 180.0,
        seed: 3,
        ..Config::default()
    })
    .await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let changes = s.sim.fleet().stats().oob_power_changes as f64;
    let expected = 10.0 * t0.elapsed().as_secs_f64();
    assert!(
        changes >= expected * 0.3 && changes <= expected * 2.0 + 5.0,
        "expected ~{expected:.0} changes, got {changes}"
    );
    // The changes are visible over Redfish.
    let on: Vec<usize> = (0..200)
        .filter(|i| s.sim.fleet().power_state(*i) == Some(PowerState::On))
        .collect();
    assert!(!on.is_empty());
    assert_eq!(s.power_state(on[0]).await, "On");
}
