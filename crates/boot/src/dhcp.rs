//! dnsmasq host and option files (reference §9.3): one file per node in
//! `dhcp-hostsdir` gives each of its MACs a tag, one in `dhcp-optsdir`
//! answers that tag by firmware type. dnsmasq reads new and changed files
//! at once (inotify) but keeps what it read from a file that is deleted,
//! and a later record for a MAC replaces an earlier one; so releasing a
//! node rewrites its host file to `ignore` (as Ironic's dnsmasq provider
//! does) and deletes its option file, whose fresh random tag nothing sets
//! any more.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::render::mac_hexhyp;
use crate::{BootConfig, BootError, files};

/// The lines dnsmasq's own configuration needs so the per-node files can
/// answer by firmware: client architecture (option 93) 0 = BIOS PXE, 7 and
/// 9 = UEFI x64 PXE, 16 = UEFI x64 HTTP boot, and iPXE (user class `iPXE`
/// or its option 175) already running. Shown in docs/boot.md.
pub const DNSMASQ_MATCHES: &str = "\
dhcp-match=set:bios,option:client-arch,0
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-match=set:efihttp,option:client-arch,16
dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:ipxe,175
";

/// Which loader family a node's DHCP answers point at: one per network
/// boot interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// `ipxe`: iPXE loaders by TFTP for PXE firmware, an iPXE binary by HTTP
    /// for HTTP-boot firmware, and the HTTP script once iPXE runs.
    Ipxe,
    /// `http-ipxe`: UEFI HTTP boot only (URL + vendor class `HTTPClient`),
    /// and the HTTP script once iPXE runs.
    HttpIpxe,
    /// `pxe`: PXELINUX or GRUB by TFTP.
    Pxe,
}

/// The body of a node's option file: `tag:<tag>,…` lines for dnsmasq.
pub fn option_lines(answers: Answers, tag: &str, config: &BootConfig, base_url: &str) -> String {
    let script = format!("{base_url}/boot/boot.ipxe");
    let http_loader = format!("{base_url}/boot/{}", config.http_boot_file);
    let mut lines: Vec<(&str, String)> = Vec::new();
    let http_boot = || {
        vec![
            (
                "tag:!ipxe,tag:efihttp,option:bootfile-name",
                http_loader.clone(),
            ),
            ("tag:efihttp,option:vendor-class", "HTTPClient".to_string()),
        ]
    };
    match answers {
        Answers::Ipxe => {
            lines.push(("tag:ipxe,option:bootfile-name", script));
            lines.push((
                "tag:!ipxe,tag:bios,option:bootfile-name",
                config.ipxe_bootfile_bios.clone(),
            ));
            lines.push((
                "tag:!ipxe,tag:efi64,option:bootfile-name",
                config.ipxe_bootfile_uefi.clone(),
            ));
            lines.extend(http_boot());
        }
        Answers::HttpIpxe => {
            lines.push(("tag:ipxe,option:bootfile-name", script));
            lines.extend(http_boot());
        }
        Answers::Pxe => {
            lines.push((
                "tag:bios,option:bootfile-name",
                config.pxe_bootfile_bios.clone(),
            ));
            lines.push((
                "tag:efi64,option:bootfile-name",
                config.pxe_bootfile_uefi.clone(),
            ));
        }
    }
    if answers != Answers::HttpIpxe
        && let Some(server) = &config.tftp_server
    {
        for option in ["option:tftp-server", "150", "option:server-ip-address"] {
            lines.push((option, server.clone()));
        }
    }
    lines
        .into_iter()
        .map(|(what, value)| format!("tag:{tag},{what},{value}\n"))
        .collect()
}

/// The body of a node's host file: each MAC gets the node's tag.
pub fn host_lines(macs: &[String], tag: &str) -> String {
    macs.iter().map(|m| format!("{m},set:{tag}\n")).collect()
}

