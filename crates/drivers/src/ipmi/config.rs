//! `driver_info` of an IPMI node, parsed once and checked the way Ironic
//! checks it, so a typo is a 400 at validation instead of an opaque
//! `ipmitool` failure (or a silent retry loop) during a deployment.

use ferrite_model::{Dict, Node};
use serde_json::Value;

use crate::DriverError;
use crate::redfish::Secret;

/// The standard RMCP port.
pub const DEFAULT_PORT: u16 = 623;

/// The LAN protocol `ipmitool` speaks (`ipmi_protocol_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// IPMI 2.0 / RMCP+ (`-I lanplus`), the default.
    Lanplus,
    /// IPMI 1.5 / RMCP (`-I lan`), for old BMCs.
    Lan,
}

impl Protocol {
    /// The `-I` argument.
    pub fn interface(self) -> &'static str {
        match self {
            Protocol::Lanplus => "lanplus",
            Protocol::Lan => "lan",
        }
    }
}

/// The privilege level the session asks for (`ipmi_priv_level`, `-L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivLevel {
    /// `ADMINISTRATOR` (the default: power and boot need it on most BMCs).
    Administrator,
    /// `CALLBACK`.
    Callback,
    /// `OPERATOR`.
    Operator,
    /// `USER`.
    User,
}

impl PrivLevel {
    /// Ironic's (and `ipmitool -L`'s) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivLevel::Administrator => "ADMINISTRATOR",
            PrivLevel::Callback => "CALLBACK",
            PrivLevel::Operator => "OPERATOR",
            PrivLevel::User => "USER",
        }
    }
}

/// How requests reach a BMC that sits behind another one
/// (`ipmi_bridging`): blade chassis and some multi-node enclosures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bridging {
    /// Talk to the addressed BMC directly (`no`).
    None,
    /// One hop: `-b <target_channel> -t <target_address>`.
    Single {
        /// `ipmi_target_channel`.
        target_channel: u8,
        /// `ipmi_target_address`.
        target_address: u8,
        /// `ipmi_local_address` (`-m`), when given.
        local_address: Option<u8>,
    },
    /// Two hops: `-B/-T` to the transit controller, then `-b/-t`.
    Dual {
        /// `ipmi_transit_channel`.
        transit_channel: u8,
        /// `ipmi_transit_address`.
        transit_address: u8,
        /// `ipmi_target_channel`.
        target_channel: u8,
        /// `ipmi_target_address`.
        target_address: u8,
        /// `ipmi_local_address` (`-m`), when given.
        local_address: Option<u8>,
    },
}

impl Bridging {
    /// The `ipmitool` options selecting the bridged target, in the order
    /// ipmitool documents them.
    pub fn args(&self) -> Vec<String> {
        let hex = |a: u8| format!("0x{a:02x}");
        let mut out = Vec::new();
        let local = match self {
            Bridging::None => return out,
            Bridging::Single { local_address, .. } | Bridging::Dual { local_address, .. } => {
                *local_address
            }
        };
        if let Some(local) = local {
            out.extend(["-m".to_string(), hex(local)]);
        }
        if let Bridging::Dual {
            transit_channel,
            transit_address,
            ..
        } = self
        {
            out.extend([
                "-B".to_string(),
                transit_channel.to_string(),
                "-T".to_string(),
                hex(*transit_address),
            ]);
        }
        if let Bridging::Single {
            target_channel,
            target_address,
            ..
        }
        | Bridging::Dual {
            target_channel,
            target_address,
            ..
        } = self
        {
            out.extend([
                "-b".to_string(),
                target_channel.to_string(),
                "-t".to_string(),
                hex(*target_address),
            ]);
        }
        out
    }
}

/// A node's IPMI settings from `driver_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpmiConfig {
    /// `ipmi_address`: host name or IP of the BMC (IPv6 without brackets).
    pub address: String,
    /// `ipmi_port` (UDP), 623 by default.
    pub port: u16,
    /// `ipmi_username`; `None` is the anonymous (null) user.
    pub username: Option<String>,
    /// `ipmi_password` (masked when printed).
    pub password: Secret,
    /// `ipmi_protocol_version`.
    pub protocol: Protocol,
    /// `ipmi_priv_level`.
    pub priv_level: PrivLevel,
    /// `ipmi_bridging` and its addresses.
    pub bridging: Bridging,
    /// `ipmi_cipher_suite` (`-C`); `None` lets ipmitool negotiate, which
    /// costs a round trip (and a long timeout on BMCs that cannot answer
    /// "Get Channel Cipher Suites").
    pub cipher_suite: Option<u8>,
    /// `ipmi_force_boot_device`: the BMC forgets boot devices across power
    /// cycles, so the driver sends the device again before each power on.
    pub force_boot_device: bool,
    /// `ipmi_disable_boot_timeout`: send the raw command that stops the BMC
    /// from dropping the boot device after 60 s (default true).
    pub disable_boot_timeout: bool,
    /// `ipmi_terminal_port` (the serial console's TCP port; parsed so a bad
    /// value is reported, not used by power or management).
    pub terminal_port: Option<u16>,
}

