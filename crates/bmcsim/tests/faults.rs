//! Failure injection as a client experiences it: each kind, pinned to one
//! system and at random, and recovery.

mod common;

use std::time::{Duration, Instant};

use common::{PASS, Sim, USER};
use ferrite_bmcsim::{Config, FailureKind, SystemFault};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// What one GET looked like from the client's side.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    Status(u16),
    Garbage,
    TimedOut,
    Dropped,
}

async fn outcome(client: &Client, url: &str) -> Outcome {
    match client.get(url).basic_auth(USER, Some(PASS)).send().await {
        Err(e) if e.is_timeout() => Outcome::TimedOut,
        Err(e) => {
            assert!(!e.is_status(), "{e}");
            Outcome::Dropped
        }
        Ok(resp) if resp.status() != StatusCode::OK => Outcome::Status(resp.status().as_u16()),
        Ok(resp) => match resp.bytes().await {
            Ok(b) if serde_json::from_slice::<Value>(&b).is_ok() => Outcome::Ok,
            Ok(_) => Outcome::Garbage,
            Err(e) if e.is_timeout() => Outcome::TimedOut,
            Err(_) => Outcome::Dropped,
        },
    }
}

fn short_client() -> Client {
    Client::builder()
        .timeout(Duration::from_millis(600))
        .build()
        .unwrap()
}

