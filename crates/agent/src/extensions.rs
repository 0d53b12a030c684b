//! The commands outside the step framework: `standby.*` (write_image,
//! power_off, sync, get_partition_uuids), `image.install_bootloader`,
//! `log.collect_system_logs` and `rescue.finalize_rescue`.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::commands::Outcome;
use crate::disk;
use crate::error::AgentError;
use crate::image::ImageRequest;
use crate::state::Agent;
use crate::steps::{blocking, device_path, target_disk};

/// The object parameter `key`, or an error naming it.
fn object<'a>(params: &'a Value, key: &str) -> Result<&'a Map<String, Value>, AgentError> {
    params
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| AgentError::InvalidParams(format!("{key} must be an object")))
}

/// Writes the image of `args` (`image_info`, `configdrive`) to the disk
/// `node`'s root device hints choose. A failed write leaves the disk with
/// its metadata wiped, so a half-written image is never booted.
pub async fn write_image_for(agent: Arc<Agent>, node: &Value, args: &Value) -> Outcome {
    let request = ImageRequest::from_image_info(object(args, "image_info")?)?;
    if args
        .get("configdrive")
        .is_some_and(|c| !(c.is_null() || c.as_str() == Some("")))
    {
        return Err(AgentError::NotSupported(
            "config drives are not supported by ferrite-agent yet; deploy without one".into(),
        ));
    }
    let target = target_disk(&agent, node)?;
    let path = device_path(&agent, &target);
    match agent.images.write(&request, &path, target.size_bytes).await {
        Ok(report) => {
            agent.set_written_disk(path);
            Ok(json!({"disk": target.name, "image": report}))
        }
        Err(e) => {
            let wipe = path.clone();
            // Best effort: the write error is the one to report.
            let _ = blocking(move || disk::erase_metadata(&wipe).map(|_| Value::Null)).await;
            Err(e)
        }
    }
}

/// `standby.write_image` / `standby.prepare_image`: the same as the
/// `write_image` deploy step, for conductors that call it directly.
pub async fn write_image(agent: Arc<Agent>, params: Value) -> Outcome {
    let node = agent.node().unwrap_or_else(|| json!({}));
    write_image_for(agent, &node, &params).await
}

/// `image.install_bootloader`: a whole-disk image (no `root_uuid`) boots
/// with its own bootloader (UEFI through the removable-media path), so
/// nothing is installed; a partition image would need GRUB tooling this
/// ramdisk does not carry, which is said plainly.
pub async fn install_bootloader(params: Value) -> Outcome {
    let root_uuid = params
        .get("root_uuid")
        .and_then(Value::as_str)
        .unwrap_or("");
    if root_uuid.is_empty() {
        return Ok(json!({
            "message": "whole-disk image: it carries its own bootloader; nothing installed",
        }));
    }
    Err(AgentError::NotSupported(format!(
        "installing a bootloader for the partition image with root {root_uuid} needs \
         grub-install and efibootmgr, which the Ferrite ramdisk does not carry; \
         deploy a whole-disk image"
    )))
}

/// `standby.power_off`.
pub async fn power_off(agent: Arc<Agent>) -> Outcome {
    blocking(move || agent.host.power_off().map(|_| Value::Null)).await
}

/// `standby.sync`.
pub async fn sync(agent: Arc<Agent>) -> Outcome {
    blocking(move || agent.host.sync().map(|_| Value::Null)).await
}

/// `standby.get_partition_uuids`: the identifiers of the disk the image
/// went to, under the keys Ironic reads.
pub async fn partition_uuids(agent: Arc<Agent>) -> Outcome {
    let path = agent.written_disk().ok_or_else(|| {
        AgentError::InvalidParams("no image has been written by this agent".into())
    })?;
    blocking(move || {
        let info = disk::partitions(&path)?;
        Ok(json!({
            "root uuid": info.disk_id,
            "efi system partition uuid": info.esp_uuid,
            "PReP Boot partition uuid": null,
            "partition_table_type": info.table,
        }))
    })
    .await
}

/// `log.collect_system_logs`: a gzipped tarball of the ramdisk's logs,
/// base64-encoded, as Ironic stores it.
pub async fn collect_logs(agent: Arc<Agent>) -> Outcome {
    blocking(move || {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in agent.host.logs() {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, &name, bytes.as_slice())
                .map_err(|e| AgentError::io(format!("archiving {name}"), e))?;
        }
        let mut gz = tar
            .into_inner()
            .map_err(|e| AgentError::io("finishing the log archive", e))?;
        gz.flush()
            .map_err(|e| AgentError::io("compressing the log archive", e))?;
        let bytes = gz
            .finish()
            .map_err(|e| AgentError::io("compressing the log archive", e))?;
        Ok(json!({
            "system_logs": base64::engine::general_purpose::STANDARD.encode(bytes),
        }))
    })
    .await
}

/// `rescue.finalize_rescue`: sets the rescue user's password from the
/// crypt(3) hash Ironic sends, then stops the agent's API (the machine is
/// the tenant's now).
pub async fn finalize_rescue(agent: Arc<Agent>, params: Value) -> Outcome {
    let password = params
        .get("rescue_password")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| AgentError::InvalidParams("rescue_password is required".into()))?
        .to_string();
    if !params
        .get("hashed")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(AgentError::NotSupported(
            "plain-text rescue passwords are not accepted; send the crypt(3) hash with \
             hashed=true (Ironic's default)"
                .into(),
        ));
    }
    let host = agent.clone();
    blocking(move || {
        host.host
            .set_rescue_password(&password)
            .map(|_| Value::Null)
    })
    .await?;
    agent.stop();
    Ok(Value::Null)
}
