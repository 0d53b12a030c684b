//! `redfish-graphical`: the graphical console of a Redfish BMC. Ironic
//! starts a console container that logs into the BMC's HTML5 KVM and
//! re-exports it as VNC behind its own noVNC proxy; Ferrite has no such
//! proxy, so the console it hands out is the BMC's own web console. Enabling
//! it checks that the BMC offers one (the Manager's `GraphicalConsole`
//! with `ServiceEnabled` and a `KVMIP` connection), so a node whose BMC has
//! none fails at enable time rather than handing out a dead link.

use async_trait::async_trait;
use ferrite_model::Node;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::BmcClientExt;
use super::config::RedfishConfig;
use super::connect_system;
use super::power::read_system;
use crate::interfaces::{ConsoleInterface, Interface};
use crate::{DriverError, InterfaceKind};

/// `GraphicalConsole` of a Manager.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct GraphicalConsole {
    service_enabled: Option<bool>,
    connect_types_supported: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ManagerConsole {
    graphical_console: Option<GraphicalConsole>,
}

/// The `redfish-graphical` console interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishGraphicalConsole;

#[async_trait]
impl Interface for RedfishGraphicalConsole {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Console
    }
    fn name(&self) -> &'static str {
        "redfish-graphical"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl ConsoleInterface for RedfishGraphicalConsole {
    /// Checks that the system's manager offers a KVM-over-IP console.
    async fn start_console(&self, node: &Node) -> Result<(), DriverError> {
        let (_, client, system) = connect_system(node).await?;
        let manager = read_system(&*client, &system)
            .await?
            .links
            .and_then(|l| l.managed_by.into_iter().next())
            .map(|m| m.id)
            .ok_or_else(|| {
                DriverError::Unsupported(format!(
                    "The BMC at {} names no manager for {system}.",
                    client.address()
                ))
            })?;
        let doc: ManagerConsole = client.get_as(&manager).await?;
        let offered = doc.graphical_console.is_some_and(|g| {
            g.service_enabled == Some(true)
                && g.connect_types_supported.iter().any(|t| t == "KVMIP")
        });
        if offered {
            Ok(())
        } else {
            Err(DriverError::Unsupported(format!(
                "The BMC at {} offers no graphical console (GraphicalConsole with \
                 ServiceEnabled and KVMIP) for {system}.",
                client.address()
            )))
        }
    }

    /// Nothing runs on Ferrite's side, so there is nothing to stop.
    async fn stop_console(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }

    /// `{"type": "vnc", "url": <the BMC's web interface>}`: `vnc` as Ironic
    /// reports graphical consoles, so clients open the URL in a browser;
    /// the URL carries no credentials.
    fn console_info(&self, node: &Node) -> Result<Value, DriverError> {
        let config = RedfishConfig::from_node(node)?;
        Ok(json!({"type": "vnc", "url": format!("{}/", config.address)}))
    }
}
