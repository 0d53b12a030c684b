//! What can go wrong while preparing a boot, kept apart from the drivers'
//! errors so the pure parts of this crate can be used (and tested) alone.

use std::path::PathBuf;

use ferrite_drivers::DriverError;

/// A failure to prepare or clean up a node's boot files.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The node or the configuration lacks something the boot needs; the
    /// message names it so the operator can fix it.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be written, linked or removed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `linking`, …).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// An external tool (grub-mkrescue) failed or could not be started.
    #[error("{tool} failed: {message}")]
    Tool {
        /// The program.
        tool: &'static str,
        /// Its exit status and the end of its error output.
        message: String,
    },
    /// Another interface of the node (management, for virtual media) failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

impl BootError {
    /// An I/O error with the file and the action in its message.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BootError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<BootError> for DriverError {
    fn from(e: BootError) -> Self {
        match e {
            BootError::Driver(inner) => inner,
            BootError::Invalid(message) => DriverError::InvalidParameter(message),
            other => DriverError::Failed(other.to_string()),
        }
    }
}