/// A fresh tag for one preparation: never reused, so options dnsmasq still
/// holds from an earlier preparation can never match again.
fn fresh_tag() -> String {
    format!("ferrite-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// MACs as dnsmasq writes them (lower case, colons); refuses anything else,
/// since a host file line is parsed by dnsmasq.
fn normalized(macs: &[String]) -> Result<Vec<String>, BootError> {
    macs.iter()
        .map(|m| {
            mac_hexhyp(m)
                .map(|h| h.replace('-', ":"))
                .ok_or_else(|| BootError::Invalid(format!("Invalid MAC address {m:?}.")))
        })
        .collect()
}

/// The two dnsmasq directories Ferrite writes into.
#[derive(Debug, Clone)]
pub struct DhcpFiles {
    hostsdir: PathBuf,
    optsdir: PathBuf,
}

impl DhcpFiles {
    /// The files of `config`, or `None` when no dnsmasq directories are
    /// configured (DHCP is then someone else's job).
    pub fn from_config(config: &BootConfig) -> Option<DhcpFiles> {
        Some(DhcpFiles {
            hostsdir: config.dhcp_hostsdir.clone()?,
            optsdir: config.dhcp_optsdir.clone()?,
        })
    }

    /// Creates both directories, so dnsmasq (which needs them to exist at
    /// its start) can be started after Ferrite.
    pub fn create_dirs(&self) -> Result<(), BootError> {
        files::ensure_dir(&self.hostsdir)?;
        files::ensure_dir(&self.optsdir)
    }

    fn name(node: Uuid) -> String {
        format!("ferrite-{node}")
    }

    /// The node's host file.
    pub fn host_file(&self, node: Uuid) -> PathBuf {
        self.hostsdir.join(Self::name(node))
    }

    /// The node's option file.
    pub fn option_file(&self, node: Uuid) -> PathBuf {
        self.optsdir.join(Self::name(node))
    }

    /// Makes dnsmasq answer the node's `macs` for `answers`. Options are
    /// written first, so a host tagged by the new host file always finds
    /// its options.
    pub fn write(
        &self,
        node: Uuid,
        macs: &[String],
        answers: Answers,
        config: &BootConfig,
        base_url: &str,
    ) -> Result<(), BootError> {
        let macs = normalized(macs)?;
        if macs.is_empty() {
            return Err(BootError::Invalid(format!(
                "Node {node} has no PXE-enabled port: network boot needs at least one port with \
                 the MAC of a NIC that boots."
            )));
        }
        let tag = fresh_tag();
        let options = option_lines(answers, &tag, config, base_url);
        files::write_atomic(&self.option_file(node), options.as_bytes())?;
        files::write_atomic(&self.host_file(node), host_lines(&macs, &tag).as_bytes())
    }

    /// Stops dnsmasq answering the node: every MAC of its host file is set
    /// to `ignore` and its option file is deleted. Nothing to do for a node
    /// without files.
    pub fn release(&self, node: Uuid) -> Result<(), BootError> {
        let hosts = self.host_file(node);
        let current = match std::fs::read_to_string(&hosts) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(BootError::io("reading", &hosts, e)),
        };
        let ignored: String = current
            .lines()
            .filter_map(|l| l.split(',').next())
            .filter(|mac| !mac.is_empty())
            .map(|mac| format!("{mac},ignore\n"))
            .collect();
        if !ignored.is_empty() && ignored != current {
            files::write_atomic(&hosts, ignored.as_bytes())?;
        }
        files::remove_file(&self.option_file(node))
    }

    /// Whether dnsmasq would answer the node (its option file exists).
    pub fn is_active(&self, node: Uuid) -> bool {
        Path::new(&self.option_file(node)).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BootConfig {
        BootConfig {
            tftp_server: Some("10.0.0.1".into()),
            ..BootConfig::default()
        }
    }

    #[test]
    fn ipxe_answers_each_firmware_type() {
        let text = option_lines(Answers::Ipxe, "t1", &config(), "http://10.0.0.1:8080");
        let expected = "\
tag:t1,tag:ipxe,option:bootfile-name,http://10.0.0.1:8080/boot/boot.ipxe
tag:t1,tag:!ipxe,tag:bios,option:bootfile-name,undionly.kpxe
tag:t1,tag:!ipxe,tag:efi64,option:bootfile-name,snponly.efi
tag:t1,tag:!ipxe,tag:efihttp,option:bootfile-name,http://10.0.0.1:8080/boot/ipxe.efi
tag:t1,tag:efihttp,option:vendor-class,HTTPClient
tag:t1,option:tftp-server,10.0.0.1
tag:t1,150,10.0.0.1
tag:t1,option:server-ip-address,10.0.0.1
";
        assert_eq!(text, expected);
    }

    #[test]
    fn http_ipxe_sends_no_tftp_and_pxe_no_http() {
        let http = option_lines(Answers::HttpIpxe, "t", &config(), "http://h");
        assert!(http.contains("tag:t,tag:efihttp,option:vendor-class,HTTPClient\n"));
        assert!(http.contains("tag:t,tag:ipxe,option:bootfile-name,http://h/boot/boot.ipxe\n"));
        assert!(!http.contains("tftp") && !http.contains("tag:bios"));
        let pxe = option_lines(Answers::Pxe, "t", &config(), "http://h");
        assert!(pxe.contains("tag:t,tag:bios,option:bootfile-name,pxelinux.0\n"));
        assert!(pxe.contains("tag:t,tag:efi64,option:bootfile-name,bootx64.efi\n"));
        assert!(!pxe.contains("http://") && !pxe.contains("ipxe"));
        let no_tftp = option_lines(Answers::Pxe, "t", &BootConfig::default(), "http://h");
        assert!(!no_tftp.contains("tftp-server"));
    }

    #[test]
    fn write_then_release() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = BootConfig {
            dhcp_hostsdir: Some(dir.path().join("hosts")),
            dhcp_optsdir: Some(dir.path().join("opts")),
            ..BootConfig::default()
        };
        let files = DhcpFiles::from_config(&cfg).unwrap();
        let node = Uuid::new_v4();
        let macs = vec!["52:54:00:AA:BB:01".to_string(), "52-54-00-aa-bb-02".into()];
        files
            .write(node, &macs, Answers::Ipxe, &cfg, "http://h")
            .unwrap();
        let hosts = std::fs::read_to_string(files.host_file(node)).unwrap();
        let tag = hosts
            .lines()
            .next()
            .and_then(|l| l.split("set:").nth(1))
            .unwrap()
            .to_string();
        assert!(tag.starts_with("ferrite-"));
        assert_eq!(
            hosts,
            format!("52:54:00:aa:bb:01,set:{tag}\n52:54:00:aa:bb:02,set:{tag}\n")
        );
        let opts = std::fs::read_to_string(files.option_file(node)).unwrap();
        assert!(opts.lines().all(|l| l.starts_with(&format!("tag:{tag},"))));
        assert!(files.is_active(node));
        // A second preparation uses a new tag.
        files
            .write(node, &macs, Answers::Ipxe, &cfg, "http://h")
            .unwrap();
        let again = std::fs::read_to_string(files.host_file(node)).unwrap();
        assert!(!again.contains(&tag));

        files.release(node).unwrap();
        assert_eq!(
            std::fs::read_to_string(files.host_file(node)).unwrap(),
            "52:54:00:aa:bb:01,ignore\n52:54:00:aa:bb:02,ignore\n"
        );
        assert!(!files.is_active(node));
        files.release(node).unwrap();
        files.release(Uuid::new_v4()).unwrap();

        assert!(
            files
                .write(node, &[], Answers::Ipxe, &cfg, "http://h")
                .is_err()
        );
        let bad = vec!["52:54:00:aa:bb,set:evil".to_string()];
        assert!(
            files
                .write(node, &bad, Answers::Ipxe, &cfg, "http://h")
                .is_err()
        );
        assert!(DhcpFiles::from_config(&BootConfig::default()).is_none());
    }
}
