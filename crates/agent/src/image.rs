//! How the agent gets an image onto a disk: the `write_image` deploy step
//! (and `standby.write_image`) pick the disk and hand the streaming to an
//! [`ImageWriter`]; [`StreamWriter`] is the real one (the `ferrite-images`
//! engine: checksum verified in stream, gzip/zstd decompressed on the fly,
//! no temporary copy), and tests can swap in a stub.

use std::path::Path;

use async_trait::async_trait;
use ferrite_images::Checksum;
use ferrite_images::stream::write_url;
use serde_json::{Map, Value, json};

use crate::error::AgentError;

/// One image to write, from Ironic's `image_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRequest {
    /// Where to download it from (the first of `urls`).
    pub url: String,
    /// The checksum statement in `instance_info` terms (`image_checksum`,
    /// `image_os_hash_algo`, `image_os_hash_value`, and `image_source` for
    /// a checksum file named relative to the image), as the image crate
    /// reads it.
    pub checksum: Map<String, Value>,
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
        checksum.insert("image_source".into(), json!(url));
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

/// Streams with `ferrite-images`: the image is opened by URL, refused
/// early when it announces more bytes than the disk has, verified while it
/// passes and written straight to the disk, which is then synced.
pub struct StreamWriter;

fn image_error(e: ferrite_images::ImageError) -> AgentError {
    AgentError::Image(e.to_string())
}

#[async_trait]
impl ImageWriter for StreamWriter {
    async fn write(
        &self,
        image: &ImageRequest,
        disk: &Path,
        capacity: u64,
    ) -> Result<Value, AgentError> {
        let expected = Checksum::from_instance_info(&image.checksum)
            .await
            .map_err(image_error)?;
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(disk)
            .await
            .map_err(|e| AgentError::io(format!("opening {}", disk.display()), e))?;
        let report = write_url(&image.url, expected.as_ref(), &mut file, Some(capacity))
            .await
            .map_err(image_error)?;
        file.sync_all()
            .await
            .map_err(|e| AgentError::io(format!("syncing {}", disk.display()), e))?;
        Ok(json!({
            "bytes_read": report.bytes_read,
            "bytes_written": report.bytes_written,
            "format": report.format.name(),
            "digest": report.digest.to_string(),
            "verified": expected.is_some(),
        }))
    }
}
