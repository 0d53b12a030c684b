//! The conductor's settings (`[conductor]` in the config file). Names follow
//! Ironic's `[conductor]` options where one exists so operators recognise
//! them; durations are seconds and may be fractional.

use std::time::Duration;

use ferrite_drivers::FakeDelays;
use serde::{Deserialize, Serialize};

/// Everything the conductor engine can be told. Every field has a default,
/// so an empty `[conductor]` section is a working configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConductorConfig {
    /// Name this conductor registers under, writes into a node's
    /// `reservation` while it works on it, and shows as the node's
    /// `conductor`. Defaults to the machine's host name.
    pub hostname: String,
    /// The conductor group (`conductor_group`) this conductor registers in.
    pub conductor_group: String,
    /// Whether `provide` and undeploy run automated cleaning; a node's own
    /// `automated_clean` overrides it.
    pub automated_clean: bool,
    /// How long a node may stay in `wait call-back` before it is failed
    /// (`deploy failed`). 0 disables the check.
    pub deploy_callback_timeout: f64,
    /// How long a node may stay in `clean wait` before it is failed
    /// (`clean failed`, maintenance, fault `clean failure`). 0 disables.
    pub clean_callback_timeout: f64,
    /// How long a node may stay in `inspect wait`. 0 disables.
    pub inspect_wait_timeout: f64,
    /// How long a node may stay in `rescue wait`. 0 disables.
    pub rescue_callback_timeout: f64,
    /// How long a node may stay in `service wait`. 0 disables.
    pub service_callback_timeout: f64,
    /// How often the callback timeouts and orphaned locks are checked.
    pub check_provision_state_interval: f64,
    /// How often the store is swept for accepted work nobody woke us for
    /// (wake-ups are the fast path; the sweep makes them unlosable).
    pub sweep_interval: f64,
    /// How often this conductor refreshes its registration.
    pub heartbeat_interval: f64,
    /// A conductor whose registration is older than this is considered dead
    /// and the locks it holds are taken over.
    pub heartbeat_timeout: f64,
    /// How long `shutdown` lets running operations finish before leaving
    /// them to the next start's recovery.
    pub graceful_shutdown_timeout: f64,
    /// Upper bound on a synchronous driver call (`DriverCall`); past it the
    /// API answers 503.
    pub call_timeout: f64,
    /// Most node operations run at once; further ones queue.
    pub max_concurrent_operations: usize,
    /// Longest sleep a `wait` step with `args.seconds` may ask for (Ironic's
    /// `max_conductor_wait_step_seconds`).
    pub max_conductor_wait_step_seconds: f64,
    /// The power-state freshness bound: the power sync reads every node
    /// it may touch from its BMC at least this often, so `power_state`
    /// is never older than this (plus one read). Unlike Ironic's global
    /// sweep, each node has its own slot in the interval, so the load on
    /// BMCs and the store is smooth. 0 or less disables the power sync.
    pub sync_power_state_interval: f64,
    /// Consecutive failed reads after which a node goes to maintenance
    /// with fault `power failure`; a later good read clears it again.
    pub power_state_sync_max_retries: u32,
    /// What to do when the BMC disagrees with the recorded power state:
    /// `false` records what the BMC says (someone pressed the button on
    /// purpose, and the record must follow reality); `true` powers the
    /// node back to the recorded state through the normal power path.
    pub force_power_state_during_sync: bool,
    /// Most power-state reads in flight at once, over all BMCs.
    pub sync_power_state_workers: usize,
    /// Most power-state reads in flight to one BMC host (the authority
    /// of `redfish_address`, or `ipmi_address`): BMCs are small machines
    /// and one chassis manager may serve many nodes.
    pub sync_power_state_workers_per_bmc: usize,
    /// Longest wait for one power-state read. A BMC that does not answer
    /// in time counts as a failed read; keeping this short is what stops
    /// a dead BMC (and the driver's own retries) from holding a worker.
    pub sync_power_state_timeout: f64,
    /// Where the Redfish event receiver listens (`host:port`; port 0
    /// picks a free one); empty turns events off. Nodes whose BMC offers
    /// an enabled EventService are subscribed, and their power changes are
    /// learnt when an event arrives instead of at the next poll.
    pub redfish_event_listen: String,
    /// The receiver's URL as BMCs must reach it (`http://host:port`), when
    /// that is not the listen address (a wildcard bind, NAT, a proxy).
    /// Empty means `http://<bound address>`.
    pub redfish_event_url: String,
    /// How often event subscriptions are reconciled with the nodes: new
    /// redfish nodes subscribed, deleted ones and ones whose BMC changed
    /// unsubscribed; every tenth time, BMCs are asked which subscriptions
    /// they still have and lost ones are re-created.
    pub redfish_event_reconcile_interval: f64,
    /// Longest time one agent command (writing an image, erasing disks)
    /// may run before its step fails.
    pub agent_command_timeout: f64,
    /// How often the conductor looks for a poll-only agent after booting
    /// it (the agent never calls back).
    pub agent_poll_interval: f64,
    /// Priority of the agent's `erase_devices` clean step in automated
    /// cleaning (0: only when asked for in manual cleaning).
    pub erase_devices_priority: u32,
    /// Priority of the agent's `erase_devices_metadata` clean step in
    /// automated cleaning (0: skipped).
    pub erase_devices_metadata_priority: u32,
    /// Delays of the fake interfaces. Not read from `[conductor]`: the
    /// binary fills it from the `[fake]` section.
    #[serde(skip)]
    pub fake: FakeDelays,
}

