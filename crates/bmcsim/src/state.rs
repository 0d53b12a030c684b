//! Mutable per-system state and the Redfish enumerations it is made of.
//!
//! Only what can change is stored; everything derivable from the seed lives
//! in [`crate::inventory`]. Rarely-used parts (BIOS overrides, media,
//! volumes) are empty vectors or `None` until used, so an untouched system
//! allocates nothing — that is what lets one process hold 10,000+ of them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::bios::AttrValue;
use crate::config::FailureKind;

/// Defines a Redfish string enumeration with its exact wire spelling, a
/// list of allowable values and lenient-free parsing (Redfish values are
/// case-sensitive).
macro_rules! redfish_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in the order advertised as allowable.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact Redfish spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The spellings of [`Self::ALL`], for `@Redfish.AllowableValues`.
            pub fn allowable() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

redfish_enum! {
    /// `ComputerSystem.PowerState`; the two transitional values are only
    /// seen while a delayed power change is under way.
    PowerState {
        /// Powered on.
        On = "On",
        /// Powered off.
        Off = "Off",
        /// Between off and on.
        PoweringOn = "PoweringOn",
        /// Between on and off.
        PoweringOff = "PoweringOff",
    }
}

impl PowerState {
    /// Whether the system is on or heading there, which is what decides
    /// the effect of toggling actions such as `PushPowerButton`.
    pub fn is_on_or_rising(self) -> bool {
        matches!(self, PowerState::On | PowerState::PoweringOn)
    }
}

redfish_enum! {
    /// `Boot.BootSourceOverrideEnabled`.
    BootOverrideEnabled {
        /// No override; the system follows its boot order.
        Disabled = "Disabled",
        /// Override for the next boot only, then back to `Disabled`.
        Once = "Once",
        /// Override on every boot.
        Continuous = "Continuous",
    }
}

redfish_enum! {
    /// `Boot.BootSourceOverrideTarget`.
    BootTarget {
        /// No target.
        None = "None",
        /// Network (PXE) boot.
        Pxe = "Pxe",
        /// Virtual or physical CD.
        Cd = "Cd",
        /// Local disk.
        Hdd = "Hdd",
        /// USB device.
        Usb = "Usb",
        /// Floppy (virtual media).
        Floppy = "Floppy",
        /// Firmware setup.
        BiosSetup = "BiosSetup",
        /// UEFI HTTP boot.
        UefiHttp = "UefiHttp",
    }
}

redfish_enum! {
    /// `Boot.BootSourceOverrideMode`.
    BootMode {
        /// UEFI boot.
        Uefi = "UEFI",
        /// Legacy BIOS boot.
        Legacy = "Legacy",
    }
}

redfish_enum! {
    /// `ResetType` of `#ComputerSystem.Reset`.
    ResetType {
        /// Power on (no-op when on).
        On = "On",
        /// Power on immediately (no-op when on).
        ForceOn = "ForceOn",
        /// Cut power.
        ForceOff = "ForceOff",
        /// Ask the OS to shut down.
        GracefulShutdown = "GracefulShutdown",
        /// Ask the OS to reboot.
        GracefulRestart = "GracefulRestart",
        /// Hard reset.
        ForceRestart = "ForceRestart",
        /// Off then on.
        PowerCycle = "PowerCycle",
        /// Non-maskable interrupt (diagnostic, no power change).
        Nmi = "Nmi",
        /// Press the power button: toggles.
        PushPowerButton = "PushPowerButton",
    }
}

redfish_enum! {
    /// `Volume.RAIDType` supported by the simulated controller.
    RaidType {
        /// Striping.
        Raid0 = "RAID0",
        /// Mirroring.
        Raid1 = "RAID1",
        /// Striping with parity.
        Raid5 = "RAID5",
        /// Mirrored stripes.
        Raid10 = "RAID10",
    }
}

impl RaidType {
    /// Fewest drives the level needs.
    pub fn min_drives(self) -> usize {
        match self {
            RaidType::Raid0 => 1,
            RaidType::Raid1 => 2,
            RaidType::Raid5 => 3,
            RaidType::Raid10 => 4,
        }
    }

    /// Usable bytes given member drives of `smallest` bytes each.
    pub fn usable_bytes(self, drives: usize, smallest: u64) -> u64 {
        let n = drives as u64;
        match self {
            RaidType::Raid0 => smallest * n,
            RaidType::Raid1 => smallest,
            RaidType::Raid5 => smallest * n.saturating_sub(1),
            RaidType::Raid10 => smallest * (n / 2),
        }
    }
}

/// The boot override as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BootOverride {
    /// `BootSourceOverrideEnabled`.
    pub enabled: BootOverrideEnabled,
    /// `BootSourceOverrideTarget`.
    pub target: BootTarget,
    /// `BootSourceOverrideMode`.
    pub mode: BootMode,
}

/// The two virtual media devices, in the order of [`MediaSlot::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSlot {
    /// `Cd`: CD/DVD images (ISO).
    Cd,
    /// `Floppy`: floppy / USB stick images (config drives).
    Floppy,
}

impl MediaSlot {
    /// Both devices.
    pub const ALL: [MediaSlot; 2] = [MediaSlot::Cd, MediaSlot::Floppy];

