//! The Redfish documents the driver reads, as serde types. Every field is
//! optional or defaulted: BMCs (and emulators) leave out whatever they do
//! not implement, and a missing property must degrade one feature, not
//! make the whole document unreadable. Only what Ironic's mapping uses is
//! modelled.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A link to another resource (`{"@odata.id": "/redfish/v1/…"}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ODataId {
    /// The linked resource's path.
    #[serde(rename = "@odata.id")]
    pub id: String,
}

/// Any collection (`Members`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Collection {
    /// Links to the members.
    #[serde(rename = "Members")]
    pub members: Vec<ODataId>,
}

/// `Status` of a resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Status {
    /// `Enabled`, `Absent`, `Disabled`, …
    pub state: Option<String>,
    /// `OK`, `Warning`, `Critical`.
    pub health: Option<String>,
}

impl Status {
    /// Whether the component is physically missing (an empty socket or bay).
    pub fn is_absent(status: &Option<Status>) -> bool {
        status
            .as_ref()
            .and_then(|s| s.state.as_deref())
            .is_some_and(|s| s == "Absent")
    }
}

/// An action's target (`{"target": "…/Actions/…"}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ActionTarget {
    /// Where to POST.
    pub target: String,
    /// `ResetType@Redfish.AllowableValues`, when the BMC lists them.
    #[serde(rename = "ResetType@Redfish.AllowableValues")]
    pub reset_types: Option<Vec<String>>,
}

/// The service root (`/redfish/v1`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceRoot {
    /// The session service, when the BMC offers sessions.
    pub session_service: Option<ODataId>,
    /// `Links` (`Sessions`).
    pub links: Option<ServiceRootLinks>,
}

/// `Links` of the service root.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceRootLinks {
    /// The sessions collection, where logins are POSTed.
    pub sessions: Option<ODataId>,
}

/// `Boot` of a ComputerSystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Boot {
    /// `Pxe`, `Hdd`, `Cd`, `BiosSetup`, `UefiHttp`, `None`, …
    pub boot_source_override_target: Option<String>,
    /// `Once`, `Continuous` or `Disabled`.
    pub boot_source_override_enabled: Option<String>,
    /// `UEFI` or `Legacy`.
    pub boot_source_override_mode: Option<String>,
    /// The targets the BMC accepts, when it lists them.
    #[serde(rename = "BootSourceOverrideTarget@Redfish.AllowableValues")]
    pub allowed_targets: Option<Vec<String>>,
}

/// `ProcessorSummary` of a ComputerSystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ProcessorSummary {
    /// Number of processors (sockets).
    pub count: Option<u32>,
    /// Logical processors (threads), on newer BMCs.
    pub logical_processor_count: Option<u32>,
    /// The model, when all are the same.
    pub model: Option<String>,
}

/// `MemorySummary` of a ComputerSystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MemorySummary {
    /// Installed memory in GiB.
    #[serde(rename = "TotalSystemMemoryGiB")]
    pub total_system_memory_gib: Option<f64>,
}

/// `Actions` of a ComputerSystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SystemActions {
    /// `#ComputerSystem.Reset`.
    #[serde(rename = "#ComputerSystem.Reset")]
    pub reset: Option<ActionTarget>,
}

/// `Links` of a ComputerSystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SystemLinks {
    /// The managers (BMCs) of the system.
    pub managed_by: Vec<ODataId>,
}

/// A ComputerSystem: the server the node is.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ComputerSystem {
    /// The resource's own path.
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
    /// Its Id.
    pub id: Option<String>,
    /// The vendor.
    pub manufacturer: Option<String>,
    /// The product name.
    pub model: Option<String>,
    /// The chassis serial number.
    pub serial_number: Option<String>,
    /// The SKU.
    #[serde(rename = "SKU")]
    pub sku: Option<String>,
    /// The system UUID.
    #[serde(rename = "UUID")]
    pub uuid: Option<String>,
    /// `On`, `Off`, `PoweringOn`, `PoweringOff`.
    pub power_state: Option<String>,
    /// Boot override settings.
    pub boot: Option<Boot>,
    /// Health.
    pub status: Option<Status>,
    /// Processor totals.
    pub processor_summary: Option<ProcessorSummary>,
    /// Memory totals.
    pub memory_summary: Option<MemorySummary>,
    /// The processors collection.
    pub processors: Option<ODataId>,
    /// The simple storage collection.
    pub simple_storage: Option<ODataId>,
    /// The storage collection.
    pub storage: Option<ODataId>,
    /// The NICs collection.
    pub ethernet_interfaces: Option<ODataId>,
    /// Virtual media under the system (newer BMCs).
    pub virtual_media: Option<ODataId>,
    /// The secure boot resource.
    pub secure_boot: Option<ODataId>,
    /// The BIOS resource.
    pub bios: Option<ODataId>,
    /// Managers and chassis.
    pub links: Option<SystemLinks>,
    /// Available actions.
    pub actions: Option<SystemActions>,
}

/// A processor.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Processor {
    /// Its Id.
    pub id: Option<String>,
    /// `CPU`, `GPU`, …
    pub processor_type: Option<String>,
    /// `x86`, `ARM`, `Power`, `MIPS`, …
    pub processor_architecture: Option<String>,
    /// `x86-64`, `ARM-A64`, `PowerISA`, …
    pub instruction_set: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// Cores.
    pub total_cores: Option<u32>,
    /// Threads.
    pub total_threads: Option<u32>,
    /// Maximum frequency.
    #[serde(rename = "MaxSpeedMHz")]
    pub max_speed_mhz: Option<u32>,
    /// Presence.
    pub status: Option<Status>,
}

