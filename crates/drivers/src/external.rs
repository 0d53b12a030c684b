//! Boot interfaces implemented outside this crate. `ferrite-boot` builds
//! the network and virtual-media boot interfaces on the traits here, so
//! this crate cannot name them; the binary installs a provider for them at
//! start, and [`crate::Driver::build`] asks it for any boot interface name
//! it has no code for itself.

use std::sync::{Arc, OnceLock};

use crate::interfaces::BootInterface;

/// Builds boot interfaces by name (`ipxe`, `pxe`, …).
pub trait BootProvider: Send + Sync {
    /// The implementation called `name`, if the provider has one.
    fn boot_interface(&self, name: &str) -> Option<Arc<dyn BootInterface>>;
}

static BOOT_PROVIDER: OnceLock<Arc<dyn BootProvider>> = OnceLock::new();

/// Installs the process's boot provider. Only the first call takes effect
/// (a process has one boot configuration); later ones get theirs back.
pub fn install_boot_provider(provider: Arc<dyn BootProvider>) -> Result<(), Arc<dyn BootProvider>> {
    BOOT_PROVIDER.set(provider)
}

/// The installed provider's implementation of `name`, if any.
pub(crate) fn boot_interface(name: &str) -> Option<Arc<dyn BootInterface>> {
    BOOT_PROVIDER.get()?.boot_interface(name)
}
