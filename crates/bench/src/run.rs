//! The phases of a run and how each is measured.
//!
//! Every phase works on this run's nodes only: they carry a unique name
//! prefix and, as `resource_class`, the prefix itself, so waits can poll
//! `GET /v1/nodes?resource_class=<prefix>&fields=uuid,provision_state` — a
//! handful of list requests per tick whatever N is — instead of one GET per
//! node per tick, which would measure the poller rather than the server.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use ferrite_client::{Client, Error, ListQuery, PatchOp, is_failure_state};
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::report::{PhaseResult, Report};
use crate::rss;

/// One step of the lifecycle, run over every node of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// `POST /v1/nodes` once per node.
    Enroll,
    /// Page through all nodes with default fields, then with `detail=true`.
    List,
    /// `GET /v1/nodes/{uuid}` once per node.
    Show,
    /// `manage`, then wait for `manageable`.
    Manage,
    /// `provide`, then wait for `available`.
    Provide,
    /// PATCH `instance_info` (image_source, checksum, root_gb).
    InstanceInfo,
    /// Target `active`, then wait for `active`.
    Deploy,
    /// Target `deleted`, then wait for `available` (teardown + cleaning).
    Undeploy,
    /// `DELETE /v1/nodes/{uuid}` once per node.
    Delete,
}

impl Phase {
    /// Every phase, in lifecycle order (the default `--phases`).
    pub const ALL: [Phase; 9] = [
        Phase::Enroll,
        Phase::List,
        Phase::Show,
        Phase::Manage,
        Phase::Provide,
        Phase::InstanceInfo,
        Phase::Deploy,
        Phase::Undeploy,
        Phase::Delete,
    ];
}

/// What to run and against what.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of nodes to enroll.
    pub nodes: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Phases to run, in order.
    pub phases: Vec<Phase>,
    /// PIDs whose RSS is reported (summed).
    pub pids: Vec<u32>,
    /// Name prefix and resource class of the run's nodes.
    pub prefix: String,
    /// Hardware type to enroll with.
    pub driver: String,
    /// Upper bound of each phase's wait for nodes to settle.
    pub wait_timeout: Duration,
    /// How many full passes the list phase makes (the median is reported).
    pub list_repeat: usize,
}

/// Runs the phases and collects their results.
pub struct Runner {
    client: Client,
    cfg: Config,
    /// Nodes enrolled (or found) for this run: what `delete` cleans up.
    enrolled: Vec<Uuid>,
    /// Nodes still on track: a node that failed a step drops out of the
    /// following lifecycle steps, so one failure does not cascade.
    live: Vec<Uuid>,
    results: Vec<PhaseResult>,
}

/// Outcome of running one request per node.
struct Fanout {
    ok: Vec<Uuid>,
    errors: usize,
    first_error: Option<String>,
}

/// Outcome of waiting for nodes to reach a state.
struct Wait {
    reached: Vec<Uuid>,
    failed: Vec<(Uuid, String)>,
    pending: Vec<Uuid>,
    polls: usize,
    poll_errors: usize,
    last_poll_error: Option<String>,
}

fn first_of(first: &mut Option<String>, msg: impl FnOnce() -> String) {
    if first.is_none() {
        *first = Some(msg());
    }
}

impl Runner {
    /// Prepares a run; nothing is sent until [`Runner::run`].
    pub fn new(client: Client, cfg: Config) -> Self {
        Runner {
            client,
            cfg,
            enrolled: Vec::new(),
            live: Vec::new(),
            results: Vec::new(),
        }
    }

