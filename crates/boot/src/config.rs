//! The `[boot]` section: where boot files go, how nodes reach them and
//! which loaders DHCP hands to each kind of firmware. Names follow Ironic's
//! `[pxe]`/`[deploy]`/`[dhcp]` options where one exists.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::BootError;

/// Boot settings as the operator writes them. Every key is documented in
/// `docs/configuration.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BootConfig {
    /// Base URL at which booting machines reach the provisioning listener
    /// (`--boot-listen`), e.g. `http://192.168.77.1:8080`. Network and
    /// virtual-media boot need it; iPXE scripts, kernels and ISOs are
    /// fetched from `<http_url>/boot/…`.
    pub http_url: Option<String>,
    /// The API URL the agent is given (`ipa-api-url=`); defaults to
    /// `http_url`, since the provisioning listener serves the agent's
    /// endpoints.
    pub api_url: Option<String>,
    /// Directory of boot files, served over HTTP under `/boot/` and usable
    /// as dnsmasq's `tftp-root`; `<data_dir>/boot` when unset.
    pub boot_dir: Option<PathBuf>,
    /// dnsmasq `dhcp-hostsdir`: one file per node is written there. No
    /// DHCP files are written when unset (another DHCP server is in use).
    pub dhcp_hostsdir: Option<PathBuf>,
    /// dnsmasq `dhcp-optsdir`, set together with `dhcp_hostsdir`.
    pub dhcp_optsdir: Option<PathBuf>,
    /// Address of the TFTP server (dnsmasq's own) sent to plain PXE
    /// firmware as options 66, 150 and the `siaddr` field; unset leaves
    /// dnsmasq's default (its own address).
    pub tftp_server: Option<String>,
    /// Extra kernel command-line arguments for every ramdisk (a node's
    /// `driver_info.kernel_append_params` replaces them).
    pub kernel_append_params: String,
    /// iPXE loader for BIOS PXE firmware (client architecture 0), by TFTP.
    pub ipxe_bootfile_bios: String,
    /// iPXE loader for UEFI PXE firmware (client architectures 7 and 9).
    pub ipxe_bootfile_uefi: String,
    /// iPXE EFI binary fetched over HTTP by UEFI HTTP boot firmware
    /// (client architecture 16), relative to the boot directory.
    pub http_boot_file: String,
    /// PXELINUX loader for BIOS machines with the `pxe` interface.
    pub pxe_bootfile_bios: String,
    /// GRUB (or shim) loader for UEFI machines with the `pxe` interface.
    pub pxe_bootfile_uefi: String,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            http_url: None,
            api_url: None,
            boot_dir: None,
            dhcp_hostsdir: None,
            dhcp_optsdir: None,
            tftp_server: None,
            kernel_append_params: "nofb nomodeset console=tty0 console=ttyS0,115200n8".into(),
            ipxe_bootfile_bios: "undionly.kpxe".into(),
            ipxe_bootfile_uefi: "snponly.efi".into(),
            http_boot_file: "ipxe.efi".into(),
            pxe_bootfile_bios: "pxelinux.0".into(),
            pxe_bootfile_uefi: "bootx64.efi".into(),
        }
    }
}

impl BootConfig {
    /// Checks what serde cannot, so a bad value stops the start instead of
    /// the first deployment.
    pub fn validate(&self) -> Result<(), BootError> {
        for (key, url) in [("http_url", &self.http_url), ("api_url", &self.api_url)] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(BootError::Invalid(format!(
                    "[boot] {key} {url:?} must start with http:// or https://"
                )));
            }
        }
        if self.dhcp_hostsdir.is_some() != self.dhcp_optsdir.is_some() {
            return Err(BootError::Invalid(
                "[boot] dhcp_hostsdir and dhcp_optsdir must be set together".into(),
            ));
        }
        Ok(())
    }

    /// `http_url` without a trailing slash, or why network boot cannot work.
    pub fn base_url(&self) -> Result<String, BootError> {
        self.http_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string())
            .ok_or_else(|| {
                BootError::Invalid(
                    "Network and virtual-media boot need [boot] http_url (the URL machines \
                     reach the provisioning listener at)."
                        .into(),
                )
            })
    }

    /// The URL the agent calls back: `api_url`, else `http_url`.
    pub fn agent_api_url(&self) -> Result<String, BootError> {
        match &self.api_url {
            Some(url) => Ok(url.trim_end_matches('/').to_string()),
            None => self.base_url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_defaulted() {
        let mut c = BootConfig::default();
        assert!(c.base_url().unwrap_err().to_string().contains("http_url"));
        c.http_url = Some("http://10.0.0.1:8080/".into());
        assert_eq!(c.base_url().unwrap(), "http://10.0.0.1:8080");
        assert_eq!(c.agent_api_url().unwrap(), "http://10.0.0.1:8080");
        c.api_url = Some("https://api.example:6385".into());
        assert_eq!(c.agent_api_url().unwrap(), "https://api.example:6385");
        assert!(c.validate().is_ok());
        c.api_url = Some("api.example".into());
        assert!(c.validate().is_err());
        c.api_url = None;
        c.dhcp_hostsdir = Some("/tmp/h".into());
        assert!(c.validate().unwrap_err().to_string().contains("together"));
    }
}
