//! Where the agent's settings come from, in this order of precedence:
//! command-line flags, the kernel command line (Ironic's `ipa-*` keys, so
//! boot configurations written for Ironic work unchanged, and Ferrite's
//! own `ferrite.*` keys), then a JSON file on virtual media (for boots
//! where the kernel command line cannot carry them), then defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrite_model::ident::normalize_mac;
use serde::Deserialize;

use crate::error::AgentError;

/// The port Ironic's agent listens on, which conductors assume.
pub const DEFAULT_PORT: u16 = 9999;

/// Where `/init` mounts a filesystem labelled [`CONFIG_LABEL`], and the
/// file the agent reads from it.
pub const DEFAULT_CONFIG_FILE: &str = "/mnt/ferrite-config/ferrite-agent.json";

/// The label of the virtual-media filesystem carrying the config file.
pub const CONFIG_LABEL: &str = "FERRITE_CFG";

/// One layer of settings; every field optional so layers can be merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The API base URL (`http://host:6385`).
    pub api_url: Option<String>,
    /// Where to send the inventory for in-band inspection.
    pub inspection_callback_url: Option<String>,
    /// A token generated before boot (virtual media), used instead of the
    /// one lookup hands out.
    pub agent_token: Option<String>,
    /// The address the conductor should call back on.
    pub advertise_host: Option<String>,
    /// The command API's port.
    pub listen_port: Option<u16>,
    /// Never call the API; wait to be claimed (see docs/agent.md).
    pub poll_only: Option<bool>,
    /// The MAC the machine network-booted from (PXE's `BOOTIF`).
    pub boot_mac: Option<String>,
    /// How long to keep retrying lookup, in seconds.
    pub lookup_timeout: Option<u64>,
    /// A config file to read (kernel command line only).
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// Fills the fields this layer lacks from `lower`.
    pub fn over(self, lower: Settings) -> Settings {
        Settings {
            api_url: self.api_url.or(lower.api_url),
            inspection_callback_url: self
                .inspection_callback_url
                .or(lower.inspection_callback_url),
            agent_token: self.agent_token.or(lower.agent_token),
            advertise_host: self.advertise_host.or(lower.advertise_host),
            listen_port: self.listen_port.or(lower.listen_port),
            poll_only: self.poll_only.or(lower.poll_only),
            boot_mac: self.boot_mac.or(lower.boot_mac),
            lookup_timeout: self.lookup_timeout.or(lower.lookup_timeout),
            config_file: self.config_file.or(lower.config_file),
        }
    }

    /// Reads the settings a kernel command line carries. Unknown keys are
    /// ignored (the command line is shared with the kernel and `/init`).
    pub fn from_cmdline(cmdline: &str) -> Result<Settings, AgentError> {
        let mut out = Settings::default();
        for word in split_cmdline(cmdline) {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word.as_str(), None),
            };
            let text = || value.filter(|v| !v.is_empty()).map(str::to_string);
            match key {
                "ipa-api-url" | "ferrite.api_url" => {
                    // Ironic may pass several URLs separated by commas.
                    out.api_url = text().and_then(|v| v.split(',').next().map(str::to_string));
                }
                "ipa-inspection-callback-url" | "ferrite.inspection_callback_url" => {
                    out.inspection_callback_url = text()
                }
                "ipa-agent-token" | "ferrite.agent_token" => out.agent_token = text(),
                "ipa-advertise-host" | "ferrite.advertise_host" => out.advertise_host = text(),
                "ipa-listen-port" | "ferrite.listen_port" => {
                    out.listen_port = Some(parse_num(key, value)?);
                }
                "ipa-lookup-timeout" | "ferrite.lookup_timeout" => {
                    out.lookup_timeout = Some(parse_num(key, value)?);
                }
                "ferrite.poll_only" => out.poll_only = Some(parse_flag(value)),
                "ferrite.config" => out.config_file = text().map(PathBuf::from),
                "BOOTIF" => out.boot_mac = value.and_then(bootif_mac),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Reads a JSON settings file (the virtual-media configuration).
    pub fn from_file(path: &Path) -> Result<Settings, AgentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AgentError::io(format!("reading {}", path.display()), e))?;
        serde_json::from_str(&text)
            .map_err(|e| AgentError::InvalidParams(format!("config file {}: {e}", path.display())))
    }
}

/// The settings the agent runs with, after merging every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The API base URL; required unless `poll_only`.
    pub api_url: Option<String>,
    /// Where to send the inventory for in-band inspection, if anywhere.
    pub inspection_callback_url: Option<String>,
    /// A token known before boot.
    pub agent_token: Option<String>,
    /// The host part of the callback URL; found from the route to the API
    /// when not set.
    pub advertise_host: Option<String>,
    /// The command API's port.
    pub listen_port: u16,
    /// Never call the API.
    pub poll_only: bool,
    /// The MAC the machine booted from, normalised.
    pub boot_mac: Option<String>,
    /// How long to keep retrying lookup.
    pub lookup_timeout: Duration,
    /// The directory `/proc`, `/sys` and `/dev` are read under (`/` on a
    /// real machine; a fake tree in tests).
    pub root: PathBuf,
}

