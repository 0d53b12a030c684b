//! Allocation scheduling by the engine: the sweep finds allocations nobody
//! woke it for, a claim cut short by a crash is finished, and an allocation
//! that went away while its node was being claimed leaves the node free.

use std::time::Duration;

use chrono::Utc;
use ferrite_conductor::ConductorApi;
use ferrite_model::{Allocation, AllocationState, Node, PowerState, ProvisionState as S};
use ferrite_store::{Ident, Store};
use serde_json::json;
use uuid::Uuid;

use crate::common::{add, config, fresh, get, site, start};

fn free(rc: &str) -> Node {
    Node {
        provision_state: S::Available,
        power_state: Some(PowerState::Off),
        resource_class: Some(rc.into()),
        ..fresh()
    }
}

async fn record(store: &Store, rc: &str) -> Allocation {
    let a = Allocation {
        uuid: Uuid::new_v4(),
        resource_class: Some(rc.into()),
        created_at: Utc::now(),
        ..Allocation::default()
    };
    store.insert(a).await.expect("insert allocation")
}

async fn settled(store: &Store, uuid: Uuid) -> Allocation {
    for _ in 0..200 {
        let a: Allocation = store.get(&Ident::Uuid(uuid)).await.expect("get");
        if a.state != AllocationState::Allocating {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("allocation {uuid} never settled");
}

#[tokio::test]
async fn the_sweep_schedules_allocations_nobody_woke_it_for() {
    let s = site().await;
    let node = add(&s.store, free("gold")).await;
    let wanted = record(&s.store, "gold").await;
    let hopeless = record(&s.store, "lead").await;
    let conductor = start(&s.store, config()).await;
    let done = settled(&s.store, wanted.uuid).await;
    assert_eq!(done.state, AllocationState::Active);
    assert_eq!(done.node_uuid, Some(node));
    let n = get(&s.store, node).await;
    assert_eq!(n.instance_uuid, Some(wanted.uuid));
    assert_eq!(n.allocation_uuid, Some(wanted.uuid));
    assert_eq!(n.instance_info["traits"], json!([]));
    let failed = settled(&s.store, hopeless.uuid).await;
    assert_eq!(failed.state, AllocationState::Error);
    assert!(
        failed
            .last_error
            .unwrap()
            .contains("no available nodes match the resource class lead")
    );

    // A wake-up for something that is not a pending allocation is harmless.
    conductor.wake_allocation(Uuid::new_v4());
    conductor.wake_allocation(wanted.uuid);
    conductor.shutdown().await;
    assert_eq!(get(&s.store, node).await.allocation_uuid, Some(wanted.uuid));
}

#[tokio::test]
async fn a_claim_cut_short_is_finished_on_the_bound_node() {
    let s = site().await;
    let a = record(&s.store, "gold").await;
    // Two free nodes, but the first was already bound to the allocation
    // when the previous conductor stopped: that is the one it must get.
    let bound = add(
        &s.store,
        Node {
            instance_uuid: Some(a.uuid),
            allocation_uuid: Some(a.uuid),
            ..free("gold")
        },
    )
    .await;
    add(&s.store, free("gold")).await;
    let conductor = start(&s.store, config()).await;
    let done = settled(&s.store, a.uuid).await;
    assert_eq!(done.state, AllocationState::Active);
    assert_eq!(done.node_uuid, Some(bound));
    conductor.shutdown().await;
}

#[tokio::test]
async fn locked_nodes_are_retried_then_given_up() {
    let s = site().await;
    // Locked after start-up, so recovery does not take the lock over, and
    // by a live conductor, so the periodic takeover leaves it alone.
    let conductor = start(&s.store, config()).await;
    s.store
        .register_conductor(&ferrite_model::Conductor {
            hostname: "elsewhere".into(),
            // Another group: the ring must not hand it this test's nodes.
            conductor_group: "another-group".into(),
            drivers: vec!["fake-hardware".into()],
            online: true,
            created_at: Utc::now(),
            updated_at: None,
            roles: Vec::new(),
        })
        .await
        .unwrap();
    let node = add(
        &s.store,
        Node {
            reservation: Some("elsewhere".into()),
            ..free("gold")
        },
    )
    .await;
    let a = record(&s.store, "gold").await;
    conductor.wake_allocation(a.uuid);
    let failed = settled(&s.store, a.uuid).await;
    assert_eq!(failed.state, AllocationState::Error);
    assert!(
        failed
            .last_error
            .unwrap()
            .contains("could not reserve any of 1 suitable nodes")
    );
    assert_eq!(get(&s.store, node).await.instance_uuid, None);
    conductor.shutdown().await;
}
