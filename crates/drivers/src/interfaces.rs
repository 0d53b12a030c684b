//! The hardware interface traits. Every implementation (fake today, redfish
//! and ipmitool later) sits behind `Arc<dyn …>` so the conductor drives any
//! hardware type the same way; the conductor never sees which one it runs.
//!
//! Driver methods take the node as read (`&Node`) and report what should be
//! recorded as a [`NodeUpdate`]: the conductor applies it under the node's
//! lock in one store transaction, so a driver never writes to the database.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use ferrite_model::{Dict, Node, PowerState, PowerTarget};
use serde::Serialize;
use serde_json::Value;

use crate::{Driver, DriverError, InterfaceKind};

/// Which step pipeline a step belongs to (reference §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepPhase {
    /// Cleaning (automated on provide/undeploy, or manual).
    Clean,
    /// Deployment.
    Deploy,
    /// Servicing of an active node.
    Service,
}

impl StepPhase {
    /// `clean`, `deploy` or `service`: the prefix of the node's
    /// `<phase>_step` field and of the `driver_internal_info` keys.
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::Clean => "clean",
            StepPhase::Deploy => "deploy",
            StepPhase::Service => "service",
        }
    }
}

/// One argument a step accepts (`argsinfo`), so requests can be checked
/// before a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgInfo {
    /// The key in the step's `args`.
    pub name: &'static str,
    /// What it means, shown to operators.
    pub description: &'static str,
    /// Whether the step refuses to run without it.
    pub required: bool,
}

/// A step an interface offers in one phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDef {
    /// The interface that runs it.
    pub interface: InterfaceKind,
    /// The step's name (a method of that interface).
    pub step: &'static str,
    /// Default priority: 0 means it runs only when explicitly requested.
    pub priority: u32,
    /// Whether `abort` may interrupt it.
    pub abortable: bool,
    /// The arguments it understands.
    pub argsinfo: Vec<ArgInfo>,
}

impl StepDef {
    /// A step with no arguments.
    pub fn new(interface: InterfaceKind, step: &'static str, priority: u32) -> StepDef {
        StepDef {
            interface,
            step,
            priority,
            abortable: false,
            argsinfo: Vec::new(),
        }
    }

    /// Adds an argument description.
    pub fn arg(mut self, name: &'static str, description: &'static str, required: bool) -> StepDef {
        self.argsinfo.push(ArgInfo {
            name,
            description,
            required,
        });
        self
    }

    /// Marks the step abortable.
    pub fn abortable(mut self) -> StepDef {
        self.abortable = true;
        self
    }
}

/// Changes a driver asks the conductor to record on the node. Keys mapped to
/// `null` in the dictionaries are removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeUpdate {
    /// The power state the hardware is now in.
    pub power_state: Option<PowerState>,
    /// Keys to set (or, with `null`, remove) in `driver_internal_info`.
    pub driver_internal_info: Dict,
    /// Keys to set (or remove) in `instance_info`.
    pub instance_info: Dict,
    /// Keys to set (or remove) in `properties` (inspection results).
    pub properties: Dict,
    /// The RAID configuration now on the node.
    pub raid_config: Option<Dict>,
    /// A hardware inventory found by inspection; the conductor keeps it as
    /// the node's inventory record (`/v1/nodes/{n}/inventory`), not on the
    /// node itself.
    pub inventory: Option<Value>,
}

