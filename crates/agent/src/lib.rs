//! `ferrite-agent`, the deploy-ramdisk agent. It speaks Ironic's agent
//! protocol — lookup and heartbeat with the agent token, and the command
//! API on port 9999 — so a conductor drives it as it drives Ironic's
//! agent; and it has a poll-only mode in which it never calls the API and
//! waits to be claimed (docs/agent.md).

pub mod commands;
pub mod config;
pub mod disk;
pub mod entropy;
pub mod error;
pub mod extensions;
pub mod hints;
pub mod host;
pub mod image;
pub mod inventory;
pub mod ironic;
pub mod server;
pub mod state;
pub mod steps;

use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::error;

pub use error::AgentError;
pub use state::Agent;

/// The agent's version, sent in heartbeats and `/v1/status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Serves the command API on `listener` and, unless poll-only, runs
/// lookup and heartbeats; returns when the agent stops (rescue
/// finalised) or when the callback protocol fails for good.
pub async fn run(agent: Arc<Agent>, listener: TcpListener) -> Result<(), AgentError> {
    let serving = agent.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, server::router(serving.clone()))
            .with_graceful_shutdown(async move { serving.stopped().await })
            .await
    });
    if !agent.config.poll_only {
        let callback = agent.clone();
        if let Err(e) = ironic::run(callback).await {
            error!(error = %e, "the callback protocol failed");
            agent.stop();
            let _ = server.await;
            return Err(e);
        }
    }
    match server.await {
        Ok(result) => result.map_err(|e| AgentError::io("serving the agent API", e)),
        Err(e) => Err(AgentError::Host(format!("the server task failed: {e}"))),
    }
}