/// The machine's host name, or `localhost` when it cannot be read.
pub fn default_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

impl Default for ConductorConfig {
    fn default() -> Self {
        ConductorConfig {
            hostname: default_hostname(),
            conductor_group: String::new(),
            automated_clean: true,
            deploy_callback_timeout: 1800.0,
            clean_callback_timeout: 1800.0,
            inspect_wait_timeout: 1800.0,
            rescue_callback_timeout: 1800.0,
            service_callback_timeout: 1800.0,
            check_provision_state_interval: 60.0,
            sweep_interval: 5.0,
            heartbeat_interval: 10.0,
            heartbeat_timeout: 60.0,
            graceful_shutdown_timeout: 10.0,
            call_timeout: 60.0,
            max_concurrent_operations: 250,
            max_conductor_wait_step_seconds: 30.0,
            sync_power_state_interval: 30.0,
            power_state_sync_max_retries: 3,
            force_power_state_during_sync: false,
            sync_power_state_workers: 64,
            sync_power_state_workers_per_bmc: 4,
            sync_power_state_timeout: 10.0,
            redfish_event_listen: "127.0.0.1:0".to_string(),
            redfish_event_url: String::new(),
            redfish_event_reconcile_interval: 30.0,
            agent_command_timeout: 3600.0,
            agent_poll_interval: 2.0,
            erase_devices_priority: 0,
            erase_devices_metadata_priority: 99,
            fake: FakeDelays::default(),
        }
    }
}

/// Seconds as a duration; negative, zero or non-finite values give `None`
/// (meaning "disabled" for timeouts).
pub fn secs(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
}

/// Seconds as a duration for intervals: never shorter than 10 ms, so a
/// zero or bogus value cannot spin a loop.
pub fn interval(value: f64) -> Duration {
    secs(value)
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_ironic_defaults() {
        let Ok(c) = serde_json::from_str::<ConductorConfig>("{}") else {
            panic!("parse")
        };
        assert!(c.automated_clean);
        assert_eq!(c.deploy_callback_timeout, 1800.0);
        assert_eq!(c.check_provision_state_interval, 60.0);
        assert_eq!(c.heartbeat_interval, 10.0);
        assert!(!c.hostname.is_empty());
        assert_eq!(c.sync_power_state_interval, 30.0);
        assert_eq!(c.power_state_sync_max_retries, 3);
        assert!(!c.force_power_state_during_sync);
    }

    #[test]
    fn integers_and_fractions_are_accepted() {
        let Ok(c) = serde_json::from_str::<ConductorConfig>(
            r#"{"clean_callback_timeout": 5, "sweep_interval": 0.25, "hostname": "c1"}"#,
        ) else {
            panic!("parse")
        };
        assert_eq!(c.clean_callback_timeout, 5.0);
        assert_eq!(interval(c.sweep_interval), Duration::from_millis(250));
        assert_eq!(c.hostname, "c1");
        assert_eq!(secs(0.0), None);
        assert_eq!(secs(-3.0), None);
        assert_eq!(secs(f64::NAN), None);
        assert_eq!(interval(0.0), Duration::from_millis(10));
    }
}
