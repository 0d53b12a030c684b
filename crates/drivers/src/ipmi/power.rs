//! Power through `ipmitool chassis power …`. A chassis control command
//! only starts a change; the call returns once the BMC reports the target
//! state (or fails when it does not within the timeout), because callers
//! record the state they get back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::{Node, PowerState, PowerTarget};
use tokio::time::Instant;
use tracing::debug;

use super::config::IpmiConfig;
use super::management::reapply_boot_device;
use super::tool::IpmiTool;
use crate::interfaces::{Interface, PowerInterface};
use crate::redfish::power::{DEFAULT_POWER_TIMEOUT, DEFAULT_SOFT_POWER_TIMEOUT};
use crate::{DriverError, InterfaceKind};

/// How often the BMC is asked while waiting for a power change.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Reads `ipmitool chassis power status` output (`Chassis Power is on`).
/// Anything else is [`PowerState::Error`], as Ironic reads it.
pub fn parse_power_status(output: &str) -> PowerState {
    for line in output.lines() {
        let line = line.trim().to_ascii_lowercase();
        if let Some(state) = line.strip_prefix("chassis power is ") {
            return match state.trim() {
                "on" => PowerState::On,
                "off" => PowerState::Off,
                _ => PowerState::Error,
            };
        }
    }
    PowerState::Error
}

/// The power state the BMC reports now.
pub(crate) async fn power_status(
    tool: &dyn IpmiTool,
    config: &IpmiConfig,
) -> Result<PowerState, DriverError> {
    let out = tool
        .run(config, &["chassis", "power", "status"])
        .await
        .map_err(DriverError::from)?;
    Ok(parse_power_status(&out))
}

/// The `ipmitool` power interface.
#[derive(Clone)]
pub struct IpmitoolPower {
    tool: Arc<dyn IpmiTool>,
    poll_interval: Duration,
}

impl Default for IpmitoolPower {
    fn default() -> Self {
        IpmitoolPower::new(super::default_tool())
    }
}

impl IpmitoolPower {
    /// The interface over `tool` (a scripted BMC in tests).
    pub fn new(tool: Arc<dyn IpmiTool>) -> IpmitoolPower {
        IpmitoolPower {
            tool,
            poll_interval: POLL_INTERVAL,
        }
    }

    /// Polls more (or less) often while waiting; tests shorten it.
    pub fn with_poll_interval(mut self, interval: Duration) -> IpmitoolPower {
        self.poll_interval = interval;
        self
    }

    async fn chassis(&self, config: &IpmiConfig, action: &str) -> Result<(), DriverError> {
        debug!(bmc = %config.endpoint(), action, "chassis power");
        self.tool
            .run(config, &["chassis", "power", action])
            .await
            .map(|_| ())
            .map_err(DriverError::from)
    }

    /// Polls until the BMC reports `wanted`, or fails after `timeout`
    /// naming the last state seen.
    async fn wait_for(
        &self,
        config: &IpmiConfig,
        wanted: PowerState,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = power_status(&*self.tool, config).await?;
            if now == wanted {
                return Ok(());
            }
            if Instant::now() + self.poll_interval > deadline {
                return Err(DriverError::Failed(format!(
                    "Timed out after {} s waiting for the BMC at {} to report {}; it last \
                     reported {}.",
                    timeout.as_secs(),
                    config.endpoint(),
                    wanted.as_str(),
                    now.as_str()
                )));
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Powers on (after re-sending a forced boot device) and waits.
    async fn power_on(
        &self,
        node: &Node,
        config: &IpmiConfig,
        action: &str,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        reapply_boot_device(&*self.tool, config, node).await?;
        self.chassis(config, action).await?;
        self.wait_for(config, PowerState::On, timeout).await
    }
}

#[async_trait]
impl Interface for IpmitoolPower {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Power
    }
    fn name(&self) -> &'static str {
        "ipmitool"
    }
    /// Checks `driver_info` only, like Ironic: validation must not need the
    /// BMC to be reachable.
    async fn validate(&self, node: &Node) -> Result<(), DriverError> {
        IpmiConfig::from_node(node).map(|_| ())
    }
}

#[async_trait]
impl PowerInterface for IpmitoolPower {
    async fn get_power_state(&self, node: &Node) -> Result<PowerState, DriverError> {
        let config = IpmiConfig::from_node(node)?;
        power_status(&*self.tool, &config).await
    }

