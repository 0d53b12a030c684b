//! BIOS settings through the system's `Bios` resource: its `Attributes`
//! are read directly; changes go to its pending-settings object
//! (`@Redfish.Settings`, usually `Bios/Settings`) and take effect at the
//! next boot, so the steps reboot the machine afterwards, as Ironic does.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferrite_model::{Dict, Node, PowerTarget};
use serde_json::{Map, Value, json};

use super::client::{BmcClient, BmcClientExt};
use super::config::RedfishConfig;
use super::connect_system;
use super::power::read_system;
use super::resources::Bios;
use crate::interfaces::{
    BiosInterface, Interface, NodeUpdate, StepCtx, StepDef, StepOutcome, StepPhase, unsupported,
};
use crate::{DriverError, InterfaceKind};

async fn bios_path(client: &dyn BmcClient, system: &str) -> Result<String, DriverError> {
    read_system(client, system)
        .await?
        .bios
        .map(|b| b.id)
        .ok_or_else(|| {
            DriverError::Unsupported(format!(
                "The BMC at {} exposes no Bios resource for {system}.",
                client.address()
            ))
        })
}

/// The `redfish` BIOS interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishBios;

impl RedfishBios {
    /// Stores `attributes` as pending settings; they apply at the next boot.
    pub async fn apply_settings(
        &self,
        node: &Node,
        attributes: &Map<String, Value>,
    ) -> Result<(), DriverError> {
        let (_, client, system) = connect_system(node).await?;
        let path = bios_path(&*client, &system).await?;
        let bios: Bios = client.get_as(&path).await?;
        let target = bios
            .settings
            .and_then(|s| s.settings_object)
            .map(|o| o.id)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("{}/Settings", path.trim_end_matches('/')));
        client
            .patch(&target, &json!({"Attributes": attributes}))
            .await?;
        Ok(())
    }

    /// Asks the BMC to restore the BIOS defaults (`Bios.ResetBios`) at the
    /// next boot.
    pub async fn factory_reset(&self, node: &Node) -> Result<(), DriverError> {
        let (_, client, system) = connect_system(node).await?;
        let path = bios_path(&*client, &system).await?;
        let bios: Bios = client.get_as(&path).await?;
        let target = bios
            .actions
            .and_then(|a| a.reset_bios)
            .map(|a| a.target)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| format!("{}/Actions/Bios.ResetBios", path.trim_end_matches('/')));
        client.post(&target, &json!({})).await?;
        Ok(())
    }
}

#[async_trait]
impl Interface for RedfishBios {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Bios
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }

    fn steps(&self, _phase: StepPhase) -> Vec<StepDef> {
        crate::bios::steps()
    }

    /// Stores the change, then reboots through the node's power interface
    /// so the firmware applies it.
    async fn execute_step(
        &self,
        ctx: &StepCtx<'_>,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        match step {
            "apply_configuration" => {
                let attributes = crate::bios::settings(args)?;
                self.apply_settings(ctx.node, &attributes).await?;
            }
            "factory_reset" => self.factory_reset(ctx.node).await?,
            other => return Err(unsupported(self, &format!("the step {other}"))),
        }
        let state = ctx
            .driver
            .power
            .set_power_state(ctx.node, PowerTarget::Reboot, None)
            .await?;
        Ok(StepOutcome::Done(NodeUpdate {
            power_state: Some(state),
            ..NodeUpdate::default()
        }))
    }
}

#[async_trait]
impl BiosInterface for RedfishBios {
    /// The current BIOS attributes (what Ironic caches as the node's BIOS
    /// settings).
    async fn get_settings(&self, node: &Node) -> Result<BTreeMap<String, Value>, DriverError> {
        let (_, client, system) = connect_system(node).await?;
        let path = bios_path(&*client, &system).await?;
        let bios: Bios = client.get_as(&path).await?;
        Ok(bios.attributes)
    }
}
