//! Periodic checks (reference §4.5): nodes that waited too long for a
//! callback are failed, and locks of dead conductors are taken over.

use std::sync::Arc;

use chrono::Utc;
use ferrite_model::{Node, ProvisionState as S};
use ferrite_store::{Filter, Ident, ListQuery};
use serde_json::json;
use tracing::{info, warn};

use crate::config::secs;
use crate::engine::Engine;
use crate::{FlowError, fsm};

/// The callback timeouts: state, configured seconds, option name.
fn table(engine: &Engine) -> [(S, f64, &'static str); 5] {
    let c = &engine.config;
    [
        (
            S::DeployWait,
            c.deploy_callback_timeout,
            "deploy_callback_timeout",
        ),
        (
            S::CleanWait,
            c.clean_callback_timeout,
            "clean_callback_timeout",
        ),
        (
            S::InspectWait,
            c.inspect_wait_timeout,
            "inspect_wait_timeout",
        ),
        (
            S::RescueWait,
            c.rescue_callback_timeout,
            "rescue_callback_timeout",
        ),
        (
            S::ServiceWait,
            c.service_callback_timeout,
            "service_callback_timeout",
        ),
    ]
}

/// One pass of the periodic checks (lapsed locks are taken over after
/// each heartbeat, see `recovery::take_over_orphans`).
pub(crate) async fn check(engine: &Arc<Engine>) {
    check_callback_timeouts(engine).await;
}

async fn check_callback_timeouts(engine: &Arc<Engine>) {
    let active: Vec<_> = table(engine)
        .into_iter()
        .filter_map(|(state, seconds, name)| {
            let limit = chrono::Duration::from_std(secs(seconds)?).ok()?;
            Some((state, seconds, name, limit))
        })
        .collect();
    if active.is_empty() {
        return;
    }
    let query = ListQuery {
        filters: vec![
            Filter::In(
                "provision_state".into(),
                active.iter().map(|(s, ..)| json!(s.as_str())).collect(),
            ),
            Filter::IsNull("reservation".into(), true),
            Filter::Eq("maintenance".into(), json!(false)),
        ],
        ..ListQuery::default()
    };
    let nodes: Vec<Node> = match engine.store.list(&query).await {
        Ok(nodes) => nodes,
        Err(e) => {
            warn!(error = %e, "listing waiting nodes failed");
            return;
        }
    };
    let now = Utc::now();
    for node in nodes {
        let Some(&(state, seconds, name, limit)) =
            active.iter().find(|(s, ..)| *s == node.provision_state)
        else {
            continue;
        };
        let since = node.provision_updated_at.unwrap_or(node.created_at);
        if now - since <= limit {
            continue;
        }
        let message = format!(
            "Timeout reached while waiting for a callback: {name} ({seconds} s) expired while \
             the node was in state {state}."
        );
        let result = engine
            .store
            .update::<Node, (), FlowError, _>(&Ident::Uuid(node.uuid), move |n| {
                let since_now = n.provision_updated_at.unwrap_or(n.created_at);
                let still = n.provision_state == state
                    && n.reservation.is_none()
                    && !n.maintenance
                    && n.intent.is_none()
                    && Utc::now() - since_now > limit;
                if !still {
                    return Err(FlowError::NothingToDo);
                }
                fsm::fail(n, &message, state == S::CleanWait, Utc::now()).map(|_| ())
            })
            .await;
        match result {
            Ok(_) => info!(node = %node.uuid, %state, timeout = name, "callback timeout"),
            Err(FlowError::NothingToDo) => {}
            Err(e) => warn!(node = %node.uuid, error = %e, "failing a timed-out node failed"),
        }
    }
}