/// A NIC.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EthernetInterface {
    /// Its Id.
    pub id: Option<String>,
    /// The current MAC address.
    #[serde(rename = "MACAddress")]
    pub mac_address: Option<String>,
    /// The burnt-in MAC address.
    #[serde(rename = "PermanentMACAddress")]
    pub permanent_mac_address: Option<String>,
    /// Link speed.
    pub speed_mbps: Option<u64>,
    /// `LinkUp`, `LinkDown`, `NoLink`.
    pub link_status: Option<String>,
    /// Presence.
    pub status: Option<Status>,
}

/// A device of a SimpleStorage controller.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SimpleStorageDevice {
    /// Its name.
    pub name: Option<String>,
    /// Its size.
    pub capacity_bytes: Option<u64>,
    /// Presence.
    pub status: Option<Status>,
}

/// A SimpleStorage controller (older BMCs).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SimpleStorage {
    /// Its devices.
    pub devices: Vec<SimpleStorageDevice>,
}

/// A Storage subsystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Storage {
    /// Its Id.
    pub id: Option<String>,
    /// Links to its drives.
    pub drives: Vec<ODataId>,
    /// Its controllers (names and supported RAID levels).
    pub storage_controllers: Vec<StorageController>,
    /// Its volume collection, where volumes are created.
    pub volumes: Option<ODataId>,
}

/// One controller of a Storage subsystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct StorageController {
    /// Its name.
    pub name: Option<String>,
    /// `RAID0`, `RAID1`, … it can build.
    #[serde(rename = "SupportedRAIDTypes")]
    pub supported_raid_types: Vec<String>,
}

/// `@Redfish.OperationApplyTimeSupport` of a collection.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ApplyTimeSupport {
    /// `Immediate`, `OnReset`, …
    pub supported_values: Vec<String>,
}

/// A `Volumes` collection.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VolumeCollection {
    /// Links to the volumes.
    #[serde(rename = "Members")]
    pub members: Vec<ODataId>,
    /// When changes to the collection take effect.
    #[serde(rename = "@Redfish.OperationApplyTimeSupport")]
    pub apply_time: Option<ApplyTimeSupport>,
}

/// `Links` of a volume.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VolumeLinks {
    /// The drives it is built from.
    pub drives: Vec<ODataId>,
}

/// A volume (logical disk) of a Storage subsystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Volume {
    /// Its Id.
    pub id: Option<String>,
    /// Its size.
    pub capacity_bytes: Option<u64>,
    /// The drives it uses.
    pub links: Option<VolumeLinks>,
}

/// A drive of a Storage subsystem.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Drive {
    /// Its Id.
    pub id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its size.
    pub capacity_bytes: Option<u64>,
    /// `HDD` or `SSD`.
    pub media_type: Option<String>,
    /// `SAS`, `SATA`, `NVMe`, …
    pub protocol: Option<String>,
    /// The model.
    pub model: Option<String>,
    /// The serial number.
    pub serial_number: Option<String>,
    /// Presence.
    pub status: Option<Status>,
}

/// A manager (the BMC itself).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Manager {
    /// Its virtual media collection.
    pub virtual_media: Option<ODataId>,
}

/// `Actions` of a virtual media device.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualMediaActions {
    /// `#VirtualMedia.InsertMedia`.
    #[serde(rename = "#VirtualMedia.InsertMedia")]
    pub insert: Option<ActionTarget>,
    /// `#VirtualMedia.EjectMedia`.
    #[serde(rename = "#VirtualMedia.EjectMedia")]
    pub eject: Option<ActionTarget>,
}

/// A virtual media device (a virtual CD drive, a virtual USB stick).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VirtualMedia {
    /// The resource's own path.
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
    /// Its Id.
    pub id: Option<String>,
    /// `CD`, `DVD`, `Floppy`, `USBStick`, …
    pub media_types: Vec<String>,
    /// The inserted image's URL.
    pub image: Option<String>,
    /// Whether an image is inserted.
    pub inserted: Option<bool>,
    /// Whether the image is read-only.
    pub write_protected: Option<bool>,
    /// Insert and eject.
    pub actions: Option<VirtualMediaActions>,
}

/// The SecureBoot resource of a system.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SecureBoot {
    /// Whether secure boot is enabled for the next boot.
    pub secure_boot_enable: Option<bool>,
    /// `Enabled` or `Disabled`: what the current boot used.
    pub secure_boot_current_boot: Option<String>,
}

/// `@Redfish.Settings` of a resource with pending settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SettingsLink {
    /// Where pending settings are PATCHed.
    pub settings_object: Option<ODataId>,
}

/// `Actions` of the Bios resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BiosActions {
    /// `#Bios.ResetBios`.
    #[serde(rename = "#Bios.ResetBios")]
    pub reset_bios: Option<ActionTarget>,
}

/// The Bios resource of a system.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Bios {
    /// Current attribute values.
    pub attributes: BTreeMap<String, Value>,
    /// Where to send changes.
    #[serde(rename = "@Redfish.Settings")]
    pub settings: Option<SettingsLink>,
    /// Reset to defaults.
    pub actions: Option<BiosActions>,
}
