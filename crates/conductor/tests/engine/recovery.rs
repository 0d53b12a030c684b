//! Crash recovery at start, lock contention, takeover and graceful
//! shutdown.

use std::time::Duration;

use chrono::Utc;
use ferrite_conductor::{ConductorApi, ConductorConfig, FakeDelays};
use ferrite_model::{
    Conductor as Record, Intent, Node, PowerTarget, ProvisionArgs, ProvisionState as S, Verb,
};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn start_fails_interrupted_work_and_runs_pending_intents() {
    let site = site().await;
    let s = &site.store;
    let now = Utc::now();
    let deploying = add(
        s,
        Node {
            provision_state: S::Deploying,
            target_provision_state: Some(S::Active),
            reservation: Some(HOST.into()),
            deploy_step: json!({"interface": "deploy", "step": "deploy"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..fresh()
        },
    )
    .await;
    let cleaning = add(
        s,
        Node {
            provision_state: S::Cleaning,
            target_provision_state: Some(S::Manageable),
            reservation: Some("dead-conductor".into()),
            clean_step: json!({"interface": "deploy", "step": "erase_devices"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..fresh()
        },
    )
    .await;
    let powering = add(
        s,
        Node {
            provision_state: S::Manageable,
            reservation: Some(HOST.into()),
            target_power_state: Some(PowerTarget::On),
            ..fresh()
        },
    )
    .await;
    let waiting = add(
        s,
        Node {
            provision_state: S::CleanWait,
            target_provision_state: Some(S::Available),
            reservation: Some(HOST.into()),
            provision_updated_at: Some(now),
            ..fresh()
        },
    )
    .await;
    let verifying_orphan = add(
        s,
        Node {
            provision_state: S::Verifying,
            ..fresh()
        },
    )
    .await;
    let pending = add(
        s,
        Node {
            provision_state: S::Deploying,
            target_provision_state: Some(S::Active),
            intent: Some(Intent::Provision {
                verb: Verb::Active,
                args: ProvisionArgs::default(),
            }),
            ..fresh()
        },
    )
    .await;

    let c = start(s, config()).await;

    let n = get(s, deploying).await;
    assert_eq!(n.provision_state, S::DeployFailed);
    assert_eq!(n.target_provision_state, Some(S::Active));
    assert_eq!(n.reservation, None);
    assert!(n.deploy_step.is_empty());
    assert_eq!(
        n.last_error.as_deref(),
        Some(
            "The conductor restarted while the node was in state deploying; the operation was \
             not completed."
        )
    );

    let n = get(s, cleaning).await;
    assert_eq!(n.provision_state, S::CleanFailed);
    assert_eq!(n.target_provision_state, Some(S::Manageable));
    assert_eq!(n.reservation, None);
    assert!(n.maintenance, "a clean step was running");
    assert!(n.last_error.unwrap_or_default().contains("dead-conductor"));

    let n = get(s, powering).await;
    assert_eq!(
        (n.provision_state, n.target_power_state, n.reservation),
        (S::Manageable, None, None)
    );
    assert!(n.last_error.unwrap_or_default().contains("power on"));

    let n = get(s, waiting).await;
    assert_eq!(
        (n.provision_state, n.reservation),
        (S::CleanWait, None),
        "wait states survive"
    );

    let n = get(s, verifying_orphan).await;
    assert_eq!(n.provision_state, S::Enroll);
    assert!(n.last_error.is_some());

    let n = settle(s, pending).await;
    assert_eq!(
        n.provision_state,
        S::Active,
        "an accepted intent is never lost"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn a_locked_node_waits_for_its_lock() {
    let site = site().await;
    let s = &site.store;
    // The holder is a live conductor, so its lock is respected.
    s.register_conductor(&Record {
        hostname: "other".into(),
        // Another group: the ring must not hand it this test's nodes.
        conductor_group: "another-group".into(),
        drivers: vec!["fake-hardware".into()],
        online: true,
        created_at: Utc::now(),
        updated_at: Some(Utc::now()),
        roles: Vec::new(),
    })
    .await
    .expect("register other");
    let c = start(s, config()).await;
    let uuid = node_in(s, &c, S::Manageable).await;
    edit(s, uuid, |n| {
        n.reservation = Some("other".into());
        n.provision_state = S::Inspecting;
        n.target_provision_state = Some(S::Manageable);
        n.intent = Some(Intent::Provision {
            verb: Verb::Inspect,
            args: ProvisionArgs::default(),
        });
    })
    .await;
    c.wake(uuid);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let n = get(s, uuid).await;
    assert_eq!(
        n.provision_state,
        S::Inspecting,
        "not run while someone else holds the lock"
    );
    assert!(n.intent.is_some());
    assert_eq!(n.reservation.as_deref(), Some("other"));

    edit(s, uuid, |n| n.reservation = None).await;
    let n = settle(s, uuid).await;
    assert_eq!(
        n.provision_state,
        S::Manageable,
        "run by the sweep once released"
    );
    assert!(n.inspection_finished_at.is_some());
    c.shutdown().await;
}

#[tokio::test]
async fn locks_of_dead_conductors_are_taken_over() {
    let site = site().await;
    let s = &site.store;
    let c = start(
        s,
        ConductorConfig {
            check_provision_state_interval: 0.05,
            heartbeat_timeout: 1.0,
            ..config()
        },
    )
    .await;
    s.register_conductor(&Record {
        hostname: "stale".into(),
        conductor_group: String::new(),
        drivers: vec![],
        online: true,
        created_at: Utc::now() - chrono::Duration::hours(1),
        updated_at: None,
        roles: Vec::new(),
    })
    .await
    .expect("register stale");
    let uuid = add(
        s,
        Node {
            provision_state: S::Deploying,
            target_provision_state: Some(S::Active),
            reservation: Some("stale".into()),
            ..fresh()
        },
    )
    .await;
    let n = wait_for(s, uuid, "takeover", |n| n.reservation.is_none()).await;
    assert_eq!(n.provision_state, S::DeployFailed);
    assert!(n.last_error.unwrap_or_default().contains("stale"));
    c.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_work_finish_or_leaves_it_to_the_next_start() {
    let site = site().await;
    let s = &site.store;

    // Work that finishes within the grace period completes normally.
    let slow = FakeDelays {
        deploy_delay: 0.3,
        ..FakeDelays::default()
    };
    let c = start(
        s,
        ConductorConfig {
            fake: slow,
            ..config()
        },
    )
    .await;
    let uuid = node_in(s, &c, S::Available).await;
    provision(s, &c, uuid, Verb::Active, ProvisionArgs::default())
        .await
        .expect("deploy");
    wait_for(s, uuid, "deploying under lock", |n| n.reservation.is_some()).await;
    c.shutdown().await;
    let n = get(s, uuid).await;
    assert_eq!((n.provision_state, n.reservation), (S::Active, None));
    let record = s.conductor(HOST).await.expect("conductor row");
    assert!(!record.online, "marked offline");

    // Work that outlives the grace period keeps its lock; the next start
    // fails it with an explanation.
    let very_slow = FakeDelays {
        deploy_delay: 30.0,
        ..FakeDelays::default()
    };
    let c = start(
        s,
        ConductorConfig {
            fake: very_slow,
            graceful_shutdown_timeout: 0.2,
            ..config()
        },
    )
    .await;
    assert!(s.conductor(HOST).await.expect("row").online);
    run(s, &c, uuid, Verb::Undeploy, ProvisionArgs::default()).await;
    provision(s, &c, uuid, Verb::Active, ProvisionArgs::default())
        .await
        .expect("deploy");
    wait_for(s, uuid, "deploying under lock", |n| {
        n.deploy_step.get("step") == Some(&json!("deploy"))
    })
    .await;
    c.shutdown().await;
    let n = get(s, uuid).await;
    assert_eq!(n.provision_state, S::Deploying);
    assert_eq!(n.reservation.as_deref(), Some(HOST));

    let c = start(s, config()).await;
    let n = get(s, uuid).await;
    assert_eq!((n.provision_state, n.reservation), (S::DeployFailed, None));
    assert!(n.last_error.unwrap_or_default().contains("restarted"));
    c.shutdown().await;
}

#[tokio::test]
async fn lapsed_leases_are_taken_over_and_wait_states_survive() {
    let site = site().await;
    let s = &site.store;
    // The holder still heartbeats: only its lease says the lock is stale.
    s.register_conductor(&Record {
        hostname: "zombie".into(),
        conductor_group: "elsewhere".into(),
        drivers: vec![],
        online: true,
        created_at: Utc::now(),
        updated_at: Some(Utc::now() + chrono::Duration::hours(1)),
        roles: Vec::new(),
    })
    .await
    .expect("register zombie");
    let c = start(s, config()).await;
    let lapsed = Some(Utc::now() - chrono::Duration::seconds(1));
    let deploying = add(
        s,
        Node {
            provision_state: S::Deploying,
            target_provision_state: Some(S::Active),
            reservation: Some("zombie".into()),
            reservation_expires_at: lapsed,
            ..fresh()
        },
    )
    .await;
    let waiting = add(
        s,
        Node {
            provision_state: S::DeployWait,
            target_provision_state: Some(S::Active),
            reservation: Some("zombie".into()),
            reservation_expires_at: lapsed,
            ..fresh()
        },
    )
    .await;
    let held = add(
        s,
        Node {
            provision_state: S::Deploying,
            target_provision_state: Some(S::Active),
            reservation: Some("unregistered".into()),
            reservation_expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            ..fresh()
        },
    )
    .await;
    let n = wait_for(s, deploying, "takeover", |n| n.reservation.is_none()).await;
    assert_eq!(n.provision_state, S::DeployFailed);
    assert_eq!(n.reservation_expires_at, None);
    assert!(n.last_error.unwrap_or_default().contains("zombie"));
    let n = wait_for(s, waiting, "takeover", |n| n.reservation.is_none()).await;
    assert_eq!(n.provision_state, S::DeployWait, "wait states survive");
    assert_eq!(n.last_error, None);
    // A lease in force is respected whoever holds it, registered or not.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = get(s, held).await;
    assert_eq!(n.reservation.as_deref(), Some("unregistered"));
    assert_eq!(n.provision_state, S::Deploying);
    c.shutdown().await;
}

#[tokio::test]
async fn the_holder_renews_its_leases_while_it_works() {
    let site = site().await;
    let s = &site.store;
    let c = start(
        s,
        ConductorConfig {
            heartbeat_interval: 0.1,
            heartbeat_timeout: 0.6,
            fake: FakeDelays {
                deploy_delay: 2.0,
                ..FakeDelays::default()
            },
            ..config()
        },
    )
    .await;
    let uuid = node_in(s, &c, S::Available).await;
    edit(s, uuid, |n| {
        n.provision_state = S::Deploying;
        n.target_provision_state = Some(S::Active);
        n.intent = Some(Intent::Provision {
            verb: Verb::Active,
            args: ProvisionArgs::default(),
        });
    })
    .await;
    c.wake(uuid);
    let first = wait_for(s, uuid, "the lock", |n| n.reservation.is_some()).await;
    let first_expiry = first.reservation_expires_at.expect("a lease");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = get(s, uuid).await;
    assert_eq!(
        later.reservation.as_deref(),
        Some(HOST),
        "still held by its worker"
    );
    assert!(
        later.reservation_expires_at.expect("a lease") > first_expiry,
        "renewed while held"
    );
    let n = settle(s, uuid).await;
    assert_eq!(n.provision_state, S::Active, "{:?}", n.last_error);
    assert_eq!((n.reservation, n.reservation_expires_at), (None, None));
    c.shutdown().await;
}