    /// Runs every configured phase in order and returns the report.
    pub async fn run(mut self, url: &str) -> anyhow::Result<Report> {
        let max_version = self.client.max_version().await?;
        if !self.cfg.phases.contains(&Phase::Enroll) {
            self.discover().await?;
        }
        let rss_start = rss::sample(&self.cfg.pids);
        if let Some(r) = rss_start {
            eprintln!(
                "server RSS at start: {:.1} MiB",
                r.current_kib as f64 / 1024.0
            );
        }
        for phase in self.cfg.phases.clone() {
            eprintln!(
                "phase {}: {} nodes, concurrency {}",
                phase
                    .to_possible_value()
                    .map_or_else(|| format!("{phase:?}"), |v| v.get_name().to_string()),
                self.live.len().max(if phase == Phase::Enroll {
                    self.cfg.nodes
                } else {
                    0
                }),
                self.cfg.concurrency
            );
            match phase {
                Phase::Enroll => self.enroll().await,
                Phase::List => self.list().await,
                Phase::Show => self.show().await,
                Phase::Manage => self.transition("manage", "manage", "manageable").await,
                Phase::Provide => self.transition("provide", "provide", "available").await,
                Phase::InstanceInfo => self.instance_info().await,
                Phase::Deploy => self.transition("deploy", "active", "active").await,
                Phase::Undeploy => self.transition("undeploy", "deleted", "available").await,
                Phase::Delete => self.delete().await,
            }
            if let Some(last) = self.results.last() {
                eprintln!(
                    "  {}: {:.3} s, {} errors",
                    last.name, last.wall_s, last.errors
                );
            }
        }
        let sum_of = |names: &[&str]| -> Option<f64> {
            names
                .iter()
                .map(|n| self.results.iter().find(|r| r.name == *n).map(|r| r.wall_s))
                .sum()
        };
        let enroll_to_active_s = sum_of(&["enroll", "manage", "provide", "deploy"]);
        let errors = self.results.iter().map(|r| r.errors).sum();
        Ok(Report {
            url: url.to_string(),
            server_max_version: max_version,
            nodes: self.cfg.nodes,
            concurrency: self.cfg.concurrency,
            prefix: self.cfg.prefix.clone(),
            rss_start_kib: rss_start.map(|r| r.current_kib),
            phases: self.results,
            enroll_to_active_s,
            errors,
        })
    }

    /// Without an enroll phase, works on the nodes a previous run with the
    /// same `--prefix` left behind.
    async fn discover(&mut self) -> anyhow::Result<()> {
        let query = ListQuery::new()
            .resource_class(&self.cfg.prefix)
            .fields(&["uuid"]);
        let nodes = self.client.list_nodes_all(&query).await?;
        self.enrolled = nodes.iter().filter_map(|n| n.uuid).collect();
        self.live = self.enrolled.clone();
        eprintln!(
            "found {} nodes with resource_class {}",
            self.enrolled.len(),
            self.cfg.prefix
        );
        Ok(())
    }

    fn finish(&mut self, name: &str, ops: usize, wall: Duration) -> &mut PhaseResult {
        let rss = rss::sample(&self.cfg.pids);
        self.results.push(PhaseResult::new(name, ops, wall, rss));
        let last = self.results.len() - 1;
        &mut self.results[last]
    }

    /// Runs `op` once per node with `concurrency` requests in flight.
    async fn fanout<F, Fut>(&self, ids: &[Uuid], op: F) -> Fanout
    where
        F: Fn(Client, Uuid) -> Fut,
        Fut: Future<Output = Result<(), Error>>,
    {
        let mut out = Fanout {
            ok: Vec::with_capacity(ids.len()),
            errors: 0,
            first_error: None,
        };
        let mut results = futures::stream::iter(ids.iter().copied())
            .map(|id| {
                let fut = op(self.client.clone(), id);
                async move { (id, fut.await) }
            })
            .buffer_unordered(self.cfg.concurrency.max(1));
        while let Some((id, result)) = results.next().await {
            match result {
                Ok(()) => out.ok.push(id),
                Err(e) => {
                    out.errors += 1;
                    first_of(&mut out.first_error, || format!("node {id}: {e}"));
                }
            }
        }
        out
    }

