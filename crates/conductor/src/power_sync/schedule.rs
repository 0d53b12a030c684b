//! The power sync's per-node schedule, kept apart from any I/O so its
//! promises (spreading, caps, backoff, freshness accounting) can be tested
//! with a clock the test controls.
//!
//! Every node has a fixed *phase* inside the sync period, derived from its
//! uuid, and is due on the grid `epoch + phase + k·period`. A node that was
//! read is due again at its next grid point (at least `period / 8` later),
//! so reads are spread evenly over the period however they started — at
//! boot, after a forced full pass, after a long lock — and the gap between
//! two reads of a healthy node stays below `1.125 · period`. A node whose
//! read failed leaves the grid and backs off exponentially, capped at the
//! period, so a dead BMC is asked less and less and never more often than a
//! healthy one.
//!
//! Four caps decide whether a due node may start now: the workers overall,
//! the reads per BMC host, and the share of each that nodes with failed
//! reads may hold — a quarter of the workers, and all but one of a host's
//! slots — so hanging BMCs, which hold a slot for the whole timeout, can
//! never starve the healthy ones, not even behind the same host.
//! A due node that a cap holds back waits in a queue released by the next
//! read that frees the same cap, so nothing polls.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// A BMC host key: reads to one key share the per-host cap.
pub(crate) type Host = Arc<str>;

/// The caps and timings the schedule works with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// The grid period; a healthy node is read about this often.
    pub(crate) period: Duration,
    /// Reads in flight at most, overall.
    pub(crate) workers: usize,
    /// Reads in flight at most, per BMC host.
    pub(crate) per_host: usize,
    /// Reads in flight at most for nodes whose previous read failed.
    pub(crate) failing: usize,
    /// The same, per BMC host.
    pub(crate) failing_per_host: usize,
    /// The first retry delay after a failure; doubled per further failure.
    pub(crate) backoff_base: Duration,
}

impl Limits {
    /// The limits for a freshness bound of `interval`: the period leaves a
    /// fifth of the bound for the worst grid gap and the read itself.
    pub(crate) fn for_interval(interval: Duration, workers: usize, per_host: usize) -> Limits {
        let workers = workers.max(1);
        Limits {
            period: interval.mul_f64(0.8).max(Duration::from_millis(10)),
            workers,
            per_host: per_host.max(1),
            failing: (workers / 4).max(1),
            failing_per_host: per_host.max(2) - 1,
            backoff_base: (interval / 8).min(Duration::from_secs(1)),
        }
    }
}

/// How a node fared at its last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Not looked at yet since it was found.
    New,
    /// The last read succeeded.
    Healthy,
    /// The last read failed.
    Failing,
    /// The last look skipped the node (locked, waiting, in maintenance).
    Skipped,
}

/// What became of one look at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The BMC answered and the store agrees (or was updated).
    Synced,
    /// The BMC did not answer usefully.
    Failed,
    /// The node was not to be touched now.
    Skipped,
    /// The node no longer exists.
    Gone,
}

/// A read the schedule allowed to start; handed back to [`Schedule::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    /// The node.
    pub(crate) uuid: Uuid,
    /// The host whose cap the read holds.
    pub(crate) host: Host,
    /// Consecutive failed reads before this one.
    pub(crate) failures: u32,
}

/// The result of a forced full pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassReport {
    /// Nodes the pass covered.
    pub nodes: usize,
    /// Nodes read successfully.
    pub synced: usize,
    /// Nodes whose read failed.
    pub failed: usize,
    /// Nodes not to be touched (locked, waiting, in maintenance).
    pub skipped: usize,
    /// Nodes deleted during the pass.
    pub gone: usize,
    /// From the request to the last node's result.
    pub duration: Duration,
}

/// Event counters since start, as the stats report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counters {
    pub(crate) reads: u64,
    pub(crate) failures: u64,
    pub(crate) skips: u64,
}