fn merge_dict(into: &mut Dict, from: &Dict) {
    for (k, v) in from {
        if v.is_null() {
            into.remove(k);
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

impl NodeUpdate {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &NodeUpdate::default()
    }

    /// Writes the changes into `node`.
    pub fn apply(&self, node: &mut Node) {
        if let Some(p) = self.power_state {
            node.power_state = Some(p);
        }
        merge_dict(&mut node.driver_internal_info, &self.driver_internal_info);
        merge_dict(&mut node.instance_info, &self.instance_info);
        merge_dict(&mut node.properties, &self.properties);
        if let Some(r) = &self.raid_config {
            node.raid_config = r.clone();
        }
    }

    /// Folds a later update into this one (later values win).
    pub fn merge(&mut self, later: NodeUpdate) {
        if later.power_state.is_some() {
            self.power_state = later.power_state;
        }
        if later.inventory.is_some() {
            self.inventory = later.inventory;
        }
        for (k, v) in later.driver_internal_info {
            self.driver_internal_info.insert(k, v);
        }
        for (k, v) in later.instance_info {
            self.instance_info.insert(k, v);
        }
        for (k, v) in later.properties {
            self.properties.insert(k, v);
        }
        if later.raid_config.is_some() {
            self.raid_config = later.raid_config;
        }
    }
}

/// How a step (or an inspection) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Finished; record the update and go on.
    Done(NodeUpdate),
    /// Started asynchronously; the node waits for a callback (`* wait`).
    Wait(NodeUpdate),
}

/// What a step sees: the node as it is now and the rest of the node's
/// driver (deploy steps power the node through the power interface).
pub struct StepCtx<'a> {
    /// The node, as last written by the conductor.
    pub node: &'a Node,
    /// All of the node's interfaces.
    pub driver: &'a Driver,
    /// The pipeline the step runs in.
    pub phase: StepPhase,
}

/// The error an interface returns for an operation it does not offer.
pub fn unsupported<I: Interface + ?Sized>(iface: &I, operation: &str) -> DriverError {
    DriverError::Unsupported(format!(
        "The {} interface {} does not support {}.",
        iface.kind().as_str(),
        iface.name(),
        operation
    ))
}

/// What every interface offers: identity, validation and steps.
#[async_trait]
pub trait Interface: Send + Sync {
    /// The kind this implementation serves.
    fn kind(&self) -> InterfaceKind;
    /// The implementation's name (`fake`, `noop`, `redfish`, …).
    fn name(&self) -> &'static str;
    /// Checks the node's configuration (`driver_info`, …) for this interface.
    async fn validate(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    /// The steps this interface offers in `phase`.
    fn steps(&self, _phase: StepPhase) -> Vec<StepDef> {
        Vec::new()
    }
    /// Runs one of [`Interface::steps`]; arguments were already checked
    /// against `argsinfo` by [`Driver::execute_step`].
    async fn execute_step(
        &self,
        _ctx: &StepCtx<'_>,
        step: &str,
        _args: &Dict,
    ) -> Result<StepOutcome, DriverError> {
        Err(unsupported(self, &format!("the step {step}")))
    }
}

/// Reads and changes the power of the machine.
#[async_trait]
pub trait PowerInterface: Interface {
    /// The power state the BMC reports now.
    async fn get_power_state(&self, node: &Node) -> Result<PowerState, DriverError>;
    /// Carries out `target` and returns the resulting state.
    async fn set_power_state(
        &self,
        node: &Node,
        target: PowerTarget,
        timeout: Option<Duration>,
    ) -> Result<PowerState, DriverError>;
    /// The power targets this implementation can carry out.
    fn supported_power_targets(&self) -> Vec<PowerTarget> {
        PowerTarget::ALL.to_vec()
    }
}

/// The boot device the management interface reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootDevice {
    /// `pxe`, `disk`, … or unknown.
    pub boot_device: Option<String>,
    /// Whether it applies to every boot or only the next one.
    pub persistent: Option<bool>,
}

