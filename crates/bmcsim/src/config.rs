//! Simulator settings, shared by the CLI and by embedders.
//!
//! Everything here is plain data with a [`Default`] suited to in-process
//! tests (loopback, ephemeral port, a few systems, no latency, no failures),
//! so a test only spells out what it cares about.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// Largest fleet one process will simulate; beyond this the MAC address
/// space and memory budget stop being comfortable.
pub const MAX_SYSTEMS: usize = 1_000_000;

/// Largest number of NICs per system (keeps MACs unique within 52:54:00/24).
pub const MAX_NICS: u8 = 16;

/// Ways a request can be made to fail, either at random (`failure_rate`)
/// or on one system through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Hold the request for [`Config::hang`] and then close the connection
    /// without answering, as a wedged BMC does; clients must time out.
    Timeout,
    /// Answer 500 with a Redfish error body, as a busy or crashed BMC does.
    ServerError,
    /// Answer 200 with a body that is not valid JSON (truncated or HTML).
    Garbage,
    /// Close the connection without writing any response.
    Drop,
}

impl FailureKind {
    /// Every kind, in the order used for the `failure_kinds` default.
    pub const ALL: [FailureKind; 4] = [
        FailureKind::Timeout,
        FailureKind::ServerError,
        FailureKind::Garbage,
        FailureKind::Drop,
    ];

    /// The spelling used on the command line, in the control API and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::ServerError => "500",
            FailureKind::Garbage => "garbage",
            FailureKind::Drop => "drop",
        }
    }

    /// Position in [`FailureKind::ALL`], used to index counters.
    pub(crate) fn index(self) -> usize {
        match self {
            FailureKind::Timeout => 0,
            FailureKind::ServerError => 1,
            FailureKind::Garbage => 2,
            FailureKind::Drop => 3,
        }
    }
}

impl serde::Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure kind name that is not one of `timeout`, `500`, `garbage`, `drop`.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("unknown failure kind {0:?} (expected timeout, 500, garbage or drop)")]
pub struct UnknownFailureKind(pub String);

impl FromStr for FailureKind {
    type Err = UnknownFailureKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "timeout" | "hang" => Ok(FailureKind::Timeout),
            "500" | "error" | "server-error" => Ok(FailureKind::ServerError),
            "garbage" => Ok(FailureKind::Garbage),
            "drop" | "close" => Ok(FailureKind::Drop),
            _ => Err(UnknownFailureKind(s.to_string())),
        }
    }
}

/// Power state every system starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialPower {
    /// All systems off, like a freshly racked fleet.
    #[default]
    Off,
    /// All systems on.
    On,
    /// Each system on or off, chosen deterministically from the seed.
    Random,
}

impl FromStr for InitialPower {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(InitialPower::Off),
            "on" => Ok(InitialPower::On),
            "random" => Ok(InitialPower::Random),
            other => Err(format!("unknown initial power {other:?} (off, on, random)")),
        }
    }
}

/// Credentials every simulated BMC accepts, for HTTP Basic and sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name clients must present.
    pub username: String,
    /// Password clients must present.
    pub password: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            username: "admin".to_string(),
            password: "password".to_string(),
        }
    }
}

