//! `qemu-img` as a subprocess under resource limits, as Ironic runs it:
//! an image is untrusted input, and a crafted qcow2 must not be able to
//! exhaust the conductor's memory or CPU, nor read other files through a
//! backing file.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Output, Stdio};

use serde::Deserialize;
use serde_json::Value;
use tokio::process::Command;

use crate::error::ImageError;

/// The program run; qemu-utils provides it.
const QEMU_IMG: &str = "qemu-img";

/// Resource limits applied to every `qemu-img` run (`setrlimit` in the
/// child before exec, like Ironic's `prlimit` wrapper).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuLimits {
    /// Address-space limit (RLIMIT_AS) in bytes; Ironic uses 1 GiB for
    /// `info`. Conversion gets twice this, for its I/O buffers and threads.
    pub address_space: u64,
    /// CPU-time limit (RLIMIT_CPU) of `info`, in seconds (Ironic: 30).
    pub info_cpu_seconds: u64,
    /// CPU-time limit of `convert`, in seconds; conversion of a large
    /// image legitimately takes minutes.
    pub convert_cpu_seconds: u64,
}

impl Default for QemuLimits {
    fn default() -> Self {
        QemuLimits {
            address_space: 1 << 30,
            info_cpu_seconds: 30,
            convert_cpu_seconds: 3600,
        }
    }
}

/// What `qemu-img info` tells about a qcow2 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QcowInfo {
    /// Bytes the image occupies once converted to raw: must fit the disk.
    pub virtual_size: u64,
}

/// The parts of `qemu-img info --output=json` that matter here.
#[derive(Deserialize)]
struct InfoJson {
    /// Disk size once expanded.
    #[serde(rename = "virtual-size")]
    virtual_size: u64,
    /// A backing file would let the image read another file.
    #[serde(rename = "backing-filename")]
    backing_filename: Option<String>,
    /// Holds `data.data-file` for qcow2 with an external data file.
    #[serde(rename = "format-specific")]
    format_specific: Option<Value>,
}

/// Inspects a qcow2 image: its virtual size, and refuses images that refer
/// to other files (backing file, external data file). A corrupt image is a
/// [`ImageError::QemuImg`] carrying qemu-img's message.
pub async fn info(path: &Path, limits: &QemuLimits) -> Result<QcowInfo, ImageError> {
    let shown = path.display().to_string();
    let output = run(
        "info",
        &shown,
        &["info", "--output=json", "-f", "qcow2", &shown],
        limits.address_space,
        limits.info_cpu_seconds,
    )
    .await?;
    let stdout = succeeded("info", &shown, output)?;
    let parsed: InfoJson = serde_json::from_slice(&stdout).map_err(|e| ImageError::QemuImg {
        operation: "info",
        path: shown.clone(),
        detail: format!("unreadable JSON output: {e}"),
    })?;
    let unsafe_image = |reason: String| ImageError::UnsafeImage {
        path: shown.clone(),
        reason,
    };
    if let Some(backing) = parsed.backing_filename {
        return Err(unsafe_image(format!("it has a backing file ({backing:?})")));
    }
    let data_file = parsed
        .format_specific
        .as_ref()
        .and_then(|f| f.pointer("/data/data-file"))
        .and_then(Value::as_str);
    if let Some(data_file) = data_file {
        return Err(unsafe_image(format!(
            "it has an external data file ({data_file:?})"
        )));
    }
    Ok(QcowInfo {
        virtual_size: parsed.virtual_size,
    })
}

/// Checks a qcow2 image's metadata (`qemu-img check`): `convert` reads a
/// truncated or corrupted image without complaint, producing a wrong disk,
/// so corruption must be found first. Leaked clusters alone are harmless.
pub async fn check(path: &Path, limits: &QemuLimits) -> Result<(), ImageError> {
    let shown = path.display().to_string();
    let output = run(
        "check",
        &shown,
        &["check", "--output=json", "-f", "qcow2", &shown],
        limits.address_space,
        limits.convert_cpu_seconds,
    )
    .await?;
    // Exit status 3: only leaked clusters, which lose space, not data.
    if output.status.code() == Some(3) {
        return Ok(());
    }
    if output.status.code() == Some(2) {
        let corruptions = serde_json::from_slice::<Value>(&output.stdout)
            .ok()
            .and_then(|v| v.get("corruptions").and_then(Value::as_u64))
            .unwrap_or(0);
        return Err(ImageError::QemuImg {
            operation: "check",
            path: shown,
            detail: format!("the qcow2 image is corrupt ({corruptions} corruptions found)"),
        });
    }
    succeeded("check", &shown, output).map(drop)
}

/// Converts a qcow2 image to a raw file at `dst` (which must not exist).
pub async fn convert(src: &Path, dst: &Path, limits: &QemuLimits) -> Result<(), ImageError> {
    let (src, dst) = (src.display().to_string(), dst.display().to_string());
    let output = run(
        "convert",
        &src,
        &["convert", "-f", "qcow2", "-O", "raw", &src, &dst],
        limits.address_space.saturating_mul(2),
        limits.convert_cpu_seconds,
    )
    .await?;
    succeeded("convert", &src, output).map(drop)
}

/// Runs qemu-img with `args` under the two limits and collects its output;
/// only a failure to start it is an error here.
async fn run(
    operation: &'static str,
    path: &str,
    args: &[&str],
    address_space: u64,
    cpu_seconds: u64,
) -> Result<Output, ImageError> {
    let mut command = Command::new(QEMU_IMG);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls setrlimit, which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            limit(libc::RLIMIT_AS, address_space)?;
            limit(libc::RLIMIT_CPU, cpu_seconds)
        });
    }
    command.output().await.map_err(|e| ImageError::QemuImg {
        operation,
        path: path.to_owned(),
        detail: format!("could not run {QEMU_IMG}: {e}"),
    })
}

/// The stdout of a successful run, or an error with qemu-img's stderr (or
/// the signal that ended it: a resource limit).
fn succeeded(operation: &'static str, path: &str, output: Output) -> Result<Vec<u8>, ImageError> {
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let detail = match (stderr.is_empty(), output.status.signal()) {
        (true, Some(signal)) => format!("killed by signal {signal} (resource limit reached?)"),
        (true, None) => format!("exited with {}", output.status),
        (false, _) => stderr,
    };
    Err(ImageError::QemuImg {
        operation,
        path: path.to_owned(),
        detail,
    })
}

/// Sets both the soft and hard value of one resource limit.
fn limit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let value = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(resource, &value) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
