//! Fixtures: a real store on a temporary SQLite file, a conductor on it,
//! and a stand-in for the API's side of the contract (advance the state,
//! record the intent, wake the conductor).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferrite_conductor::{Conductor, ConductorApi, ConductorConfig};
use ferrite_model::{Intent, Node, PowerTarget, ProvisionArgs, ProvisionState as S, Verb};
use ferrite_store::{Ident, Store, StoreError};
use serde_json::Value;
use tempfile::TempDir;
use uuid::Uuid;

pub const HOST: &str = "test-conductor";

/// A store and the directory that holds it.
pub struct Site {
    pub _dir: TempDir,
    pub store: Store,
}

pub async fn site() -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("ferrite.db").display());
    let store = Store::open(&url).await.expect("open store");
    Site { _dir: dir, store }
}

/// Quick loops so tests do not wait; timeouts off unless a test sets them.
pub fn config() -> ConductorConfig {
    ConductorConfig {
        hostname: HOST.into(),
        sweep_interval: 0.05,
        check_provision_state_interval: 3600.0,
        heartbeat_interval: 0.5,
        graceful_shutdown_timeout: 5.0,
        call_timeout: 5.0,
        ..ConductorConfig::default()
    }
}

pub async fn start(store: &Store, config: ConductorConfig) -> Arc<Conductor> {
    Conductor::start(store.clone(), config)
        .await
        .expect("conductor start")
}

pub async fn add_node(store: &Store, state: S) -> Uuid {
    add(
        store,
        Node {
            provision_state: state,
            ..fresh()
        },
    )
    .await
}

pub fn fresh() -> Node {
    Node {
        uuid: Uuid::new_v4(),
        driver: "fake-hardware".into(),
        created_at: Utc::now(),
        ..Node::default()
    }
}

pub async fn add(store: &Store, node: Node) -> Uuid {
    store.insert(node).await.expect("insert node").uuid
}

pub async fn get(store: &Store, uuid: Uuid) -> Node {
    store.get(&Ident::Uuid(uuid)).await.expect("get node")
}

/// Changes a node directly (test set-up).
pub async fn edit(store: &Store, uuid: Uuid, f: impl FnOnce(&mut Node) + Send + 'static) -> Node {
    let (node, ()) = store
        .update::<Node, (), StoreError, _>(&Ident::Uuid(uuid), move |n| {
            f(n);
            Ok(())
        })
        .await
        .expect("edit node");
    node
}

/// What the API does for `PUT …/states/provision`: refuses locked or busy
/// nodes and verbs the FSM does not allow, advances the node, records the
/// intent (unless the new state is stable or a failure) and wakes.
pub async fn provision(
    store: &Store,
    conductor: &Conductor,
    uuid: Uuid,
    verb: Verb,
    args: ProvisionArgs,
) -> Result<(), String> {
    let (node, ()) = store
        .update::<Node, (), Refused, _>(&Ident::Uuid(uuid), move |n| {
            if n.reservation.is_some() || n.intent.is_some() {
                return Err(Refused("locked".into()));
            }
            let next = n
                .provision_state
                .next_by_api(verb.event())
                .ok_or_else(|| Refused(format!("{verb} not allowed from {}", n.provision_state)))?;
            let target = match verb {
                _ if next.is_stable() => None,
                Verb::Clean => Some(S::Manageable),
                Verb::Unhold | Verb::Abort if n.target_provision_state.is_some() => {
                    n.target_provision_state
                }
                _ => next.implicit_target(),
            };
            n.set_provision_state(next, target, Utc::now());
            n.last_error = None;
            if !(next.is_stable() || next.is_failure()) {
                n.intent = Some(Intent::Provision { verb, args });
            }
            Ok(())
        })
        .await
        .map_err(|e| e.0)?;
    if node.intent.is_some() {
        conductor.wake(uuid);
    }
    Ok(())
}

/// Why the stand-in API refused a request.
#[derive(Debug)]
pub struct Refused(pub String);

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        Refused(e.to_string())
    }
}

/// Records an intent other than a provision verb (power, boot mode, …).
pub async fn intend(store: &Store, conductor: &Conductor, uuid: Uuid, intent: Intent) {
    let power = match &intent {
        Intent::Power { target, .. } => Some(*target),
        _ => None,
    };
    edit(store, uuid, move |n| {
        if let Some(t) = power {
            n.target_power_state = Some(t);
        }
        n.intent = Some(intent);
    })
    .await;
    conductor.wake(uuid);
}

pub async fn power(store: &Store, conductor: &Conductor, uuid: Uuid, target: PowerTarget) {
    intend(
        store,
        conductor,
        uuid,
        Intent::Power {
            target,
            timeout: None,
        },
    )
    .await;
}

/// Waits until the node has no intent and no lock, i.e. the conductor is
/// done with it for now.
pub async fn settle(store: &Store, uuid: Uuid) -> Node {
    wait_for(store, uuid, "settle", |n| {
        n.intent.is_none() && n.reservation.is_none()
    })
    .await
}

pub async fn wait_for(store: &Store, uuid: Uuid, what: &str, pred: impl Fn(&Node) -> bool) -> Node {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let node = get(store, uuid).await;
        if pred(&node) {
            return node;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "node never reached {what}: state {} target {:?} reservation {:?} intent {:?} \
                 last_error {:?}",
                node.provision_state,
                node.target_provision_state,
                node.reservation,
                node.intent,
                node.last_error
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs a verb and waits for the node to settle.
pub async fn run(
    store: &Store,
    c: &Conductor,
    uuid: Uuid,
    verb: Verb,
    args: ProvisionArgs,
) -> Node {
    provision(store, c, uuid, verb, args)
        .await
        .expect("request accepted");
    settle(store, uuid).await
}

pub fn steps(v: Value) -> Option<Vec<Value>> {
    v.as_array().cloned()
}

/// A node driven to `state` through the normal verbs.
pub async fn node_in(store: &Store, c: &Conductor, state: S) -> Uuid {
    let uuid = add_node(store, S::Enroll).await;
    let path: &[Verb] = match state {
        S::Enroll => &[],
        S::Manageable => &[Verb::Manage],
        S::Available => &[Verb::Manage, Verb::Provide],
        S::Active => &[Verb::Manage, Verb::Provide, Verb::Active],
        other => panic!("no path to {other}"),
    };
    for verb in path {
        run(store, c, uuid, *verb, ProvisionArgs::default()).await;
    }
    assert_eq!(get(store, uuid).await.provision_state, state);
    uuid
}
