//! The command API's engine: `<extension>.<command>` names mapped to
//! handlers, synchronous ones answered in the POST reply and asynchronous
//! ones run in the background with their result kept in the command log
//! (one at a time, as Ironic expects: a second while one runs is "busy").

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::AgentError;
use crate::state::Agent;
use crate::{extensions, steps};

/// What a handler returns.
pub type Outcome = Result<Value, AgentError>;

/// A running handler.
pub type Pending = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// `command_status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Still running (async commands).
    Running,
    /// Finished; `command_result` holds the answer.
    Succeeded,
    /// Finished; `command_error` says why.
    Failed,
    /// A clean step was asked for with another hardware manager version:
    /// Ironic then re-reads the steps.
    CleanVersionMismatch,
}

/// One command result as the conductor reads it.
#[derive(Debug, Clone, Serialize)]
pub struct CommandResult {
    /// Its id (a UUID).
    pub id: String,
    /// `<extension>.<command>`.
    pub command_name: String,
    /// The parameters, secrets masked.
    pub command_params: Value,
    /// Where it is.
    pub command_status: Status,
    /// The answer, once succeeded.
    pub command_result: Option<Value>,
    /// The error document, once failed.
    pub command_error: Option<Value>,
}

/// Whether a command answers at once or runs in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Result in the POST reply.
    Sync,
    /// POST returns RUNNING; poll the command.
    Async,
}

/// Why a command was not started.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// An async command is still running.
    #[error("agent is busy executing a command: {0}")]
    Busy(String),
    /// The name or parameters are wrong.
    #[error(transparent)]
    Invalid(#[from] AgentError),
}

/// The record of every command this boot, newest last.
#[derive(Default)]
pub struct CommandLog {
    results: Mutex<Vec<CommandResult>>,
    changed: watch::Sender<u64>,
}

impl CommandLog {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<CommandResult>) -> T) -> T {
        match self.results.lock() {
            Ok(mut g) => f(&mut g),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// All results, oldest first.
    pub fn list(&self) -> Vec<CommandResult> {
        self.with(|r| r.clone())
    }

    /// One result.
    pub fn get(&self, id: &str) -> Option<CommandResult> {
        self.with(|r| r.iter().find(|c| c.id == id).cloned())
    }

    /// Waits until command `id` is no longer RUNNING; its final result.
    pub async fn wait(&self, id: &str) -> Option<CommandResult> {
        let mut rx = self.changed.subscribe();
        loop {
            let current = self.get(id)?;
            if current.command_status != Status::Running {
                return Some(current);
            }
            if rx.changed().await.is_err() {
                return Some(current);
            }
        }
    }

    fn finish(&self, id: &str, outcome: Outcome, mismatch: bool) {
        self.with(|r| {
            if let Some(c) = r.iter_mut().find(|c| c.id == id) {
                match outcome {
                    Ok(value) => {
                        c.command_status = Status::Succeeded;
                        c.command_result = Some(value);
                    }
                    Err(e) => {
                        c.command_status = if mismatch {
                            Status::CleanVersionMismatch
                        } else {
                            Status::Failed
                        };
                        c.command_error = Some(e.to_json());
                    }
                }
            }
        });
        self.changed.send_modify(|n| *n += 1);
    }
}

/// Parameters that must never be echoed back.
const SECRET_PARAMS: [&str; 3] = ["rescue_password", "agent_token", "configdrive"];

fn masked(params: &Value) -> Value {
    let mut out = params.clone();
    if let Some(map) = out.as_object_mut() {
        for key in SECRET_PARAMS {
            if let Some(v) = map.get_mut(key) {
                *v = json!("******");
            }
        }
    }
    out
}

/// The handler for a command name, and how it runs.
fn handler(agent: &Arc<Agent>, name: &str, params: Value) -> Result<(Mode, Pending), AgentError> {
    use Mode::{Async, Sync};
    let a = agent.clone();
    let found: (Mode, Pending) = match name {
        "clean.get_clean_steps" => (Sync, Box::pin(async { steps::list(steps::Phase::Clean) })),
        "deploy.get_deploy_steps" => (Sync, Box::pin(async { steps::list(steps::Phase::Deploy) })),
        "service.get_service_steps" => {
            (Sync, Box::pin(async { steps::list(steps::Phase::Service) }))
        }
        "clean.execute_clean_step" => (Async, steps::execute(a, steps::Phase::Clean, params)),
        "deploy.execute_deploy_step" => (Async, steps::execute(a, steps::Phase::Deploy, params)),
        "service.execute_service_step" => (Async, steps::execute(a, steps::Phase::Service, params)),
        "standby.write_image" | "standby.prepare_image" => {
            (Async, Box::pin(extensions::write_image(a, params)))
        }
        "image.install_bootloader" | "standby.install_bootloader" => {
            (Async, Box::pin(extensions::install_bootloader(params)))
        }
        "standby.power_off" => (Async, Box::pin(extensions::power_off(a))),
        "standby.sync" => (Sync, Box::pin(extensions::sync(a))),
        "standby.get_partition_uuids" => (Sync, Box::pin(extensions::partition_uuids(a))),
        "log.collect_system_logs" => (Sync, Box::pin(extensions::collect_logs(a))),
        "rescue.finalize_rescue" => (Sync, Box::pin(extensions::finalize_rescue(a, params))),
        other => return Err(AgentError::Unknown(other.to_string())),
    };
    Ok(found)
}

/// Starts a command. Sync commands have finished when this returns; async
/// ones are RUNNING and finish in the background.
pub async fn start(
    agent: &Arc<Agent>,
    name: &str,
    params: Value,
) -> Result<CommandResult, Refusal> {
    let shown = masked(&params);
    // A clean step asked for with another hardware manager version must
    // end in CLEAN_VERSION_MISMATCH so Ironic refreshes its step list.
    let mismatch = name == "clean.execute_clean_step" && steps::version_mismatch(&params);
    let (mode, pending) = if mismatch {
        let refused: Pending = Box::pin(async {
            Err(AgentError::InvalidParams(format!(
                "clean_version differs from this agent's {}",
                steps::manager_version()
            )))
        });
        (Mode::Async, refused)
    } else {
        handler(agent, name, params)?
    };
    let id = crate::entropy::uuid().to_string();
    let record = CommandResult {
        id: id.clone(),
        command_name: name.to_string(),
        command_params: shown,
        command_status: Status::Running,
        command_result: None,
        command_error: None,
    };
    agent.commands.with(|r| {
        if let Some(busy) = r.iter().find(|c| c.command_status == Status::Running) {
            return Err(Refusal::Busy(busy.command_name.clone()));
        }
        r.push(record);
        Ok(())
    })?;
    match mode {
        Mode::Sync => {
            let outcome = pending.await;
            agent.commands.finish(&id, outcome, false);
        }
        Mode::Async => {
            let log = agent.clone();
            let task_id = id.clone();
            tokio::spawn(async move {
                // Run in its own task so a panicking handler still ends
                // FAILED instead of RUNNING forever.
                let outcome = tokio::spawn(pending)
                    .await
                    .unwrap_or_else(|e| Err(AgentError::Host(format!("the command crashed: {e}"))));
                log.commands.finish(&task_id, outcome, mismatch);
            });
        }
    }
    agent
        .commands
        .get(&id)
        .ok_or(Refusal::Invalid(AgentError::Unknown(id)))
}