struct Slot {
    host: Host,
    phase: Duration,
    /// Identifies the slot's live queue entry; older entries are stale.
    seq: u64,
    due: Instant,
    in_flight: bool,
    /// Read again as soon as the read in flight ends (an event arrived
    /// while it ran, so what it read may already be old).
    again: bool,
    failures: u32,
    health: Health,
    first_seen: Instant,
    last_success: Option<Instant>,
    /// The refresh generation that last listed the node.
    seen: u64,
}

#[derive(Default)]
struct HostLoad {
    active: usize,
    failing_active: usize,
    waiting: VecDeque<(u64, Uuid)>,
    failing_waiting: VecDeque<(u64, Uuid)>,
}

struct Pass {
    started: Instant,
    pending: HashSet<Uuid>,
    report: PassReport,
}

/// A freshness summary over the nodes the loop keeps fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Census {
    pub(crate) nodes: usize,
    pub(crate) new: usize,
    pub(crate) healthy: usize,
    pub(crate) failing: usize,
    pub(crate) skipped: usize,
    pub(crate) in_flight: usize,
    /// Oldest power state among healthy and not-yet-read nodes.
    pub(crate) max_staleness: Duration,
}

/// The schedule itself. Not thread-safe: the power sync keeps it behind a
/// mutex and holds that only for these quick, non-blocking calls.
pub(crate) struct Schedule {
    limits: Limits,
    epoch: Instant,
    slots: HashMap<Uuid, Slot>,
    queue: BinaryHeap<Reverse<(Instant, u64, Uuid)>>,
    hosts: HashMap<Host, HostLoad>,
    /// Due entries released by a freed cap, started before the queue.
    ready: VecDeque<(u64, Uuid)>,
    failing_waiting: VecDeque<(u64, Uuid)>,
    in_flight: usize,
    failing_in_flight: usize,
    next_seq: u64,
    generation: u64,
    counters: Counters,
    /// Largest gap seen between two successful reads of a node that was
    /// healthy in between (or since it was found).
    worst_gap: Duration,
    pass: Option<Pass>,
    passes: u64,
    last_pass: Option<PassReport>,
}

