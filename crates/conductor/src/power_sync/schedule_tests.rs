//! The schedule under a clock the tests move by hand.

use super::*;
use proptest::prelude::*;

fn limits(period_ms: u64, workers: usize, per_host: usize) -> Limits {
    Limits {
        period: Duration::from_millis(period_ms),
        workers,
        per_host,
        failing: (workers / 4).max(1),
        failing_per_host: per_host.max(2) - 1,
        backoff_base: Duration::from_millis(100),
    }
}

fn host(name: &str) -> Host {
    Arc::from(name)
}

/// Drains everything startable at `now`.
fn start_all(s: &mut Schedule, now: Instant) -> Vec<Job> {
    std::iter::from_fn(|| s.next_ready(now)).collect()
}

#[test]
fn phases_spread_evenly_over_the_period() {
    let period = Duration::from_secs(10);
    for ids in [
        (0..10_000u128).map(Uuid::from_u128).collect::<Vec<_>>(),
        (0..10_000).map(|_| Uuid::new_v4()).collect(),
    ] {
        let mut bins = [0usize; 10];
        for id in ids {
            let phase = phase_of(id, period);
            assert!(phase < period);
            bins[(phase.as_millis() / 1000) as usize] += 1;
        }
        for (i, n) in bins.iter().enumerate() {
            assert!(
                (850..=1150).contains(n),
                "bin {i} holds {n} of 10,000: {bins:?}"
            );
        }
    }
}

#[test]
fn first_reads_are_spread_and_all_happen_within_one_period() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(10_000, 64, 64), t0);
    let generation = s.begin_refresh();
    for i in 0..2_000 {
        s.upsert(
            Uuid::new_v4(),
            host(&format!("h{}", i % 50)),
            generation,
            t0,
        );
    }
    let mut per_second = [0usize; 10];
    let mut step = 0;
    while step <= 1000 {
        let now = t0 + Duration::from_millis(step * 10);
        for job in start_all(&mut s, now) {
            per_second[((step / 100) as usize).min(9)] += 1;
            s.finish(&job, Outcome::Synced, now);
        }
        step += 1;
    }
    assert_eq!(per_second.iter().sum::<usize>(), 2_000, "{per_second:?}");
    for n in per_second {
        assert!((150..=250).contains(&n), "uneven load: {per_second:?}");
    }
    let census = s.census(t0 + Duration::from_secs(10));
    assert_eq!(census.healthy, 2_000);
    assert!(census.max_staleness <= Duration::from_secs(10));
}

#[test]
fn failing_nodes_keep_one_slot_of_their_host_free() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(1_000, 64, 4), t0);
    let generation = s.begin_refresh();
    let shared = host("chassis");
    for _ in 0..10 {
        s.upsert(Uuid::new_v4(), shared.clone(), generation, t0);
    }
    let now = t0 + Duration::from_secs(1);
    s.start_pass(now);
    while let Some(job) = s.next_ready(now) {
        s.finish(&job, Outcome::Failed, now);
    }
    let retry = now + Duration::from_secs(2);
    let failing = start_all(&mut s, retry);
    assert_eq!(
        failing.len(),
        3,
        "failing reads took every slot of the host"
    );
    let healthy = Uuid::new_v4();
    s.upsert(healthy, shared, generation, retry);
    s.start_pass(retry);
    let started = start_all(&mut s, retry);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].uuid, healthy);
}

#[test]
fn failures_back_off_exponentially_up_to_the_period() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(1_000, 4, 4), t0);
    let id = Uuid::from_u128(7);
    let generation = s.begin_refresh();
    s.upsert(id, host("bmc"), generation, t0);
    let mut now = t0 + Duration::from_secs(1);
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let Some(job) = s.next_ready(now) else {
            panic!("the node was not due at {:?}", now - t0)
        };
        s.finish(&job, Outcome::Failed, now);
        let next = s.next_wakeup().unwrap_or(now);
        gaps.push((next - now).as_millis());
        assert!(s.next_ready(next - Duration::from_millis(1)).is_none());
        now = next;
    }
    assert_eq!(gaps, vec![100, 200, 400, 800, 1000, 1000]);
    assert_eq!(s.failures(id), Some(6));
    let job = s.next_ready(now).unwrap_or_else(|| panic!("due"));
    assert_eq!(job.failures, 6);
    s.finish(&job, Outcome::Synced, now);
    assert_eq!(s.failures(id), Some(0));
    let c = s.counters();
    assert_eq!((c.reads, c.failures), (1, 6));
}

