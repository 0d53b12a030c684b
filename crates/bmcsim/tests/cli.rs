//! The `bmcsim` command line: flags are validated, and the binary serves
//! what they describe.

mod common;

use std::process::Command;

use common::bin::Bin;
use reqwest::StatusCode;
use serde_json::Value;

fn run_bin(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bmcsim"))
        .args(args)
        .output()
        .expect("run bmcsim");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn invalid_flags_are_refused_before_listening() {
    for (args, needle) in [
        (&["--failure-rate", "1.5"][..], "failure rate"),
        (&["--failure-kinds", "timeout,teapot"][..], "teapot"),
        (&["--systems", "0"][..], "systems"),
        (&["--initial-power", "sideways"][..], "sideways"),
        (&["--oob-power-change-rate=-1"][..], "rate"),
    ] {
        let (code, text) = run_bin(args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}

#[test]
fn help_documents_flags_and_control_api() {
    let (code, text) = run_bin(&["--help"]);
    assert_eq!(code, Some(0));
    for needle in [
        "--systems",
        "--latency-ms",
        "--failure-rate",
        "--failure-kinds",
        "--oob-power-change-rate",
        "--power-transition-ms",
        "--seed",
        "/bmcsim/systems/<id>/faults",
    ] {
        assert!(text.contains(needle), "help lacks {needle}");
    }
}

#[tokio::test]
async fn binary_serves_the_configured_fleet() {
    let bin = Bin::start(&[
        "--systems",
        "12",
        "--no-auth",
        "--initial-power",
        "on",
        "--nics",
        "3",
    ])
    .await;
    let http = reqwest::Client::new();
    let col: Value = http
        .get(format!("{}/redfish/v1/Systems", bin.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(col["Members@odata.count"], 12);
    let sys = http
        .get(format!("{}/redfish/v1/Systems/sys-00011", bin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sys.status(),
        StatusCode::OK,
        "--no-auth accepts anonymous requests"
    );
    let sys: Value = sys.json().await.unwrap();
    assert_eq!(sys["PowerState"], "On");
    let nics: Value = http
        .get(format!(
            "{}/redfish/v1/Systems/sys-00011/EthernetInterfaces",
            bin.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nics["Members@odata.count"], 3);
}
