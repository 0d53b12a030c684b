//! The boot directory: what lives where, and the per-node files written
//! into it. Served over HTTP under `/boot/` and usable as dnsmasq's
//! `tftp-root`:
//!
//! ```text
//! boot.ipxe                        generic iPXE script (chains by MAC)
//! ipxe/<mac>.ipxe                  -> ../nodes/<uuid>/boot.ipxe
//! pxelinux.cfg/01-<mac>            -> ../nodes/<uuid>/pxelinux.cfg
//! grub/grub.cfg-01-<mac>           -> ../nodes/<uuid>/grub.cfg
//! nodes/<uuid>/                    the node's scripts, kernel, ramdisk, ISO
//! ```
//!
//! `<mac>` is lower-case hex with hyphens. Per-MAC names are links into the
//! node's directory, so removing a node's files needs only its UUID even
//! after its ports changed.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::render::{generic_ipxe_script, mac_hexhyp};
use crate::{BootError, files};

/// The folders of per-MAC links, and the node file each one points at.
const MAC_LINKS: &[(&str, &str, &str, &str)] = &[
    // (folder, name prefix, name suffix, node file)
    ("ipxe", "", ".ipxe", "boot.ipxe"),
    ("pxelinux.cfg", "01-", "", "pxelinux.cfg"),
    ("grub", "grub.cfg-01-", "", "grub.cfg"),
];

/// A per-MAC configuration flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacConfig {
    /// An iPXE script.
    Ipxe,
    /// A PXELINUX configuration.
    Pxelinux,
    /// A GRUB configuration.
    Grub,
}

impl MacConfig {
    fn entry(self) -> (&'static str, &'static str, &'static str, &'static str) {
        MAC_LINKS[self as usize]
    }

    /// The file name inside the node's directory.
    pub fn node_file(self) -> &'static str {
        self.entry().3
    }

    /// Whether the text names the MAC it is read through (GRUB's
    /// `BOOTIF`; PXELINUX and iPXE fill it in themselves), so each MAC
    /// needs its own file.
    fn per_mac(self) -> bool {
        self == MacConfig::Grub
    }
}

/// The boot directory.
#[derive(Debug, Clone)]
pub struct BootTree {
    root: PathBuf,
}

impl BootTree {
    /// Creates the directory and writes the generic `boot.ipxe` for
    /// `base_url`, so it is in place before any machine asks for it.
    pub fn install(root: &Path, base_url: Option<&str>) -> Result<BootTree, BootError> {
        files::ensure_dir(root)?;
        if let Some(base) = base_url {
            files::write_atomic(
                &root.join("boot.ipxe"),
                generic_ipxe_script(base.trim_end_matches('/')).as_bytes(),
            )?;
        }
        Ok(BootTree {
            root: root.to_path_buf(),
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The node's own directory.
    pub fn node_dir(&self, node: Uuid) -> PathBuf {
        self.root.join("nodes").join(node.to_string())
    }

    /// The path of a node file relative to the boot directory, as HTTP and
    /// TFTP clients name it.
    pub fn node_path(node: Uuid, file: &str) -> String {
        format!("nodes/{node}/{file}")
    }

    /// Where the per-MAC link of `flavour` for `mac` lives.
    pub fn mac_link(&self, flavour: MacConfig, mac: &str) -> Result<PathBuf, BootError> {
        let hexhyp = mac_hexhyp(mac)
            .ok_or_else(|| BootError::Invalid(format!("Invalid MAC address {mac:?}.")))?;
        let (folder, prefix, suffix, _) = flavour.entry();
        Ok(self
            .root
            .join(folder)
            .join(format!("{prefix}{hexhyp}{suffix}")))
    }

    /// Writes the node's configuration of `flavour` (`render` gets the MAC
    /// in hexhyp form) and links each MAC to it.
    pub fn write_config(
        &self,
        node: Uuid,
        flavour: MacConfig,
        macs: &[String],
        render: impl Fn(&str) -> String,
    ) -> Result<(), BootError> {
        for mac in macs {
            let link = self.mac_link(flavour, mac)?;
            let hexhyp = mac_hexhyp(mac).unwrap_or_default();
            let file = if flavour.per_mac() {
                format!("{}-{hexhyp}", flavour.node_file())
            } else {
                flavour.node_file().to_string()
            };
            files::write_atomic(&self.node_dir(node).join(&file), render(&hexhyp).as_bytes())?;
            let target = Path::new("..").join(Self::node_path(node, &file));
            files::link_atomic(&target, &link)?;
        }
        Ok(())
    }

    /// Removes every per-MAC link into the node's directory, then the
    /// directory.
    pub fn remove_node(&self, node: Uuid) -> Result<(), BootError> {
        let marker = format!("nodes/{node}/");
        for (folder, ..) in MAC_LINKS {
            let dir = self.root.join(folder);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BootError::io("listing", &dir, e)),
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let ours =
                    std::fs::read_link(&path).is_ok_and(|t| t.to_string_lossy().contains(&marker));
                if ours {
                    files::remove_file(&path)?;
                }
            }
        }
        files::remove_dir(&self.node_dir(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_linked_by_mac_and_removed_by_node() {
        let dir = tempfile::tempdir().unwrap();
        let tree = BootTree::install(dir.path(), Some("http://h:1/")).unwrap();
        let generic = std::fs::read_to_string(dir.path().join("boot.ipxe")).unwrap();
        assert!(generic.contains("http://h:1/boot/ipxe/"));
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let macs = vec!["52:54:00:00:00:01".to_string(), "52:54:00:00:00:02".into()];
        tree.write_config(a, MacConfig::Ipxe, &macs, |_| "#!ipxe\nA\n".into())
            .unwrap();
        tree.write_config(b, MacConfig::Ipxe, &["52:54:00:00:00:03".into()], |_| {
            "#!ipxe\nB\n".into()
        })
        .unwrap();
        tree.write_config(a, MacConfig::Grub, &macs, |mac| format!("BOOTIF={mac}\n"))
            .unwrap();
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("ipxe/52-54-00-00-00-01.ipxe"), "#!ipxe\nA\n");
        assert_eq!(read("ipxe/52-54-00-00-00-02.ipxe"), "#!ipxe\nA\n");
        assert_eq!(read(&format!("nodes/{a}/boot.ipxe")), "#!ipxe\nA\n");
        assert_eq!(
            read("grub/grub.cfg-01-52-54-00-00-00-02"),
            "BOOTIF=52-54-00-00-00-02\n"
        );
        tree.remove_node(a).unwrap();
        assert!(!dir.path().join("ipxe/52-54-00-00-00-01.ipxe").exists());
        assert!(
            std::fs::symlink_metadata(dir.path().join("grub/grub.cfg-01-52-54-00-00-00-01"))
                .is_err()
        );
        assert!(!tree.node_dir(a).exists());
        // The other node is untouched.
        assert_eq!(read("ipxe/52-54-00-00-00-03.ipxe"), "#!ipxe\nB\n");
        tree.remove_node(a).unwrap();
        assert!(tree.mac_link(MacConfig::Ipxe, "../../x").is_err());
    }
}
