//! A scripted BMC behind [`IpmiTool`], for unit tests of the interface
//! logic (which commands, in which order, what is waited for) without a
//! simulator. The integration tests run the real ipmitool against
//! OpenIPMI's `ipmi_sim`.

use std::sync::Mutex;

use async_trait::async_trait;

use super::config::IpmiConfig;
use super::tool::{IpmiError, IpmiTool};

/// The BMC's state and every command it received.
#[derive(Debug, Default)]
pub struct BmcState {
    /// Chassis power.
    pub on: bool,
    /// Boot flags byte (data 1 of boot parameter 5).
    pub flags: u8,
    /// Device byte (data 2 of boot parameter 5).
    pub device: u8,
    /// Commands received, joined with spaces.
    pub log: Vec<String>,
    /// How many status polls still report the old state after a change,
    /// like a BMC that takes a while to act.
    pub lag: u32,
    /// Polls left that report `old`.
    stale: u32,
    /// The state before the last change.
    old: bool,
    /// Whether `chassis power diag` is refused.
    pub refuse_diag: bool,
}

/// A BMC that answers like ipmitool would.
#[derive(Debug, Default)]
pub struct ScriptedBmc {
    /// Its state (tests inspect and preset it).
    pub state: Mutex<BmcState>,
}

impl ScriptedBmc {
    /// The commands received so far.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Direct access to the state.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, BmcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn selector(device: u8) -> &'static str {
    match device {
        0x04 => "Force PXE",
        0x08 => "Force Boot from default Hard-Drive",
        0x0c => "Force Boot from default Hard-Drive, request Safe-Mode",
        0x14 => "Force Boot from CD/DVD",
        0x18 => "Force Boot into BIOS Setup",
        _ => "No override",
    }
}

fn byte(s: &str) -> u8 {
    u8::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0xff)
}

#[async_trait]
impl IpmiTool for ScriptedBmc {
    async fn run(&self, config: &IpmiConfig, command: &[&str]) -> Result<String, IpmiError> {
        let mut s = self.lock();
        let text = command.join(" ");
        s.log.push(text.clone());
        let fail = |message: &str| IpmiError::Command {
            endpoint: config.endpoint(),
            command: text.clone(),
            message: message.to_string(),
        };
        let set_power = |s: &mut BmcState, on: bool| {
            s.old = s.on;
            s.stale = s.lag;
            s.on = on;
        };
        match command {
            ["chassis", "power", "status"] => {
                let shown = if s.stale > 0 {
                    s.stale -= 1;
                    s.old
                } else {
                    s.on
                };
                Ok(format!(
                    "Chassis Power is {}\n",
                    if shown { "on" } else { "off" }
                ))
            }
            ["chassis", "power", "on"] => {
                set_power(&mut s, true);
                Ok("Chassis Power Control: Up/On\n".into())
            }
            ["chassis", "power", "off"] | ["chassis", "power", "soft"] => {
                set_power(&mut s, false);
                Ok("Chassis Power Control: Down/Off\n".into())
            }
            ["chassis", "power", "cycle"] => {
                set_power(&mut s, true);
                Ok("Chassis Power Control: Cycle\n".into())
            }
            ["chassis", "power", "diag"] if s.refuse_diag => Err(fail(
                "Set Chassis Power Control to Diag failed: Invalid data field in request",
            )),
            ["chassis", "power", "diag"] => Ok("Chassis Power Control: Diag\n".into()),
            ["raw", "0x00", "0x08", "0x03", "0x08"] => Ok("\n".into()),
            ["raw", "0x00", "0x08", "0x05", flags, device, ..] => {
                s.flags = byte(flags);
                s.device = byte(device);
                Ok("\n".into())
            }
            ["chassis", "bootparam", "get", "5"] => Ok(format!(
                "Boot parameter version: 1\nBoot parameter 5 is valid/unlocked\n \
                 Boot Flags :\n   - Boot Flag {}\n   - Options apply to {}\n   - {}\n   - \
                 Boot Device Selector : {}\n",
                if s.flags & 0x80 != 0 {
                    "Valid"
                } else {
                    "Invalid"
                },
                if s.flags & 0x40 != 0 {
                    "all future boots"
                } else {
                    "only next boot"
                },
                if s.flags & 0x20 != 0 {
                    "BIOS EFI boot"
                } else {
                    "BIOS PC Compatible (legacy) boot"
                },
                selector(s.device)
            )),
            ["raw", ..] | ["bmc", "reset", "warm" | "cold"] => Ok(" 00\n".into()),
            _ => Err(fail("Invalid command")),
        }
    }
}
