//! `ferrite`: the one binary of a Ferrite site. Wiring only: parse the
//! command line, load the configuration, set up logging, and hand over to
//! the subcommand.

mod allocator;
mod boot;
mod config;
mod logging;
mod serve;
mod upgrade_check;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ferrite_model::version::{MAX_VERSION, MIN_VERSION};

use crate::config::{ConductorFlags, Flags, ServeFlags};
use crate::serve::Part;

/// Bare-metal provisioning that speaks the OpenStack Ironic API v1.
#[derive(Debug, Parser)]
#[command(name = "ferrite", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Command,
}

/// What the binary can do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole site in one process: the Ironic v1 API and the conductor
    /// on an embedded SQLite database (or PostgreSQL with --database).
    Serve(ServeFlags),
    /// Run the Ironic v1 API only, beside `ferrite conductor` processes on
    /// a shared PostgreSQL database (--database postgresql://…). Any number
    /// may run; they never talk to a BMC.
    Api(ServeFlags),
    /// Run a conductor only (no HTTP API), beside `ferrite api` processes
    /// and other conductors on a shared PostgreSQL database.
    Conductor(ConductorFlags),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Check that this build can run on the database and configuration:
    /// pending migrations, refused configuration, nodes it cannot resume.
    /// Exit code 0 ok, 1 warning, 2 failure.
    UpgradeCheck(UpgradeCheckFlags),
    /// Print the version and the API microversions served.
    Version,
}

/// `ferrite db …`.
#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply every pending migration (a missing SQLite file is created; a
    /// PostgreSQL database must exist).
    Upgrade,
}

/// Flags of `ferrite upgrade-check`.
#[derive(Debug, clap::Args)]
struct UpgradeCheckFlags {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

/// How a report is printed: a table for people, JSON for scripts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    if let Command::UpgradeCheck(flags) = &cli.command {
        return upgrade_check(&cli.flags, flags.format);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrite: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!(
                "ferrite {} (OpenStack Ironic API v1, microversions {MIN_VERSION} to {MAX_VERSION})",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Command::Serve(serve_flags) => {
            let settings = config::load(&cli.flags, Some(&serve_flags))?;
            serve(settings, Part::Site)
        }
        Command::Api(serve_flags) => {
            let settings = config::load(&cli.flags, Some(&serve_flags))?;
            serve(settings, Part::Api)
        }
        Command::Conductor(flags) => {
            let mut settings = config::load(&cli.flags, None)?;
            flags.apply(&mut settings)?;
            serve(settings, Part::Conductor)
        }
        Command::Db(DbCommand::Upgrade) => {
            let settings = config::load(&cli.flags, None)?;
            logging::init(settings.log_format, settings.log_level.as_deref())?;
            runtime()?.block_on(db_upgrade(&settings))
        }
        Command::UpgradeCheck(_) => unreachable!("handled in main"),
    }
}

/// Runs `part` of a site on its own runtime until it is told to stop.
fn serve(settings: config::Settings, part: Part) -> anyhow::Result<()> {
    logging::init(settings.log_format, settings.log_level.as_deref())?;
    let rt = runtime()?;
    let result = rt.block_on(serve::run(settings, part));
    // Everything that matters has stopped; don't let a stray blocking task
    // hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

/// `ferrite db upgrade`: applies what is pending and says what it applied.
async fn db_upgrade(settings: &config::Settings) -> anyhow::Result<()> {
    let url = settings.database_url()?;
    let shown = ferrite_store::redact_url(&url);
    let before = ferrite_store::Store::migrations(&url)
        .await
        .with_context(|| format!("cannot read the database {shown}"))?;
    let store = ferrite_store::Store::open(&url)
        .await
        .with_context(|| format!("cannot open or migrate the database {shown}"))?;
    store.close().await;
    let applied: Vec<String> = before
        .iter()
        .filter(|m| m.state == ferrite_store::MigrationState::Pending)
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    if applied.is_empty() {
        println!("database {shown} is up to date");
    } else {
        println!(
            "database {shown}: applied {} migration(s): {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(())
}

/// `ferrite upgrade-check`: prints the report and exits with its worst
/// outcome (0 ok, 1 warning, 2 failure).
fn upgrade_check(flags: &Flags, format: OutputFormat) -> ExitCode {
    let checks = match runtime() {
        Ok(rt) => rt.block_on(upgrade_check::run(flags)),
        Err(e) => {
            eprintln!("ferrite: error: {e:#}");
            return ExitCode::from(upgrade_check::Outcome::Failure.code());
        }
    };
    let worst = upgrade_check::worst(&checks);
    match format {
        OutputFormat::Table => print!("{}", upgrade_check::render_table(&checks)),
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"result": worst, "exit_code": worst.code(), "checks": checks})
        ),
    }
    ExitCode::from(worst.code())
}

/// The async runtime, built only for the subcommands that need one.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
