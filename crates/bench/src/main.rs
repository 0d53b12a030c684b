//! `ferrite-bench`: a load generator that speaks only the Ironic v1 API.
//!
//! Because it uses nothing but the public API, the same run can be pointed at
//! Ferrite and at a real Ironic on the same machine, which is how the quality
//! bars of DESIGN.md §6 ("≥ 20× faster than Ironic") are measured. N nodes
//! with the `fake-hardware` type go through enroll, list, show, manage,
//! provide, instance_info, deploy, undeploy and delete with C concurrent
//! clients; each phase's wall time, throughput and the server's RSS are
//! reported. Every wait has a deadline, so a run always ends by itself.

mod report;
mod rss;
mod run;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferrite_client::{Client, RetryPolicy};

use crate::run::{Config, Phase, Runner};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "ferrite-bench",
    version,
    about = "Drive N fake-hardware nodes through the Ironic API lifecycle and time each phase"
)]
struct Args {
    /// Base URL of the Ironic-API endpoint (Ferrite or Ironic).
    #[arg(long, default_value = "http://127.0.0.1:6385")]
    url: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Comma-separated phases, run in the order given.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Phase::ALL)]
    phases: Vec<Phase>,
    /// PID of the server whose RSS to report; repeat for multi-process
    /// servers (Ironic's API and conductor), the values are summed.
    #[arg(long)]
    pid: Vec<u32>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Node name prefix and resource class of this run (default: random);
    /// give the one of an earlier run to work on its nodes without enrolling.
    #[arg(long)]
    prefix: Option<String>,
    /// Hardware type to enroll nodes with.
    #[arg(long, default_value = "fake-hardware")]
    driver: String,
    /// Seconds each phase may wait for nodes to settle (default 600 + N/2).
    #[arg(long)]
    wait_timeout: Option<u64>,
    /// Full passes made by the list phase; the median is reported.
    #[arg(long, default_value_t = 3)]
    list_repeat: usize,
    /// Microversion to request.
    #[arg(long, default_value = "latest")]
    api_version: String,
    /// HTTP basic auth user (with --password), for `http_basic` servers.
    #[arg(long, env = "FERRITE_BENCH_USER")]
    user: Option<String>,
    /// HTTP basic auth password.
    #[arg(long, env = "FERRITE_BENCH_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

fn config(args: &Args) -> Config {
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("bench-{}", &id[..8])
    });
    Config {
        nodes: args.nodes,
        concurrency: args.concurrency.max(1),
        phases: args.phases.clone(),
        pids: args.pid.clone(),
        prefix,
        driver: args.driver.clone(),
        wait_timeout: Duration::from_secs(
            args.wait_timeout.unwrap_or(600 + (args.nodes as u64) / 2),
        ),
        list_repeat: args.list_repeat.max(1),
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let cfg = config(&args);
    let mut builder = Client::builder(&args.url)
        .api_version(&args.api_version)
        .pool_idle_per_host(cfg.concurrency)
        .timeout(Duration::from_secs(120))
        // Lock conflicts are part of the load; retry them patiently rather
        // than counting them as failures (python-ironicclient does too).
        .retry(RetryPolicy {
            max_retries: 100,
            delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
        });
    if let Some(user) = &args.user {
        builder = builder.basic_auth(user, args.password.clone().unwrap_or_default());
    }
    let client = builder.build()?;
    let report = Runner::new(client, cfg).run(&args.url).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(report.errors == 0)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ferrite-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_phase_lists_and_defaults() {
        let a = Args::try_parse_from([
            "ferrite-bench",
            "--nodes",
            "10",
            "--phases",
            "enroll,instance-info,delete",
            "--pid",
            "1",
            "--pid",
            "2",
        ])
        .unwrap();
        assert_eq!(
            a.phases,
            [Phase::Enroll, Phase::InstanceInfo, Phase::Delete]
        );
        let c = config(&a);
        assert_eq!(c.pids, [1, 2]);
        assert!(c.prefix.starts_with("bench-") && c.prefix.len() == 14);
        assert_eq!(c.wait_timeout, Duration::from_secs(605));
        let d = Args::try_parse_from(["ferrite-bench"]).unwrap();
        assert_eq!(d.phases, Phase::ALL);
        assert!(Args::try_parse_from(["ferrite-bench", "--phases", "nope"]).is_err());
    }
}