impl Config {
    /// Applies the defaults to merged settings and checks they can work.
    pub fn resolve(settings: Settings, root: PathBuf) -> Result<Config, AgentError> {
        let poll_only = settings.poll_only.unwrap_or(false);
        if !poll_only && settings.api_url.is_none() {
            return Err(AgentError::InvalidParams(
                "no API URL: pass ipa-api-url= (or ferrite.api_url=) on the kernel command line, \
                 --api-url, or api_url in the config file; or run with ferrite.poll_only"
                    .into(),
            ));
        }
        if let Some(url) = &settings.api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(AgentError::InvalidParams(format!(
                "the API URL {url} must be http(s)"
            )));
        }
        Ok(Config {
            api_url: settings
                .api_url
                .map(|u| u.trim_end_matches('/').to_string()),
            inspection_callback_url: settings.inspection_callback_url,
            agent_token: settings.agent_token,
            advertise_host: settings.advertise_host,
            listen_port: settings.listen_port.unwrap_or(DEFAULT_PORT),
            poll_only,
            boot_mac: settings.boot_mac.as_deref().and_then(normalize_mac),
            lookup_timeout: Duration::from_secs(settings.lookup_timeout.unwrap_or(600)),
            root,
        })
    }
}

/// Splits a kernel command line into words, keeping double-quoted spans
/// (`key="a b"`) together and dropping the quotes.
fn split_cmdline(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn parse_num<T: std::str::FromStr>(key: &str, value: Option<&str>) -> Result<T, AgentError> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AgentError::InvalidParams(format!("{key} needs a number")))
}

/// A bare key or `1`/`true`/`yes`/`on` turns a flag on.
fn parse_flag(value: Option<&str>) -> bool {
    value.is_none_or(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// PXE's `BOOTIF=01-aa-bb-cc-dd-ee-ff` (hardware type, then the MAC).
fn bootif_mac(value: &str) -> Option<String> {
    let mac = value.strip_prefix("01-").unwrap_or(value);
    normalize_mac(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ironic_and_ferrite_keys_are_read() {
        let s = Settings::from_cmdline(
            "BOOT_IMAGE=/vmlinuz ipa-api-url=http://10.0.2.2:6385,http://b console=ttyS0 \
             ipa-agent-token=tok BOOTIF=01-52-54-00-AB-cd-01 ferrite.poll_only \
             ferrite.listen_port=9000 ipa-advertise-host=\"10.0.2.15\"",
        )
        .unwrap();
        assert_eq!(s.api_url.as_deref(), Some("http://10.0.2.2:6385"));
        assert_eq!(s.agent_token.as_deref(), Some("tok"));
        assert_eq!(s.boot_mac.as_deref(), Some("52:54:00:ab:cd:01"));
        assert_eq!(s.poll_only, Some(true));
        assert_eq!(s.listen_port, Some(9000));
        assert_eq!(s.advertise_host.as_deref(), Some("10.0.2.15"));
        assert!(Settings::from_cmdline("ferrite.listen_port=x").is_err());
        assert_eq!(
            Settings::from_cmdline("ferrite.poll_only=0")
                .unwrap()
                .poll_only,
            Some(false)
        );
    }

    #[test]
    fn layers_merge_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(
            &file,
            r#"{"api_url": "http://file:6385/", "listen_port": 1}"#,
        )
        .unwrap();
        let from_file = Settings::from_file(&file).unwrap();
        let cmdline = Settings::from_cmdline("ferrite.listen_port=2").unwrap();
        let config = Config::resolve(cmdline.over(from_file), "/".into()).unwrap();
        assert_eq!(config.api_url.as_deref(), Some("http://file:6385"));
        assert_eq!(config.listen_port, 2);
        assert!(!config.poll_only);
        std::fs::write(&file, r#"{"api_urll": "x"}"#).unwrap();
        assert!(Settings::from_file(&file).is_err());
    }

    #[test]
    fn an_api_url_is_needed_unless_poll_only() {
        let err = Config::resolve(Settings::default(), "/".into()).unwrap_err();
        assert!(err.to_string().contains("ipa-api-url"));
        let poll = Settings {
            poll_only: Some(true),
            ..Settings::default()
        };
        let config = Config::resolve(poll, "/".into()).unwrap();
        assert_eq!(config.listen_port, DEFAULT_PORT);
        let ftp = Settings {
            api_url: Some("ftp://x".into()),
            ..Settings::default()
        };
        assert!(Config::resolve(ftp, "/".into()).is_err());
    }
}
