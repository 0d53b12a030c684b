//! The `fake` implementations: they touch no hardware, only sleep the
//! configured delay (like Ironic's `[fake]` options) and report success, so
//! whole lifecycles can be exercised and benchmarked without BMCs.

use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::{Dict, Node, PowerState, PowerTarget};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::interfaces::*;
use crate::{DriverError, InterfaceKind, raid};

/// Seconds each fake operation sleeps (all 0 by default). Loaded by the
/// binary from the `[fake]` section and `FERRITE_FAKE_<NAME>`; non-positive
/// or non-finite values mean no delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeDelays {
    /// Each power change.
    pub power_delay: f64,
    /// Preparing a ramdisk or instance boot.
    pub boot_delay: f64,
    /// The `deploy.deploy` step (once per deployment).
    pub deploy_delay: f64,
    /// Boot device, boot mode, secure boot and NMI changes.
    pub management_delay: f64,
    /// An inspection.
    pub inspect_delay: f64,
    /// Each RAID step.
    pub raid_delay: f64,
    /// Each BIOS step.
    pub bios_delay: f64,
    /// Rescue and unrescue.
    pub rescue_delay: f64,
    /// Vendor methods.
    pub vendor_delay: f64,
}

/// Sleeps `seconds` when it is a positive, finite number.
pub async fn sleep_secs(seconds: f64) {
    if let Ok(d) = Duration::try_from_secs_f64(seconds)
        && !d.is_zero()
    {
        tokio::time::sleep(d).await;
    }
}

macro_rules! fake_identity {
    ($kind:ident) => {
        fn kind(&self) -> InterfaceKind {
            InterfaceKind::$kind
        }
        fn name(&self) -> &'static str {
            "fake"
        }
    };
}

/// Fake power: changes take `power_delay`; the state is whatever the
/// conductor last recorded (off when never recorded).
pub struct FakePower {
    delays: FakeDelays,
}

impl FakePower {
    /// A fake power interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakePower { delays }
    }
}

#[async_trait]
impl Interface for FakePower {
    fake_identity!(Power);
}

#[async_trait]
impl PowerInterface for FakePower {
    async fn get_power_state(&self, node: &Node) -> Result<PowerState, DriverError> {
        Ok(node.power_state.unwrap_or(PowerState::Off))
    }

    async fn set_power_state(
        &self,
        _node: &Node,
        target: PowerTarget,
        _timeout: Option<Duration>,
    ) -> Result<PowerState, DriverError> {
        sleep_secs(self.delays.power_delay).await;
        Ok(target.resulting_state())
    }
}

/// Boot devices the fake management interface accepts.
pub const FAKE_BOOT_DEVICES: &[&str] = &["pxe", "disk", "cdrom", "bios"];

/// Where the fake management interface keeps indicator states.
const FAKE_INDICATORS_KEY: &str = "fake_indicators";

/// `driver_internal_info` key where fake management keeps the boot device.
pub const FAKE_BOOT_DEVICE_KEY: &str = "fake_boot_device";

/// Fake management: remembers the boot device in `driver_internal_info`.
pub struct FakeManagement {
    delays: FakeDelays,
}

impl FakeManagement {
    /// A fake management interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeManagement { delays }
    }
}

#[async_trait]
impl Interface for FakeManagement {
    fake_identity!(Management);
}