    async fn enroll(&mut self) {
        let start = Instant::now();
        let prefix = self.cfg.prefix.clone();
        let driver = self.cfg.driver.clone();
        let mut created = Vec::with_capacity(self.cfg.nodes);
        let mut errors = 0;
        let mut first_error = None;
        let mut results = futures::stream::iter(0..self.cfg.nodes)
            .map(|i| {
                let client = self.client.clone();
                let body = json!({
                    "name": format!("{prefix}-{i:06}"),
                    "driver": driver,
                    "resource_class": prefix,
                    "properties": {
                        "cpus": 4,
                        "memory_mb": 8192,
                        "local_gb": 100,
                        "cpu_arch": "x86_64"
                    },
                    "extra": {"bench_index": i}
                });
                async move { (i, client.create_node(&body).await) }
            })
            .buffer_unordered(self.cfg.concurrency.max(1));
        while let Some((i, result)) = results.next().await {
            match result.map(|n| n.uuid) {
                Ok(Some(uuid)) => created.push((i, uuid)),
                Ok(None) => {
                    errors += 1;
                    first_of(&mut first_error, || {
                        format!("node {i}: no uuid in response")
                    });
                }
                Err(e) => {
                    errors += 1;
                    first_of(&mut first_error, || format!("node {i}: {e}"));
                }
            }
        }
        drop(results);
        let wall = start.elapsed();
        created.sort_unstable();
        self.enrolled = created.into_iter().map(|(_, u)| u).collect();
        self.live = self.enrolled.clone();
        let n = self.cfg.nodes;
        let r = self.finish("enroll", n, wall);
        r.errors = errors;
        r.first_error = first_error;
    }

    /// Pages through every node on the server (not just this run's), once
    /// with default fields and once with `detail=true`. Each page is parsed
    /// (so a malformed answer fails) but not turned into structs, so the
    /// time is the server's and the transfer's, not this client's.
    async fn list(&mut self) {
        for (name, query) in [
            ("list", ListQuery::new()),
            ("list-detail", ListQuery::new().detail()),
        ] {
            let mut walls = Vec::new();
            let mut count = 0;
            let mut errors = 0;
            let mut first_error = None;
            for _ in 0..self.cfg.list_repeat.max(1) {
                let start = Instant::now();
                match self.client.count_nodes_all(&query).await {
                    Ok((nodes, _pages)) => {
                        walls.push(start.elapsed());
                        count = nodes;
                    }
                    Err(e) => {
                        errors += 1;
                        first_of(&mut first_error, || e.to_string());
                    }
                }
            }
            walls.sort_unstable();
            let median = walls.get(walls.len() / 2).copied().unwrap_or_default();
            let note = match (walls.first(), walls.last()) {
                (Some(min), Some(max)) if walls.len() > 1 => format!(
                    "{count} nodes/pass, median of {} (min {:.1} ms, max {:.1} ms)",
                    walls.len(),
                    min.as_secs_f64() * 1000.0,
                    max.as_secs_f64() * 1000.0
                ),
                _ => format!("{count} nodes/pass"),
            };
            let r = self.finish(name, count, median);
            r.errors = errors;
            r.first_error = first_error;
            r.note = note;
        }
    }

    async fn show(&mut self) {
        let start = Instant::now();
        let ids = self.live.clone();
        let out = self
            .fanout(&ids, |c, id| async move {
                c.get_node(&id.to_string()).await.map(drop)
            })
            .await;
        let wall = start.elapsed();
        let r = self.finish("show", ids.len(), wall);
        r.errors = out.errors;
        r.first_error = out.first_error;
    }

    async fn instance_info(&mut self) {
        let start = Instant::now();
        let ids = self.live.clone();
        let out = self
            .fanout(&ids, |c, id| async move {
                let ops = [
                    PatchOp::add(
                        "/instance_info/image_source",
                        "http://127.0.0.1:8080/images/bench.qcow2",
                    ),
                    PatchOp::add(
                        "/instance_info/image_checksum",
                        "d41d8cd98f00b204e9800998ecf8427e",
                    ),
                    PatchOp::add("/instance_info/root_gb", 10),
                ];
                c.patch_node(&id.to_string(), &ops).await.map(drop)
            })
            .await;
        let wall = start.elapsed();
        self.live = out.ok;
        let r = self.finish("instance-info", ids.len(), wall);
        r.errors = out.errors;
        r.first_error = out.first_error;
    }