/// Boot device, boot mode, secure boot and NMI.
#[async_trait]
pub trait ManagementInterface: Interface {
    /// The boot device currently set.
    async fn get_boot_device(&self, _node: &Node) -> Result<BootDevice, DriverError> {
        Err(unsupported(self, "reading the boot device"))
    }
    /// Sets the boot device; the update records anything the driver keeps.
    async fn set_boot_device(
        &self,
        _node: &Node,
        _device: &str,
        _persistent: bool,
    ) -> Result<NodeUpdate, DriverError> {
        Err(unsupported(self, "setting the boot device"))
    }
    /// Boot devices `set_boot_device` accepts for this node.
    fn supported_boot_devices(&self, _node: &Node) -> Vec<String> {
        Vec::new()
    }
    /// Switches the boot mode (`uefi` or `bios`).
    async fn set_boot_mode(&self, _node: &Node, _mode: &str) -> Result<(), DriverError> {
        Err(unsupported(self, "setting the boot mode"))
    }
    /// Turns UEFI secure boot on or off.
    async fn set_secure_boot(&self, _node: &Node, _enabled: bool) -> Result<(), DriverError> {
        Err(unsupported(self, "setting secure boot"))
    }
    /// The boot mode (`uefi` or `bios`) the BMC reports, if it tells.
    async fn get_boot_mode(&self, _node: &Node) -> Result<Option<String>, DriverError> {
        Err(unsupported(self, "reading the boot mode"))
    }
    /// Whether UEFI secure boot is on, if the BMC tells.
    async fn get_secure_boot(&self, _node: &Node) -> Result<Option<bool>, DriverError> {
        Err(unsupported(self, "reading secure boot"))
    }
    /// Inserts the image at `image_url` into the virtual `device_type`
    /// (`cdrom`, `floppy`, `dvd`, `usb`) drive (`/v1/nodes/{node}/vmedia`).
    async fn attach_virtual_media(
        &self,
        _node: &Node,
        _device_type: &str,
        _image_url: &str,
    ) -> Result<(), DriverError> {
        Err(unsupported(self, "virtual media"))
    }
    /// Ejects virtual media of the given types (all types when empty).
    async fn detach_virtual_media(
        &self,
        _node: &Node,
        _device_types: &[String],
    ) -> Result<(), DriverError> {
        Err(unsupported(self, "virtual media"))
    }
    /// Sends a non-maskable interrupt to the machine.
    async fn inject_nmi(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "injecting an NMI"))
    }
    /// The indicator LEDs the machine has (`/management/indicators`).
    fn indicators(&self, _node: &Node) -> Vec<Indicator> {
        Vec::new()
    }
    /// The state (`ON`, `OFF`, `BLINKING`, `UNKNOWN`) of one indicator.
    async fn get_indicator_state(
        &self,
        _node: &Node,
        _indicator: &Indicator,
    ) -> Result<String, DriverError> {
        Err(unsupported(self, "indicators"))
    }
    /// Sets an indicator; the update records anything the driver keeps.
    async fn set_indicator_state(
        &self,
        _node: &Node,
        _indicator: &Indicator,
        _state: &str,
    ) -> Result<NodeUpdate, DriverError> {
        Err(unsupported(self, "indicators"))
    }
}

/// An indicator LED of a machine component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    /// The LED's name, unique within its component.
    pub name: String,
    /// `system`, `chassis`, `drive`, `nic` or `power`.
    pub component: String,
    /// Whether the LED can only be read.
    pub readonly: bool,
    /// States the LED can be set to.
    pub states: Vec<&'static str>,
}

/// Prepares what the machine boots: a service ramdisk or the instance.
#[async_trait]
pub trait BootInterface: Interface {
    /// Makes the next boot start the deploy/clean/rescue ramdisk.
    async fn prepare_ramdisk(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "preparing a ramdisk boot"))
    }
    /// Removes what `prepare_ramdisk` set up.
    async fn clean_up_ramdisk(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "cleaning up a ramdisk boot"))
    }
    /// Makes the next boot start the deployed instance.
    async fn prepare_instance(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "preparing the instance boot"))
    }
    /// Removes what `prepare_instance` set up.
    async fn clean_up_instance(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "cleaning up the instance boot"))
    }
}

/// Orchestrates deployment; hosts the core deploy steps.
#[async_trait]
pub trait DeployInterface: Interface {
    /// Tears an instance down: powers off and removes its boot setup.
    async fn tear_down(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        Err(unsupported(self, "tear down"))
    }
    /// Takes over a node deployed elsewhere (adoption, conductor takeover).
    async fn take_over(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        Err(unsupported(self, "take over"))
    }
}

/// Discovers hardware properties.
#[async_trait]
pub trait InspectInterface: Interface {
    /// Inspects the machine; `Wait` means results arrive later.
    async fn inspect_hardware(&self, _node: &Node) -> Result<StepOutcome, DriverError> {
        Err(unsupported(self, "inspection"))
    }
}

