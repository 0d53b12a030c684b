//! The `ipmitool` vendor interface: Ironic's passthru methods `send_raw`
//! and `bmc_reset`, so operator scripts that call them keep working.

use std::sync::Arc;

use async_trait::async_trait;
use ferrite_model::Node;
use serde_json::Value;

use super::config::IpmiConfig;
use super::tool::IpmiTool;
use crate::interfaces::{Interface, VendorInterface, VendorMethod, unsupported_method};
use crate::{DriverError, InterfaceKind};

/// The `ipmitool` vendor interface.
#[derive(Clone)]
pub struct IpmitoolVendor {
    tool: Arc<dyn IpmiTool>,
}

impl Default for IpmitoolVendor {
    fn default() -> Self {
        IpmitoolVendor::new(super::default_tool())
    }
}

impl IpmitoolVendor {
    /// The interface over `tool` (a scripted BMC in tests).
    pub fn new(tool: Arc<dyn IpmiTool>) -> IpmitoolVendor {
        IpmitoolVendor { tool }
    }
}

/// Checks `raw_bytes` ("0x06 0x01", netfn, command, data): every token
/// must be one byte, so nothing but bytes reaches ipmitool's argv.
pub fn parse_raw_bytes(raw: &str) -> Result<Vec<String>, DriverError> {
    let tokens: Vec<&str> = raw.split_whitespace().collect();
    if tokens.len() < 2 {
        return Err(DriverError::InvalidParameter(
            "raw_bytes needs at least a network function and a command byte, e.g. \
             \"0x06 0x01\"."
                .into(),
        ));
    }
    tokens
        .iter()
        .map(|t| {
            let value = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) if !hex.is_empty() && hex.len() <= 2 => u8::from_str_radix(hex, 16).ok(),
                Some(_) => None,
                None => t.parse::<u8>().ok(),
            };
            value.map(|b| format!("0x{b:02x}")).ok_or_else(|| {
                DriverError::InvalidParameter(format!(
                    "raw_bytes: {t:?} is not a byte (0x00-0xff or 0-255)."
                ))
            })
        })
        .collect()
}

#[async_trait]
impl Interface for IpmitoolVendor {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Vendor
    }
    fn name(&self) -> &'static str {
        "ipmitool"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        IpmiConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl VendorInterface for IpmitoolVendor {
    fn methods(&self) -> Vec<VendorMethod> {
        vec![
            VendorMethod {
                name: "send_raw",
                http_methods: vec!["POST"],
                is_async: true,
                description: "Send raw bytes to the BMC. Required argument: raw_bytes - a \
                              string of space-separated bytes, network function first \
                              (e.g. \"0x06 0x01\").",
                attach: false,
                require_exclusive_lock: true,
            },
            VendorMethod {
                name: "bmc_reset",
                http_methods: vec!["POST"],
                is_async: true,
                description: "Reset the BMC. Optional argument: warm (boolean, default true) \
                              - a warm reset when true, a cold reset otherwise.",
                attach: false,
                require_exclusive_lock: true,
            },
        ]
    }

    async fn call(&self, node: &Node, method: &str, args: &Value) -> Result<Value, DriverError> {
        if !matches!(method, "send_raw" | "bmc_reset") {
            return Err(unsupported_method(method));
        }
        let config = IpmiConfig::from_node(node)?;
        match method {
            "send_raw" => {
                let Some(raw) = args.get("raw_bytes").and_then(Value::as_str) else {
                    return Err(DriverError::InvalidParameter(
                        "Parameter raw_bytes (string of bytes) was not specified.".into(),
                    ));
                };
                let bytes = parse_raw_bytes(raw)?;
                let mut command = vec!["raw"];
                command.extend(bytes.iter().map(String::as_str));
                let out = self.tool.run(&config, &command).await?;
                Ok(Value::String(out.trim().to_string()))
            }
            "bmc_reset" => {
                let warm = match args.get("warm") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                        "1" | "t" | "true" | "on" | "y" | "yes" => true,
                        "0" | "f" | "false" | "off" | "n" | "no" => false,
                        _ => {
                            return Err(DriverError::InvalidParameter(format!(
                                "warm {s:?} is not a boolean."
                            )));
                        }
                    },
                    Some(other) => {
                        return Err(DriverError::InvalidParameter(format!(
                            "warm must be a boolean, not {other}."
                        )));
                    }
                };
                let kind = if warm { "warm" } else { "cold" };
                self.tool.run(&config, &["bmc", "reset", kind]).await?;
                Ok(Value::Null)
            }
            other => Err(unsupported_method(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::testing::ScriptedBmc;
    use serde_json::json;

    #[test]
    fn raw_bytes_are_bytes() {
        assert_eq!(
            parse_raw_bytes("0x6 1 0xFF"),
            Ok(vec!["0x06".into(), "0x01".into(), "0xff".into()])
        );
        assert!(parse_raw_bytes("0x06").is_err());
        assert!(parse_raw_bytes("0x06 --help").is_err());
        assert!(parse_raw_bytes("0x06 0x100").is_err());
        assert!(parse_raw_bytes("0x06 256").is_err());
    }

    #[tokio::test]
    async fn methods_reach_the_bmc() {
        let bmc = Arc::new(ScriptedBmc::default());
        let v = IpmitoolVendor::new(bmc.clone());
        let Value::Object(info) = json!({"ipmi_address": "bmc"}) else {
            panic!("object")
        };
        let n = Node {
            driver_info: info,
            ..Node::default()
        };
        assert!(
            v.call(&n, "send_raw", &json!({"raw_bytes": "0x06 0x01"}))
                .await
                .is_ok()
        );
        assert!(
            v.call(&n, "bmc_reset", &json!({"warm": "false"}))
                .await
                .is_ok()
        );
        assert_eq!(bmc.log(), ["raw 0x06 0x01", "bmc reset cold"]);
        assert!(matches!(
            v.call(&n, "send_raw", &json!({})).await,
            Err(DriverError::InvalidParameter(_))
        ));
        assert!(v.call(&n, "nope", &json!({})).await.is_err());
        assert_eq!(v.methods().len(), 2);
    }
}