    async fn set_power_state(
        &self,
        node: &Node,
        target: PowerTarget,
        timeout: Option<Duration>,
    ) -> Result<PowerState, DriverError> {
        let config = IpmiConfig::from_node(node)?;
        let timeout = timeout.unwrap_or(match target {
            PowerTarget::SoftOff | PowerTarget::SoftReboot => DEFAULT_SOFT_POWER_TIMEOUT,
            _ => DEFAULT_POWER_TIMEOUT,
        });
        let current = power_status(&*self.tool, &config).await?;
        match target {
            PowerTarget::On if current != PowerState::On => {
                self.power_on(node, &config, "on", timeout).await?;
            }
            PowerTarget::Off if current != PowerState::Off => {
                self.chassis(&config, "off").await?;
                self.wait_for(&config, PowerState::Off, timeout).await?;
            }
            PowerTarget::SoftOff if current != PowerState::Off => {
                self.chassis(&config, "soft").await?;
                self.wait_for(&config, PowerState::Off, timeout).await?;
            }
            // A power cycle of a machine that is off may be refused or do
            // nothing, so only a machine that is on is cycled.
            PowerTarget::Reboot if current == PowerState::On => {
                self.power_on(node, &config, "cycle", timeout).await?;
            }
            PowerTarget::Reboot => self.power_on(node, &config, "on", timeout).await?,
            PowerTarget::SoftReboot => {
                if current != PowerState::Off {
                    self.chassis(&config, "soft").await?;
                    self.wait_for(&config, PowerState::Off, timeout).await?;
                }
                self.power_on(node, &config, "on", timeout).await?;
            }
            // Already there: nothing to do.
            PowerTarget::On | PowerTarget::Off | PowerTarget::SoftOff => {}
        }
        Ok(target.resulting_state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::testing::ScriptedBmc;
    use serde_json::json;

    fn node() -> Node {
        let serde_json::Value::Object(info) = json!({"ipmi_address": "10.1.2.3"}) else {
            panic!("object")
        };
        Node {
            driver: "ipmi".into(),
            driver_info: info,
            ..Node::default()
        }
    }

    fn power(bmc: &Arc<ScriptedBmc>) -> IpmitoolPower {
        IpmitoolPower::new(bmc.clone()).with_poll_interval(Duration::from_millis(5))
    }

    const T: Option<Duration> = Some(Duration::from_secs(2));

    #[test]
    fn status_output_is_read_robustly() {
        assert_eq!(parse_power_status("Chassis Power is on\n"), PowerState::On);
        assert_eq!(
            parse_power_status("warning\n  chassis power is OFF  \n"),
            PowerState::Off
        );
        assert_eq!(parse_power_status(""), PowerState::Error);
        assert_eq!(
            parse_power_status("Chassis Power is sideways"),
            PowerState::Error
        );
    }

    #[tokio::test]
    async fn targets_map_to_chassis_commands_and_wait() {
        let bmc = Arc::new(ScriptedBmc::default());
        bmc.lock().lag = 3;
        let p = power(&bmc);
        let n = node();
        assert_eq!(p.get_power_state(&n).await, Ok(PowerState::Off));
        assert_eq!(
            p.set_power_state(&n, PowerTarget::On, T).await,
            Ok(PowerState::On)
        );
        let polls = bmc
            .log()
            .iter()
            .filter(|c| *c == "chassis power status")
            .count();
        assert!(polls >= 4, "did not wait for the BMC: {:?}", bmc.log());
        bmc.lock().log.clear();
        assert_eq!(
            p.set_power_state(&n, PowerTarget::Reboot, T).await,
            Ok(PowerState::On)
        );
        assert!(bmc.log().contains(&"chassis power cycle".to_string()));
        bmc.lock().log.clear();
        assert_eq!(
            p.set_power_state(&n, PowerTarget::SoftReboot, T).await,
            Ok(PowerState::On)
        );
        let log = bmc.log();
        let soft = log.iter().position(|c| c == "chassis power soft");
        let on = log.iter().position(|c| c == "chassis power on");
        assert!(soft.is_some() && on > soft, "{log:?}");
        assert_eq!(
            p.set_power_state(&n, PowerTarget::SoftOff, T).await,
            Ok(PowerState::Off)
        );
        // Off already: nothing is sent; a reboot of an off machine is "on".
        bmc.lock().log.clear();
        assert_eq!(
            p.set_power_state(&n, PowerTarget::Off, T).await,
            Ok(PowerState::Off)
        );
        assert_eq!(bmc.log(), ["chassis power status"]);
        assert_eq!(
            p.set_power_state(&n, PowerTarget::Reboot, T).await,
            Ok(PowerState::On)
        );
        assert!(!bmc.log().contains(&"chassis power cycle".to_string()));
    }

    #[tokio::test]
    async fn a_bmc_that_never_gets_there_times_out_clearly() {
        let bmc = Arc::new(ScriptedBmc::default());
        bmc.lock().lag = u32::MAX;
        let p = power(&bmc);
        let Err(DriverError::Failed(m)) = p
            .set_power_state(&node(), PowerTarget::On, Some(Duration::from_millis(100)))
            .await
        else {
            panic!("no timeout")
        };
        assert!(
            m.contains("10.1.2.3:623") && m.contains("power on") && m.contains("power off"),
            "{m}"
        );
    }
}
