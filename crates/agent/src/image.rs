//! How the agent gets an image onto a disk: the `write_image` deploy step
//! (and `standby.write_image`) pick the disk and hand the streaming to an
//! [`ImageWriter`], so the streaming engine (the `ferrite-images` crate)
//! can be swapped for a stub in tests.

use std::path::Path;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::AgentError;

/// One image to write, from Ironic's `image_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRequest {
    /// Where to download it from (the first of `urls`).
    pub url: String,
    /// The checksum statement in `instance_info` terms (`image_checksum`,
    /// `image_os_hash_algo`, `image_os_hash_value`), as the image crate
    /// reads it.
    pub checksum: Map<String, Value>,
    /// `raw`, `qcow2`, … as Glance states it (the stream is sniffed anyway).
    pub disk_format: Option<String>,
}

impl ImageRequest {
    /// Reads Ironic's `image_info`; refuses what this agent cannot write
    /// (partition images, images without a URL).
    pub fn from_image_info(info: &Map<String, Value>) -> Result<ImageRequest, AgentError> {
        if info.get("image_type").and_then(Value::as_str) == Some("partition") {
            return Err(AgentError::NotSupported(
                "partition images are not supported by ferrite-agent; deploy a whole-disk image"
                    .into(),
            ));
        }
        let url = info
            .get("urls")
            .and_then(Value::as_array)
            .and_then(|u| u.first())
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| AgentError::InvalidParams("image_info has no urls".into()))?;
        let mut checksum = Map::new();
        for (from, to) in [
            ("checksum", "image_checksum"),
            ("os_hash_algo", "image_os_hash_algo"),
            ("os_hash_value", "image_os_hash_value"),
        ] {
            if let Some(v) = info.get(from).filter(|v| !v.is_null()) {
                checksum.insert(to.into(), v.clone());
            }
        }
        Ok(ImageRequest {
            url: url.to_string(),
            checksum,
            disk_format: info
                .get("disk_format")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

/// Streams an image onto a disk.
#[async_trait]
pub trait ImageWriter: Send + Sync {
    /// Writes `image` to the start of `disk` (at most `capacity` bytes),
    /// verifying its checksum on the way, and flushes the disk. The
    /// returned document describes the write (bytes, format, digest).
    async fn write(
        &self,
        image: &ImageRequest,
        disk: &Path,
        capacity: u64,
    ) -> Result<Value, AgentError>;
}

/// The writer used until the `ferrite-images` streaming engine is wired
/// in: every write fails saying so, instead of pretending.
pub struct Unwired;

#[async_trait]
impl ImageWriter for Unwired {
    async fn write(&self, _: &ImageRequest, _: &Path, _: u64) -> Result<Value, AgentError> {
        Err(AgentError::NotSupported(
            "this agent was built without the ferrite-images streaming engine".into(),
        ))
    }
}
