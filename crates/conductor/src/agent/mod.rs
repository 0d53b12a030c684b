//! What the conductor needs to drive the Ferrite agent (reference §7): the
//! command API client, where the agent's URL and token are kept on the
//! node, the rule by which a heartbeat continues a waiting node, and the
//! image cache that serves images (qcow2 converted to raw once) to agents.

pub mod client;

use std::sync::OnceLock;

use ferrite_images::Cache;
use ferrite_model::{Intent, Node, ProvisionArgs, ProvisionState as S, Verb};

pub use client::{AgentCallError, AgentClient};

/// `driver_internal_info` key of the agent token (the API issues it at
/// lookup; the conductor at a poll-only claim).
pub const TOKEN_KEY: &str = "agent_secret_token";
/// `driver_internal_info` key of the agent's command API URL.
pub const URL_KEY: &str = "agent_url";
/// `driver_internal_info` key of the last heartbeat's time.
pub const HEARTBEAT_KEY: &str = "agent_last_heartbeat";
/// `driver_internal_info` marker: the node waits for its freshly booted
/// agent (the value is the phase). Only such a wait is continued by a
/// heartbeat; a user's `wait` step is not.
pub const WAIT_KEY: &str = "agent_boot_wait";

/// Called inside the transaction that records a heartbeat (and by the
/// conductor right after it entered the wait, to catch a heartbeat that
/// came first): when the node waits for its agent, has an agent URL and
/// nothing else is pending, records the intent that continues its steps.
/// Returns whether it did, so the caller wakes the conductor.
pub fn continue_on_callback(node: &mut Node) -> bool {
    let waiting = matches!(
        node.provision_state,
        S::DeployWait | S::CleanWait | S::ServiceWait
    );
    let info = &node.driver_internal_info;
    if !waiting
        || !info.contains_key(WAIT_KEY)
        || !info.contains_key(URL_KEY)
        || node.intent.is_some()
        || node.reservation.is_some()
    {
        return false;
    }
    node.intent = Some(Intent::Provision {
        verb: Verb::Unhold,
        args: ProvisionArgs::default(),
    });
    true
}

/// The image cache agents download from, and the provisioning
/// listener's base URL it is served under (`<base>/images/<sha256>`).
#[derive(Clone)]
pub struct ImageService {
    /// The content-addressed cache.
    pub cache: Cache,
    /// `http://<provisioning address>:<port>`, as agents reach it.
    pub base_url: String,
}

static IMAGES: OnceLock<ImageService> = OnceLock::new();

/// Installs the process's image service. One per process, like the boot
/// provider: the cache owns its directory and the provisioning listener
/// serving it is the process's. Later calls get theirs back.
pub fn install_image_service(service: ImageService) -> Result<(), ImageService> {
    IMAGES.set(service)
}

/// The installed image service; without one, agents download from
/// `image_source` themselves (raw and compressed raw only).
pub(crate) fn image_service() -> Option<&'static ImageService> {
    IMAGES.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_agent_wait_with_a_url_continues() {
        let mut n = Node {
            provision_state: S::DeployWait,
            ..Node::default()
        };
        assert!(!continue_on_callback(&mut n));
        n.driver_internal_info
            .insert(WAIT_KEY.into(), json!("deploy"));
        assert!(!continue_on_callback(&mut n), "no agent URL yet");
        n.driver_internal_info
            .insert(URL_KEY.into(), json!("http://10.0.0.5:9999"));
        n.reservation = Some("c1".into());
        assert!(!continue_on_callback(&mut n), "locked");
        n.reservation = None;
        assert!(continue_on_callback(&mut n));
        assert!(matches!(
            n.intent,
            Some(Intent::Provision {
                verb: Verb::Unhold,
                ..
            })
        ));
        assert!(!continue_on_callback(&mut n), "already pending");
        n.intent = None;
        n.provision_state = S::Active;
        assert!(!continue_on_callback(&mut n));
    }
}
