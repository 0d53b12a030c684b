//! `bmcsim`: one process, one port, thousands of simulated Redfish BMCs.
//!
//! Ferrite's redfish driver, its power-sync loop and its benchmarks need
//! BMCs that are many, cheap, deterministic and — on demand — broken. Real
//! hardware is none of those, and sushy-tools' emulator serves one libvirt
//! host. `bmcsim` serves N `ComputerSystem`s (default ids `sys-00000`…),
//! each with its own manager (BMC) and chassis, on a single listener:
//!
//! * **Redfish surface** as Ironic's redfish driver (sushy) and sushy-tools
//!   expose it: service root, Systems/Managers/Chassis collections, power
//!   (`#ComputerSystem.Reset`), boot override PATCH (target, Once /
//!   Continuous, UEFI / Legacy, `HttpBootUri`), BIOS with staged settings
//!   applied on the next boot and an attribute registry, secure boot,
//!   processors, memory, NICs (unique `52:54:00:…` MACs), simple storage,
//!   storage with drives and creatable/deletable volumes, virtual media
//!   (`Cd`, `Floppy`) under both the manager and the system.
//! * **Auth** like a BMC: HTTP Basic, or a session from
//!   `POST /redfish/v1/SessionService/Sessions` (`X-Auth-Token`), 401 when
//!   wrong, deleted sessions refused.
//! * **Realism knobs**: base latency and jitter; delayed power transitions
//!   (`PoweringOn` / `PoweringOff`, clients must poll); random failures of
//!   four kinds — `timeout` (held, then closed unanswered), `500`
//!   (Redfish error), `garbage` (200 with a non-JSON body), `drop`
//!   (connection closed without a response); random out-of-band power
//!   flips at a rate per system per hour.
//! * **Control API** under `/bmcsim` (never authenticated or faulted): pin a
//!   fault to one system for N requests or until cleared, add per-system
//!   latency, flip power out of band, change the failure policy, read
//!   counters. See "Control API" below and the README.
//!
//! # Scale
//!
//! Only mutable state is stored (168 bytes for an untouched system);
//! identities and hardware are recomputed from `(seed, index)` on each
//! request. Each system has its own lock, held for microseconds and never
//! across an `.await`, so concurrent requests to different systems do not
//! contend. 10,000 systems fit in a few MB of RSS.
//!
//! # Embedding
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferrite_bmcsim::Error> {
//! use ferrite_bmcsim::{Config, PowerState, Simulator};
//!
//! let sim = Simulator::start(Config { systems: 100, ..Config::default() }).await?;
//! let url = format!("{}{}", sim.base_url(), sim.fleet().system_path(7));
//! // ... point a Redfish client at `url` with admin / password ...
//! sim.fleet().set_power_oob(7, PowerState::On).unwrap();
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! `Config::default()` listens on `127.0.0.1:0` (a free port), so tests run
//! in parallel without clashing.
//!
//! # Command line
//!
//! ```text
//! bmcsim --listen 127.0.0.1:8000 --systems 1000 \
//!        [--nics 2] [--latency-ms 0] [--latency-jitter-ms 0] \
//!        [--failure-rate 0.0] [--failure-kinds timeout,500,garbage,drop] \
//!        [--hang-secs 300] [--oob-power-change-rate 0.0] \
//!        [--power-transition-ms 0] [--initial-power off|on|random] \
//!        [--username admin --password password | --no-auth] [--seed 0]
//! ```
//!
//! # Control API
//!
//! * `GET /bmcsim/stats` — request, response-class, fault, power and
//!   connection counters.
//! * `GET|PUT /bmcsim/failures` — `{"rate": 0.1, "kinds": ["500", "drop"]}`.
//! * `GET /bmcsim/systems/{id}` — the simulator's view of one system.
//! * `POST /bmcsim/systems/{id}/faults` — `{"kind": "timeout"|"500"|
//!   "garbage"|"drop"|"none", "count": N, "latency_ms": M}`; without
//!   `count` the fault lasts until replaced or `DELETE`d.
//! * `POST /bmcsim/systems/{id}/power` — `{"state": "On"|"Off"}`.
//!
//! `{id}` is a system id (`sys-00042`), its UUID, or its index (`42`).

#![warn(missing_docs)]

mod auth;
pub mod bios;
pub mod config;
mod control;
mod events;
mod faults;
pub mod fleet;
pub mod inventory;
mod oob;
mod power;
mod redfish;
mod server;
pub mod state;
mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError, Credentials, FailureKind, InitialPower};
pub use fleet::{Fleet, FleetError, SystemSnapshot};
pub use server::serve;
pub use state::{BootMode, BootOverrideEnabled, BootTarget, PowerState, ResetType, SystemFault};
pub use stats::StatsSnapshot;

/// Why the simulator could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum Error {
    /// The configuration was rejected.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Some other I/O failure (e.g. reading the bound address).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("server task ended abnormally: {0}")]
    Task(String),
}

/// Builds the fleet for `config` and serves it on `listener` until
/// `shutdown` completes; what the `bmcsim` binary runs.
pub async fn run<F>(config: Config, listener: TcpListener, shutdown: F) -> Result<(), Error>
where
    F: Future<Output = ()> + Send,
{
    let fleet = Fleet::new(config)?;
    serve(fleet, listener, shutdown).await
}

/// A simulator running in the background of the current Tokio runtime;
/// what tests and benchmarks embed. Dropping it stops the server too
/// (without waiting); [`Simulator::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct Simulator {
    fleet: Arc<Fleet>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl Simulator {
    /// Binds `config.listen` (port 0 picks a free one) and starts serving.
    pub async fn start(config: Config) -> Result<Simulator, Error> {
        let addr = config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        Simulator::start_on(config, listener).await
    }

    /// Starts serving on an already-bound listener (`config.listen` is
    /// ignored), for callers that must know the port before starting.
    pub async fn start_on(config: Config, listener: TcpListener) -> Result<Simulator, Error> {
        let fleet = Fleet::new(config)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(Arc::clone(&fleet), listener, async move {
            let _ = rx.await;
        }));
        tracing::info!(%addr, systems = fleet.len(), "bmcsim started");
        Ok(Simulator {
            fleet,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`, to prefix Redfish paths with.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Full URL of system `index` (e.g. for Ironic's `redfish_address` +
    /// `redfish_system_id`).
    pub fn system_url(&self, index: usize) -> String {
        format!("{}{}", self.base_url(), self.fleet.system_path(index))
    }

    /// The simulated fleet: inspect state, inject faults, flip power.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// Stops accepting, gives open connections a moment, and waits for the
    /// server to finish.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
