//! Power semantics: reset actions, delayed transitions, out-of-band
//! changes, and what happens when a system boots.
//!
//! A power change bumps the system's generation; a delayed transition only
//! lands if the generation is still its own, so a newer action (or an OOB
//! flip) always wins over a stale timer — the race real BMCs have too.

use std::sync::Arc;
use std::time::Duration;

use crate::bios;
use crate::fleet::{Fleet, FleetError};
use crate::state::{
    BootOverrideEnabled, BootRecord, BootTarget, MediaSlot, PowerState, ResetType, SystemState,
};

/// Where a power change is headed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Off to on (then boot).
    Rise,
    /// On to off.
    Fall,
    /// On, off, on again (then boot): restarts and power cycles.
    Cycle,
}

impl Fleet {
    /// Performs `#ComputerSystem.Reset` on system `index`.
    ///
    /// `On`/`ForceOn` on a running system and `ForceOff`/`GracefulShutdown`
    /// on a stopped one are accepted no-ops (as sushy-tools does); restarts
    /// of a stopped system power it on; `Nmi` needs the system on.
    pub fn reset(self: &Arc<Self>, index: usize, reset: ResetType) -> Result<(), FleetError> {
        let mut s = self.lock(index).ok_or_else(|| self.unknown(index))?;
        let up = s.power.is_on_or_rising();
        let plan = match reset {
            ResetType::On | ResetType::ForceOn => (!up).then_some(Plan::Rise),
            ResetType::ForceOff | ResetType::GracefulShutdown => up.then_some(Plan::Fall),
            ResetType::ForceRestart | ResetType::GracefulRestart | ResetType::PowerCycle => {
                Some(if up { Plan::Cycle } else { Plan::Rise })
            }
            ResetType::PushPowerButton => Some(if up { Plan::Fall } else { Plan::Rise }),
            ResetType::Nmi => {
                if s.power != PowerState::On {
                    return Err(FleetError::NotPoweredOn(self.system_id(index)));
                }
                s.nmi_count += 1;
                None
            }
        };
        s.reset_count += 1;
        self.stats.power_action();
        if let Some(plan) = plan {
            self.begin(index, &mut s, plan);
        }
        Ok(())
    }

    /// Forces system `index` to `On` or `Off` at once, as a person at the
    /// power button or a PDU would, cancelling any transition under way.
    /// Returns the state it was in.
    pub fn set_power_oob(&self, index: usize, to: PowerState) -> Result<PowerState, FleetError> {
        if !matches!(to, PowerState::On | PowerState::Off) {
            return Err(FleetError::BadOobState(to));
        }
        let mut s = self.lock(index).ok_or_else(|| self.unknown(index))?;
        let was = s.power;
        s.power_generation = s.power_generation.wrapping_add(1);
        s.power = to;
        if to == PowerState::On && was != PowerState::On {
            self.boot(index, &mut s);
        }
        s.oob_changes += 1;
        self.stats.oob_change();
        drop(s);
        if was != to {
            self.power_changed(index, to);
        }
        Ok(was)
    }

    /// Flips a stable system's power out of band; systems mid-transition
    /// are left alone. Returns whether a change was made.
    pub(crate) fn flip_oob(&self, index: usize) -> bool {
        let to = match self.power_state(index) {
            Some(PowerState::On) => PowerState::Off,
            Some(PowerState::Off) => PowerState::On,
            _ => return false,
        };
        self.set_power_oob(index, to).is_ok()
    }

    /// Starts a power change on a locked system: immediate when
    /// `power_transition` is zero, otherwise through `PoweringOn` /
    /// `PoweringOff` on a timer.
    fn begin(self: &Arc<Self>, index: usize, s: &mut SystemState, plan: Plan) {
        s.power_generation = s.power_generation.wrapping_add(1);
        let generation = s.power_generation;
        let delay = self.config().power_transition;
        if !delay.is_zero() {
            s.power = match plan {
                Plan::Rise => PowerState::PoweringOn,
                Plan::Fall | Plan::Cycle => PowerState::PoweringOff,
            };
            self.power_changed(index, s.power);
            let fleet = Arc::clone(self);
            let spawned = self.spawn(async move {
                match plan {
                    Plan::Rise => {
                        tokio::time::sleep(delay).await;
                        fleet.land(index, generation, PowerState::On);
                    }
                    Plan::Fall => {
                        tokio::time::sleep(delay).await;
                        fleet.land(index, generation, PowerState::Off);
                    }
                    Plan::Cycle => {
                        let half = delay / 2;
                        tokio::time::sleep(half).await;
                        if fleet.land(index, generation, PowerState::PoweringOn) {
                            tokio::time::sleep(
                                delay.saturating_sub(half).max(Duration::from_millis(1)),
                            )
                            .await;
                            fleet.land(index, generation, PowerState::On);
                        }
                    }
                }
            });
            if spawned {
                return;
            }
        }
        match plan {
            Plan::Rise | Plan::Cycle => {
                s.power = PowerState::On;
                self.boot(index, s);
            }
            Plan::Fall => s.power = PowerState::Off,
        }
        self.power_changed(index, s.power);
    }

    /// Moves a transition to its next state unless it has been superseded.
    fn land(&self, index: usize, generation: u32, to: PowerState) -> bool {
        let Some(mut s) = self.lock(index) else {
            return false;
        };
        if s.power_generation != generation {
            return false;
        }
        s.power = to;
        if to == PowerState::On {
            self.boot(index, &mut s);
        }
        drop(s);
        self.power_changed(index, to);
        true
    }