fn invalid(node: &Node, msg: String) -> DriverError {
    DriverError::InvalidParameter(format!("Node {}: {msg}", node.uuid))
}

fn text<'a>(info: &'a Dict, key: &str) -> Option<&'a str> {
    info.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A present, non-null value of `key`.
fn present<'a>(info: &'a Dict, key: &str) -> Option<&'a Value> {
    info.get(key)
        .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
}

/// oslo's boolean spellings, which Ironic accepts in `driver_info`.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn boolean(node: &Node, info: &Dict, key: &str, default: bool) -> Result<bool, DriverError> {
    match present(info, key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => parse_bool(s.trim()).ok_or_else(|| {
            invalid(
                node,
                format!("{key} {s:?} is not a boolean; expected true or false."),
            )
        }),
        Some(other) => Err(invalid(
            node,
            format!("{key} must be a boolean, not {other}."),
        )),
    }
}

/// An integer given as a JSON number or a string (`"623"`, `"0x20"`).
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

fn parse_port(node: &Node, info: &Dict, key: &str) -> Result<Option<u16>, DriverError> {
    let Some(v) = present(info, key) else {
        return Ok(None);
    };
    match integer(v) {
        Some(p) if (1..=65535).contains(&p) => Ok(Some(p as u16)),
        _ => Err(invalid(
            node,
            format!("{key} {v} is not a valid port; expected an integer from 1 to 65535."),
        )),
    }
}

/// A bridging channel (0–15) or IPMB address (0–255), required or not.
fn bridge_value(
    node: &Node,
    info: &Dict,
    key: &str,
    max: i64,
    bridging: &str,
) -> Result<Option<u8>, DriverError> {
    let Some(v) = present(info, key) else {
        return Ok(None);
    };
    match integer(v) {
        Some(n) if (0..=max).contains(&n) => Ok(Some(n as u8)),
        _ => Err(invalid(
            node,
            format!(
                "{key} {v} is invalid for ipmi_bridging {bridging}; expected an integer from 0 \
                 to {max} (hexadecimal as 0x.. accepted)."
            ),
        )),
    }
}

fn parse_bridging(node: &Node, info: &Dict) -> Result<Bridging, DriverError> {
    let mode = text(info, "ipmi_bridging").unwrap_or("no");
    if !matches!(mode, "no" | "single" | "dual") {
        return Err(invalid(
            node,
            format!("ipmi_bridging {mode:?} is invalid; expected one of no, single, dual."),
        ));
    }
    if mode == "no" {
        return Ok(Bridging::None);
    }
    let needed: &[&str] = if mode == "single" {
        &["ipmi_target_channel", "ipmi_target_address"]
    } else {
        &[
            "ipmi_transit_channel",
            "ipmi_transit_address",
            "ipmi_target_channel",
            "ipmi_target_address",
        ]
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|k| present(info, k).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            node,
            format!(
                "ipmi_bridging {mode} needs these driver_info keys, which are missing: {}.",
                missing.join(", ")
            ),
        ));
    }
    let get = |key, max| bridge_value(node, info, key, max, mode);
    let target_channel = get("ipmi_target_channel", 15)?.unwrap_or_default();
    let target_address = get("ipmi_target_address", 255)?.unwrap_or_default();
    let local_address = get("ipmi_local_address", 255)?;
    Ok(if mode == "single" {
        Bridging::Single {
            target_channel,
            target_address,
            local_address,
        }
    } else {
        Bridging::Dual {
            transit_channel: get("ipmi_transit_channel", 15)?.unwrap_or_default(),
            transit_address: get("ipmi_transit_address", 255)?.unwrap_or_default(),
            target_channel,
            target_address,
            local_address,
        }
    })
}

