//! Power-sync benchmark: a real conductor on a SQLite store syncing the
//! power state of N `redfish` nodes against an in-process `bmcsim` fleet.
//!
//! For each fleet size it times one full pass (`Conductor::power_sync_now`)
//! from cold (first contact: session login, system discovery) and warm,
//! with wall time, CPU time split between the simulator's threads and
//! Ferrite's, and RSS. Then, for the largest size, it lets the loop keep
//! the fleet fresh for a while under random out-of-band power flips and
//! reports CPU use and the worst staleness seen.
//!
//! ```text
//! cargo run --release -p ferrite-conductor --example power_sync_bench -- \
//!     [--nodes 1000,10000] [--steady-secs 60] [--interval 30] [--ports 1] \
//!     [--workers 64] [--per-bmc 4] [--oob-per-hour 1] [--hung 0] [--timeout 10]
//! ```
//!
//! `--hung H` makes H systems (spread over the fleet) hang every request
//! from the start of the steady-state phase, to show that dead BMCs cost
//! the healthy ones nothing: they go to maintenance, the rest stay fresh.
//!
//! `--redfish-url URL` benchmarks an external Redfish service instead (no
//! simulator): one node per member of its `/redfish/v1/Systems`, with
//! `--redfish-user`/`--redfish-password`, timed the same way (cold and
//! warm pass). `scripts/sushy_bench.py` runs it against sushy-tools.
//!
//! `--ports K` serves the fleet on K loopback ports, so the loop sees K BMC
//! hosts (node i uses port i mod K); with one port every read counts
//! against one host's cap (`--per-bmc`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_bmcsim::{Config as SimConfig, Fleet, InitialPower, PowerState as SimPower, Simulator};
use ferrite_conductor::{Conductor, ConductorConfig};
use ferrite_drivers::redfish::{BmcClientExt, RedfishConfig};
use ferrite_model::{Node, PowerState, ProvisionState};
use ferrite_store::{ListQuery, Store};
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    nodes: Vec<usize>,
    steady_secs: u64,
    interval: f64,
    ports: usize,
    workers: usize,
    per_bmc: usize,
    oob_per_hour: f64,
    hung: usize,
    timeout: f64,
    redfish_url: Option<String>,
    redfish_user: String,
    redfish_password: String,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        nodes: vec![1000, 10_000],
        steady_secs: 60,
        interval: 30.0,
        ports: 1,
        workers: 64,
        per_bmc: 4,
        oob_per_hour: 1.0,
        hung: 0,
        timeout: 10.0,
        redfish_url: None,
        redfish_user: "admin".into(),
        redfish_password: "password".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--nodes" => {
                args.nodes = value()?
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--steady-secs" => args.steady_secs = value()?.parse()?,
            "--interval" => args.interval = value()?.parse()?,
            "--ports" => args.ports = value()?.parse::<usize>()?.max(1),
            "--workers" => args.workers = value()?.parse()?,
            "--per-bmc" => args.per_bmc = value()?.parse()?,
            "--oob-per-hour" => args.oob_per_hour = value()?.parse()?,
            "--hung" => args.hung = value()?.parse()?,
            "--timeout" => args.timeout = value()?.parse()?,
            "--redfish-url" => args.redfish_url = Some(value()?),
            "--redfish-user" => args.redfish_user = value()?,
            "--redfish-password" => args.redfish_password = value()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

/// CPU seconds of this process's live threads, split into the simulator's
/// (named `bmcsim*`) and everyone else's, plus the whole process's.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    sim: f64,
    rest: f64,
    process: f64,
}

/// User + system ticks from a `stat` line (fields after the comm's `)`).
fn ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the comm: state is field 3 of the full line, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn cpu() -> Cpu {
    const HZ: f64 = 100.0;
    let mut out = Cpu::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        out.process = ticks(&stat).unwrap_or(0) as f64 / HZ;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Some(t) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|s| ticks(&s))
        else {
            continue;
        };
        if comm.starts_with("bmcsim") {
            out.sim += t as f64 / HZ;
        } else {
            out.rest += t as f64 / HZ;
        }
    }
    out
}