/// RAID configuration.
#[async_trait]
pub trait RaidInterface: Interface {
    /// Checks a target RAID configuration before it is stored.
    fn validate_raid_config(&self, _config: &Value) -> Result<(), DriverError> {
        Err(unsupported(self, "RAID configuration"))
    }
}

/// BIOS settings: changed through steps, read for `/v1/nodes/{n}/bios`.
#[async_trait]
pub trait BiosInterface: Interface {
    /// The machine's current BIOS settings, by name; none for interfaces
    /// that cannot read them.
    async fn get_settings(&self, _node: &Node) -> Result<BTreeMap<String, Value>, DriverError> {
        Ok(BTreeMap::new())
    }
}

/// Firmware updates (through steps).
pub trait FirmwareInterface: Interface {}

/// Vendor-specific methods.
#[async_trait]
pub trait VendorInterface: Interface {
    /// The passthru methods this interface offers (`vendor_passthru/methods`).
    fn methods(&self) -> Vec<VendorMethod> {
        Vec::new()
    }

    /// Runs one passthru method with the request body as its arguments.
    async fn call(&self, _node: &Node, method: &str, _args: &Value) -> Result<Value, DriverError> {
        Err(unsupported_method(method))
    }
}

/// A vendor passthru method as `vendor_passthru/methods` describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VendorMethod {
    /// The `method=` name.
    #[serde(skip)]
    pub name: &'static str,
    /// HTTP methods the method answers to.
    pub http_methods: Vec<&'static str>,
    /// Whether the API answers 202 (async) or 200 with the result (sync).
    #[serde(rename = "async")]
    pub is_async: bool,
    /// What the method does.
    pub description: &'static str,
    /// Whether the result is returned as an attachment.
    pub attach: bool,
    /// Whether the node's lock is held while it runs.
    pub require_exclusive_lock: bool,
}

/// The error for a method no vendor interface offers.
pub fn unsupported_method(method: &str) -> DriverError {
    DriverError::InvalidParameter(format!(
        "Unsupported method ({method}) passed through to vendor extension."
    ))
}

/// Serial or graphical console.
#[async_trait]
pub trait ConsoleInterface: Interface {
    /// Starts the console.
    async fn start_console(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "consoles"))
    }
    /// Stops the console.
    async fn stop_console(&self, _node: &Node) -> Result<(), DriverError> {
        Err(unsupported(self, "consoles"))
    }
    /// How to reach a started console (`{type, url}`).
    fn console_info(&self, _node: &Node) -> Result<Value, DriverError> {
        Err(unsupported(self, "consoles"))
    }
}

/// Boots a rescue ramdisk on an active node.
#[async_trait]
pub trait RescueInterface: Interface {
    /// Boots the rescue environment.
    async fn rescue(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        Err(unsupported(self, "rescue"))
    }
    /// Returns to the instance.
    async fn unrescue(&self, _ctx: &StepCtx<'_>) -> Result<NodeUpdate, DriverError> {
        Err(unsupported(self, "unrescue"))
    }
}

/// The network a node's ports are attached to during an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkPurpose {
    /// Deployment ramdisk network.
    Provisioning,
    /// Cleaning ramdisk network.
    Cleaning,
    /// Rescue ramdisk network.
    Rescuing,
    /// The instance's own networks.
    Tenant,
}

/// Moves the node's ports between networks.
#[async_trait]
pub trait NetworkInterface: Interface {
    /// Attaches the ports for `purpose`.
    async fn attach(&self, _node: &Node, _purpose: NetworkPurpose) -> Result<(), DriverError> {
        Ok(())
    }
    /// Detaches the ports from `purpose`.
    async fn detach(&self, _node: &Node, _purpose: NetworkPurpose) -> Result<(), DriverError> {
        Ok(())
    }
}

/// Boot from volume.
#[async_trait]
pub trait StorageInterface: Interface {
    /// Attaches the node's volumes.
    async fn attach_volumes(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    /// Detaches the node's volumes.
    async fn detach_volumes(&self, _node: &Node) -> Result<(), DriverError> {
        Ok(())
    }
    /// Whether the deploy must write an image (false when booting from a volume).
    fn should_write_image(&self, _node: &Node) -> bool {
        true
    }
}
