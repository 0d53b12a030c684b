//! Power through `ComputerSystem.PowerState` and the `ComputerSystem.Reset`
//! action. A reset only starts a change; the call returns once the BMC
//! reports the target state (or fails when it does not within the
//! timeout), because callers record the state they get back.

use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::{Node, PowerState, PowerTarget};
use serde_json::json;
use tokio::time::Instant;
use tracing::debug;

use super::client::{BmcClient, BmcClientExt, BmcError};
use super::config::RedfishConfig;
use super::management::reapply_boot_device;
use super::resources::ComputerSystem;
use super::{connect_system, power};
use crate::interfaces::{Interface, PowerInterface};
use crate::{DriverError, InterfaceKind};

/// Wait for a hard power change when the caller gives none (Ironic's
/// `[conductor]power_state_change_timeout`).
pub const DEFAULT_POWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Wait for a graceful change when the caller gives none (Ironic's
/// `[conductor]soft_power_off_timeout`).
pub const DEFAULT_SOFT_POWER_TIMEOUT: Duration = Duration::from_secs(600);

/// How often the BMC is asked while waiting.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The Redfish `ResetType` that carries out `target` on a machine that is
/// on (a reboot of a machine that is off is a plain `On`).
pub fn reset_type(target: PowerTarget) -> &'static str {
    match target {
        PowerTarget::On => "On",
        PowerTarget::Off => "ForceOff",
        PowerTarget::Reboot => "ForceRestart",
        PowerTarget::SoftReboot => "GracefulRestart",
        PowerTarget::SoftOff => "GracefulShutdown",
    }
}

/// Ironic's reading of `PowerState`: transitions count as where they go.
pub fn power_state_of(system: &ComputerSystem) -> PowerState {
    match system.power_state.as_deref() {
        Some("On" | "PoweringOn") => PowerState::On,
        Some("Off" | "PoweringOff") => PowerState::Off,
        _ => PowerState::Error,
    }
}

/// Reads the ComputerSystem at `system`.
pub(crate) async fn read_system(
    client: &dyn BmcClient,
    system: &str,
) -> Result<ComputerSystem, BmcError> {
    client.get_as(system).await
}

/// POSTs `ComputerSystem.Reset` with `kind`, refusing kinds the BMC says
/// it does not allow (so the error names what it allows).
pub(crate) async fn reset(
    client: &dyn BmcClient,
    system_path: &str,
    system: &ComputerSystem,
    kind: &str,
) -> Result<(), BmcError> {
    let action = system.actions.as_ref().and_then(|a| a.reset.as_ref());
    if let Some(allowed) = action.and_then(|a| a.reset_types.as_ref())
        && !allowed.iter().any(|t| t == kind)
    {
        return Err(BmcError::Unsupported(format!(
            "The BMC at {} does not allow the reset type {kind} for {system_path}; it allows: {}.",
            client.address(),
            allowed.join(", ")
        )));
    }
    let target = action
        .map(|a| a.target.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{system_path}/Actions/ComputerSystem.Reset"));
    client.post(&target, &json!({"ResetType": kind})).await?;
    Ok(())
}

/// Polls until the BMC reports exactly `wanted` (`On` or `Off`), or fails
/// after `timeout` naming the last state seen.
pub(crate) async fn wait_for_power(
    client: &dyn BmcClient,
    system_path: &str,
    wanted: PowerState,
    timeout: Duration,
) -> Result<(), DriverError> {
    let wanted_text = match wanted {
        PowerState::On => "On",
        _ => "Off",
    };
    let deadline = Instant::now() + timeout;
    loop {
        let system = read_system(client, system_path).await?;
        let now = system.power_state.clone().unwrap_or_default();
        if now == wanted_text {
            return Ok(());
        }
        if Instant::now() + POLL_INTERVAL > deadline {
            return Err(DriverError::Failed(format!(
                "Timed out after {} s waiting for the BMC at {} to report {system_path} as {}; \
                 it last reported {:?}.",
                timeout.as_secs(),
                client.address(),
                wanted.as_str(),
                now
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The `redfish` power interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct RedfishPower;

#[async_trait]
impl Interface for RedfishPower {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Power
    }
    fn name(&self) -> &'static str {
        "redfish"
    }
    /// Checks `driver_info` only, like Ironic: validation must not need the
    /// BMC to be reachable.
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        RedfishConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl PowerInterface for RedfishPower {
    async fn get_power_state(&self, node: &Node) -> Result<PowerState, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let system = read_system(&*client, &path).await?;
        Ok(power_state_of(&system))
    }

    async fn set_power_state(
        &self,
        node: &Node,
        target: PowerTarget,
        timeout: Option<Duration>,
    ) -> Result<PowerState, DriverError> {
        let (_, client, path) = connect_system(node).await?;
        let system = read_system(&*client, &path).await?;
        let current = power_state_of(&system);
        let result = target.resulting_state();
        let kind = match (target, current) {
            (PowerTarget::On, PowerState::On) | (PowerTarget::Off, PowerState::Off) => None,
            (PowerTarget::SoftOff, PowerState::Off) => None,
            (PowerTarget::Reboot | PowerTarget::SoftReboot, PowerState::Off) => Some("On"),
            _ => Some(reset_type(target)),
        };
        if result == PowerState::On {
            reapply_boot_device(&*client, &path, node).await?;
        }
        if let Some(kind) = kind {
            debug!(node = %node.uuid, bmc = client.address(), kind, "resetting system");
            power::reset(&*client, &path, &system, kind).await?;
        }
        let timeout = timeout.unwrap_or(match target {
            PowerTarget::SoftOff | PowerTarget::SoftReboot => DEFAULT_SOFT_POWER_TIMEOUT,
            _ => DEFAULT_POWER_TIMEOUT,
        });
        wait_for_power(&*client, &path, result, timeout).await?;
        Ok(result)
    }
}