#[async_trait]
impl ManagementInterface for FakeManagement {
    /// The fake server has a virtual drive that takes any image.
    async fn attach_virtual_media(
        &self,
        _node: &Node,
        _device_type: &str,
        _image_url: &str,
    ) -> Result<(), DriverError> {
        sleep_secs(self.delays.management_delay).await;
        Ok(())
    }
    async fn detach_virtual_media(
        &self,
        _node: &Node,
        _device_types: &[String],
    ) -> Result<(), DriverError> {
        sleep_secs(self.delays.management_delay).await;
        Ok(())
    }
    async fn get_boot_device(&self, node: &Node) -> Result<BootDevice, DriverError> {
        let stored = node.driver_internal_info.get(FAKE_BOOT_DEVICE_KEY);
        let device = stored
            .and_then(|v| v.get("boot_device"))
            .and_then(Value::as_str)
            .unwrap_or("pxe");
        let persistent = stored
            .and_then(|v| v.get("persistent"))
            .and_then(Value::as_bool);
        Ok(BootDevice {
            boot_device: Some(device.to_string()),
            persistent: Some(persistent.unwrap_or(false)),
        })
    }

    async fn set_boot_device(
        &self,
        _node: &Node,
        device: &str,
        persistent: bool,
    ) -> Result<NodeUpdate, DriverError> {
        if !FAKE_BOOT_DEVICES.contains(&device) {
            return Err(DriverError::InvalidParameter(format!(
                "Invalid boot device {device} specified; supported: {}.",
                FAKE_BOOT_DEVICES.join(", ")
            )));
        }
        sleep_secs(self.delays.management_delay).await;
        let mut update = NodeUpdate::default();
        update.driver_internal_info.insert(
            FAKE_BOOT_DEVICE_KEY.to_string(),
            json!({"boot_device": device, "persistent": persistent}),
        );
        Ok(update)
    }

    fn supported_boot_devices(&self, _node: &Node) -> Vec<String> {
        FAKE_BOOT_DEVICES.iter().map(|d| d.to_string()).collect()
    }

    fn indicators(&self, _node: &Node) -> Vec<Indicator> {
        let led = |name: &str, component: &str, readonly: bool| Indicator {
            name: name.to_string(),
            component: component.to_string(),
            readonly,
            states: vec!["BLINKING", "OFF", "ON"],
        };
        vec![
            led("led-0", "system", false),
            led("led-1", "chassis", false),
            led("led-2", "drive", true),
        ]
    }

    async fn get_indicator_state(
        &self,
        node: &Node,
        indicator: &Indicator,
    ) -> Result<String, DriverError> {
        let key = format!("{}@{}", indicator.name, indicator.component);
        let state = node
            .driver_internal_info
            .get(FAKE_INDICATORS_KEY)
            .and_then(|all| all.get(&key))
            .and_then(Value::as_str)
            .unwrap_or("OFF");
        Ok(state.to_string())
    }

    async fn set_indicator_state(
        &self,
        node: &Node,
        indicator: &Indicator,
        state: &str,
    ) -> Result<NodeUpdate, DriverError> {
        if indicator.readonly {
            return Err(DriverError::InvalidParameter(format!(
                "Indicator {}@{} is read-only.",
                indicator.name, indicator.component
            )));
        }
        if !indicator.states.contains(&state) {
            return Err(DriverError::InvalidParameter(format!(
                "Invalid indicator state {state}; supported: {}.",
                indicator.states.join(", ")
            )));
        }
        sleep_secs(self.delays.management_delay).await;
        let mut all = node
            .driver_internal_info
            .get(FAKE_INDICATORS_KEY)
            .cloned()
            .unwrap_or_else(|| json!({}));
        all[format!("{}@{}", indicator.name, indicator.component)] = json!(state);
        let mut update = NodeUpdate::default();
        update
            .driver_internal_info
            .insert(FAKE_INDICATORS_KEY.to_string(), all);
        Ok(update)
    }

    async fn set_boot_mode(&self, _node: &Node, mode: &str) -> Result<(), DriverError> {
        if mode != "uefi" && mode != "bios" {
            return Err(DriverError::InvalidParameter(format!(
                "Invalid boot mode {mode}; expected uefi or bios."
            )));
        }
        sleep_secs(self.delays.management_delay).await;
        Ok(())
    }

    async fn set_secure_boot(&self, _node: &Node, _enabled: bool) -> Result<(), DriverError> {
        sleep_secs(self.delays.management_delay).await;
        Ok(())
    }

