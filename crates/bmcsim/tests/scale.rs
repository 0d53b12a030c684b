//! Scale, against the real `bmcsim` binary in its own process (so its
//! memory can be measured and client and server do not share fd limits):
//! 10,000 systems in little memory, hundreds of concurrent requests.

mod common;

use std::time::{Duration, Instant};

use common::bin::Bin;
use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(512)
        .build()
        .unwrap()
}

#[tokio::test]
async fn ten_thousand_systems_fit_in_little_memory() {
    let bin = Bin::start(&["--systems", "10000"]).await;
    let http = client();
    let col: Value = http
        .get(format!("{}/redfish/v1/Systems", bin.base))
        .basic_auth("admin", Some("password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(col["Members@odata.count"], 10_000);
    let idle = bin.rss_kib();
    // Touch every system: change boot override and BIOS on all 10,000, as a
    // fleet-wide deploy would, then measure again.
    let base = bin.base.clone();
    let results: Vec<StatusCode> = futures::stream::iter(0..10_000)
        .map(|i| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let sys = format!("{base}/redfish/v1/Systems/sys-{i:05}");
                let a = http
                    .patch(&sys)
                    .basic_auth("admin", Some("password"))
                    .json(&json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}}))
                    .send()
                    .await
                    .map(|r| r.status());
                let b = http
                    .patch(format!("{sys}/Bios/Settings"))
                    .basic_auth("admin", Some("password"))
                    .json(&json!({"Attributes": {"ProcTurboMode": "Disabled"}}))
                    .send()
                    .await
                    .map(|r| r.status());
                match (a, b) {
                    (Ok(a), Ok(b)) if a == b => a,
                    (a, b) => panic!("{sys}: {a:?} {b:?}"),
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == StatusCode::NO_CONTENT));
    let touched = bin.rss_kib();
    println!(
        "bmcsim RSS with 10,000 systems: {idle} KiB idle, {touched} KiB after touching every system"
    );
    assert!(touched < 100 * 1024, "RSS {touched} KiB");
}

#[tokio::test]
async fn five_hundred_concurrent_requests_across_5000_systems() {
    let bin = Bin::start(&["--systems", "5000", "--seed", "9"]).await;
    let http = client();
    let t0 = Instant::now();
    // 500 at once: GETs spread over the fleet plus power actions.
    let futs = (0..500).map(|n| {
        let http = http.clone();
        let base = bin.base.clone();
        async move {
            let i = (n * 10 + 7) % 5000;
            let sys = format!("{base}/redfish/v1/Systems/sys-{i:05}");
            if n % 5 == 0 {
                let r = http
                    .post(format!("{sys}/Actions/ComputerSystem.Reset"))
                    .basic_auth("admin", Some("password"))
                    .json(&json!({"ResetType": "On"}))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{sys}: {e}"));
                assert_eq!(r.status(), StatusCode::NO_CONTENT, "{sys}");
            } else {
                let r = http
                    .get(&sys)
                    .basic_auth("admin", Some("password"))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{sys}: {e}"));
                assert_eq!(r.status(), StatusCode::OK, "{sys}");
                let v: Value = r.json().await.expect("JSON");
                assert_eq!(v["Id"], format!("sys-{i:05}"));
            }
            i
        }
    });
    let done = futures::future::join_all(futs).await;
    assert_eq!(done.len(), 500);
    let took = t0.elapsed();
    // Every reset landed on its own system.
    let stats: Value = http
        .get(format!("{}/bmcsim/stats", bin.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["power_actions"], 100);
    assert_eq!(stats["boots"], 100);
    assert_eq!(stats["responses_2xx"], 500);
    println!("500 concurrent requests over 5,000 systems in {took:?}; stats {stats}");
}