#[test]
fn a_forced_pass_covers_every_node_then_the_grid_resumes() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(10_000, 8, 2), t0);
    let generation = s.begin_refresh();
    let ids: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        s.upsert(*id, host(&format!("h{}", i % 5)), generation, t0);
    }
    let now = t0 + Duration::from_millis(1);
    let target = s.start_pass(now);
    assert_eq!(target, 1);
    let mut report = None;
    let mut rounds = 0;
    while report.is_none() {
        let jobs = start_all(&mut s, now);
        assert!(jobs.len() <= 8, "more than the workers at once");
        assert!(!jobs.is_empty(), "the pass stalled");
        for (k, job) in jobs.iter().enumerate() {
            let outcome = match k % 4 {
                0 => Outcome::Failed,
                1 => Outcome::Skipped,
                _ => Outcome::Synced,
            };
            report = report.or(s.finish(job, outcome, now));
        }
        rounds += 1;
    }
    let Some(report) = report else { unreachable!() };
    assert_eq!(report.nodes, 100);
    assert_eq!(report.synced + report.failed + report.skipped, 100);
    assert!(rounds >= 100 / 8);
    assert_eq!(s.passes().0, 1);
    // Nothing is due right after: read nodes wait for their grid point,
    // failed ones for their backoff.
    assert!(s.next_ready(now + Duration::from_millis(2)).is_none());
}

#[test]
fn refresh_drops_nodes_no_longer_listed_and_a_pass_counts_them_gone() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(1_000, 8, 8), t0);
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let generation = s.begin_refresh();
    s.upsert(a, host("x"), generation, t0);
    s.upsert(b, host("x"), generation, t0);
    s.start_pass(t0);
    let generation = s.begin_refresh();
    s.upsert(a, host("x"), generation, t0);
    assert_eq!(s.end_refresh(generation, t0), 1);
    assert_eq!(s.len(), 1);
    let job = s.next_ready(t0).unwrap_or_else(|| panic!("a is due"));
    assert_eq!(job.uuid, a);
    let Some(report) = s.finish(&job, Outcome::Gone, t0) else {
        panic!("the pass did not complete")
    };
    assert_eq!((report.gone, report.synced, report.nodes), (2, 0, 2));
    assert_eq!(s.len(), 0);
}

#[test]
fn failing_nodes_cannot_take_every_worker() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(1_000, 8, 100), t0);
    let generation = s.begin_refresh();
    for _ in 0..20 {
        let id = Uuid::new_v4();
        s.upsert(id, host(&format!("bad-{id}")), generation, t0);
    }
    // Everyone fails once.
    let now = t0 + Duration::from_secs(1);
    s.start_pass(now);
    while let Some(job) = s.next_ready(now) {
        s.finish(&job, Outcome::Failed, now);
    }
    // All twenty are due again: only a quarter of the workers go to them.
    let retry = now + Duration::from_secs(2);
    let failing = start_all(&mut s, retry);
    assert_eq!(failing.len(), 2);
    assert!(failing.iter().all(|j| j.failures == 1));
    // Healthy nodes due meanwhile get the rest.
    for _ in 0..20 {
        let id = Uuid::new_v4();
        s.upsert(id, host(&format!("good-{id}")), generation, retry);
    }
    let healthy = start_all(&mut s, retry + Duration::from_secs(1));
    assert_eq!(healthy.len(), 6);
    assert!(healthy.iter().all(|j| j.failures == 0));
}

#[derive(Debug, Clone)]
enum Step {
    /// Advance the clock by this many milliseconds and start what is due.
    Tick(u16),
    /// Finish the in-flight job at this index (modulo) with this outcome.
    Finish(usize, u8),
    /// Force a full pass.
    Pass,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u16..400).prop_map(Step::Tick),
        (any::<usize>(), 0u8..4).prop_map(|(i, o)| Step::Finish(i, o)),
        Just(Step::Pass),
    ]
}