    async fn inject_nmi(&self, _node: &Node) -> Result<(), DriverError> {
        sleep_secs(self.delays.management_delay).await;
        Ok(())
    }
}

/// Fake boot: preparing a boot takes `boot_delay`.
pub struct FakeBoot {
    delays: FakeDelays,
}

impl FakeBoot {
    /// A fake boot interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeBoot { delays }
    }
}

#[async_trait]
impl Interface for FakeBoot {
    fake_identity!(Boot);
}

#[async_trait]
impl BootInterface for FakeBoot {
    async fn prepare_ramdisk(&self, _node: &Node) -> Result<(), DriverError> {
        sleep_secs(self.delays.boot_delay).await;
        Ok(())
    }
    async fn clean_up_ramdisk(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    async fn prepare_instance(&self, _node: &Node) -> Result<(), DriverError> {
        sleep_secs(self.delays.boot_delay).await;
        Ok(())
    }
    async fn clean_up_instance(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
}

/// Fake deploy: the core deploy steps of an agent deployment, with the
/// image "written" in `deploy_delay`; the node is powered off to leave the
/// ramdisk and on to boot the instance.
pub struct FakeDeploy {
    delays: FakeDelays,
}

impl FakeDeploy {
    /// A fake deploy interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeDeploy { delays }
    }
}

fn power_update(state: PowerState) -> NodeUpdate {
    NodeUpdate {
        power_state: Some(state),
        ..NodeUpdate::default()
    }
}

#[async_trait]
impl Interface for FakeDeploy {
    fake_identity!(Deploy);

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
            ],
            StepPhase::Clean => vec![
                StepDef::new(D, "erase_devices", 0).abortable(),
                StepDef::new(D, "erase_devices_metadata", 0).abortable(),
            ],
            StepPhase::Service => Vec::new(),
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
            "deploy" => {
                driver.boot.prepare_ramdisk(node).await?;
                driver
                    .network
                    .attach(node, NetworkPurpose::Provisioning)
                    .await?;
                sleep_secs(self.delays.deploy_delay).await;
                NodeUpdate::default()
            }
            "write_image" => {
                driver.storage.attach_volumes(node).await?;
                NodeUpdate::default()
            }
            "prepare_instance_boot" => {
                driver.boot.prepare_instance(node).await?;
                NodeUpdate::default()
            }
            "tear_down_agent" => {
                let state = driver
                    .power
                    .set_power_state(node, PowerTarget::Off, None)
                    .await?;
                driver.boot.clean_up_ramdisk(node).await?;
                power_update(state)
            }
            "switch_to_tenant_network" => {
                crate::agent_deploy::switch_to_tenant(driver, node).await?
            }
            "boot_instance" => {
                let state = driver
                    .power
                    .set_power_state(node, PowerTarget::On, None)
                    .await?;
                power_update(state)
            }
            "erase_devices" | "erase_devices_metadata" => NodeUpdate::default(),
            other => return Err(unsupported(self, &format!("the step {other}"))),
        };
        Ok(StepOutcome::Done(update))
    }
}

#[async_trait]
impl DeployInterface for FakeDeploy {
    async fn tear_down(&self, ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        crate::agent_deploy::tear_down_instance(ctx.driver, ctx.node).await
    }

    async fn take_over(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        Ok(NodeUpdate::default())
    }
}

/// Fake inspection: takes `inspect_delay` and discovers nothing new.
pub struct FakeInspect {
    delays: FakeDelays,
}

impl FakeInspect {
    /// A fake inspect interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeInspect { delays }
    }
}

#[async_trait]
impl Interface for FakeInspect {
    fake_identity!(Inspect);
}