    /// What reaching `On` does: staged BIOS settings take effect, secure
    /// boot state is latched, a `Once` override is consumed.
    fn boot(&self, _index: usize, s: &mut SystemState) {
        s.boot_count += 1;
        self.stats.boot();
        for (idx, value) in std::mem::take(&mut s.bios_pending) {
            bios::set(&mut s.bios_current, idx, value, true);
        }
        s.secure_boot_current = s.secure_boot_enable;
        let target = match s.boot.enabled {
            BootOverrideEnabled::Disabled => BootTarget::Hdd,
            _ if s.boot.target == BootTarget::None => BootTarget::Hdd,
            _ => s.boot.target,
        };
        let slot = match target {
            BootTarget::Cd => Some(MediaSlot::Cd),
            BootTarget::Floppy | BootTarget::Usb => Some(MediaSlot::Floppy),
            _ => None,
        };
        let media_image = slot
            .and_then(|slot| s.media(slot))
            .filter(|m| m.inserted)
            .map(|m| m.image.clone());
        s.last_boot = Some(Box::new(BootRecord {
            target,
            mode: s.boot.mode,
            secure_boot: s.secure_boot_current,
            media_image,
        }));
        if s.boot.enabled == BootOverrideEnabled::Once {
            s.boot.enabled = BootOverrideEnabled::Disabled;
            s.boot.target = BootTarget::None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn fleet() -> Arc<Fleet> {
        Fleet::new(Config {
            systems: 4,
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn immediate_reset_semantics() {
        let f = fleet();
        assert_eq!(f.power_state(0), Some(PowerState::Off));
        assert!(matches!(
            f.reset(0, ResetType::Nmi),
            Err(FleetError::NotPoweredOn(_))
        ));
        f.reset(0, ResetType::On).unwrap();
        assert_eq!(f.power_state(0), Some(PowerState::On));
        f.reset(0, ResetType::On).unwrap();
        assert_eq!(
            f.snapshot(0).unwrap().boot_count,
            1,
            "On while on is a no-op"
        );
        f.reset(0, ResetType::ForceRestart).unwrap();
        assert_eq!(f.snapshot(0).unwrap().boot_count, 2);
        f.reset(0, ResetType::Nmi).unwrap();
        assert_eq!(f.snapshot(0).unwrap().nmi_count, 1);
        f.reset(0, ResetType::PushPowerButton).unwrap();
        assert_eq!(f.power_state(0), Some(PowerState::Off));
        f.reset(0, ResetType::GracefulRestart).unwrap();
        assert_eq!(f.power_state(0), Some(PowerState::On));
        f.reset(0, ResetType::ForceOff).unwrap();
        assert_eq!(f.power_state(0), Some(PowerState::Off));
        assert_eq!(
            f.snapshot(0).unwrap().reset_count,
            7,
            "the refused Nmi is not counted"
        );
    }

    #[test]
    fn once_override_is_consumed_at_boot() {
        let f = fleet();
        {
            let mut s = f.lock(1).unwrap();
            s.boot.enabled = BootOverrideEnabled::Once;
            s.boot.target = BootTarget::Pxe;
        }
        f.reset(1, ResetType::On).unwrap();
        let snap = f.snapshot(1).unwrap();
        assert_eq!(snap.last_boot.unwrap().target, BootTarget::Pxe);
        assert_eq!(snap.boot.enabled, BootOverrideEnabled::Disabled);
        f.reset(1, ResetType::ForceRestart).unwrap();
        assert_eq!(
            f.snapshot(1).unwrap().last_boot.unwrap().target,
            BootTarget::Hdd
        );
    }

    #[test]
    fn oob_changes_power_and_counts() {
        let f = fleet();
        assert_eq!(f.set_power_oob(2, PowerState::On), Ok(PowerState::Off));
        assert_eq!(f.power_state(2), Some(PowerState::On));
        assert!(f.flip_oob(2));
        assert_eq!(f.power_state(2), Some(PowerState::Off));
        assert!(f.set_power_oob(2, PowerState::PoweringOn).is_err());
        assert_eq!(f.snapshot(2).unwrap().oob_changes, 2);
        assert_eq!(f.stats().oob_power_changes, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_transitions_pass_through_intermediate_states() {
        let f = Fleet::new(Config {
            systems: 1,
            power_transition: Duration::from_millis(1000),
            ..Config::default()
        })
        .unwrap();
        f.reset(0, ResetType::On).unwrap();
        assert_eq!(f.power_state(0), Some(PowerState::PoweringOn));
        tokio::time::sleep(Duration::from_millis(1010)).await;
        assert_eq!(f.power_state(0), Some(PowerState::On));
        f.reset(0, ResetType::ForceRestart).unwrap();
        assert_eq!(f.power_state(0), Some(PowerState::PoweringOff));
        tokio::time::sleep(Duration::from_millis(510)).await;
        assert_eq!(f.power_state(0), Some(PowerState::PoweringOn));
        tokio::time::sleep(Duration::from_millis(510)).await;
        assert_eq!(f.power_state(0), Some(PowerState::On));
        assert_eq!(f.snapshot(0).unwrap().boot_count, 2);
        // A newer action supersedes a pending one.
        f.reset(0, ResetType::ForceOff).unwrap();
        f.set_power_oob(0, PowerState::On).unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(f.power_state(0), Some(PowerState::On));
    }
}
