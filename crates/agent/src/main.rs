//! The `ferrite-agent` binary: gathers its settings (flags, kernel command
//! line, virtual-media file), then serves and calls back until stopped.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use ferrite_agent::Agent;
use ferrite_agent::config::{Config, DEFAULT_CONFIG_FILE, Settings};
use ferrite_agent::host::SystemHost;
use ferrite_agent::image::StreamWriter;

/// Flags; each overrides the kernel command line and the config file.
#[derive(Debug, Parser)]
#[command(
    name = "ferrite-agent",
    version,
    about = "Ferrite's deploy-ramdisk agent"
)]
struct Flags {
    /// The API URL (kernel command line: ipa-api-url= or ferrite.api_url=).
    #[arg(long)]
    api_url: Option<String>,
    /// The address to advertise in the callback URL.
    #[arg(long)]
    advertise_host: Option<String>,
    /// The command API's port (default 9999).
    #[arg(long)]
    listen_port: Option<u16>,
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    listen_address: String,
    /// Never call the API: wait to be claimed by a conductor.
    #[arg(long)]
    poll_only: bool,
    /// A JSON settings file (default: the virtual-media one, if present).
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// The kernel command line to read (default: <root>/proc/cmdline).
    #[arg(long)]
    cmdline: Option<PathBuf>,
    /// Where /proc, /sys, /dev and /etc are (a fake tree for testing).
    #[arg(long, default_value = "/")]
    root: PathBuf,
}

fn settings(flags: &Flags) -> anyhow::Result<Settings> {
    let cmdline_path = flags
        .cmdline
        .clone()
        .unwrap_or_else(|| flags.root.join("proc/cmdline"));
    let cmdline = std::fs::read_to_string(&cmdline_path).unwrap_or_default();
    let from_cmdline = Settings::from_cmdline(&cmdline)?;
    let file = flags
        .config_file
        .clone()
        .or(from_cmdline.config_file.clone())
        .or_else(|| Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()));
    let from_file = match file {
        Some(path) => Settings::from_file(&path)?,
        None => Settings::default(),
    };
    let from_flags = Settings {
        api_url: flags.api_url.clone(),
        advertise_host: flags.advertise_host.clone(),
        listen_port: flags.listen_port,
        poll_only: flags.poll_only.then_some(true),
        ..Settings::default()
    };
    Ok(from_flags.over(from_cmdline).over(from_file))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::parse();
    let config = Config::resolve(settings(&flags)?, flags.root.clone())?;
    let addr = format!("{}:{}", flags.listen_address, config.listen_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(%addr, poll_only = config.poll_only, "ferrite-agent serving");
    let host = Arc::new(SystemHost {
        root: flags.root.clone(),
    });
    let agent = Agent::new(config, host, Arc::new(StreamWriter));
    ferrite_agent::run(agent, listener).await?;
    Ok(())
}
