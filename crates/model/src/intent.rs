//! Intents: work the API has accepted (answered 202) and a conductor has yet
//! to carry out. An intent is written into the node's own record in the same
//! transaction that checked it was allowed, so nothing accepted is lost: a
//! conductor that starts, or wakes, finds every pending intent in the store.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::power::PowerTarget;
use crate::provision::Verb;

/// One accepted request waiting for (or being run by) a conductor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    /// A provision verb; the node's state was already advanced by the API.
    Provision {
        verb: Verb,
        #[serde(default)]
        args: ProvisionArgs,
    },
    /// A power change; `target_power_state` is already set on the node.
    Power {
        target: PowerTarget,
        timeout: Option<u64>,
    },
    /// Switch the boot mode (`uefi` or `bios`).
    BootMode { target: String },
    /// Turn UEFI secure boot on or off.
    SecureBoot { target: bool },
    /// Start or stop the console.
    Console { enabled: bool },
}

/// The extra body of a provision request, kept for the conductor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProvisionArgs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configdrive: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_steps: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_steps: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_steps: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescue_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_ramdisk: Option<bool>,
}
