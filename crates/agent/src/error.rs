//! The agent's one error type. Every failure a command can meet ends up
//! in a command result's `command_error`, so each variant knows the
//! Ironic-agent error `type` and HTTP code the conductor expects to read.

use serde_json::{Value, json};

/// Why a command, a step or a call to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The parameters of a command or step are missing or malformed.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// No command, extension or step of that name exists.
    #[error("unknown command or step: {0}")]
    Unknown(String),
    /// Something this agent deliberately does not do (said plainly, so the
    /// operator learns why instead of seeing a generic failure).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// No disk matches the root device hints, or there are no disks.
    #[error("no suitable device: {0}")]
    NoDevice(String),
    /// A file or device operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the agent was doing.
        context: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the image failed (download, checksum, size, disk).
    #[error("image write failed: {0}")]
    Image(String),
    /// The Ironic/Ferrite API refused or could not be reached.
    #[error("API call failed: {0}")]
    Api(String),
    /// An external program (poweroff, sync, dmesg) failed.
    #[error("command failed: {0}")]
    Host(String),
}

impl AgentError {
    /// Wraps an I/O error with what was being done, so messages name the
    /// file or device.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> AgentError {
        AgentError::Io {
            context: context.into(),
            source,
        }
    }

    /// The error `type` Ironic's agent uses for this kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::InvalidParams(_) => "InvalidCommandParamsError",
            AgentError::Unknown(_) => "InvalidCommandError",
            AgentError::NotSupported(_) => "IncompatibleHardwareMethodError",
            AgentError::NoDevice(_) => "DeviceNotFound",
            AgentError::Io { .. } => "BlockDeviceError",
            AgentError::Image(_) => "ImageWriteError",
            AgentError::Api(_) => "LookupNodeError",
            AgentError::Host(_) => "CommandExecutionError",
        }
    }

    /// The HTTP status for a command refused outright with this error.
    pub fn code(&self) -> u16 {
        match self {
            AgentError::InvalidParams(_) | AgentError::Unknown(_) => 400,
            AgentError::NotSupported(_) => 400,
            _ => 500,
        }
    }

    /// The serialized form (`type`, `code`, `message`, `details`) used in
    /// `command_error` and in refused requests.
    pub fn to_json(&self) -> Value {
        error_body(self.kind(), self.code(), &self.to_string())
    }
}

/// An Ironic-agent error document.
pub fn error_body(kind: &str, code: u16, message: &str) -> Value {
    json!({"type": kind, "code": code, "message": message, "details": message})
}
