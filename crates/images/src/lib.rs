//! Ferrite's image pipeline.
//!
//! Images reach a node's disk along one path: the conductor fetches an
//! image once ([`cache`]), verifies it against the checksum of
//! `instance_info` ([`checksum`]) while downloading, converts qcow2 to raw
//! with `qemu-img` under resource limits ([`qemu`]), keeps it in a
//! content-addressed cache, and serves it to agents with Range support
//! ([`serve`]); the agent streams it to the disk with [`stream::write_image`],
//! verifying and decompressing on the fly without temporary copies.

pub mod cache;
pub mod checksum;
pub mod error;
pub mod format;
pub mod qemu;
pub mod serve;
pub mod source;
pub mod stream;

pub use cache::{Cache, CacheConfig, CachedImage, PreparedImage};
pub use checksum::{Checksum, ChecksumSpec, HashAlgo};
pub use error::ImageError;
pub use format::ImageFormat;
pub use stream::{WriteReport, write_image};