#[tokio::test]
async fn each_pinned_failure_kind_then_recovery() {
    let s = Sim::with_systems(3).await;
    let client = short_client();
    let url = s.url(&s.sys(1));
    let other = s.url(&s.sys(2));
    let cases = [
        ("500", Outcome::Status(500)),
        ("garbage", Outcome::Garbage),
        ("drop", Outcome::Dropped),
        ("timeout", Outcome::TimedOut),
    ];
    for (kind, expected) in cases {
        let (status, body) = s
            .control(
                Method::POST,
                "/bmcsim/systems/sys-00001/faults",
                Some(json!({"kind": kind, "count": 2})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["fault"]["kind"], kind);
        let t0 = Instant::now();
        assert_eq!(outcome(&client, &url).await, expected, "{kind} #1");
        assert_eq!(
            outcome(&client, &other).await,
            Outcome::Ok,
            "{kind}: other systems are healthy"
        );
        assert_eq!(outcome(&client, &url).await, expected, "{kind} #2");
        assert_eq!(
            outcome(&client, &url).await,
            Outcome::Ok,
            "{kind}: recovered after count"
        );
        if kind == "timeout" {
            assert!(t0.elapsed() >= Duration::from_millis(1100));
        }
    }
    // The injected 500 is a Redfish error document.
    s.sim
        .fleet()
        .set_fault(
            1,
            SystemFault {
                kind: Some(FailureKind::ServerError),
                remaining: None,
                latency_ms: None,
            },
        )
        .unwrap();
    let (status, body) = s.call(Method::GET, &s.sys(1), None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "Base.1.8.InternalError");
    // Faults cover the system's manager and chassis too, and last until cleared.
    let mgr = format!("/redfish/v1/Managers/{}", s.sim.fleet().system_id(1));
    assert_eq!(
        s.call(Method::GET, &mgr, None).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (status, _) = s
        .control(Method::DELETE, "/bmcsim/systems/sys-00001/faults", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.call(Method::GET, &mgr, None).await.0, StatusCode::OK);

    let stats = s.sim.fleet().stats();
    assert_eq!(stats.faults_500, 4);
    assert_eq!(stats.faults_garbage, 2);
    assert_eq!(stats.faults_drop, 2);
    assert_eq!(stats.faults_timeout, 2);
    let (status, snap) = s
        .control(Method::GET, "/bmcsim/systems/sys-00001", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snap["fault"], Value::Null);

    let (status, _) = s
        .control(
            Method::POST,
            "/bmcsim/systems/sys-00001/faults",
            Some(json!({"kind": "teapot"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn pinned_latency_slows_one_system() {
    let s = Sim::with_systems(2).await;
    s.control(
        Method::POST,
        "/bmcsim/systems/0/faults",
        Some(json!({"kind": "none", "latency_ms": 300})),
    )
    .await;
    let t0 = Instant::now();
    s.get(&s.sys(0)).await;
    let slow = t0.elapsed();
    let t1 = Instant::now();
    s.get(&s.sys(1)).await;
    let fast = t1.elapsed();
    assert!(slow >= Duration::from_millis(290), "{slow:?}");
    assert!(fast < Duration::from_millis(250), "{fast:?}");
}

#[tokio::test]
async fn global_latency_and_jitter() {
    let s = Sim::start(Config {
        systems: 1,
        latency: Duration::from_millis(50),
        latency_jitter: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    let mut times = Vec::new();
    for _ in 0..8 {
        let t = Instant::now();
        s.get(&s.sys(0)).await;
        times.push(t.elapsed());
    }
    assert!(
        times.iter().all(|t| *t >= Duration::from_millis(50)),
        "{times:?}"
    );
    assert!(
        times.iter().any(|t| *t >= Duration::from_millis(55)),
        "jitter adds some: {times:?}"
    );
}

#[tokio::test]
async fn random_failures_follow_rate_and_kinds() {
    let s = Sim::start(Config {
        systems: 50,
        failure_rate: 0.3,
        failure_kinds: vec![
            FailureKind::ServerError,
            FailureKind::Garbage,
            FailureKind::Drop,
        ],
        seed: 11,
        ..Config::default()
    })
    .await;
    let client = short_client();
    let mut ok = 0;
    let mut counts = [0; 3];
    let n = 300;
    for i in 0..n {
        match outcome(&client, &s.url(&s.sys(i % 50))).await {
            Outcome::Ok => ok += 1,
            Outcome::Status(500) => counts[0] += 1,
            Outcome::Garbage => counts[1] += 1,
            Outcome::Dropped => counts[2] += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let failed: i32 = counts.iter().sum();
    assert!(
        (45..=135).contains(&failed),
        "~90 of 300 should fail, got {failed}"
    );
    assert!(
        counts.iter().all(|c| *c > 0),
        "every enabled kind seen: {counts:?}"
    );
    assert_eq!(ok + failed, n as i32);
    // Turn it off at run time through the control API.
    let (status, body) = s
        .control(Method::PUT, "/bmcsim/failures", Some(json!({"rate": 0.0})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for i in 0..50 {
        assert_eq!(outcome(&client, &s.url(&s.sys(i))).await, Outcome::Ok);
    }
    // And back on, only timeouts... then every request hangs.
    let (status, _) = s
        .control(
            Method::PUT,
            "/bmcsim/failures",
            Some(json!({"rate": 1.0, "kinds": ["timeout"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&client, &s.url(&s.sys(0))).await, Outcome::TimedOut);
    let (status, _) = s
        .control(Method::PUT, "/bmcsim/failures", Some(json!({"rate": 2.0})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The control API itself is never faulted.
    let (status, stats) = s.control(Method::GET, "/bmcsim/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stats["faults_timeout"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn shutdown_is_prompt_even_with_hung_requests() {
    let s = Sim::with_systems(2).await;
    s.sim
        .fleet()
        .set_fault(
            0,
            SystemFault {
                kind: Some(FailureKind::Timeout),
                remaining: None,
                latency_ms: None,
            },
        )
        .unwrap();
    let url = s.url(&s.sys(0));
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let hung = tokio::spawn(async move { outcome(&client, &url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!hung.is_finished(), "the request is being held");
    let t0 = Instant::now();
    s.sim.shutdown().await.expect("clean shutdown");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // The held request ends unanswered, not with a late response.
    assert_eq!(hung.await.unwrap(), Outcome::Dropped);
}