/// SplitMix64's finaliser: spreads uuids that are not random (v1, v7,
/// hand-made test ids) over the whole range.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The node's fixed offset inside the period.
pub(crate) fn phase_of(uuid: Uuid, period: Duration) -> Duration {
    let bits = uuid.as_u128();
    let h = mix((bits as u64) ^ mix((bits >> 64) as u64));
    let nanos = (u128::from(h) * period.as_nanos()) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Schedule {
    /// An empty schedule whose grid starts at `epoch`.
    pub(crate) fn new(limits: Limits, epoch: Instant) -> Schedule {
        Schedule {
            limits,
            epoch,
            slots: HashMap::new(),
            queue: BinaryHeap::new(),
            hosts: HashMap::new(),
            ready: VecDeque::new(),
            failing_waiting: VecDeque::new(),
            in_flight: 0,
            failing_in_flight: 0,
            next_seq: 0,
            generation: 0,
            counters: Counters::default(),
            worst_gap: Duration::ZERO,
            pass: None,
            passes: 0,
            last_pass: None,
        }
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Nodes known to the schedule.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The first grid point of a node with `phase` at or after `after`.
    fn grid_after(&self, phase: Duration, after: Instant) -> Instant {
        let first = self.epoch + phase;
        if after <= first {
            return first;
        }
        let period = self.limits.period.as_nanos().max(1);
        let behind = (after - first).as_nanos();
        let steps = behind.div_ceil(period);
        let offset = u64::try_from(steps * period).unwrap_or(u64::MAX);
        first + Duration::from_nanos(offset)
    }

    fn enqueue(&mut self, uuid: Uuid, due: Instant) {
        let Some(slot) = self.slots.get_mut(&uuid) else {
            return;
        };
        self.next_seq += 1;
        slot.seq = self.next_seq;
        slot.due = due;
        self.queue.push(Reverse((due, slot.seq, uuid)));
        // Stale entries pile up when many nodes are re-queued (a forced
        // pass); rebuild before they cost more than the live ones.
        if self.queue.len() > 2 * self.slots.len() + 1024 {
            self.compact();
        }
    }

    /// Rebuilds the queue from the slots, dropping stale entries (and the
    /// waiting lists, whose live entries are simply due again).
    fn compact(&mut self) {
        self.ready.clear();
        self.failing_waiting.clear();
        for load in self.hosts.values_mut() {
            load.waiting.clear();
            load.failing_waiting.clear();
        }
        self.queue = self
            .slots
            .iter()
            .filter(|(_, s)| !s.in_flight)
            .map(|(u, s)| Reverse((s.due, s.seq, *u)))
            .collect();
    }

    /// Adds a node (due at its first grid point from `now`) or updates its
    /// BMC host; part of a refresh when `generation` is that refresh's.
    pub(crate) fn upsert(&mut self, uuid: Uuid, host: Host, generation: u64, now: Instant) {
        if let Some(slot) = self.slots.get_mut(&uuid) {
            slot.seen = generation;
            if slot.host != host {
                slot.host = host;
            }
            return;
        }
        let phase = phase_of(uuid, self.limits.period);
        let due = self.grid_after(phase, now);
        self.slots.insert(
            uuid,
            Slot {
                host,
                phase,
                seq: 0,
                due,
                in_flight: false,
                again: false,
                failures: 0,
                health: Health::New,
                first_seen: now,
                last_success: None,
                seen: generation,
            },
        );
        self.enqueue(uuid, due);
    }

    /// Makes a node due now (its BMC just reported a change), adding it
    /// first if the last refresh predates it; a node being read now is
    /// read once more when that read ends.
    pub(crate) fn expedite(&mut self, uuid: Uuid, host: Host, now: Instant) {
        if !self.slots.contains_key(&uuid) {
            self.upsert(uuid, host, self.generation, now);
        }
        let Some(slot) = self.slots.get_mut(&uuid) else {
            return;
        };
        if slot.in_flight {
            slot.again = true;
        } else {
            self.enqueue(uuid, now);
        }
    }

    /// Starts a refresh: nodes upserted with the returned generation are
    /// kept by [`Schedule::end_refresh`], the others dropped.
    pub(crate) fn begin_refresh(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Drops nodes the refresh `generation` did not list; returns how many.
    pub(crate) fn end_refresh(&mut self, generation: u64, now: Instant) -> usize {
        let gone: Vec<Uuid> = self
            .slots
            .iter()
            .filter(|(_, s)| s.seen < generation)
            .map(|(u, _)| *u)
            .collect();
        for uuid in &gone {
            self.remove(*uuid, now);
        }
        gone.len()
    }

    /// Forgets a node (deleted). A read in flight still finishes normally.
    pub(crate) fn remove(&mut self, uuid: Uuid, now: Instant) {
        if self.slots.remove(&uuid).is_some()
            && let Some(pass) = &mut self.pass
            && pass.pending.remove(&uuid)
        {
            pass.report.gone += 1;
            self.complete_pass_if_done(now);
        }
    }

    /// Whether an entry still stands for its node's next read.
    fn live(&self, seq: u64, uuid: Uuid) -> bool {
        self.slots
            .get(&uuid)
            .is_some_and(|s| s.seq == seq && !s.in_flight)
    }

    /// Starts `uuid` if every cap allows; otherwise parks it where the cap
    /// that holds it back will release it.
    fn try_start(&mut self, seq: u64, uuid: Uuid) -> Option<Job> {
        let slot = self.slots.get(&uuid)?;
        let host = slot.host.clone();
        let failures = slot.failures;
        let load = self.hosts.entry(host.clone()).or_default();
        if load.active >= self.limits.per_host {
            load.waiting.push_back((seq, uuid));
            self.kick(&host);
            return None;
        }
        if failures > 0 && load.failing_active >= self.limits.failing_per_host {
            load.failing_waiting.push_back((seq, uuid));
            self.kick(&host);
            return None;
        }
        if failures > 0 && self.failing_in_flight >= self.limits.failing {
            self.failing_waiting.push_back((seq, uuid));
            self.kick(&host);
            return None;
        }
        load.active += 1;
        if failures > 0 {
            load.failing_active += 1;
            self.failing_in_flight += 1;
        }
        self.in_flight += 1;
        if let Some(slot) = self.slots.get_mut(&uuid) {
            slot.in_flight = true;
        }
        Some(Job {
            uuid,
            host,
            failures,
        })
    }

    /// Moves the next live entry of a waiting list to the ready queue.
    fn release_one(
        slots: &HashMap<Uuid, Slot>,
        ready: &mut VecDeque<(u64, Uuid)>,
        list: &mut VecDeque<(u64, Uuid)>,
    ) {
        while let Some((seq, uuid)) = list.pop_front() {
            if slots
                .get(&uuid)
                .is_some_and(|s| s.seq == seq && !s.in_flight)
            {
                ready.push_back((seq, uuid));
                return;
            }
        }
    }

    /// Whenever a cap has room and someone waits for it, releases one
    /// waiter: called when a read ends, and when a released waiter is held
    /// back by the *other* cap — without that, the next waiter of a host
    /// with free slots would sit until some unrelated read ended.
    fn kick(&mut self, host: &Host) {
        if let Some(load) = self.hosts.get_mut(host) {
            if load.active < self.limits.per_host {
                Self::release_one(&self.slots, &mut self.ready, &mut load.waiting);
                if load.failing_active < self.limits.failing_per_host {
                    Self::release_one(&self.slots, &mut self.ready, &mut load.failing_waiting);
                }
            }
            if load.active == 0 && load.waiting.is_empty() && load.failing_waiting.is_empty() {
                self.hosts.remove(host);
            }
        }
        if self.failing_in_flight < self.limits.failing {
            Self::release_one(&self.slots, &mut self.ready, &mut self.failing_waiting);
        }
    }

    /// The next read to start at `now`, if one is due and the caps allow.
    pub(crate) fn next_ready(&mut self, now: Instant) -> Option<Job> {
        while self.in_flight < self.limits.workers {
            if let Some((seq, uuid)) = self.ready.pop_front() {
                if self.live(seq, uuid)
                    && let Some(job) = self.try_start(seq, uuid)
                {
                    return Some(job);
                }
                continue;
            }
            let Reverse((due, seq, uuid)) = *self.queue.peek()?;
            if due > now {
                return None;
            }
            self.queue.pop();
            if self.live(seq, uuid)
                && let Some(job) = self.try_start(seq, uuid)
            {
                return Some(job);
            }
        }
        None
    }

    /// When the next read may become startable by time alone; `None` when
    /// only a finishing read can free a worker (or nothing is queued).
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        if self.in_flight >= self.limits.workers {
            return None;
        }
        if !self.ready.is_empty() {
            return Some(self.epoch);
        }
        self.queue.peek().map(|Reverse((due, ..))| *due)
    }

    /// Records how a read ended and schedules the node's next one. Returns
    /// the report of a forced pass this completed.
    pub(crate) fn finish(
        &mut self,
        job: &Job,
        outcome: Outcome,
        now: Instant,
    ) -> Option<PassReport> {
        self.in_flight = self.in_flight.saturating_sub(1);
        if job.failures > 0 {
            self.failing_in_flight = self.failing_in_flight.saturating_sub(1);
        }
        if let Some(load) = self.hosts.get_mut(&job.host) {
            load.active = load.active.saturating_sub(1);
            if job.failures > 0 {
                load.failing_active = load.failing_active.saturating_sub(1);
            }
        }
        self.kick(&job.host);
        match outcome {
            Outcome::Synced => self.counters.reads += 1,
            Outcome::Failed => self.counters.failures += 1,
            Outcome::Skipped => self.counters.skips += 1,
            Outcome::Gone => {}
        }
        let completed = self.count_for_pass(job.uuid, outcome, now);
        if outcome == Outcome::Gone {
            self.slots.remove(&job.uuid);
            return completed;
        }
        let limits = self.limits;
        let Some(slot) = self.slots.get_mut(&job.uuid) else {
            return completed;
        };
        slot.in_flight = false;
        let again = std::mem::take(&mut slot.again);
        let due = match outcome {
            Outcome::Synced => {
                if matches!(slot.health, Health::Healthy | Health::New) {
                    let since = slot.last_success.unwrap_or(slot.first_seen);
                    self.worst_gap = self.worst_gap.max(now.saturating_duration_since(since));
                }
                slot.health = Health::Healthy;
                slot.failures = 0;
                slot.last_success = Some(now);
                None
            }
            Outcome::Failed => {
                slot.health = Health::Failing;
                slot.failures = slot.failures.saturating_add(1);
                let doublings = (slot.failures - 1).min(20);
                let delay = limits
                    .backoff_base
                    .saturating_mul(1 << doublings)
                    .min(limits.period);
                Some(now + delay)
            }
            Outcome::Skipped | Outcome::Gone => {
                slot.health = Health::Skipped;
                None
            }
        };
        let phase = slot.phase;
        let due = match due {
            _ if again => now,
            Some(due) => due,
            None => self.grid_after(phase, now + limits.period / 8),
        };
        self.enqueue(job.uuid, due);
        completed
    }

    fn count_for_pass(&mut self, uuid: Uuid, outcome: Outcome, now: Instant) -> Option<PassReport> {
        let pass = self.pass.as_mut()?;
        if !pass.pending.remove(&uuid) {
            return None;
        }
        match outcome {
            Outcome::Synced => pass.report.synced += 1,
            Outcome::Failed => pass.report.failed += 1,
            Outcome::Skipped => pass.report.skipped += 1,
            Outcome::Gone => pass.report.gone += 1,
        }
        self.complete_pass_if_done(now)
    }

    fn complete_pass_if_done(&mut self, now: Instant) -> Option<PassReport> {
        if !self.pass.as_ref().is_some_and(|p| p.pending.is_empty()) {
            return None;
        }
        let pass = self.pass.take()?;
        let mut report = pass.report;
        report.duration = now.saturating_duration_since(pass.started);
        self.passes += 1;
        self.last_pass = Some(report);
        Some(report)
    }

    /// Makes every node due now and tracks them until each has had one
    /// look; joins the pass already running, if any. Returns the number of
    /// passes that will have completed when this one has.
    pub(crate) fn start_pass(&mut self, now: Instant) -> u64 {
        if self.pass.is_some() {
            return self.passes + 1;
        }
        let uuids: Vec<Uuid> = self.slots.keys().copied().collect();
        for uuid in &uuids {
            if self.slots.get(uuid).is_some_and(|s| !s.in_flight) {
                self.enqueue(*uuid, now);
            }
        }
        self.pass = Some(Pass {
            started: now,
            pending: uuids.iter().copied().collect(),
            report: PassReport {
                nodes: uuids.len(),
                ..PassReport::default()
            },
        });
        if self.complete_pass_if_done(now).is_some() {
            return self.passes;
        }
        self.passes + 1
    }

    /// Passes completed so far and the last one's report.
    pub(crate) fn passes(&self) -> (u64, Option<PassReport>) {
        (self.passes, self.last_pass)
    }

    /// Event counters since start.
    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    /// The largest gap seen between two good reads of a healthy node.
    pub(crate) fn worst_gap(&self) -> Duration {
        self.worst_gap
    }

    /// Consecutive failed reads of `uuid` so far.
    #[cfg(test)]
    pub(crate) fn failures(&self, uuid: Uuid) -> Option<u32> {
        self.slots.get(&uuid).map(|s| s.failures)
    }

    /// Freshness over all nodes at `now`.
    pub(crate) fn census(&self, now: Instant) -> Census {
        let mut c = Census {
            nodes: self.slots.len(),
            in_flight: self.in_flight,
            ..Census::default()
        };
        for slot in self.slots.values() {
            match slot.health {
                Health::New => c.new += 1,
                Health::Healthy => c.healthy += 1,
                Health::Failing => c.failing += 1,
                Health::Skipped => c.skipped += 1,
            }
            if matches!(slot.health, Health::New | Health::Healthy) {
                let since = slot.last_success.unwrap_or(slot.first_seen);
                c.max_staleness = c.max_staleness.max(now.saturating_duration_since(since));
            }
        }
        c
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
