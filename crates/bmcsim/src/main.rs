//! `bmcsim` command line: serve a fleet of simulated Redfish BMCs until
//! interrupted. See the crate docs or `bmcsim --help` for the options.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferrite_bmcsim::config::parse_failure_kinds;
use ferrite_bmcsim::{Config, Credentials, InitialPower};
use tokio::net::TcpListener;

const AFTER_HELP: &str = "\
Systems are /redfish/v1/Systems/sys-00000 ... (also by UUID); each has a
manager /redfish/v1/Managers/<id> and chassis /redfish/v1/Chassis/<id>.

Control API (no auth, never faulted; <id> = sys-00042, UUID or 42):
  GET    /bmcsim/stats                      counters
  GET    /bmcsim/systems/<id>               simulator's view of one system
  POST   /bmcsim/systems/<id>/faults        {\"kind\": \"timeout|500|garbage|drop|none\", \"count\": N, \"latency_ms\": M}
  DELETE /bmcsim/systems/<id>/faults        heal
  POST   /bmcsim/systems/<id>/power         {\"state\": \"On|Off\"}  (out-of-band change)
  GET|PUT /bmcsim/failures                  {\"rate\": 0.1, \"kinds\": [\"500\", \"drop\"]}
  GET    /bmcsim/subscriptions              EventService subscriptions and delivery counts
  DELETE /bmcsim/subscriptions              forget them all (a BMC reset to defaults)

Example: bmcsim --systems 10000 --latency-ms 5 --power-transition-ms 2000 --failure-rate 0.01";

/// Serve N simulated Redfish BMCs (ComputerSystem + Manager + Chassis each)
/// on one port, with optional latency, failures and out-of-band power
/// changes. Control API under /bmcsim (see README).
#[derive(Debug, Parser)]
#[command(name = "bmcsim", version, after_help = AFTER_HELP)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address
    /// is printed).
    #[arg(long, default_value = "127.0.0.1:8000", env = "BMCSIM_LISTEN")]
    listen: SocketAddr,

    /// Number of simulated systems (ids sys-00000, sys-00001, ...).
    #[arg(long, default_value_t = 1000)]
    systems: usize,

    /// Ethernet interfaces per system (MACs 52:54:00:xx:xx:xx, unique).
    #[arg(long, default_value_t = 2)]
    nics: u8,

    /// Base latency added to every Redfish request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,

    /// Extra uniform random latency in 0..=N milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_jitter_ms: u64,

    /// Probability (0.0-1.0) that any Redfish request fails.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,

    /// Comma-separated failure kinds picked at random: timeout (hold, then
    /// close unanswered), 500 (Redfish error), garbage (200 + non-JSON
    /// body), drop (close without a response).
    #[arg(long, default_value = "timeout,500,garbage,drop")]
    failure_kinds: String,

    /// How long a `timeout` failure holds the request before closing it.
    #[arg(long, default_value_t = 300)]
    hang_secs: u64,

    /// Random out-of-band power flips per system per hour (0 = none).
    #[arg(long, default_value_t = 0.0)]
    oob_power_change_rate: f64,

    /// Duration of power transitions in ms; PowerState reads PoweringOn /
    /// PoweringOff meanwhile (0 = immediate).
    #[arg(long, default_value_t = 0)]
    power_transition_ms: u64,

    /// Power state at start: off, on or random (seeded).
    #[arg(long, default_value = "off")]
    initial_power: InitialPower,

    /// User name for HTTP Basic and session login.
    #[arg(long, default_value = "admin", env = "BMCSIM_USERNAME")]
    username: String,

    /// Password for HTTP Basic and session login.
    #[arg(long, default_value = "password", env = "BMCSIM_PASSWORD")]
    password: String,

    /// Accept every request without credentials.
    #[arg(long)]
    no_auth: bool,

    /// Seed for inventory (UUIDs, MACs, hardware), failures and OOB changes.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Turn the EventService off (ServiceEnabled false, no subscriptions,
    /// no events), like a BMC without one.
    #[arg(long)]
    no_event_service: bool,
}

impl Args {
    fn into_config(self) -> Result<Config, String> {
        let failure_kinds = parse_failure_kinds(&self.failure_kinds).map_err(|e| e.to_string())?;
        let config = Config {
            listen: self.listen,
            systems: self.systems,
            nics_per_system: self.nics,
            latency: Duration::from_millis(self.latency_ms),
            latency_jitter: Duration::from_millis(self.latency_jitter_ms),
            failure_rate: self.failure_rate,
            failure_kinds,
            hang: Duration::from_secs(self.hang_secs),
            oob_power_change_rate: self.oob_power_change_rate,
            power_transition: Duration::from_millis(self.power_transition_ms),
            initial_power: self.initial_power,
            auth: (!self.no_auth).then_some(Credentials {
                username: self.username,
                password: self.password,
            }),
            seed: self.seed,
            event_service: !self.no_event_service,
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Resolves on Ctrl-C or SIGTERM, so `kill <pid>` stops the server cleanly.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Args::parse().into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bmcsim: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bmcsim: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ferrite_bmcsim::Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr()?;
        // One line on stdout, easy for scripts to wait for and parse.
        println!(
            "bmcsim listening on http://{addr} with {} systems (first: /redfish/v1/Systems/sys-00000, auth: {})",
            config.systems,
            if config.auth.is_some() { "basic+session" } else { "none" }
        );
        ferrite_bmcsim::run(config, listener, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bmcsim: {e}");
            ExitCode::FAILURE
        }
    }
}