impl IpmiConfig {
    /// Reads and checks the node's `driver_info`; the error names the key
    /// at fault and never contains the password.
    pub fn from_node(node: &Node) -> Result<IpmiConfig, DriverError> {
        let info = &node.driver_info;
        let Some(raw_address) = text(info, "ipmi_address") else {
            return Err(invalid(
                node,
                "missing the following IPMI credentials in driver_info: ipmi_address.".to_string(),
            ));
        };
        let address = raw_address
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(raw_address);
        if address.starts_with('-')
            || address.is_empty()
            || address.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid(
                node,
                format!("ipmi_address {raw_address:?} is not a host name or IP address."),
            ));
        }
        let port = parse_port(node, info, "ipmi_port")?.unwrap_or(DEFAULT_PORT);
        let username = match info.get("ipmi_username") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if s.chars().any(char::is_control) => {
                return Err(invalid(
                    node,
                    "ipmi_username contains control characters.".to_string(),
                ));
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(invalid(
                    node,
                    format!("ipmi_username must be a string, not {other}."),
                ));
            }
        };
        let password = match info.get("ipmi_password") {
            None | Some(Value::Null) => Secret::default(),
            // Never echo the value: the message goes to last_error and logs.
            Some(Value::String(s)) if s.contains(['\n', '\r', '\0']) => {
                return Err(invalid(
                    node,
                    "ipmi_password contains a line break or NUL, which ipmitool cannot read \
                     from its password file."
                        .to_string(),
                ));
            }
            Some(Value::String(s)) => Secret::new(s.clone()),
            Some(_) => {
                return Err(invalid(node, "ipmi_password must be a string.".to_string()));
            }
        };
        let protocol = match present(info, "ipmi_protocol_version") {
            None => Protocol::Lanplus,
            Some(v) => match v.as_str().map(str::trim).unwrap_or_default() {
                "2.0" => Protocol::Lanplus,
                "1.5" => Protocol::Lan,
                _ => {
                    return Err(invalid(
                        node,
                        format!(
                            "invalid ipmi_protocol_version {v}; the valid values are \"1.5\" \
                             and \"2.0\"."
                        ),
                    ));
                }
            },
        };
        let priv_level = match text(info, "ipmi_priv_level") {
            None | Some("ADMINISTRATOR") => PrivLevel::Administrator,
            Some("CALLBACK") => PrivLevel::Callback,
            Some("OPERATOR") => PrivLevel::Operator,
            Some("USER") => PrivLevel::User,
            Some(other) => {
                return Err(invalid(
                    node,
                    format!(
                        "invalid ipmi_priv_level {other:?}; expected one of ADMINISTRATOR, \
                         CALLBACK, OPERATOR, USER."
                    ),
                ));
            }
        };
        // The protocols' own limits; ipmitool refuses longer passwords.
        let max_password = match protocol {
            Protocol::Lanplus => 20,
            Protocol::Lan => 16,
        };
        if password.expose().len() > max_password {
            return Err(invalid(
                node,
                format!(
                    "ipmi_password is {} bytes long; IPMI {} allows at most {max_password}.",
                    password.expose().len(),
                    if protocol == Protocol::Lan {
                        "1.5"
                    } else {
                        "2.0"
                    }
                ),
            ));
        }
        let bridging = parse_bridging(node, info)?;
        let cipher_suite = match present(info, "ipmi_cipher_suite") {
            None => None,
            Some(v) => match integer(v) {
                Some(n) if (0..=255).contains(&n) => Some(n as u8),
                _ => {
                    return Err(invalid(
                        node,
                        format!(
                            "ipmi_cipher_suite {v} is invalid; expected an integer cipher \
                             suite id such as 3 or 17."
                        ),
                    ));
                }
            },
        };
        Ok(IpmiConfig {
            address: address.to_string(),
            port,
            username,
            password,
            protocol,
            priv_level,
            bridging,
            cipher_suite,
            force_boot_device: boolean(node, info, "ipmi_force_boot_device", false)?,
            disable_boot_timeout: boolean(node, info, "ipmi_disable_boot_timeout", true)?,
            terminal_port: parse_port(node, info, "ipmi_terminal_port")?,
        })
    }

    /// `host:port` of the BMC: the key of the per-BMC concurrency cap and
    /// the way messages name the BMC.
    pub fn endpoint(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(info: Value) -> Node {
        let Value::Object(map) = info else {
            panic!("not an object")
        };
        Node {
            driver: "ipmi".into(),
            driver_info: map,
            ..Node::default()
        }
    }

    fn err(info: Value) -> String {
        match IpmiConfig::from_node(&node(info)) {
            Err(DriverError::InvalidParameter(m)) => m,
            other => panic!("expected a 400-worthy error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_ironic() {
        let Ok(c) = IpmiConfig::from_node(&node(json!({"ipmi_address": "10.0.0.5"}))) else {
            panic!("minimal driver_info refused")
        };
        assert_eq!(c.port, 623);
        assert_eq!(c.protocol, Protocol::Lanplus);
        assert_eq!(c.priv_level, PrivLevel::Administrator);
        assert_eq!(c.bridging, Bridging::None);
        assert!(c.username.is_none() && c.password.is_empty());
        assert!(!c.force_boot_device && c.disable_boot_timeout);
        assert_eq!(c.endpoint(), "10.0.0.5:623");
    }

    #[test]
    fn every_key_is_read() {
        let Ok(c) = IpmiConfig::from_node(&node(json!({
            "ipmi_address": "[fd00::5]",
            "ipmi_port": "6230",
            "ipmi_username": "admin",
            "ipmi_password": "pw-never-shown",
            "ipmi_protocol_version": "1.5",
            "ipmi_priv_level": "OPERATOR",
            "ipmi_bridging": "dual",
            "ipmi_transit_channel": "0",
            "ipmi_transit_address": "0x82",
            "ipmi_target_channel": 7,
            "ipmi_target_address": "0x72",
            "ipmi_local_address": "0x20",
            "ipmi_cipher_suite": "3",
            "ipmi_force_boot_device": "True",
            "ipmi_disable_boot_timeout": false,
            "ipmi_terminal_port": 8023,
        }))) else {
            panic!("full driver_info refused")
        };
        assert_eq!(c.address, "fd00::5");
        assert_eq!(c.endpoint(), "[fd00::5]:6230");
        assert_eq!(c.protocol.interface(), "lan");
        assert_eq!(c.priv_level.as_str(), "OPERATOR");
        assert_eq!(
            c.bridging.args(),
            [
                "-m", "0x20", "-B", "0", "-T", "0x82", "-b", "7", "-t", "0x72"
            ]
        );
        assert_eq!(c.cipher_suite, Some(3));
        assert!(c.force_boot_device && !c.disable_boot_timeout);
        assert_eq!(c.terminal_port, Some(8023));
        assert!(!format!("{c:?}").contains("pw-never-shown"));
    }

    #[test]
    fn bad_values_get_clear_messages() {
        assert!(err(json!({})).contains("ipmi_address"));
        let m = err(json!({"ipmi_address": "bmc", "ipmi_port": "abc"}));
        assert!(
            m.contains("ipmi_port") && m.contains("not a valid port"),
            "{m}"
        );
        assert!(err(json!({"ipmi_address": "bmc", "ipmi_port": 70000})).contains("ipmi_port"));
        let m = err(json!({"ipmi_address": "bmc", "ipmi_bridging": "triple"}));
        assert!(m.contains("ipmi_bridging") && m.contains("single"), "{m}");
        let m = err(json!({"ipmi_address": "bmc", "ipmi_bridging": "single",
                            "ipmi_target_channel": 0}));
        assert!(m.contains("ipmi_target_address"), "{m}");
        let m = err(json!({"ipmi_address": "bmc", "ipmi_bridging": "single",
                            "ipmi_target_channel": 16, "ipmi_target_address": "0x20"}));
        assert!(m.contains("ipmi_target_channel"), "{m}");
        assert!(
            err(json!({"ipmi_address": "bmc", "ipmi_protocol_version": "3.0"}))
                .contains("ipmi_protocol_version")
        );
        assert!(
            err(json!({"ipmi_address": "bmc", "ipmi_priv_level": "ROOT"}))
                .contains("ipmi_priv_level")
        );
        assert!(err(json!({"ipmi_address": "-oProxy=x"})).contains("ipmi_address"));
        assert!(
            err(json!({"ipmi_address": "bmc", "ipmi_force_boot_device": "maybe"}))
                .contains("ipmi_force_boot_device")
        );
        let m = err(json!({"ipmi_address": "bmc", "ipmi_password": "multi\nline-secret"}));
        assert!(!m.contains("line-secret"), "{m}");
        let long = "seventeen-bytes-x";
        let m = err(json!({"ipmi_address": "bmc", "ipmi_password": long,
                            "ipmi_protocol_version": "1.5"}));
        assert!(m.contains("at most 16") && !m.contains(long), "{m}");
        assert!(
            IpmiConfig::from_node(&node(json!({"ipmi_address": "bmc", "ipmi_password": long})))
                .is_ok()
        );
    }
}
