//! The `direct` deploy interface: deployment and cleaning through the
//! Ferrite agent running in the deploy ramdisk (reference §6.2, §7).
//!
//! The steps that only touch the BMC and the boot files (preparing the
//! instance boot, powering off the ramdisk, booting the instance) run
//! here. The steps that need the agent — booting the ramdisk and waiting
//! for its call-back, `write_image`, the in-band clean steps — need the
//! conductor's agent client, image cache and node lock, which this crate
//! cannot reach: the conductor runs them itself and this interface only
//! declares them (their names, priorities and arguments), so step lists,
//! templates and validation treat them like any other step.

use async_trait::async_trait;
use ferrite_model::{Dict, Node, PowerState, PowerTarget};
use serde_json::Value;

use crate::interfaces::*;
use crate::{DriverError, InterfaceKind};

/// The deploy-interface steps this interface runs itself; the conductor
/// runs every other deploy-interface step of a `direct` node (booting the
/// ramdisk, tearing it down, and everything the agent executes).
pub const OUT_OF_BAND: &[&str] = &[
    "prepare_instance_boot",
    "switch_to_tenant_network",
    "boot_instance",
];

/// `properties.capabilities` key and `instance_info` key choosing the boot
/// mode, as Ironic names them.
const BOOT_MODE_CAPABILITY: &str = "boot_mode";
const DEPLOY_BOOT_MODE: &str = "deploy_boot_mode";

/// One capability from `properties.capabilities`, which Ironic stores as
/// `"k1:v1,k2:v2"` (a JSON object is accepted too).
pub fn capability(node: &Node, key: &str) -> Option<String> {
    match node.properties.get("capabilities")? {
        Value::String(s) => s.split(',').find_map(|pair| {
            let (k, v) = pair.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        }),
        Value::Object(map) => map.get(key).and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// The boot mode a node is deployed in: `instance_info.deploy_boot_mode`,
/// else the `boot_mode` capability, else UEFI (Ironic's default since
/// legacy BIOS is the exception on current hardware).
pub fn boot_mode(node: &Node) -> &'static str {
    let wanted = node
        .instance_info
        .get(DEPLOY_BOOT_MODE)
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| capability(node, BOOT_MODE_CAPABILITY));
    match wanted.as_deref() {
        Some("bios") => "bios",
        _ => "uefi",
    }
}

/// The agent-driven deploy interface (`direct`).
pub struct AgentDeploy;

fn power(state: PowerState) -> NodeUpdate {
    NodeUpdate {
        power_state: Some(state),
        ..NodeUpdate::default()
    }
}

/// Applies the node's boot mode through the BMC; a management interface
/// that cannot change it (or a BMC that refuses because it is already
/// set) is not a reason to fail: the boot files answer both firmware types.
async fn apply_boot_mode(driver: &crate::Driver, node: &Node) {
    let mode = boot_mode(node);
    if let Err(e) = driver.management.set_boot_mode(node, mode).await {
        tracing::debug!(error = %e, mode, "boot mode left as it is");
    }
}

/// Sets the machine to boot the ramdisk next: the boot mode, then the
/// network as boot device (virtual media sets `cdrom` itself).
pub async fn boot_ramdisk(driver: &crate::Driver, node: &Node) -> Result<NodeUpdate, DriverError> {
    apply_boot_mode(driver, node).await;
    driver.boot.prepare_ramdisk(node).await?;
    let mut update = NodeUpdate::default();
    if driver.boot.name() != "redfish-virtual-media" {
        update = driver
            .management
            .set_boot_device(node, "pxe", false)
            .await?;
    }
    let state = driver
        .power
        .set_power_state(node, PowerTarget::Reboot, None)
        .await?;
    update.merge(power(state));
    Ok(update)
}

/// Powers the ramdisk off and removes its boot files.
pub async fn tear_down_ramdisk(
    driver: &crate::Driver,
    node: &Node,
) -> Result<NodeUpdate, DriverError> {
    let state = driver
        .power
        .set_power_state(node, PowerTarget::Off, None)
        .await?;
    driver.boot.clean_up_ramdisk(node).await?;
    Ok(power(state))
}

