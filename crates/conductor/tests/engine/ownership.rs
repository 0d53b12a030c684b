//! Several conductors on one store: the hash ring gives each node to one
//! live conductor of the node's group, and a conductor that leaves hands
//! its nodes to the others.

use std::time::Duration;

use ferrite_conductor::{ConductorApi, ConductorConfig};
use ferrite_model::{Node, PowerState, PowerTarget, ProvisionState as S};

use crate::common::*;

fn named(hostname: &str, group: &str) -> ConductorConfig {
    ConductorConfig {
        hostname: hostname.into(),
        conductor_group: group.into(),
        ..config()
    }
}

async fn add_in_group(store: &ferrite_store::Store, group: &str) -> uuid::Uuid {
    add(
        store,
        Node {
            provision_state: S::Manageable,
            conductor_group: group.into(),
            ..fresh()
        },
    )
    .await
}

#[tokio::test]
async fn a_node_is_worked_on_only_by_a_conductor_of_its_group() {
    let site = site().await;
    let s = &site.store;
    let central = start(s, named("central", "")).await;
    let edge_node = add_in_group(s, "edge-1").await;
    power(s, &central, edge_node, PowerTarget::On).await;
    // Many sweeps pass; the central conductor must leave the edge node alone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let untouched = get(s, edge_node).await;
    assert!(
        untouched.intent.is_some(),
        "a conductor of another group claimed it"
    );
    assert_ne!(untouched.power_state, Some(PowerState::On));
    assert_eq!(central.owner(edge_node, "edge-1"), None);
    assert!(!central.serves_group("edge-1"));

    let edge = start(s, named("edge-a", "edge-1")).await;
    let done = settle(s, edge_node).await;
    assert_eq!(done.power_state, Some(PowerState::On));
    assert_eq!(edge.owner(edge_node, "edge-1").as_deref(), Some("edge-a"));
    edge.shutdown().await;
    central.shutdown().await;
}

#[tokio::test]
async fn conductors_of_one_group_share_its_nodes_and_take_over_when_one_leaves() {
    let site = site().await;
    let s = &site.store;
    let a = start(s, named("conductor-a", "")).await;
    let b = start(s, named("conductor-b", "")).await;
    let mut nodes = Vec::new();
    for _ in 0..40 {
        nodes.push(add_in_group(s, "").await);
    }
    // Both see both once each has heartbeated.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while nodes
        .iter()
        .any(|n| a.owner(*n, "") != b.owner(*n, "") || a.owner(*n, "").is_none())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the two rings never agreed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let of_b: Vec<_> = nodes
        .iter()
        .copied()
        .filter(|n| a.owner(*n, "").as_deref() == Some("conductor-b"))
        .collect();
    assert!(
        !of_b.is_empty() && of_b.len() < nodes.len(),
        "one conductor got every node"
    );
    for n in &nodes {
        power(s, &a, *n, PowerTarget::On).await;
        b.wake(*n);
    }
    for n in &nodes {
        assert_eq!(settle(s, *n).await.power_state, Some(PowerState::On));
    }

    b.shutdown().await;
    for n in &of_b {
        power(s, &a, *n, PowerTarget::Off).await;
    }
    for n in &of_b {
        assert_eq!(settle(s, *n).await.power_state, Some(PowerState::Off));
        assert_eq!(a.owner(*n, "").as_deref(), Some("conductor-a"));
    }
    a.shutdown().await;
}