#[async_trait]
impl InspectInterface for FakeInspect {
    /// Reports an inventory made of what the node's properties claim (the
    /// fake server has no other hardware to describe), so the inventory
    /// path is exercised end to end without a BMC.
    async fn inspect_hardware(&self, node: &Node) -> Result<StepOutcome, DriverError> {
        sleep_secs(self.delays.inspect_delay).await;
        let prop = |key: &str| node.properties.get(key).cloned().unwrap_or(Value::Null);
        let inventory = serde_json::json!({
            "cpu": {"count": prop("cpus"), "architecture": prop("cpu_arch")},
            "memory": {"physical_mb": prop("memory_mb")},
            "disks": [{"name": "/dev/fake0", "size_gb": prop("local_gb")}],
            "interfaces": [],
            "system_vendor": {"manufacturer": "Ferrite", "product_name": "fake-hardware"},
        });
        Ok(StepOutcome::Done(NodeUpdate {
            inventory: Some(inventory),
            ..NodeUpdate::default()
        }))
    }
}

/// Fake RAID: validates configurations and records them as applied.
pub struct FakeRaid {
    delays: FakeDelays,
}

impl FakeRaid {
    /// A fake RAID interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeRaid { delays }
    }
}

#[async_trait]
impl Interface for FakeRaid {
    fake_identity!(Raid);

    fn steps(&self, phase: StepPhase) -> Vec<StepDef> {
        raid::steps(phase)
    }

    async fn execute_step(
        &self,
        ctx: &StepCtx<'_>,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        let config = match step {
            "create_configuration" => raid::target_config(ctx.node)?,
            "delete_configuration" => Dict::new(),
            "apply_configuration" => raid::config_arg(args)?,
            other => return Err(unsupported(self, &format!("the step {other}"))),
        };
        sleep_secs(self.delays.raid_delay).await;
        Ok(StepOutcome::Done(NodeUpdate {
            raid_config: Some(config),
            ..NodeUpdate::default()
        }))
    }
}

impl RaidInterface for FakeRaid {
    fn validate_raid_config(&self, config: &Value) -> Result<(), DriverError> {
        raid::validate_raid_config(config)
    }
}

/// Fake BIOS: accepts settings in `bios_delay`.
pub struct FakeBios {
    delays: FakeDelays,
}

impl FakeBios {
    /// A fake BIOS interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeBios { delays }
    }
}

#[async_trait]
impl Interface for FakeBios {
    fake_identity!(Bios);

    fn steps(&self, _phase: StepPhase) -> Vec<StepDef> {
        crate::bios::steps()
    }

    async fn execute_step(
        &self,
        _ctx: &StepCtx<'_>,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        match step {
            "apply_configuration" => {
                crate::bios::settings(args)?;
            }
            "factory_reset" => {}
            other => return Err(unsupported(self, &format!("the step {other}"))),
        }
        sleep_secs(self.delays.bios_delay).await;
        Ok(StepOutcome::Done(NodeUpdate::default()))
    }
}

impl BiosInterface for FakeBios {}

/// Fake firmware: accepts updates instantly.
pub struct FakeFirmware;

#[async_trait]
impl Interface for FakeFirmware {
    fake_identity!(Firmware);

    fn steps(&self, phase: StepPhase) -> Vec<StepDef> {
        match phase {
            StepPhase::Clean | StepPhase::Service => {
                vec![StepDef::new(InterfaceKind::Firmware, "update", 0).arg(
                    "settings",
                    "A list of firmware components and their image URLs.",
                    true,
                )]
            }
            StepPhase::Deploy => Vec::new(),
        }
    }

    async fn execute_step(
        &self,
        _ctx: &StepCtx<'_>,
        step: &str,
        args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        if step != "update" {
            return Err(unsupported(self, &format!("the step {step}")));
        }
        if !args.get("settings").is_some_and(Value::is_array) {
            return Err(DriverError::InvalidParameter(
                "settings must be a list.".to_string(),
            ));
        }
        Ok(StepOutcome::Done(NodeUpdate::default()))
    }
}

impl FirmwareInterface for FakeFirmware {}

