//! The simulated fleet: all systems' state behind one shared handle.
//!
//! Each system has its own `Mutex`, held only for the few microseconds a
//! request reads or edits it and never across an `.await`, so thousands of
//! concurrent requests to different systems never wait on each other.
//! Fleet-wide things (sessions, counters, the random failure policy) are
//! atomics or read-mostly locks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::auth::Sessions;
use crate::bios;
use crate::config::{Config, ConfigError, InitialPower};
use crate::faults::FailurePolicy;
use crate::inventory::{Inventory, mix};
use crate::state::{
    BootOverride, BootRecord, Media, MediaSlot, PowerState, RaidType, SystemFault, SystemState,
    Volume,
};
use crate::stats::{Stats, StatsSnapshot};

/// A request about a system that cannot be carried out.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FleetError {
    /// The index or id names no simulated system.
    #[error("no simulated system {0}")]
    UnknownSystem(String),
    /// The action needs the system powered on (e.g. `Nmi`).
    #[error("system {0} is not powered on")]
    NotPoweredOn(String),
    /// Out-of-band changes only accept `On` or `Off`.
    #[error("out-of-band power state must be On or Off, got {0}")]
    BadOobState(PowerState),
}

/// The simulator's view of one system, for assertions and the control API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemSnapshot {
    /// Position in the fleet (`0..systems`).
    pub index: usize,
    /// Redfish `Id` of the system, its manager and its chassis.
    pub id: String,
    /// `UUID` of the system.
    pub uuid: String,
    /// `PowerState` as a client would read it now.
    pub power_state: PowerState,
    /// The stored boot override.
    pub boot: BootOverride,
    /// `SecureBootEnable`.
    pub secure_boot_enable: bool,
    /// Whether the last boot was a secure boot (`SecureBootCurrentBoot`).
    pub secure_boot_current_boot: bool,
    /// BIOS attributes that differ from the defaults, in force now.
    pub bios_changed: Map<String, Value>,
    /// BIOS attributes staged for the next boot.
    pub bios_pending: Map<String, Value>,
    /// Virtual media by device id (`Cd`, `Floppy`), when something is attached.
    pub media: BTreeMap<&'static str, Media>,
    /// Number of logical volumes.
    pub volumes: usize,
    /// The fault pinned through the control API, if any.
    pub fault: Option<SystemFault>,
    /// Times the system reached `On` (power-on, restart, OOB power-on).
    pub boot_count: u32,
    /// NMIs delivered.
    pub nmi_count: u32,
    /// `ComputerSystem.Reset` actions accepted.
    pub reset_count: u32,
    /// Out-of-band power changes (random or control API).
    pub oob_changes: u32,
    /// Redfish requests addressed to this system (its system, manager or
    /// chassis resources), faulted or not.
    pub requests: u64,
    /// What the last boot looked like.
    pub last_boot: Option<BootRecord>,
}