    /// Redfish `Id` of the device, as sushy-tools names them.
    pub fn id(self) -> &'static str {
        match self {
            MediaSlot::Cd => "Cd",
            MediaSlot::Floppy => "Floppy",
        }
    }

    /// `MediaTypes` the device accepts.
    pub fn media_types(self) -> &'static [&'static str] {
        match self {
            MediaSlot::Cd => &["CD", "DVD"],
            MediaSlot::Floppy => &["Floppy", "USBStick"],
        }
    }

    /// Finds a device by `Id`.
    pub fn from_id(id: &str) -> Option<MediaSlot> {
        MediaSlot::ALL.into_iter().find(|s| s.id() == id)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            MediaSlot::Cd => 0,
            MediaSlot::Floppy => 1,
        }
    }
}

/// An image attached to a virtual media device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Media {
    /// `Image`: the URL the BMC was told to fetch.
    pub image: String,
    /// `Inserted`.
    pub inserted: bool,
    /// `WriteProtected`.
    pub write_protected: bool,
    /// `TransferProtocolType`, when the client gave one.
    pub transfer_protocol: Option<String>,
    /// `UserName` the client gave for fetching the image.
    pub username: Option<String>,
}

impl Media {
    /// `ImageName`: the last path segment of the URL.
    pub fn image_name(&self) -> &str {
        let path = self.image.split(['?', '#']).next().unwrap_or("");
        path.rsplit('/').next().unwrap_or("")
    }
}

/// A logical volume on the storage controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Redfish `Id`.
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `RAIDType`.
    pub raid_type: RaidType,
    /// `CapacityBytes`.
    pub capacity_bytes: u64,
    /// Indices into the system's drive list.
    pub drives: Vec<usize>,
}

/// A fault pinned to one system through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SystemFault {
    /// What happens to the system's requests; `None` means only latency.
    pub kind: Option<FailureKind>,
    /// How many more requests fail; `None` means until cleared.
    pub remaining: Option<u32>,
    /// Replaces the global base latency for this system's requests.
    pub latency_ms: Option<u32>,
}

/// What happened at the last boot, for assertions ("did it PXE boot?").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootRecord {
    /// Device booted from: the override target, or `Hdd` without one.
    pub target: BootTarget,
    /// Firmware mode used.
    pub mode: BootMode,
    /// Whether secure boot was in force.
    pub secure_boot: bool,
    /// The image booted when the target was virtual media.
    pub media_image: Option<String>,
}

/// Everything about one system that requests can change.
#[derive(Debug, Clone)]
pub(crate) struct SystemState {
    pub power: PowerState,
    /// Bumped by every power change so a stale delayed transition can tell
    /// it has been superseded.
    pub power_generation: u32,
    pub boot: BootOverride,
    /// `Boot.HttpBootUri`, for `UefiHttp` boots.
    pub http_boot_uri: Option<Box<str>>,
    pub secure_boot_enable: bool,
    pub secure_boot_current: bool,
    /// Current BIOS values that differ from the defaults (by attribute index).
    pub bios_current: Vec<(u16, AttrValue)>,
    /// Settings staged through `Bios/Settings`, applied at the next boot.
    pub bios_pending: Vec<(u16, AttrValue)>,
    pub media: [Option<Box<Media>>; 2],
    /// `None` until the first volume change; then the full list.
    pub volumes: Option<Vec<Volume>>,
    pub next_volume_id: u16,
    pub fault: Option<SystemFault>,
    pub boot_count: u32,
    pub nmi_count: u32,
    pub reset_count: u32,
    pub oob_changes: u32,
    pub requests: u64,
    pub last_boot: Option<Box<BootRecord>>,
}

impl SystemState {
    /// A freshly racked system: UEFI, no override, secure boot off.
    pub fn new(power: PowerState) -> SystemState {
        SystemState {
            power,
            power_generation: 0,
            boot: BootOverride {
                enabled: BootOverrideEnabled::Disabled,
                target: BootTarget::None,
                mode: BootMode::Uefi,
            },
            http_boot_uri: None,
            secure_boot_enable: false,
            secure_boot_current: false,
            bios_current: Vec::new(),
            bios_pending: Vec::new(),
            media: [None, None],
            volumes: None,
            next_volume_id: 1,
            fault: None,
            boot_count: 0,
            nmi_count: 0,
            reset_count: 0,
            oob_changes: 0,
            requests: 0,
            last_boot: None,
        }
    }

    /// The media in a device, if any.
    pub fn media(&self, slot: MediaSlot) -> Option<&Media> {
        self.media[slot.index()].as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_exact_spelling() {
        for v in ResetType::ALL {
            assert_eq!(v.as_str().parse::<ResetType>(), Ok(*v));
        }
        assert_eq!("UEFI".parse::<BootMode>(), Ok(BootMode::Uefi));
        assert!("uefi".parse::<BootMode>().is_err());
        assert_eq!(BootTarget::allowable()[1], "Pxe");
    }

    #[test]
    fn image_name_is_last_segment() {
        let m = Media {
            image: "http://10.0.0.1/images/boot.iso?x=1".into(),
            inserted: true,
            write_protected: true,
            transfer_protocol: None,
            username: None,
        };
        assert_eq!(m.image_name(), "boot.iso");
    }

    #[test]
    fn untouched_system_is_small() {
        // The scale target (10,000 systems in a few MB) depends on this.
        assert!(
            std::mem::size_of::<SystemState>() <= 192,
            "{}",
            std::mem::size_of::<SystemState>()
        );
    }

    #[test]
    fn raid_capacity() {
        assert_eq!(RaidType::Raid1.usable_bytes(2, 100), 100);
        assert_eq!(RaidType::Raid5.usable_bytes(3, 100), 200);
        assert_eq!(RaidType::Raid10.usable_bytes(4, 100), 200);
    }
}
