//! Webhook subscriptions to the change feed (`/ferrite/v1/webhooks`): where
//! to POST events, which ones, the secret that signs them, and how far
//! delivery has got. The cursor is part of the record so a restarted
//! conductor resumes delivery exactly where the last acknowledged POST
//! left it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One subscription and its delivery status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Webhook {
    /// The subscription's identity.
    pub uuid: Uuid,
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// Event types delivered (`node.created`, or `node.*` for a family);
    /// empty delivers every event.
    pub types: Vec<String>,
    /// The HMAC-SHA256 key of the signature header. Never shown back.
    pub secret: String,
    /// When the subscription was made.
    pub created_at: DateTime<Utc>,
    /// When the subscription or its status last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Every event with a `seq` up to this one has been acknowledged (or
    /// did not match `types`): delivery resumes after it.
    pub last_delivered_seq: u64,
    /// Why the last attempt failed; cleared by a success.
    pub last_error: Option<String>,
    /// Failed attempts in a row; reset by a success. Drives the backoff.
    pub failures: u32,
    /// When a delivery was last attempted.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The delivery task (conductor host and task id) that holds the
    /// subscription: with several conductors on one database, only the
    /// holder POSTs, so one subscription sees one delivery at a time.
    pub lease_holder: Option<String>,
    /// When the holder's lease lapses: a conductor that died mid-delivery
    /// holds nothing after this, and another one takes over from the
    /// stored cursor (at-least-once).
    pub lease_until: Option<DateTime<Utc>>,
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            uuid: Uuid::nil(),
            url: String::new(),
            types: Vec::new(),
            secret: String::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            updated_at: None,
            last_delivered_seq: 0,
            last_error: None,
            failures: 0,
            last_attempt_at: None,
            lease_holder: None,
            lease_until: None,
        }
    }
}

/// Whether an event of type `kind` matches a list of type patterns: an
/// exact name, or `family.*` for every type that starts with `family.`;
/// an empty list matches everything. One rule for the feed's `type=`
/// filter and for webhook subscriptions.
pub fn type_matches(patterns: &[String], kind: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => p == kind,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_names_and_families() {
        let p = vec!["node.*".to_string(), "port.created".to_string()];
        assert!(type_matches(&p, "node.power_state.changed"));
        assert!(type_matches(&p, "port.created"));
        assert!(!type_matches(&p, "port.deleted"));
        assert!(!type_matches(&p, "nodes"));
        assert!(type_matches(&[], "anything"));
    }
}