    async fn delete(&mut self) {
        let start = Instant::now();
        let ids = self.enrolled.clone();
        let out = self
            .fanout(
                &ids,
                |c, id| async move { c.delete_node(&id.to_string()).await },
            )
            .await;
        let wall = start.elapsed();
        let deleted: HashSet<Uuid> = out.ok.iter().copied().collect();
        self.enrolled.retain(|u| !deleted.contains(u));
        self.live.retain(|u| !deleted.contains(u));
        let r = self.finish("delete", ids.len(), wall);
        r.errors = out.errors;
        r.first_error = out.first_error;
    }

    /// Sends `target` to every live node, then waits until each is in
    /// `expected` (or failed, or the wait timed out). The wall time runs
    /// from the first request to the last node settled.
    async fn transition(&mut self, name: &str, target: &str, expected: &str) {
        let start = Instant::now();
        let ids = self.live.clone();
        let target = target.to_string();
        let out = self
            .fanout(&ids, |c, id| {
                let target = target.clone();
                async move { c.set_provision_state(&id.to_string(), &target, None).await }
            })
            .await;
        let wait = self
            .wait_for(&out.ok, expected, start + self.cfg.wait_timeout)
            .await;
        let wall = start.elapsed();
        let mut first_error = out.first_error;
        if let Some((id, state)) = wait.failed.first() {
            let last_error = match self.client.get_node(&id.to_string()).await {
                Ok(n) => n.last_error.unwrap_or_default(),
                Err(e) => format!("(cannot read last_error: {e})"),
            };
            first_of(&mut first_error, || {
                format!("node {id} ended in {state:?}: {last_error}")
            });
        }
        if let Some(id) = wait.pending.first() {
            first_of(&mut first_error, || {
                format!(
                    "node {id} (and {} more) not {expected} after {:?}{}",
                    wait.pending.len() - 1,
                    self.cfg.wait_timeout,
                    wait.last_poll_error
                        .as_ref()
                        .map(|e| format!("; last poll error: {e}"))
                        .unwrap_or_default()
                )
            });
        }
        let errors = out.errors + wait.failed.len() + wait.pending.len();
        let note = format!(
            "{} polls{}",
            wait.polls,
            if wait.poll_errors > 0 {
                format!(", {} poll errors", wait.poll_errors)
            } else {
                String::new()
            }
        );
        self.live = wait.reached;
        let r = self.finish(name, ids.len(), wall);
        r.errors = errors;
        r.first_error = first_error;
        r.note = note;
    }

    /// Polls this run's nodes, two fields each, until every node of `ids`
    /// is in `expected` or a failure state, or `deadline` passes. The poll
    /// interval is a twentieth of the time waited so far (50 ms to 1 s), so
    /// the wall time is measured within about 5 % at any scale.
    async fn wait_for(&self, ids: &[Uuid], expected: &str, deadline: Instant) -> Wait {
        let start = Instant::now();
        let mut pending: HashSet<Uuid> = ids.iter().copied().collect();
        let mut w = Wait {
            reached: Vec::with_capacity(ids.len()),
            failed: Vec::new(),
            pending: Vec::new(),
            polls: 0,
            poll_errors: 0,
            last_poll_error: None,
        };
        let query = ListQuery::new()
            .resource_class(&self.cfg.prefix)
            .fields(&["uuid", "provision_state"]);
        while !pending.is_empty() {
            w.polls += 1;
            match self.client.list_nodes_all(&query).await {
                Ok(nodes) => {
                    let states: HashMap<Uuid, String> = nodes
                        .into_iter()
                        .filter_map(|n| Some((n.uuid?, n.provision_state.unwrap_or_default())))
                        .collect();
                    pending.retain(|id| match states.get(id) {
                        Some(s) if s == expected => {
                            w.reached.push(*id);
                            false
                        }
                        Some(s) if is_failure_state(s) => {
                            w.failed.push((*id, s.clone()));
                            false
                        }
                        _ => true,
                    });
                }
                Err(e) => {
                    w.poll_errors += 1;
                    w.last_poll_error = Some(e.to_string());
                }
            }
            if pending.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let interval = ((now - start) / 20)
                .clamp(Duration::from_millis(50), Duration::from_secs(1))
                .min(deadline - now);
            tokio::time::sleep(interval).await;
        }
        w.pending = pending.into_iter().collect();
        w
    }
}
