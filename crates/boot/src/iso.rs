//! The per-node ISO of the `redfish-virtual-media` interface (reference
//! §9.4): the agent's kernel and initramfs, a GRUB configuration with its
//! kernel command line, the agent's configuration file and the node's
//! `network_data` (`openstack/latest/network_data.json`, read by the agent
//! to configure its NICs without DHCP). `grub-mkrescue` (GRUB with xorriso
//! and mtools) makes it bootable by BIOS (El Torito) and UEFI (an EFI
//! system partition image).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::render::{Ramdisk, grub_config};
use crate::{BootError, files};

/// The ISO's volume label. The agent's `/init` mounts the filesystem with
/// this label and reads [`AGENT_CONFIG_FILE`] from it, so it must match the
/// agent's `CONFIG_LABEL`.
pub const CONFIG_LABEL: &str = "FERRITE_CFG";

/// The agent's configuration file at the root of the ISO.
pub const AGENT_CONFIG_FILE: &str = "ferrite-agent.json";

/// Where the node's static network configuration goes, as in Ironic.
pub const NETWORK_DATA_FILE: &str = "openstack/latest/network_data.json";

/// GRUB modules the ISO carries (their dependencies are added by GRUB): as
/// few as boot the agent, so the ISO stays a few MiB above the ramdisk.
const GRUB_MODULES: &str = "linux normal iso9660 configfile search search_fs_uuid \
                            search_fs_file search_label echo test part_gpt part_msdos fat all_video";

/// What goes on one node's ISO.
#[derive(Debug, Clone)]
pub struct IsoContents {
    /// The agent's kernel, a local file.
    pub kernel: PathBuf,
    /// The agent's initramfs, a local file.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub params: String,
    /// The agent's configuration (`api_url`, …).
    pub agent_config: Value,
    /// The node's `network_data`; not written when empty.
    pub network_data: Value,
}

/// Builds the ISO at `out` (replaced in one step). The staging directory
/// sits beside `out` so the kernel and initramfs can be hard-linked.
pub async fn build(contents: &IsoContents, out: &Path) -> Result<(), BootError> {
    let parent = out.parent().unwrap_or(Path::new("."));
    let staging = parent.join(format!(".iso-{}", uuid::Uuid::new_v4().simple()));
    let result = build_in(contents, &staging, out).await;
    files::remove_dir(&staging)?;
    result
}

async fn build_in(contents: &IsoContents, staging: &Path, out: &Path) -> Result<(), BootError> {
    let tree = staging.join("tree");
    files::stage(&contents.kernel, &tree.join("vmlinuz"))?;
    files::stage(&contents.initrd, &tree.join("initrd"))?;
    let ramdisk = Ramdisk {
        kernel: "/vmlinuz".into(),
        initrd: "/initrd".into(),
        params: contents.params.clone(),
    };
    files::write_atomic(
        &tree.join("boot/grub/grub.cfg"),
        grub_config(&ramdisk, None).as_bytes(),
    )?;
    files::write_atomic(
        &tree.join(AGENT_CONFIG_FILE),
        contents.agent_config.to_string().as_bytes(),
    )?;
    let has_network_data = match &contents.network_data {
        Value::Null => false,
        Value::Object(map) => !map.is_empty(),
        _ => true,
    };
    if has_network_data {
        files::write_atomic(
            &tree.join(NETWORK_DATA_FILE),
            contents.network_data.to_string().as_bytes(),
        )?;
    }
    let iso = staging.join("boot.iso");
    let output = tokio::process::Command::new("grub-mkrescue")
        .args(["--locales=", "--fonts=", "--themes="])
        .arg(format!("--install-modules={GRUB_MODULES}"))
        .arg("-o")
        .arg(&iso)
        .arg(&tree)
        .args(["--", "-volid", CONFIG_LABEL])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| BootError::Tool {
            tool: "grub-mkrescue",
            message: format!("cannot start it ({e}); install grub-common, grub-efi-amd64-bin, grub-pc-bin, xorriso and mtools"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(BootError::Tool {
            tool: "grub-mkrescue",
            message: format!(
                "{}: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ),
        });
    }
    std::fs::rename(&iso, out).map_err(|e| BootError::io("renaming into", out, e))
}