/// Everything that shapes a simulated fleet and how it misbehaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind; port 0 picks a free port (what tests want).
    pub listen: SocketAddr,
    /// Number of simulated systems (each with its manager and chassis).
    pub systems: usize,
    /// Network interfaces per system.
    pub nics_per_system: u8,
    /// Added to every Redfish request before it is answered.
    pub latency: Duration,
    /// Uniform random extra latency in `0..=latency_jitter`.
    pub latency_jitter: Duration,
    /// Probability in `[0, 1]` that any Redfish request fails.
    pub failure_rate: f64,
    /// Kinds picked uniformly when a random failure happens.
    pub failure_kinds: Vec<FailureKind>,
    /// How long a `timeout` failure holds a request before closing it.
    pub hang: Duration,
    /// Random out-of-band power flips, per system per hour (0 disables).
    pub oob_power_change_rate: f64,
    /// How long a power change takes; `PowerState` reads `PoweringOn` /
    /// `PoweringOff` meanwhile. Zero makes changes immediate.
    pub power_transition: Duration,
    /// Power state at start.
    pub initial_power: InitialPower,
    /// `None` turns authentication off entirely.
    pub auth: Option<Credentials>,
    /// Seeds inventory (UUIDs, MACs, hardware), random failures and OOB
    /// changes, so two runs with one seed describe the same fleet.
    pub seed: u64,
    /// Whether the EventService is enabled (`ServiceEnabled`): accepts
    /// subscriptions and sends an event on every power change.
    pub event_service: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            systems: 16,
            nics_per_system: 2,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            failure_rate: 0.0,
            failure_kinds: FailureKind::ALL.to_vec(),
            hang: Duration::from_secs(300),
            oob_power_change_rate: 0.0,
            power_transition: Duration::ZERO,
            initial_power: InitialPower::Off,
            auth: Some(Credentials::default()),
            seed: 0,
            event_service: true,
        }
    }
}

/// A setting outside what the simulator can honour.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ConfigError {
    /// Zero systems, or more than [`MAX_SYSTEMS`].
    #[error("systems must be between 1 and {MAX_SYSTEMS}, got {0}")]
    Systems(usize),
    /// Zero NICs or more than [`MAX_NICS`], or a fleet whose MACs would not
    /// fit in 52:54:00:00:00:00/24.
    #[error(
        "nics per system must be between 1 and {MAX_NICS} (and systems x nics <= 2^24), got {0}"
    )]
    Nics(u8),
    /// A probability outside `[0, 1]` (or NaN).
    #[error("failure rate must be within 0.0..=1.0, got {0}")]
    FailureRate(f64),
    /// A positive failure rate with nothing to choose from.
    #[error("failure rate is positive but no failure kinds are enabled")]
    NoFailureKinds,
    /// A negative, NaN or infinite OOB change rate.
    #[error("out-of-band power change rate must be a finite number >= 0, got {0}")]
    OobRate(f64),
    /// An empty user name.
    #[error("username must not be empty")]
    EmptyUsername,
}

impl Config {
    /// Rejects settings that would make the simulator misbehave in ways
    /// nobody asked for (duplicate MACs, impossible probabilities).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.systems == 0 || self.systems > MAX_SYSTEMS {
            return Err(ConfigError::Systems(self.systems));
        }
        let nics = self.nics_per_system;
        if nics == 0 || nics > MAX_NICS || self.systems * usize::from(nics) > (1 << 24) {
            return Err(ConfigError::Nics(nics));
        }
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return Err(ConfigError::FailureRate(self.failure_rate));
        }
        if self.failure_rate > 0.0 && self.failure_kinds.is_empty() {
            return Err(ConfigError::NoFailureKinds);
        }
        if !self.oob_power_change_rate.is_finite() || self.oob_power_change_rate < 0.0 {
            return Err(ConfigError::OobRate(self.oob_power_change_rate));
        }
        if let Some(c) = &self.auth
            && c.username.is_empty()
        {
            return Err(ConfigError::EmptyUsername);
        }
        Ok(())
    }
}

/// Parses a comma-separated list such as `timeout,500,garbage,drop`.
pub fn parse_failure_kinds(s: &str) -> Result<Vec<FailureKind>, UnknownFailureKind> {
    let mut kinds = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let kind: FailureKind = part.parse()?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_values() {
        let c = Config {
            systems: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Systems(0)));
        let c = Config {
            failure_rate: 1.5,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::FailureRate(1.5)));
        let c = Config {
            failure_rate: 0.5,
            failure_kinds: vec![],
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::NoFailureKinds));
        let c = Config {
            systems: 1 << 23,
            nics_per_system: 4,
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn parses_kind_lists() {
        assert_eq!(
            parse_failure_kinds("timeout,500, garbage,drop,500").unwrap(),
            FailureKind::ALL.to_vec()
        );
        assert!(parse_failure_kinds("timeout,teapot").is_err());
        for k in FailureKind::ALL {
            assert_eq!(k.as_str().parse::<FailureKind>().unwrap(), k);
        }
    }
}
