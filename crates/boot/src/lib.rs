//! How machines boot the agent (reference §9): iPXE, PXELINUX and GRUB
//! configuration, dnsmasq host and option files, per-node ISOs for virtual
//! media, the HTTP routes that serve them, and the boot interfaces
//! (`ipxe`, `pxe`, `http-ipxe`, `redfish-virtual-media`) that write and
//! remove them as nodes need them.
//!
//! Rendering ([`render`], [`dhcp::option_lines`]) is pure; file writing
//! ([`tree`], [`dhcp::DhcpFiles`]) is atomic, because dnsmasq, TFTP and
//! HTTP clients read the files while they change. The interfaces live in
//! [`interfaces`] and reach the drivers' registry through
//! [`ferrite_drivers::external`].

pub mod config;
pub mod dhcp;
pub mod error;
pub mod files;
pub mod interfaces;
pub mod iso;
pub mod render;
pub mod serve;
pub mod tree;

pub use config::BootConfig;
pub use error::BootError;
pub use interfaces::{BootContext, PortSource, Provider};
