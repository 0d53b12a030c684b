//! Node history (API 1.78): a per-node record of what went wrong and, from
//! 1.115, of every provision state the node passed through and how long it
//! stayed there.
//!
//! Entries are derived from the change itself — a node write that sets a
//! new `last_error` or moves `provision_state` yields its entries — so the
//! store can append them in the same transaction as the change, and no code
//! path that fails a node can forget to record it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::node::Node;
use crate::provision::ProvisionState;

/// Longest `event` text kept, as Ironic truncates it.
pub const EVENT_MAX_CHARS: usize = 255;

/// One history entry of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeHistory {
    pub uuid: Uuid,
    pub node_uuid: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    /// `ERROR` for failures, `INFO` for state transitions.
    pub severity: String,
    /// What the node was doing (`provisioning`, `deploying`, `cleaning`, …).
    pub event_type: String,
    /// The message: the `last_error`, or the transition in words.
    pub event: String,
    /// The conductor that held the node when it happened.
    pub conductor: Option<String>,
    pub user: Option<String>,
    pub project: Option<String>,
    /// The provision state the node entered.
    pub state: Option<String>,
    pub target_provision_state: Option<String>,
    /// Time spent in the previous provision state (transitions only).
    pub duration_seconds: Option<i64>,
}

impl Default for NodeHistory {
    fn default() -> Self {
        NodeHistory {
            uuid: Uuid::nil(),
            node_uuid: Uuid::nil(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
            severity: String::new(),
            event_type: String::new(),
            event: String::new(),
            conductor: None,
            user: None,
            project: None,
            state: None,
            target_provision_state: None,
            duration_seconds: None,
        }
    }
}

/// What history needs to know of a node before a change.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMark {
    provision_state: ProvisionState,
    provision_updated_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    reservation: Option<String>,
}

impl Node {
    /// The part of the node that history entries are derived from; taken
    /// before a change and handed to [`Node::history_since`] after it.
    pub fn history_mark(&self) -> HistoryMark {
        HistoryMark {
            provision_state: self.provision_state,
            provision_updated_at: self.provision_updated_at,
            last_error: self.last_error.clone(),
            reservation: self.reservation.clone(),
        }
    }

    /// The entries a change from `before` to `self` adds: one `INFO` entry
    /// when the provision state moved, one `ERROR` entry when a new
    /// `last_error` was set (in that order, so an error reads after the
    /// transition that carried it).
    pub fn history_since(&self, before: &HistoryMark, at: DateTime<Utc>) -> Vec<NodeHistory> {
        let conductor = self
            .reservation
            .clone()
            .or_else(|| before.reservation.clone());
        let entry = |severity: &str, event: String| NodeHistory {
            uuid: Uuid::new_v4(),
            node_uuid: self.uuid,
            created_at: at,
            severity: severity.to_owned(),
            event_type: event_type(before.provision_state, self.provision_state).to_owned(),
            event: truncate(event),
            conductor: conductor.clone(),
            state: Some(self.provision_state.to_string()),
            target_provision_state: self.target_provision_state.map(|s| s.to_string()),
            ..NodeHistory::default()
        };
        let mut entries = Vec::new();
        if self.provision_state != before.provision_state {
            let mut info = entry(
                "INFO",
                format!(
                    "Provision state changed from {} to {}.",
                    before.provision_state, self.provision_state
                ),
            );
            info.duration_seconds = before
                .provision_updated_at
                .map(|since| (at - since).num_seconds().max(0));
            entries.push(info);
        }
        if let Some(error) = &self.last_error
            && before.last_error.as_ref() != Some(error)
        {
            entries.push(entry("ERROR", error.clone()));
        }
        entries
    }
}

/// Ironic's wording of what a node in `from` → `to` was doing.
fn event_type(from: ProvisionState, to: ProvisionState) -> &'static str {
    use ProvisionState as S;
    let busy = if to.as_str().ends_with("failed") {
        from
    } else {
        to
    };
    match busy {
        S::Deploying | S::DeployWait | S::DeployHold | S::DeployFailed | S::Active => "deploying",
        S::Cleaning | S::CleanWait | S::CleanHold | S::CleanFailed => "cleaning",
        S::Deleting => "undeploying",
        S::Inspecting | S::InspectWait | S::InspectFailed => "inspecting",
        S::Verifying => "verifying",
        S::Rescuing | S::RescueWait | S::RescueFailed | S::Rescue => "rescuing",
        S::Unrescuing | S::UnrescueFailed => "unrescuing",
        S::Adopting | S::AdoptFailed => "adopting",
        S::Servicing | S::ServiceWait | S::ServiceHold | S::ServiceFailed => "servicing",
        _ => "provisioning",
    }
}

fn truncate(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(EVENT_MAX_CHARS) {
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_deploy_records_the_transition_then_the_error() {
        let t0 = Utc::now();
        let mut node = Node {
            uuid: Uuid::new_v4(),
            provision_state: ProvisionState::Deploying,
            provision_updated_at: Some(t0),
            reservation: Some("c1".into()),
            ..Node::default()
        };
        let mark = node.history_mark();
        node.provision_state = ProvisionState::DeployFailed;
        node.reservation = None;
        node.last_error = Some("x".repeat(300));
        let at = t0 + chrono::Duration::seconds(7);
        let entries = node.history_since(&mark, at);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].severity, "INFO");
        assert_eq!(entries[0].duration_seconds, Some(7));
        assert_eq!(entries[0].state.as_deref(), Some("deploy failed"));
        assert_eq!(entries[1].severity, "ERROR");
        assert_eq!(entries[1].event.chars().count(), EVENT_MAX_CHARS);
        assert_eq!(entries[1].event_type, "deploying");
        assert_eq!(entries[1].conductor.as_deref(), Some("c1"));
    }

    #[test]
    fn unchanged_state_and_error_record_nothing() {
        let node = Node {
            last_error: Some("old".into()),
            ..Node::default()
        };
        assert!(
            node.history_since(&node.history_mark(), Utc::now())
                .is_empty()
        );
    }
}