/// Moves the ports from the provisioning network to the tenant's.
pub(crate) async fn switch_to_tenant(
    driver: &crate::Driver,
    node: &Node,
) -> Result<NodeUpdate, DriverError> {
    driver
        .network
        .detach(node, NetworkPurpose::Provisioning)
        .await?;
    driver.network.attach(node, NetworkPurpose::Tenant).await?;
    Ok(NodeUpdate::default())
}

/// Removes an instance: power off, networks, volumes, its boot setup.
pub(crate) async fn tear_down_instance(
    driver: &crate::Driver,
    node: &Node,
) -> Result<NodeUpdate, DriverError> {
    let state = driver
        .power
        .set_power_state(node, PowerTarget::Off, None)
        .await?;
    driver.network.detach(node, NetworkPurpose::Tenant).await?;
    driver.storage.detach_volumes(node).await?;
    driver.boot.clean_up_instance(node).await?;
    Ok(power(state))
}

#[async_trait]
impl Interface for AgentDeploy {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Deploy
    }
    fn name(&self) -> &'static str {
        "direct"
    }

    fn steps(&self, phase: StepPhase) -> Vec<StepDef> {
        use InterfaceKind::Deploy as D;
        match phase {
            StepPhase::Deploy => vec![
                StepDef::new(D, "deploy", 100),
                StepDef::new(D, "write_image", 80),
                StepDef::new(D, "prepare_instance_boot", 60),
                StepDef::new(D, "tear_down_agent", 40),
                StepDef::new(D, "switch_to_tenant_network", 30),
                StepDef::new(D, "boot_instance", 20),
                StepDef::new(D, "erase_devices_metadata", 0).abortable(),
            ],
            StepPhase::Clean => vec![
                StepDef::new(D, "erase_devices_metadata", 99).abortable(),
                StepDef::new(D, "erase_devices", 0).abortable(),
            ],
            StepPhase::Service => vec![StepDef::new(D, "erase_devices_metadata", 0)],
        }
    }

    async fn execute_step(
        &self,
        ctx: &StepCtx<'_>,
        step: &str,
        _args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        let node = ctx.node;
        let driver = ctx.driver;
        let update = match step {
            "prepare_instance_boot" => {
                driver.boot.prepare_instance(node).await?;
                apply_boot_mode(driver, node).await;
                driver
                    .management
                    .set_boot_device(node, "disk", true)
                    .await?
            }
            "switch_to_tenant_network" => switch_to_tenant(driver, node).await?,
            "boot_instance" => power(
                driver
                    .power
                    .set_power_state(node, PowerTarget::On, None)
                    .await?,
            ),
            other => {
                return Err(DriverError::Failed(format!(
                    "The step deploy.{other} runs in the agent and needs the conductor's agent \
                     support."
                )));
            }
        };
        Ok(StepOutcome::Done(update))
    }
}

#[async_trait]
impl DeployInterface for AgentDeploy {
    async fn tear_down(&self, ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        tear_down_instance(ctx.driver, ctx.node).await
    }

    async fn take_over(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        Ok(NodeUpdate::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn boot_mode_is_uefi_unless_bios_is_asked_for() {
        let mut n = Node::default();
        assert_eq!(boot_mode(&n), "uefi");
        n.properties
            .insert("capabilities".into(), json!("cpu_vt:true,boot_mode:bios"));
        assert_eq!(boot_mode(&n), "bios");
        n.instance_info
            .insert("deploy_boot_mode".into(), json!("uefi"));
        assert_eq!(boot_mode(&n), "uefi");
        n.instance_info.clear();
        n.properties
            .insert("capabilities".into(), json!({"boot_mode": "bios"}));
        assert_eq!(boot_mode(&n), "bios");
        assert_eq!(capability(&n, "other"), None);
    }
}