/// Fake vendor interface: a few passthru methods, sync and async, each
/// taking `vendor_delay`, that echo their arguments back.
pub struct FakeVendor {
    /// Delays of the fake hardware.
    pub delays: FakeDelays,
}

#[async_trait]
impl Interface for FakeVendor {
    fake_identity!(Vendor);
}

#[async_trait]
impl VendorInterface for FakeVendor {
    fn methods(&self) -> Vec<VendorMethod> {
        let method = |name, is_async, require_exclusive_lock, description| VendorMethod {
            name,
            http_methods: vec!["POST"],
            is_async,
            description,
            attach: false,
            require_exclusive_lock,
        };
        vec![
            method(
                "first_method",
                true,
                true,
                "Runs asynchronously under the node's lock; needs a 'bar' argument.",
            ),
            method(
                "second_method",
                false,
                true,
                "Runs synchronously under the node's lock and returns its arguments.",
            ),
            method(
                "third_method_sync",
                false,
                false,
                "Runs synchronously without the lock and returns its arguments.",
            ),
        ]
    }

    async fn call(&self, _node: &Node, method: &str, args: &Value) -> Result<Value, DriverError> {
        if !self.methods().iter().any(|m| m.name == method) {
            return Err(unsupported_method(method));
        }
        if method == "first_method" && args.get("bar").is_none() {
            return Err(DriverError::InvalidParameter(format!(
                "Parameter 'bar' not passed to method '{method}'."
            )));
        }
        sleep_secs(self.delays.vendor_delay).await;
        Ok(json!({"method": method, "args": args}))
    }
}

/// Fake console: starting and stopping always work.
pub struct FakeConsole;

#[async_trait]
impl Interface for FakeConsole {
    fake_identity!(Console);
}

#[async_trait]
impl ConsoleInterface for FakeConsole {
    async fn start_console(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    async fn stop_console(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    fn console_info(&self, _node: &Node) -> Result<Value, DriverError> {
        Ok(json!({"type": "fake", "url": "fake://"}))
    }
}

/// Fake graphical console (`fake-graphical`): like the fake console, but
/// it answers the way graphical consoles do, with a browser URL (a noVNC
/// page for this node), so clients that open a graphical console can be
/// tested without a BMC.
pub struct FakeGraphicalConsole;

#[async_trait]
impl Interface for FakeGraphicalConsole {
    fn kind(&self) -> InterfaceKind {
        InterfaceKind::Console
    }
    fn name(&self) -> &'static str {
        "fake-graphical"
    }
}

#[async_trait]
impl ConsoleInterface for FakeGraphicalConsole {
    async fn start_console(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    async fn stop_console(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    fn console_info(&self, node: &Node) -> Result<Value, DriverError> {
        Ok(json!({
            "type": "vnc",
            "url": format!(
                "http://127.0.0.1:6090/vnc_lite.html?path=websockify%3Fnode%3D{}",
                node.uuid
            ),
        }))
    }
}

/// Fake rescue: entering and leaving rescue take `rescue_delay`.
pub struct FakeRescue {
    delays: FakeDelays,
}

impl FakeRescue {
    /// A fake rescue interface with the given delays.
    pub fn new(delays: FakeDelays) -> Self {
        FakeRescue { delays }
    }
}

#[async_trait]
impl Interface for FakeRescue {
    fake_identity!(Rescue);
}

#[async_trait]
impl RescueInterface for FakeRescue {
    async fn rescue(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        sleep_secs(self.delays.rescue_delay).await;
        Ok(NodeUpdate::default())
    }
    async fn unrescue(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        sleep_secs(self.delays.rescue_delay).await;
        Ok(NodeUpdate::default())
    }
}

/// Fake storage: volumes attach and detach instantly.
pub struct FakeStorage;

#[async_trait]
impl Interface for FakeStorage {
    fake_identity!(Storage);
}

impl StorageInterface for FakeStorage {}
