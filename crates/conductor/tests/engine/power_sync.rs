//! The power sync against `bmcsim` (real Redfish over loopback) and fake
//! hardware: out-of-band changes are recorded or reverted within the
//! freshness bound, failing BMCs go to maintenance and come back, and
//! nodes that are not the loop's to touch are left alone.

use std::time::Duration;

use ferrite_bmcsim::{
    Config as SimConfig, FailureKind, InitialPower, PowerState as SimPower, Simulator, SystemFault,
};
use ferrite_conductor::{ConductorConfig, PowerSyncError};
use ferrite_model::{Node, PowerState, PowerTarget, ProvisionState as S};
use ferrite_store::Store;
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

/// The freshness bound the tests run with.
const INTERVAL: f64 = 1.0;

fn sync_config() -> ConductorConfig {
    ConductorConfig {
        sync_power_state_interval: INTERVAL,
        sync_power_state_timeout: 0.4,
        ..config()
    }
}

async fn simulator(systems: usize, initial_power: InitialPower) -> Simulator {
    Simulator::start(SimConfig {
        systems,
        initial_power,
        // Hung requests are cut by the sync's timeout; keep the simulator's
        // side of them short so shutdown is quick.
        hang: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .expect("start bmcsim")
}

/// A `redfish` node for system `i` of `sim`, with bmcsim's credentials.
fn redfish_node(sim: &Simulator, i: usize, state: S, power: Option<PowerState>) -> Node {
    let info = json!({
        "redfish_address": sim.base_url(),
        "redfish_system_id": sim.fleet().system_path(i),
        "redfish_username": "admin",
        "redfish_password": "password",
    });
    Node {
        driver: "redfish".into(),
        driver_info: info.as_object().cloned().unwrap_or_default(),
        provision_state: state,
        power_state: power,
        ..fresh()
    }
}

/// `count` active, powered-off `redfish` nodes for the first systems of
/// `sim`, in system order.
async fn active_nodes(store: &Store, sim: &Simulator, count: usize) -> Vec<Uuid> {
    let mut nodes = Vec::new();
    for i in 0..count {
        let node = redfish_node(sim, i, S::Active, Some(PowerState::Off));
        nodes.push(add(store, node).await);
    }
    nodes
}

async fn wait_node(
    store: &Store,
    uuid: Uuid,
    within: Duration,
    what: &str,
    pred: impl Fn(&Node) -> bool,
) -> Node {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let node = get(store, uuid).await;
        if pred(&node) {
            return node;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node never reached {what} within {within:?}: power {:?} target {:?} maintenance {} \
             fault {:?} reason {:?} last_error {:?}",
            node.power_state,
            node.target_power_state,
            node.maintenance,
            node.fault,
            node.maintenance_reason,
            node.last_error
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_band_change_is_recorded_within_the_bound() {
    let site = site().await;
    let sim = simulator(4, InitialPower::Off).await;
    let nodes = active_nodes(&site.store, &sim, 4).await;
    let c = start(&site.store, sync_config()).await;
    // Let every node be read once, so the change below is found by the
    // steady-state schedule rather than the first look.
    let first = c.power_sync_now().await.expect("pass");
    assert_eq!((first.nodes, first.synced), (4, 4), "{first:?}");
    let before = get(&site.store, nodes[1]).await;

    sim.fleet().set_power_oob(1, SimPower::On).expect("oob");
    let changed_at = tokio::time::Instant::now();
    let node = wait_node(
        &site.store,
        nodes[1],
        Duration::from_secs(5),
        "power on",
        |n| n.power_state == Some(PowerState::On),
    )
    .await;
    let took = changed_at.elapsed();
    // The bound plus scheduling slack for a loaded test machine.
    assert!(
        took <= Duration::from_secs_f64(INTERVAL * 2.0),
        "took {took:?}"
    );
    assert!(!node.maintenance);
    assert_eq!(node.target_power_state, None);
    assert_eq!(node.intent, None, "recording must not revert");
    assert!(node.updated_at > before.updated_at);
    assert_eq!(sim.fleet().power_state(1), Some(SimPower::On));
    for other in [nodes[0], nodes[2], nodes[3]] {
        assert_eq!(
            get(&site.store, other).await.power_state,
            Some(PowerState::Off)
        );
    }
    let stats = c.power_sync_stats();
    assert!(stats.enabled);
    assert_eq!(stats.nodes, 4);
    assert!(stats.changes_recorded >= 1, "{stats:?}");
    assert_eq!(stats.changes_reverted, 0);
    assert!(
        stats.max_staleness <= Duration::from_secs_f64(INTERVAL * 1.5),
        "{stats:?}"
    );
    c.shutdown().await;
    sim.shutdown().await.expect("sim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_sync_reverts_the_change_on_the_bmc() {
    let site = site().await;
    let sim = simulator(2, InitialPower::On).await;
    let on = add(
        &site.store,
        redfish_node(&sim, 0, S::Active, Some(PowerState::On)),
    )
    .await;
    let keep_off = add(
        &site.store,
        Node {
            disable_power_off: true,
            ..redfish_node(&sim, 1, S::Active, Some(PowerState::Off))
        },
    )
    .await;
    let c = start(
        &site.store,
        ConductorConfig {
            force_power_state_during_sync: true,
            ..sync_config()
        },
    )
    .await;
    c.power_sync_now().await.expect("pass");
    // System 1 is on while the record says off, and the node must never be
    // powered off by Ferrite: the truth is recorded instead.
    let kept = wait_node(
        &site.store,
        keep_off,
        Duration::from_secs(5),
        "recorded on",
        |n| n.power_state == Some(PowerState::On) && n.intent.is_none(),
    )
    .await;
    assert_eq!(kept.target_power_state, None);

    sim.fleet().set_power_oob(0, SimPower::Off).expect("oob");
    // The sync sees Off, records it, and powers the node back on through
    // the normal power path.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.fleet().power_state(0) != Some(SimPower::On)
        || get(&site.store, on).await.power_state != Some(PowerState::On)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the change was never reverted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let node = settle(&site.store, on).await;
    assert_eq!(node.power_state, Some(PowerState::On));
    assert_eq!(node.target_power_state, None);
    assert_eq!(node.last_error, None);
    assert!(!node.maintenance);
    assert_eq!(sim.fleet().power_state(0), Some(SimPower::On));
    let stats = c.power_sync_stats();
    assert!(stats.changes_reverted >= 1, "{stats:?}");
    assert!(sim.fleet().stats().power_actions >= 1);
    c.shutdown().await;
    sim.shutdown().await.expect("sim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_bmcs_go_to_maintenance_and_recover_while_the_rest_stay_fresh() {
    let site = site().await;
    let sim = simulator(8, InitialPower::Off).await;
    let kinds = [
        FailureKind::Timeout,
        FailureKind::ServerError,
        FailureKind::Garbage,
        FailureKind::Drop,
    ];
    let nodes = active_nodes(&site.store, &sim, 8).await;
    let c = start(&site.store, sync_config()).await;
    c.power_sync_now().await.expect("first pass");
    for (i, kind) in kinds.iter().enumerate() {
        sim.fleet()
            .set_fault(
                i,
                SystemFault {
                    kind: Some(*kind),
                    remaining: None,
                    latency_ms: None,
                },
            )
            .expect("fault");
    }
    for (i, kind) in kinds.iter().enumerate() {
        let node = wait_node(
            &site.store,
            nodes[i],
            Duration::from_secs(10),
            "maintenance",
            |n| n.maintenance,
        )
        .await;
        assert_eq!(node.fault.as_deref(), Some("power failure"), "{kind:?}");
        let reason = node.maintenance_reason.clone().unwrap_or_default();
        assert!(reason.contains("3 times in a row"), "{kind:?}: {reason}");
        assert_eq!(node.last_error.as_deref(), Some(reason.as_str()));
        assert_eq!(node.power_state, None, "the power state is unknown");
        assert!(!reason.contains("password"), "{reason}");
    }
    // Meanwhile a healthy node's out-of-band change is still found in time.
    sim.fleet().set_power_oob(6, SimPower::On).expect("oob");
    let changed_at = tokio::time::Instant::now();
    wait_node(
        &site.store,
        nodes[6],
        Duration::from_secs(5),
        "power on",
        |n| n.power_state == Some(PowerState::On),
    )
    .await;
    assert!(changed_at.elapsed() <= Duration::from_secs_f64(INTERVAL * 2.0));
    let stats = c.power_sync_stats();
    assert_eq!(stats.maintenance_set, 4, "{stats:?}");
    assert_eq!(stats.failing, 4, "{stats:?}");
    assert_eq!(stats.healthy + stats.pending, 4, "{stats:?}");
    assert!(
        stats.worst_staleness <= Duration::from_secs_f64(INTERVAL * 1.5),
        "healthy nodes went stale: {stats:?}"
    );
    for healthy in &nodes[4..] {
        assert!(!get(&site.store, *healthy).await.maintenance);
    }

    // The BMCs come back: maintenance is cleared by the loop itself.
    for i in 0..4 {
        sim.fleet().clear_fault(i).expect("clear");
    }
    for faulty in &nodes[..4] {
        let node = wait_node(
            &site.store,
            *faulty,
            Duration::from_secs(10),
            "recovery",
            |n| !n.maintenance,
        )
        .await;
        assert_eq!(node.fault, None);
        assert_eq!(node.maintenance_reason, None);
        assert_eq!(node.last_error, None);
        assert_eq!(node.power_state, Some(PowerState::Off));
    }
    let stats = c.power_sync_stats();
    assert_eq!(stats.maintenance_cleared, 4, "{stats:?}");
    c.shutdown().await;
    sim.shutdown().await.expect("sim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_maintenance_is_never_cleared() {
    let site = site().await;
    let sim = simulator(3, InitialPower::On).await;
    let operator = add(
        &site.store,
        Node {
            maintenance: true,
            maintenance_reason: Some("replacing a DIMM".into()),
            ..redfish_node(&sim, 0, S::Active, Some(PowerState::Off))
        },
    )
    .await;
    let other_fault = add(
        &site.store,
        Node {
            maintenance: true,
            fault: Some("clean failure".into()),
            maintenance_reason: Some("cleaning failed".into()),
            ..redfish_node(&sim, 1, S::Manageable, Some(PowerState::Off))
        },
    )
    .await;
    // Left by an earlier run of the loop: this one is the loop's to clear.
    let ours = add(
        &site.store,
        Node {
            maintenance: true,
            fault: Some("power failure".into()),
            maintenance_reason: Some("Power state synchronization failed 3 times".into()),
            last_error: Some("Power state synchronization failed 3 times".into()),
            ..redfish_node(&sim, 2, S::Active, None)
        },
    )
    .await;
    let c = start(&site.store, sync_config()).await;
    let report = c.power_sync_now().await.expect("pass");
    assert_eq!((report.synced, report.skipped), (1, 2), "{report:?}");
    let node = wait_node(
        &site.store,
        ours,
        Duration::from_secs(5),
        "recovered",
        |n| !n.maintenance,
    )
    .await;
    assert_eq!(node.power_state, Some(PowerState::On));
    assert_eq!((node.fault, node.last_error), (None, None));
    // Two more intervals: the operator's nodes are still untouched.
    tokio::time::sleep(Duration::from_secs_f64(INTERVAL * 2.0)).await;
    let op = get(&site.store, operator).await;
    assert!(op.maintenance);
    assert_eq!(op.maintenance_reason.as_deref(), Some("replacing a DIMM"));
    assert_eq!(
        op.power_state,
        Some(PowerState::Off),
        "maintenance nodes are not synced"
    );
    let cf = get(&site.store, other_fault).await;
    assert!(cf.maintenance);
    assert_eq!(cf.fault.as_deref(), Some("clean failure"));
    c.shutdown().await;
    sim.shutdown().await.expect("sim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_and_waiting_nodes_are_skipped() {
    let site = site().await;
    let sim = simulator(6, InitialPower::On).await;
    let off = Some(PowerState::Off);
    // Locked by a live conductor, so the periodic takeover leaves it be.
    site.store
        .register_conductor(&ferrite_model::Conductor {
            hostname: "another-conductor".into(),
            // Another group: the ring must not hand it this test's nodes.
            conductor_group: "another-group".into(),
            drivers: vec!["redfish".into()],
            online: true,
            created_at: chrono::Utc::now(),
            updated_at: None,
            roles: Vec::new(),
        })
        .await
        .expect("register");
    let locked = add(
        &site.store,
        Node {
            reservation: Some("another-conductor".into()),
            ..redfish_node(&sim, 0, S::Active, off)
        },
    )
    .await;
    let deploy_wait = add(&site.store, redfish_node(&sim, 1, S::DeployWait, off)).await;
    let clean_wait = add(&site.store, redfish_node(&sim, 2, S::CleanWait, off)).await;
    let enroll = add(&site.store, redfish_node(&sim, 3, S::Enroll, off)).await;
    let changing = add(
        &site.store,
        Node {
            target_power_state: Some(PowerTarget::Off),
            ..redfish_node(&sim, 4, S::Active, off)
        },
    )
    .await;
    let free = add(&site.store, redfish_node(&sim, 5, S::Active, off)).await;
    let c = start(&site.store, sync_config()).await;
    let report = c.power_sync_now().await.expect("pass");
    assert_eq!(
        (report.nodes, report.synced, report.skipped),
        (6, 1, 5),
        "{report:?}"
    );
    assert_eq!(
        get(&site.store, free).await.power_state,
        Some(PowerState::On)
    );
    tokio::time::sleep(Duration::from_secs_f64(INTERVAL * 1.5)).await;
    for uuid in [locked, deploy_wait, clean_wait, enroll, changing] {
        let node = get(&site.store, uuid).await;
        assert_eq!(node.power_state, off, "{} was synced", node.provision_state);
        assert!(!node.maintenance);
    }
    assert_eq!(
        get(&site.store, locked).await.reservation.as_deref(),
        Some("another-conductor")
    );
    let stats = c.power_sync_stats();
    assert_eq!(stats.skipped, 5, "{stats:?}");
    assert!(stats.skips >= 10, "{stats:?}");
    c.shutdown().await;
    sim.shutdown().await.expect("sim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_hardware_nodes_are_read_and_not_rewritten() {
    let site = site().await;
    let mut nodes = Vec::new();
    for i in 0..20 {
        let power = if i % 2 == 0 {
            PowerState::On
        } else {
            PowerState::Off
        };
        nodes.push(
            add(
                &site.store,
                Node {
                    provision_state: S::Available,
                    power_state: Some(power),
                    ..fresh()
                },
            )
            .await,
        );
    }
    // Never read before: fake power reports it off, which is recorded.
    let unknown = add(
        &site.store,
        Node {
            provision_state: S::Manageable,
            ..fresh()
        },
    )
    .await;
    let mut before = Vec::new();
    for uuid in &nodes {
        before.push(get(&site.store, *uuid).await);
    }
    let c = start(&site.store, sync_config()).await;
    let report = c.power_sync_now().await.expect("pass");
    assert_eq!((report.nodes, report.synced), (21, 21), "{report:?}");
    for (uuid, old) in nodes.iter().zip(before) {
        let now = get(&site.store, *uuid).await;
        assert_eq!(now.power_state, old.power_state);
        assert_eq!(
            now.updated_at, old.updated_at,
            "an unchanged node was written"
        );
    }
    assert_eq!(
        get(&site.store, unknown).await.power_state,
        Some(PowerState::Off)
    );

    // Deleted nodes leave the schedule at the next refresh.
    site.store.delete::<Node>(nodes[0]).await.expect("delete");
    let report = c.power_sync_now().await.expect("pass");
    assert_eq!(report.nodes, 20, "{report:?}");
    assert_eq!(c.power_sync_stats().nodes, 20);
    c.shutdown().await;
}

#[tokio::test]
async fn the_loop_can_be_disabled() {
    let site = site().await;
    let c = start(
        &site.store,
        ConductorConfig {
            sync_power_state_interval: 0.0,
            ..config()
        },
    )
    .await;
    assert!(!c.power_sync_stats().enabled);
    assert!(matches!(
        c.power_sync_now().await,
        Err(PowerSyncError::Disabled)
    ));
    c.shutdown().await;
}