fn delta(a: Cpu, b: Cpu) -> Cpu {
    Cpu {
        sim: b.sim - a.sim,
        rest: b.rest - a.rest,
        process: b.process - a.process,
    }
}

/// (VmRSS, VmHWM) in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The fleet served on `ports` listeners of the simulator runtime.
struct Sim {
    _main: Simulator,
    fleet: Arc<Fleet>,
    urls: Vec<String>,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn start_sim(systems: usize, ports: usize) -> Result<Sim, BoxError> {
    let main = Simulator::start(SimConfig {
        systems,
        initial_power: InitialPower::Random,
        oob_power_change_rate: 0.0,
        ..SimConfig::default()
    })
    .await?;
    let fleet = main.fleet().clone();
    let mut urls = vec![main.base_url()];
    let mut stops = Vec::new();
    for _ in 1..ports {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        urls.push(format!("http://{}", listener.local_addr()?));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ferrite_bmcsim::serve(fleet.clone(), listener, async move {
            let _ = rx.await;
        }));
        stops.push(tx);
    }
    Ok(Sim {
        _main: main,
        fleet,
        urls,
        _stops: stops,
    })
}

fn to_model(p: SimPower) -> PowerState {
    match p {
        SimPower::On | SimPower::PoweringOn => PowerState::On,
        SimPower::Off | SimPower::PoweringOff => PowerState::Off,
    }
}

async fn enroll(store: &Store, sim: &Sim, n: usize) -> Result<Vec<Uuid>, BoxError> {
    let nodes: Vec<Node> = (0..n)
        .map(|i| {
            let info = json!({
                "redfish_address": sim.urls[i % sim.urls.len()],
                "redfish_system_id": sim.fleet.system_path(i),
                "redfish_username": "admin",
                "redfish_password": "password",
            });
            Node {
                uuid: Uuid::new_v4(),
                name: Some(format!("node-{i:05}")),
                driver: "redfish".into(),
                driver_info: info.as_object().cloned().unwrap_or_default(),
                provision_state: ProvisionState::Active,
                power_state: sim.fleet.power_state(i).map(to_model),
                created_at: chrono::Utc::now(),
                ..Node::default()
            }
        })
        .collect();
    let results: Vec<_> = futures::stream::iter(nodes)
        .map(|node| store.insert(node))
        .buffered(256)
        .collect()
        .await;
    let mut uuids = Vec::with_capacity(n);
    for r in results {
        uuids.push(r?.uuid);
    }
    Ok(uuids)
}

/// Nodes whose recorded power state differs from the simulator's.
async fn mismatches(store: &Store, sim: &Sim, uuids: &[Uuid]) -> Result<usize, BoxError> {
    let mut index = std::collections::HashMap::new();
    for (i, u) in uuids.iter().enumerate() {
        index.insert(*u, i);
    }
    let mut marker = None;
    let mut wrong = 0;
    loop {
        let page: Vec<Node> = store
            .list(&ListQuery {
                limit: Some(1000),
                marker: marker.take(),
                ..ListQuery::default()
            })
            .await?;
        for node in &page {
            if let Some(i) = index.get(&node.uuid) {
                let actual = sim.fleet.power_state(*i).map(to_model);
                if node.power_state != actual {
                    wrong += 1;
                }
            }
        }
        if page.len() < 1000 {
            break;
        }
        marker = page.last().map(|n| n.uuid.to_string());
    }
    Ok(wrong)
}

fn config(args: &Args) -> ConductorConfig {
    ConductorConfig {
        hostname: "bench-conductor".into(),
        sync_power_state_interval: args.interval,
        sync_power_state_workers: args.workers,
        sync_power_state_workers_per_bmc: args.per_bmc,
        sync_power_state_timeout: args.timeout,
        // Polling is what is measured; events would only add subscriptions.
        redfish_event_listen: String::new(),
        ..ConductorConfig::default()
    }
}