proptest! {
    /// Whatever the order of events, no cap is ever exceeded, and once the
    /// reads in flight finish, every node that is due gets started.
    #[test]
    fn caps_hold_and_nothing_is_stranded(
        hosts in 1usize..6,
        per_host in 1usize..4,
        workers in 1usize..10,
        nodes in 1usize..60,
        steps in proptest::collection::vec(step(), 1..200),
    ) {
        let t0 = Instant::now();
        let mut s = Schedule::new(limits(1_000, workers, per_host), t0);
        let failing_cap = s.limits().failing;
        let failing_per_host = s.limits().failing_per_host;
        let generation = s.begin_refresh();
        for i in 0..nodes {
            s.upsert(Uuid::new_v4(), host(&format!("h{}", i % hosts)), generation, t0);
        }
        let mut now = t0;
        let mut running: Vec<Job> = Vec::new();
        let check = |running: &[Job]| {
            let mut per: HashMap<&str, (usize, usize)> = HashMap::new();
            for j in running {
                let load = per.entry(&j.host).or_default();
                load.0 += 1;
                load.1 += usize::from(j.failures > 0);
            }
            assert!(running.len() <= workers);
            assert!(per.values().all(|(n, _)| *n <= per_host), "{per:?}");
            assert!(per.values().all(|(_, f)| *f <= failing_per_host), "{per:?}");
            assert!(running.iter().filter(|j| j.failures > 0).count() <= failing_cap);
        };
        for st in steps {
            match st {
                Step::Tick(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    running.extend(start_all(&mut s, now));
                }
                Step::Finish(i, o) => {
                    if !running.is_empty() {
                        let job = running.swap_remove(i % running.len());
                        let outcome = [Outcome::Synced, Outcome::Failed, Outcome::Skipped, Outcome::Gone][o as usize];
                        s.finish(&job, outcome, now);
                        running.extend(start_all(&mut s, now));
                    }
                }
                Step::Pass => {
                    s.start_pass(now);
                    running.extend(start_all(&mut s, now));
                }
            }
            check(&running);
        }
        // Finish everything and run the clock two periods: every remaining
        // node must get a read, and passes must complete.
        let end = now + Duration::from_secs(3);
        while now < end {
            for job in running.drain(..) {
                s.finish(&job, Outcome::Synced, now);
            }
            now += Duration::from_millis(5);
            running.extend(start_all(&mut s, now));
            check(&running);
        }
        let census = s.census(now);
        prop_assert_eq!(census.new + census.failing + census.skipped, 0);
        prop_assert!(census.max_staleness <= Duration::from_millis(1_200));
        prop_assert!(s.pass.is_none());
    }
}

#[test]
fn healthy_nodes_stay_fresh_while_hung_systems_share_their_host() {
    // 200 healthy nodes on 10 hosts, and 10 more nodes on one of those
    // hosts whose reads always take the whole timeout (300 ms): once the
    // hung ones have failed (the first contact cannot tell them apart),
    // the healthy ones keep their bound, even behind the same host.
    let t0 = Instant::now();
    let l = Limits::for_interval(Duration::from_secs(1), 8, 2);
    let mut s = Schedule::new(l, t0);
    let generation = s.begin_refresh();
    let mut dead = HashSet::new();
    for i in 0..210 {
        let id = Uuid::new_v4();
        if i < 10 {
            dead.insert(id);
        }
        let h = if i < 10 { 0 } else { i % 10 };
        s.upsert(id, host(&format!("h{h}")), generation, t0);
    }
    let warm = t0 + Duration::from_secs(3);
    let mut last_read: HashMap<Uuid, Instant> = HashMap::new();
    let mut worst = Duration::ZERO;
    let mut running: Vec<(Instant, Job)> = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(15) {
        let mut ended = Vec::new();
        running.retain(|(end, job)| {
            let done = *end <= now;
            if done {
                ended.push(job.clone());
            }
            !done
        });
        for job in ended {
            if dead.contains(&job.uuid) {
                s.finish(&job, Outcome::Failed, now);
            } else {
                s.finish(&job, Outcome::Synced, now);
                if let Some(before) = last_read.insert(job.uuid, now)
                    && before >= warm
                {
                    worst = worst.max(now - before);
                }
            }
        }
        for job in start_all(&mut s, now) {
            let took = if dead.contains(&job.uuid) { 300 } else { 3 };
            running.push((now + Duration::from_millis(took), job));
        }
        now += Duration::from_millis(1);
    }
    let census = s.census(now);
    assert_eq!(census.failing, 10);
    assert_eq!(census.healthy, 200);
    // 1.125 × the 0.8 s period, plus the read and the 1 ms clock step.
    assert!(worst <= Duration::from_millis(910), "worst gap {worst:?}");
}

#[test]
fn an_event_makes_a_node_due_now_even_mid_read_or_before_any_refresh() {
    let t0 = Instant::now();
    let mut s = Schedule::new(limits(600_000, 8, 8), t0);
    let generation = s.begin_refresh();
    let known = Uuid::from_u128(7);
    s.upsert(known, host("a"), generation, t0);
    s.end_refresh(generation, t0);
    let now = t0 + Duration::from_millis(1);
    let due_later = start_all(&mut s, now);
    assert!(
        due_later.iter().all(|j| j.uuid != known) || phase_of(known, s.limits().period).is_zero()
    );
    s.expedite(known, host("a"), now);
    let started = start_all(&mut s, now);
    assert_eq!(started.iter().map(|j| j.uuid).collect::<Vec<_>>(), [known]);
    // An event during the read: read once more as soon as it ends.
    s.expedite(known, host("a"), now);
    assert!(start_all(&mut s, now).is_empty());
    let later = now + Duration::from_millis(5);
    s.finish(&started[0], Outcome::Synced, later);
    assert_eq!(start_all(&mut s, later).len(), 1);
    // A node created after the last refresh is added by its event.
    let fresh = Uuid::from_u128(8);
    s.expedite(fresh, host("b"), later);
    assert_eq!(
        start_all(&mut s, later)
            .iter()
            .map(|j| j.uuid)
            .collect::<Vec<_>>(),
        [fresh]
    );
}
