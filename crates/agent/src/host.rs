//! The machine-level actions commands take (power off, flush, collect
//! logs, set the rescue password) behind a trait, so tests run every
//! command without powering off the test host.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::AgentError;

/// A file for the log bundle: its name in the archive and its bytes.
pub type LogFile = (String, Vec<u8>);

/// What the agent asks of the machine it runs on.
pub trait Host: Send + Sync {
    /// Powers the machine off now (after flushing).
    fn power_off(&self) -> Result<(), AgentError>;
    /// Flushes every filesystem and block device cache.
    fn sync(&self) -> Result<(), AgentError>;
    /// The logs worth sending to the conductor.
    fn logs(&self) -> Vec<LogFile>;
    /// Lets the `rescue` user log in with this crypt(3) password hash.
    fn set_rescue_password(&self, hash: &str) -> Result<(), AgentError>;
}

/// The real machine, with its files under `root` (`/` in the ramdisk).
pub struct SystemHost {
    /// Where `/etc`, `/proc` and `/var/log` are.
    pub root: PathBuf,
}

/// Runs a program, failing with its stderr when it fails.
fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, AgentError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| AgentError::Host(format!("{program}: {e}")))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(AgentError::Host(format!(
            "{program} {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The rescue user's home and shell in the ramdisk.
const RESCUE_PASSWD: &str = "rescue:x:0:0:rescue:/root:/bin/sh";

/// Replaces (or adds) the line of `user` in a passwd-style file.
fn set_user_line(path: &Path, user: &str, line: &str) -> Result<(), AgentError> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let prefix = format!("{user}:");
    let mut lines: Vec<&str> = old.lines().filter(|l| !l.starts_with(&prefix)).collect();
    lines.push(line);
    std::fs::write(path, lines.join("\n") + "\n")
        .map_err(|e| AgentError::io(format!("writing {}", path.display()), e))
}

impl Host for SystemHost {
    fn power_off(&self) -> Result<(), AgentError> {
        self.sync()?;
        run("poweroff", &["-f"]).map(|_| ())
    }

    fn sync(&self) -> Result<(), AgentError> {
        run("sync", &[]).map(|_| ())
    }

    fn logs(&self) -> Vec<LogFile> {
        let mut files = Vec::new();
        if let Ok(dmesg) = run("dmesg", &[]) {
            files.push(("dmesg.log".to_string(), dmesg));
        }
        for rel in [
            "proc/cmdline",
            "proc/mounts",
            "proc/partitions",
            "proc/modules",
        ] {
            if let Ok(bytes) = std::fs::read(self.root.join(rel)) {
                files.push((rel.replace('/', "_"), bytes));
            }
        }
        let var_log = self.root.join("var/log");
        if let Ok(list) = std::fs::read_dir(&var_log) {
            for entry in list.flatten() {
                let path = entry.path();
                if path.is_file()
                    && let Ok(bytes) = std::fs::read(&path)
                {
                    files.push((
                        format!("var_log/{}", entry.file_name().to_string_lossy()),
                        bytes,
                    ));
                }
            }
        }
        files
    }

    fn set_rescue_password(&self, hash: &str) -> Result<(), AgentError> {
        let etc = self.root.join("etc");
        let dir = etc.join("ipa-rescue-config");
        std::fs::create_dir_all(&dir)
            .map_err(|e| AgentError::io(format!("creating {}", dir.display()), e))?;
        let file = dir.join("ipa-rescue-password");
        std::fs::write(&file, hash)
            .map_err(|e| AgentError::io(format!("writing {}", file.display()), e))?;
        set_user_line(&etc.join("passwd"), "rescue", RESCUE_PASSWD)?;
        set_user_line(
            &etc.join("shadow"),
            "rescue",
            &format!("rescue:{hash}:0:0:99999:7:::"),
        )
    }
}
