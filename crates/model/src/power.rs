//! Power states and the targets an operator may request.

use crate::provision::string_enum;
use crate::version::Version;

string_enum! {
    /// What the BMC reports (`null` on the wire when unknown).
    PowerState {
        On => "power on",
        Off => "power off",
        Error => "error",
    }
}

string_enum! {
    /// Targets accepted by `PUT /v1/nodes/{node}/states/power`.
    PowerTarget {
        On => "power on",
        Off => "power off",
        Reboot => "rebooting",
        SoftReboot => "soft rebooting",
        SoftOff => "soft power off",
    }
}

impl PowerTarget {
    /// The version that introduced the target (soft variants: 1.27).
    pub fn min_version(self) -> Version {
        match self {
            PowerTarget::SoftReboot | PowerTarget::SoftOff => Version(1, 27),
            _ => Version(1, 1),
        }
    }

    /// The state the node is in once the action completes.
    pub fn resulting_state(self) -> PowerState {
        match self {
            PowerTarget::Off | PowerTarget::SoftOff => PowerState::Off,
            _ => PowerState::On,
        }
    }

    /// Whether the action ends with the machine off.
    pub fn is_off(self) -> bool {
        self.resulting_state() == PowerState::Off
    }
}