async fn timed_pass(c: &Conductor, label: &str, n: usize) -> Result<(), BoxError> {
    let cpu0 = cpu();
    let t0 = Instant::now();
    let report = c.power_sync_now().await?;
    let wall = t0.elapsed();
    let used = delta(cpu0, cpu());
    let (rss, hwm) = rss();
    println!(
        "| {n:>6} | {label:<5} | {:>7.2} s | {:>6.2} s | {:>6.2} s | {:>6.2} s | {:>5.0} MiB | {:>5.0} MiB | {} synced, {} failed, {} skipped |",
        wall.as_secs_f64(),
        used.process,
        used.rest,
        used.sim,
        rss,
        hwm,
        report.synced,
        report.failed,
        report.skipped
    );
    Ok(())
}

/// Enrols one node per system of the Redfish service at `url` (power
/// state unknown, so the cold pass records every one) and times a cold
/// and a warm pass.
async fn run_external(args: &Args, url: &str) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite:{}",
        dir.path().join("ferrite.db").display()
    ))
    .await?;
    let info = |system: Option<&str>| {
        let mut info = json!({
            "redfish_address": url,
            "redfish_username": args.redfish_user,
            "redfish_password": args.redfish_password,
        });
        if let Some(system) = system {
            info["redfish_system_id"] = json!(system);
        }
        info.as_object().cloned().unwrap_or_default()
    };
    let probe = Node {
        driver: "redfish".into(),
        driver_info: info(None),
        ..Node::default()
    };
    let client = ferrite_drivers::redfish::http::client_for(&RedfishConfig::from_node(&probe)?)?;
    let systems = client.members("/redfish/v1/Systems").await?;
    for (i, system) in systems.iter().enumerate() {
        store
            .insert(Node {
                uuid: Uuid::new_v4(),
                name: Some(format!("node-{i:05}")),
                driver: "redfish".into(),
                driver_info: info(Some(system)),
                provision_state: ProvisionState::Active,
                created_at: chrono::Utc::now(),
                ..Node::default()
            })
            .await?;
    }
    eprintln!("enrolled {} nodes from {url}", systems.len());
    let c = Conductor::start(store.clone(), config(args)).await?;
    timed_pass(&c, "cold", systems.len()).await?;
    timed_pass(&c, "warm", systems.len()).await?;
    c.shutdown().await;
    store.close().await;
    Ok(())
}

async fn run_size(
    args: &Args,
    sim_rt: &tokio::runtime::Runtime,
    n: usize,
    steady: bool,
) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!(
        "sqlite:{}",
        dir.path().join("ferrite.db").display()
    ))
    .await?;
    let sim = sim_rt.spawn(start_sim(n, args.ports)).await??;
    let t = Instant::now();
    let uuids = enroll(&store, &sim, n).await?;
    eprintln!("enrolled {n} nodes in {:.1} s", t.elapsed().as_secs_f64());
    // One percent of the fleet changed power while nobody watched.
    for i in (0..n).step_by(100) {
        let now = sim.fleet.power_state(i).map(to_model);
        let flip = if now == Some(PowerState::On) {
            SimPower::Off
        } else {
            SimPower::On
        };
        sim.fleet.set_power_oob(i, flip)?;
    }
    let (base_rss, base_hwm) = rss();
    eprintln!(
        "RSS before the conductor started (store, simulator, enrolment): {base_rss:.0} MiB \
         (peak so far {base_hwm:.0} MiB)"
    );
    let c = Conductor::start(store.clone(), config(args)).await?;
    timed_pass(&c, "cold", n).await?;
    timed_pass(&c, "warm", n).await?;
    let wrong = mismatches(&store, &sim, &uuids).await?;
    eprintln!("after the passes: {wrong} nodes disagree with their BMC");

    if steady {
        steady_state(args, &c, &store, &sim, &uuids).await?;
    }
    c.shutdown().await;
    store.close().await;
    Ok(())
}

