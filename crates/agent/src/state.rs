//! The agent's shared state: who it works for (node and token, learned by
//! lookup or by a poll-mode claim), the command log, and the services
//! commands use (the host, the image writer), so handlers and tests share
//! one object.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use crate::commands::CommandLog;
use crate::config::Config;
use crate::host::Host;
use crate::image::ImageWriter;

/// The node and token the agent answers to.
#[derive(Debug, Clone, Default)]
struct Identity {
    token: Option<String>,
    node_uuid: Option<Uuid>,
    node: Option<Value>,
    claimed: bool,
}

/// Why a poll-mode claim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The agent calls the API itself; its token came from lookup.
    #[error("this agent is not in poll-only mode")]
    NotPollMode,
    /// Another conductor (or node) claimed it first.
    #[error("this agent is already claimed by node {0}")]
    AlreadyClaimed(Uuid),
    /// The token is too short to be a secret.
    #[error("the agent token must be at least 32 characters")]
    WeakToken,
}

/// Everything a request handler or a command needs.
pub struct Agent {
    /// The merged configuration.
    pub config: Config,
    /// Commands run and running.
    pub commands: CommandLog,
    /// Power, sync and logs of the machine.
    pub host: Arc<dyn Host>,
    /// Streams images onto disks.
    pub images: Arc<dyn ImageWriter>,
    identity: RwLock<Identity>,
    started_at: f64,
    written_disk: Mutex<Option<PathBuf>>,
    stop: watch::Sender<bool>,
}

impl Agent {
    /// A fresh agent; a token given at boot (virtual media) is adopted.
    pub fn new(config: Config, host: Arc<dyn Host>, images: Arc<dyn ImageWriter>) -> Arc<Agent> {
        let identity = Identity {
            token: config.agent_token.clone(),
            ..Identity::default()
        };
        let started_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Arc::new(Agent {
            config,
            commands: CommandLog::default(),
            host,
            images,
            identity: RwLock::new(identity),
            started_at,
            written_disk: Mutex::new(None),
            stop: watch::channel(false).0,
        })
    }

    fn read(&self) -> Identity {
        match self.identity.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Identity) -> T) -> T {
        match self.identity.write() {
            Ok(mut g) => f(&mut g),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// When the agent started, in Unix seconds (reported by `/v1/status`).
    pub fn started_at(&self) -> f64 {
        self.started_at
    }

    /// Records what lookup answered: the node and, the first time, the
    /// token (a later lookup answers `******`, which must not replace it).
    pub fn adopt_lookup(&self, node_uuid: Uuid, node: Value, token: Option<String>) {
        self.write(|id| {
            id.node_uuid = Some(node_uuid);
            id.node = Some(node);
            if let Some(t) = token {
                id.token = Some(t);
            }
        });
    }

    /// Accepts the first poll-mode claim; a repeat of the same claim (a
    /// conductor retrying after a lost reply) is accepted again.
    pub fn claim(
        &self,
        node_uuid: Uuid,
        token: &str,
        node: Option<Value>,
    ) -> Result<(), ClaimError> {
        if !self.config.poll_only {
            return Err(ClaimError::NotPollMode);
        }
        if token.len() < 32 {
            return Err(ClaimError::WeakToken);
        }
        self.write(|id| {
            if id.claimed {
                let same = id.node_uuid == Some(node_uuid)
                    && id.token.as_deref().is_some_and(|t| same_secret(t, token));
                return if same {
                    Ok(())
                } else {
                    Err(ClaimError::AlreadyClaimed(id.node_uuid.unwrap_or_default()))
                };
            }
            id.claimed = true;
            id.node_uuid = Some(node_uuid);
            id.token = Some(token.to_string());
            id.node = node;
            Ok(())
        })
    }

    /// Whether `offered` is the agent's token. No token known yet means
    /// every command is refused.
    pub fn token_ok(&self, offered: Option<&str>) -> bool {
        match (self.read().token, offered) {
            (Some(expected), Some(offered)) => same_secret(&expected, offered),
            _ => false,
        }
    }

    /// The token, for heartbeats.
    pub fn token(&self) -> Option<String> {
        self.read().token
    }

    /// The node this agent serves, if known.
    pub fn node_uuid(&self) -> Option<Uuid> {
        self.read().node_uuid
    }

    /// The node document from lookup or the claim.
    pub fn node(&self) -> Option<Value> {
        self.read().node
    }

    /// Whether a poll-mode claim was accepted.
    pub fn claimed(&self) -> bool {
        self.read().claimed
    }

    /// Remembers the disk the image went to, for `get_partition_uuids`.
    pub fn set_written_disk(&self, path: PathBuf) {
        if let Ok(mut g) = self.written_disk.lock() {
            *g = Some(path);
        }
    }

    /// The disk the image went to.
    pub fn written_disk(&self) -> Option<PathBuf> {
        self.written_disk.lock().ok().and_then(|g| g.clone())
    }

    /// Asks the server and heartbeats to stop (after `finalize_rescue`).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Resolves once [`Agent::stop`] was called.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        // An error means the sender is gone, i.e. the agent too.
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