/// All simulated systems plus fleet-wide services; shared as `Arc<Fleet>`
/// by the HTTP server, the background tasks and embedders.
pub struct Fleet {
    config: Config,
    inventory: Inventory,
    systems: Box<[Mutex<SystemState>]>,
    service_uuid: String,
    runtime: Option<tokio::runtime::Handle>,
    pub(crate) sessions: Sessions,
    pub(crate) stats: Stats,
    pub(crate) failures: FailurePolicy,
    pub(crate) events: crate::events::Events,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("systems", &self.systems.len())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Builds the fleet described by `config`. Call it inside a Tokio
    /// runtime when `power_transition` is non-zero: delayed transitions are
    /// spawned on the runtime current at construction (without one they
    /// complete immediately).
    pub fn new(config: Config) -> Result<Arc<Fleet>, ConfigError> {
        config.validate()?;
        let inventory = Inventory::new(config.seed, config.systems, config.nics_per_system);
        let systems = (0..config.systems)
            .map(|i| {
                let on = match config.initial_power {
                    InitialPower::Off => false,
                    InitialPower::On => true,
                    InitialPower::Random => inventory.hash(i, 2) & 1 == 1,
                };
                Mutex::new(SystemState::new(if on {
                    PowerState::On
                } else {
                    PowerState::Off
                }))
            })
            .collect();
        let h = mix(config.seed ^ 0x5E41_1CE0);
        let service_uuid = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            h as u32,
            (h >> 32) as u16,
            (h >> 48) as u16 & 0xfff,
            (h >> 20) as u16 & 0xfff,
            mix(h) & 0xffff_ffff_ffff
        );
        Ok(Arc::new(Fleet {
            failures: FailurePolicy::new(config.failure_rate, &config.failure_kinds, config.seed),
            inventory,
            systems,
            service_uuid,
            runtime: tokio::runtime::Handle::try_current().ok(),
            sessions: Sessions::default(),
            stats: Stats::default(),
            events: crate::events::Events::default(),
            config,
        }))
    }

    /// The configuration the fleet was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Identities and hardware, derived from the seed.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Number of systems.
    pub fn len(&self) -> usize {
        self.systems.len()
    }

    /// Always false: a fleet has at least one system.
    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }

    /// UUID of the service root.
    pub fn service_uuid(&self) -> &str {
        &self.service_uuid
    }

    /// Redfish `Id` of system `index`.
    pub fn system_id(&self, index: usize) -> String {
        self.inventory.system_id(index)
    }

    /// Path a Redfish client (e.g. Ironic's `redfish_system_id`) uses.
    pub fn system_path(&self, index: usize) -> String {
        format!("/redfish/v1/Systems/{}", self.system_id(index))
    }

    /// Finds a system by `Id`, UUID or plain decimal index.
    pub fn resolve(&self, key: &str) -> Option<usize> {
        self.inventory.resolve(key).or_else(|| {
            key.parse::<usize>()
                .ok()
                .filter(|i| *i < self.len() && key.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    /// Locks one system. A poisoned lock (a panic elsewhere while holding
    /// it) still yields the state: each edit leaves it consistent.
    pub(crate) fn lock(&self, index: usize) -> Option<MutexGuard<'_, SystemState>> {
        self.systems
            .get(index)
            .map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    pub(crate) fn unknown(&self, index: usize) -> FleetError {
        FleetError::UnknownSystem(index.to_string())
    }

    /// Spawns `fut` on the fleet's runtime; false when there is none.
    pub(crate) fn spawn<F>(&self, fut: F) -> bool
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.runtime {
            Some(rt) => {
                rt.spawn(fut);
                true
            }
            None => false,
        }
    }

    /// The current power state of system `index`.
    pub fn power_state(&self, index: usize) -> Option<PowerState> {
        self.lock(index).map(|s| s.power)
    }

    /// Every system's power state, in index order; what a power-sync
    /// benchmark compares its own view against.
    pub fn power_states(&self) -> Vec<PowerState> {
        (0..self.len())
            .filter_map(|i| self.power_state(i))
            .collect()
    }

    /// Everything the simulator knows about system `index`.
    pub fn snapshot(&self, index: usize) -> Option<SystemSnapshot> {
        let s = self.lock(index)?.clone();
        let media = MediaSlot::ALL
            .into_iter()
            .filter_map(|slot| s.media(slot).map(|m| (slot.id(), m.clone())))
            .collect();
        let volumes = s
            .volumes
            .as_ref()
            .map_or_else(|| self.default_volumes(index).len(), |v| v.len());
        Some(SystemSnapshot {
            index,
            id: self.system_id(index),
            uuid: self.inventory.uuid(index),
            power_state: s.power,
            boot: s.boot,
            secure_boot_enable: s.secure_boot_enable,
            secure_boot_current_boot: s.secure_boot_current,
            bios_changed: bios::partial_map(&s.bios_current),
            bios_pending: bios::partial_map(&s.bios_pending),
            media,
            volumes,
            fault: s.fault,
            boot_count: s.boot_count,
            nmi_count: s.nmi_count,
            reset_count: s.reset_count,
            oob_changes: s.oob_changes,
            requests: s.requests,
            last_boot: s.last_boot.as_deref().cloned(),
        })
    }

    /// Pins a fault (and/or latency) to one system, replacing any previous
    /// one; `SystemFault { kind: None, remaining: None, latency_ms: None }`
    /// makes it healthy again.
    pub fn set_fault(&self, index: usize, fault: SystemFault) -> Result<(), FleetError> {
        let mut s = self.lock(index).ok_or_else(|| self.unknown(index))?;
        let healthy = fault.kind.is_none() && fault.latency_ms.is_none();
        s.fault = (!healthy).then_some(fault);
        Ok(())
    }

    /// Removes any fault pinned to system `index`.
    pub fn clear_fault(&self, index: usize) -> Result<(), FleetError> {
        let mut s = self.lock(index).ok_or_else(|| self.unknown(index))?;
        s.fault = None;
        Ok(())
    }

    /// Changes the fleet-wide random failure rate and kinds at run time.
    pub fn set_failure_policy(
        &self,
        rate: f64,
        kinds: &[crate::config::FailureKind],
    ) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(ConfigError::FailureRate(rate));
        }
        if rate > 0.0 && kinds.is_empty() {
            return Err(ConfigError::NoFailureKinds);
        }
        self.failures.set(rate, kinds);
        Ok(())
    }

    /// The fleet-wide random failure rate and kinds now in force.
    pub fn failure_policy(&self) -> (f64, Vec<crate::config::FailureKind>) {
        (self.failures.rate(), self.failures.kinds())
    }

    /// Request and event counters since start.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot(self.sessions.count())
    }

    /// The volumes a system has before anyone changes them: one RAID1
    /// system volume over the first two drives.
    pub(crate) fn default_volumes(&self, index: usize) -> Vec<Volume> {
        let hw = self.inventory.hardware(index);
        let smallest = hw
            .drives
            .iter()
            .take(2)
            .map(|d| d.capacity_bytes)
            .min()
            .unwrap_or(0);
        vec![Volume {
            id: "1".to_string(),
            name: "System".to_string(),
            raid_type: RaidType::Raid1,
            capacity_bytes: RaidType::Raid1.usable_bytes(2, smallest),
            drives: vec![0, 1],
        }]
    }

    /// The volumes of a locked system.
    pub(crate) fn volumes_of(&self, index: usize, s: &SystemState) -> Vec<Volume> {
        match &s.volumes {
            Some(v) => v.clone(),
            None => self.default_volumes(index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FailureKind;

    fn fleet(n: usize) -> Arc<Fleet> {
        Fleet::new(Config {
            systems: n,
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn resolves_ids_uuids_and_indices() {
        let f = fleet(20);
        assert_eq!(f.resolve("sys-00019"), Some(19));
        assert_eq!(f.resolve(&f.inventory().uuid(7)), Some(7));
        assert_eq!(f.resolve("7"), Some(7));
        assert_eq!(f.resolve("20"), None);
        assert_eq!(f.resolve("+7"), None);
        assert_eq!(f.system_path(3), "/redfish/v1/Systems/sys-00003");
    }

    #[test]
    fn faults_set_and_clear() {
        let f = fleet(2);
        let fault = SystemFault {
            kind: Some(FailureKind::Drop),
            remaining: Some(2),
            latency_ms: None,
        };
        f.set_fault(1, fault).unwrap();
        assert_eq!(f.snapshot(1).unwrap().fault, Some(fault));
        f.set_fault(
            1,
            SystemFault {
                kind: None,
                remaining: None,
                latency_ms: None,
            },
        )
        .unwrap();
        assert_eq!(f.snapshot(1).unwrap().fault, None);
        assert!(f.set_fault(2, fault).is_err());
        assert!(f.set_failure_policy(2.0, &[]).is_err());
    }

    #[test]
    fn initial_power_random_is_mixed_and_deterministic() {
        let cfg = Config {
            systems: 200,
            initial_power: InitialPower::Random,
            seed: 5,
            ..Config::default()
        };
        let a = Fleet::new(cfg.clone()).unwrap();
        let b = Fleet::new(cfg).unwrap();
        let on = (0..200)
            .filter(|i| a.power_state(*i) == Some(PowerState::On))
            .count();
        assert!(on > 50 && on < 150, "{on}");
        assert!((0..200).all(|i| a.power_state(i) == b.power_state(i)));
        assert_eq!(a.power_states(), b.power_states());
        assert_eq!(a.power_states().len(), 200);
    }
}
