//! `ferrite`: the one binary of a Ferrite site. Wiring only: parse the
//! command line, load the configuration, set up logging, and hand over to
//! the subcommand.

mod allocator;
mod boot;
mod config;
mod logging;
mod serve;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ferrite_model::version::{MAX_VERSION, MIN_VERSION};

use crate::config::{Flags, ServeFlags};

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
    /// on an embedded SQLite database.
    Serve(ServeFlags),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Print the version and the API microversions served.
    Version,
}

/// `ferrite db …`.
#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Create the database if missing and apply every pending migration.
    Upgrade,
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
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
            logging::init(settings.log_format, settings.log_level.as_deref())?;
            let rt = runtime()?;
            let result = rt.block_on(serve::run(settings));
            // Everything that matters has stopped; don't let a stray
            // blocking task hold the exit up.
            rt.shutdown_timeout(std::time::Duration::from_millis(500));
            result
        }
        Command::Db(DbCommand::Upgrade) => {
            let settings = config::load(&cli.flags, None)?;
            logging::init(settings.log_format, settings.log_level.as_deref())?;
            runtime()?.block_on(async {
                let dir = serve::prepare_data_dir(&settings.data_dir)?;
                let url = config::database_url(&dir)?;
                ferrite_store::Store::open(&url).await.with_context(|| {
                    format!("cannot open or migrate the database in {}", dir.display())
                })?;
                println!(
                    "database {} is up to date",
                    dir.join("ferrite.sqlite").display()
                );
                Ok(())
            })
        }
    }
}

/// The async runtime, built only for the subcommands that need one.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