async fn steady_state(
    args: &Args,
    c: &Conductor,
    store: &Store,
    sim: &Sim,
    uuids: &[Uuid],
) -> Result<(), BoxError> {
    let n = uuids.len();
    let hung: Vec<usize> = (0..args.hung.min(n))
        .map(|k| (k * n / args.hung.max(1) + k) % n)
        .collect();
    for &i in &hung {
        sim.fleet.set_fault(
            i,
            ferrite_bmcsim::SystemFault {
                kind: Some(ferrite_bmcsim::FailureKind::Timeout),
                remaining: None,
                latency_ms: None,
            },
        )?;
    }
    let before = c.power_sync_stats();
    let cpu0 = cpu();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(args.steady_secs);
    let mut worst_now = Duration::ZERO;
    let mut flips = 0u64;
    // Out-of-band flips: `oob_per_hour` per system, spread over the run.
    let per_sec = args.oob_per_hour * n as f64 / 3600.0;
    let mut owed = 0.0;
    let mut k = 0usize;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        owed += per_sec * 0.25;
        while owed >= 1.0 {
            owed -= 1.0;
            k = (k + 7919) % n;
            if hung.contains(&k) {
                continue;
            }
            let now = sim.fleet.power_state(k).map(to_model);
            let to = if now == Some(PowerState::On) {
                SimPower::Off
            } else {
                SimPower::On
            };
            sim.fleet.set_power_oob(k, to)?;
            flips += 1;
        }
        worst_now = worst_now.max(c.power_sync_stats().max_staleness);
    }
    let wall = t0.elapsed().as_secs_f64();
    let used = delta(cpu0, cpu());
    let after = c.power_sync_stats();
    let (rss, hwm) = rss();
    // Hung systems are in maintenance with an unknown power state: they
    // are expected to disagree.
    let wrong = mismatches(store, sim, uuids)
        .await?
        .saturating_sub(hung.len());
    println!();
    println!(
        "steady state: {n} nodes, interval {} s (period {:.1} s), {:.0} s, {flips} out-of-band flips",
        args.interval,
        after.period.as_secs_f64(),
        wall
    );
    println!(
        "  reads {} ({:.0}/s), failures {}, changes recorded {}, hung BMCs {} ({} put in maintenance)",
        after.reads - before.reads,
        (after.reads - before.reads) as f64 / wall,
        after.read_failures - before.read_failures,
        after.changes_recorded - before.changes_recorded,
        hung.len(),
        after.maintenance_set - before.maintenance_set
    );
    println!(
        "  CPU: process {:.1}% of one core (ferrite threads {:.1}%, bmcsim threads {:.1}%)",
        100.0 * used.process / wall,
        100.0 * used.rest / wall,
        100.0 * used.sim / wall
    );
    println!(
        "  healthy nodes: max staleness sampled {:.2} s; worst gap between two reads of a node {:.2} s; bound {} s",
        worst_now.as_secs_f64(),
        after.worst_staleness.as_secs_f64(),
        args.interval
    );
    println!(
        "  RSS {rss:.0} MiB (peak {hwm:.0} MiB); nodes disagreeing with their BMC at the end: {wrong}"
    );
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bmcsim")
        .enable_all()
        .build()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ferrite")
        .enable_all()
        .build()?;
    println!(
        "power sync: {} port(s), workers {}, per BMC host {}, interval {} s",
        args.ports, args.workers, args.per_bmc, args.interval
    );
    println!(
        "| nodes  | pass  | wall      | CPU      | ferrite  | bmcsim   | RSS       | peak RSS  | result |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    if let Some(url) = &args.redfish_url {
        return rt.block_on(run_external(&args, url));
    }
    let largest = args.nodes.iter().copied().max().unwrap_or(0);
    for &n in &args.nodes {
        let steady = n == largest && args.steady_secs > 0;
        rt.block_on(run_size(&args, &sim_rt, n, steady))?;
    }
    Ok(())
}
