//! The one error type every hardware interface returns, so the conductor can
//! turn any driver failure into a `last_error` without knowing the driver.

use crate::InterfaceKind;

/// Why a driver operation could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriverError {
    /// The node names a hardware type this build does not offer.
    #[error("Hardware type {0} is not loaded by this conductor.")]
    UnknownHardwareType(String),
    /// The node names an implementation its hardware type does not support.
    #[error(
        "The {kind} interface {name} is not supported by hardware type {hardware_type}; \
         supported: {supported}."
    )]
    InterfaceNotSupported {
        /// The interface kind that was asked for.
        kind: &'static str,
        /// The implementation name the node asked for.
        name: String,
        /// The node's hardware type.
        hardware_type: String,
        /// The enabled implementations, comma separated.
        supported: String,
    },
    /// An implementation that is listed (for API compatibility) but whose
    /// code is not in this build yet.
    #[error("The {kind} interface {name} is not implemented by Ferrite yet.")]
    NotImplemented {
        /// The interface kind.
        kind: InterfaceKind,
        /// The implementation name.
        name: &'static str,
    },
    /// The operation is not offered by this implementation (e.g. a `no-*`
    /// interface, or an unknown step).
    #[error("{0}")]
    Unsupported(String),
    /// The caller passed something the driver refuses.
    #[error("{0}")]
    InvalidParameter(String),
    /// The hardware (or its simulation) failed to do what was asked.
    #[error("{0}")]
    Failed(String),
}
