//! `driver_info` of a Redfish node, parsed once and checked the way Ironic
//! checks it, so a typo is reported at validation rather than as a
//! confusing network error later.

use std::path::PathBuf;

use ferrite_model::{Dict, Node};
use reqwest::Url;
use serde_json::Value;

use crate::DriverError;

/// A secret (the BMC password, a session token): it prints as `******` in
/// every `Debug` and `Display`, so it cannot leak through logs or errors by
/// accident; [`Secret::expose`] is the one deliberate way to read it.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (no password configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("******")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("******")
    }
}

/// How TLS certificates of the BMC are checked (`redfish_verify_ca`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VerifyCa {
    /// Against the built-in trusted roots (the default).
    System,
    /// Not at all: many BMCs ship self-signed certificates.
    Disabled,
    /// Against the CAs in this PEM file, or in the files of this directory.
    Bundle(PathBuf),
}

/// How the client authenticates (`redfish_auth_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// HTTP basic authentication on every request.
    Basic,
    /// A Redfish session (`X-Auth-Token`), renewed when the BMC drops it.
    Session,
    /// A session when the BMC offers one, basic authentication otherwise.
    Auto,
}

impl AuthType {
    /// Ironic's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Basic => "basic",
            AuthType::Session => "session",
            AuthType::Auto => "auto",
        }
    }
}

/// A node's Redfish settings from `driver_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedfishConfig {
    /// `scheme://host[:port]` of the BMC: Redfish paths are absolute, so
    /// anything after the authority in `redfish_address` is ignored.
    pub address: String,
    /// `redfish_system_id` as a path (`/redfish/v1/Systems/1`); `None`
    /// means the BMC's only system.
    pub system_id: Option<String>,
    /// `redfish_username`.
    pub username: Option<String>,
    /// `redfish_password` (masked when printed).
    pub password: Secret,
    /// `redfish_verify_ca`.
    pub verify_ca: VerifyCa,
    /// `redfish_auth_type`.
    pub auth_type: AuthType,
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

/// oslo's boolean spellings, which Ironic accepts in `driver_info`.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// Normalises `redfish_address` to `scheme://host[:port]` (https when no
/// scheme is given, as Ironic does).
pub fn normalize_address(raw: &str) -> Result<String, String> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url =
        Url::parse(&with_scheme).map_err(|e| format!("invalid redfish_address {raw:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "invalid redfish_address: the scheme must be http or https, not {}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the address here: it holds credentials.
        return Err(
            "invalid redfish_address: credentials belong in redfish_username and \
             redfish_password, not in the URL"
                .to_string(),
        );
    }
    let Some(host) = url.host_str() else {
        return Err(format!("invalid redfish_address {raw:?}: no host"));
    };
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

impl RedfishConfig {
    /// Reads and checks the node's `driver_info`; the error names the key
    /// at fault and never contains the password.
    pub fn from_node(node: &Node) -> Result<RedfishConfig, DriverError> {
        let info = &node.driver_info;
        let Some(raw_address) = text(info, "redfish_address") else {
            return Err(invalid(
                node,
                "missing the following Redfish properties in driver_info: redfish_address."
                    .to_string(),
            ));
        };
        let address = normalize_address(raw_address).map_err(|m| invalid(node, m))?;
        let system_id = text(info, "redfish_system_id").map(|id| {
            if id.starts_with('/') {
                id.trim_end_matches('/').to_string()
            } else {
                format!("/redfish/v1/Systems/{id}")
            }
        });
        let username = text(info, "redfish_username").map(str::to_string);
        let password = Secret::new(
            info.get("redfish_password")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        let verify_ca = match info.get("redfish_verify_ca") {
            None | Some(Value::Null) => VerifyCa::System,
            Some(Value::Bool(true)) => VerifyCa::System,
            Some(Value::Bool(false)) => VerifyCa::Disabled,
            Some(Value::String(s)) => match parse_bool(s.trim()) {
                Some(true) => VerifyCa::System,
                Some(false) => VerifyCa::Disabled,
                None => {
                    let path = PathBuf::from(s.trim());
                    if !path.exists() {
                        return Err(invalid(
                            node,
                            format!(
                                "invalid value for redfish_verify_ca: {s:?} is neither a \
                                 boolean nor an existing file or directory."
                            ),
                        ));
                    }
                    VerifyCa::Bundle(path)
                }
            },
            Some(other) => {
                return Err(invalid(
                    node,
                    format!(
                        "invalid value type for redfish_verify_ca: expected a boolean or a \
                         path, got {other}."
                    ),
                ));
            }
        };
        let auth_type = match text(info, "redfish_auth_type") {
            None => AuthType::Auto,
            Some("basic") => AuthType::Basic,
            Some("session") => AuthType::Session,
            Some("auto") => AuthType::Auto,
            Some(other) => {
                return Err(invalid(
                    node,
                    format!(
                        "invalid redfish_auth_type {other:?}; expected basic, session or auto."
                    ),
                ));
            }
        };
        Ok(RedfishConfig {
            address,
            system_id,
            username,
            password,
            verify_ca,
            auth_type,
        })
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
            driver: "redfish".into(),
            driver_info: map,
            ..Node::default()
        }
    }

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            normalize_address("bmc.example:8443"),
            Ok("https://bmc.example:8443".into())
        );
        assert_eq!(
            normalize_address("http://127.0.0.1:8000/redfish/v1"),
            Ok("http://127.0.0.1:8000".into())
        );
        assert!(normalize_address("ftp://bmc").is_err());
        let Err(e) = normalize_address("https://root:hunter22@bmc") else {
            panic!("userinfo accepted")
        };
        assert!(!e.contains("hunter22"), "{e}");
    }

    #[test]
    fn driver_info_is_checked_like_ironic() {
        let Ok(c) = RedfishConfig::from_node(&node(json!({
            "redfish_address": "http://127.0.0.1:8000",
            "redfish_system_id": "abc",
            "redfish_username": "admin",
            "redfish_password": "s3cr3t-pw",
            "redfish_verify_ca": "False",
            "redfish_auth_type": "basic",
        }))) else {
            panic!("valid driver_info refused")
        };
        assert_eq!(c.system_id.as_deref(), Some("/redfish/v1/Systems/abc"));
        assert_eq!(c.verify_ca, VerifyCa::Disabled);
        assert_eq!(c.auth_type, AuthType::Basic);
        assert!(!format!("{c:?}").contains("s3cr3t-pw"));

        let missing = RedfishConfig::from_node(&node(json!({})));
        assert!(
            matches!(&missing, Err(DriverError::InvalidParameter(m)) if m.contains("redfish_address"))
        );
        let bad_auth = RedfishConfig::from_node(&node(json!({
            "redfish_address": "bmc", "redfish_auth_type": "digest"})));
        assert!(matches!(bad_auth, Err(DriverError::InvalidParameter(_))));
        let bad_ca = RedfishConfig::from_node(&node(json!({
            "redfish_address": "bmc", "redfish_verify_ca": "/no/such/ca.pem"})));
        assert!(matches!(bad_ca, Err(DriverError::InvalidParameter(_))));
        let Ok(d) = RedfishConfig::from_node(&node(json!({"redfish_address": "bmc"}))) else {
            panic!("defaults")
        };
        assert_eq!(
            (d.verify_ca, d.auth_type, d.system_id),
            (VerifyCa::System, AuthType::Auto, None)
        );
    }
}
