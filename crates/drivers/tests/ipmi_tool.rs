//! The ipmitool subprocess layer: what argv it builds (never the
//! password), how the password travels (a private file, gone afterwards),
//! bridging options, the per-BMC concurrency cap, timeouts, and the error
//! for wrong credentials, against OpenIPMI's `ipmi_sim` where a BMC is
//! needed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::ipmi_sim::{IPMI_PASSWORD, IPMI_USER, IpmiSim};
use ferrite_drivers::ipmi::{
    Invocation, IpmiConfig, IpmiError, IpmiTool, Ipmitool, IpmitoolOptions, ProcessOutput,
    ProcessRunner, RunError, TokioRunner,
};
use ferrite_drivers::{Driver, DriverError, FakeDelays};
use ferrite_model::Node;
use serde_json::{Value, json};

/// What the recorder saw of one invocation.
#[derive(Debug, Clone)]
struct Seen {
    args: Vec<String>,
    /// Mode and contents of the `-f` file while the process ran.
    password_file: Option<(PathBuf, u32, String)>,
}

/// Records every invocation, then runs it for real (or answers itself
/// after `delay` when `fake` is set), counting how many run at once.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    fake: bool,
    delay: Duration,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

#[async_trait]
impl ProcessRunner for Recorder {
    async fn run(&self, inv: &Invocation) -> Result<ProcessOutput, RunError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let password_file = inv
            .args
            .iter()
            .position(|a| a == "-f")
            .and_then(|i| inv.args.get(i + 1))
            .map(|p| {
                let path = PathBuf::from(p);
                let mode = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0);
                let contents = std::fs::read_to_string(&path).unwrap_or_default();
                (path, mode, contents)
            });
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Seen {
                args: inv.args.clone(),
                password_file,
            });
        let out = if self.fake {
            tokio::time::sleep(self.delay).await;
            Ok(ProcessOutput {
                success: true,
                code: Some(0),
                stdout: "Chassis Power is off\n".into(),
                stderr: String::new(),
            })
        } else {
            TokioRunner.run(inv).await
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn config(info: Value) -> IpmiConfig {
    let Value::Object(map) = info else {
        panic!("object")
    };
    let node = Node {
        driver_info: map,
        ..Node::default()
    };
    match IpmiConfig::from_node(&node) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_travels_in_a_private_file_never_in_argv() {
    let sim = IpmiSim::start();
    let recorder = Arc::new(Recorder::default());
    let tool = Ipmitool::with_runner(recorder.clone(), IpmitoolOptions::default());
    let c = config(sim.driver_info());
    let out = tool.run(&c, &["chassis", "power", "status"]).await;
    assert_eq!(out, Ok("Chassis Power is off\n".to_string()));

    let seen = recorder.seen();
    let [call] = seen.as_slice() else {
        panic!("{seen:?}")
    };
    for arg in &call.args {
        assert!(
            !arg.contains(IPMI_PASSWORD),
            "password in argv: {:?}",
            call.args
        );
    }
    let port = sim.port.to_string();
    let expected_prefix = [
        "-I",
        "lanplus",
        "-H",
        "127.0.0.1",
        "-p",
        &port,
        "-L",
        "ADMINISTRATOR",
        "-U",
        IPMI_USER,
        "-C",
        "3",
        "-N",
        "1",
        "-R",
        "3",
    ];
    assert_eq!(call.args[..expected_prefix.len()], expected_prefix);
    assert_eq!(
        call.args[call.args.len() - 3..],
        ["chassis", "power", "status"]
    );
    let Some((path, mode, contents)) = &call.password_file else {
        panic!("no -f password file: {:?}", call.args)
    };
    assert_eq!(*mode, 0o600, "password file readable by others");
    assert_eq!(contents, IPMI_PASSWORD);
    assert!(!path.exists(), "password file left behind at {path:?}");
}

#[tokio::test]
async fn bridging_options_and_anonymous_users_shape_argv() {
    let recorder = Arc::new(Recorder {
        fake: true,
        ..Recorder::default()
    });
    let tool = Ipmitool::with_runner(recorder.clone(), IpmitoolOptions::default());
    let single = config(json!({
        "ipmi_address": "10.0.0.9", "ipmi_bridging": "single",
        "ipmi_target_channel": 7, "ipmi_target_address": "0x72",
    }));
    let dual = config(json!({
        "ipmi_address": "10.0.0.9", "ipmi_bridging": "dual", "ipmi_protocol_version": "1.5",
        "ipmi_local_address": "0x20", "ipmi_transit_channel": "0",
        "ipmi_transit_address": "0x82", "ipmi_target_channel": "1",
        "ipmi_target_address": "0x72", "ipmi_priv_level": "OPERATOR",
    }));
    for c in [&single, &dual] {
        assert!(tool.run(c, &["chassis", "power", "status"]).await.is_ok());
    }
    let seen = recorder.seen();
    let joined: Vec<String> = seen.iter().map(|s| s.args.join(" ")).collect();
    assert!(joined[0].contains(" -b 7 -t 0x72 "), "{}", joined[0]);
    assert!(!joined[0].contains(" -m ") && !joined[0].contains(" -B "));
    assert!(
        joined[1].contains(" -m 0x20 -B 0 -T 0x82 -b 1 -t 0x72 "),
        "{}",
        joined[1]
    );
    assert!(joined[1].starts_with("-I lan -H 10.0.0.9 -p 623 -L OPERATOR "));
    // No user and no password: neither -U nor -f.
    for s in &seen {
        assert!(s.password_file.is_none() && !s.args.contains(&"-U".to_string()));
    }
}

#[tokio::test]
async fn one_invocation_at_a_time_per_bmc() {
    let recorder = Arc::new(Recorder {
        fake: true,
        delay: Duration::from_millis(100),
        ..Recorder::default()
    });
    let tool = Arc::new(Ipmitool::with_runner(
        recorder.clone(),
        IpmitoolOptions::default(),
    ));
    let a = config(json!({"ipmi_address": "10.9.9.1", "ipmi_password": "x-pw"}));
    let started = std::time::Instant::now();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (tool, a) = (tool.clone(), a.clone());
            tokio::spawn(async move { tool.run(&a, &["chassis", "power", "status"]).await })
        })
        .collect();
    for r in runs {
        assert!(matches!(r.await, Ok(Ok(_))));
    }
    assert_eq!(recorder.max_running.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() >= Duration::from_millis(400));

    // Different BMCs are not held up by each other.
    recorder.max_running.store(0, Ordering::SeqCst);
    let b = config(json!({"ipmi_address": "10.9.9.2"}));
    let (x, y) = tokio::join!(
        tool.run(&a, &["chassis", "power", "status"]),
        tool.run(&b, &["chassis", "power", "status"])
    );
    assert!(x.is_ok() && y.is_ok());
    assert_eq!(recorder.max_running.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_hung_ipmitool_is_killed_at_the_timeout() {
    let dir = std::env::temp_dir().join(format!("ferrite-hung-ipmitool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let program = dir.join("ipmitool");
    std::fs::write(&program, "#!/bin/sh\nexec sleep 30\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("{e}"));
    let tool = Ipmitool::with_runner(
        Arc::new(TokioRunner),
        IpmitoolOptions {
            program,
            timeout: Duration::from_millis(500),
            ..IpmitoolOptions::default()
        },
    );
    let c = config(json!({"ipmi_address": "127.0.0.1", "ipmi_password": "hung-pw"}));
    let started = std::time::Instant::now();
    let r = tool.run(&c, &["chassis", "power", "status"]).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let Err(e @ IpmiError::Timeout { .. }) = r else {
        panic!("{r:?}")
    };
    assert!(e.to_string().contains("chassis power status"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_error_without_the_password() {
    let sim = IpmiSim::start();
    let wrong = "Wrong-pw-8841";
    let n = sim.node_with(json!({"ipmi_password": wrong}));
    let d = match Driver::build(&n, &FakeDelays::default()) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let Err(DriverError::Failed(m)) = d.power.get_power_state(&n).await else {
        panic!("a wrong password was accepted")
    };
    assert!(m.contains("IPMI session"), "{m}");
    assert!(m.contains(&format!("127.0.0.1:{}", sim.port)), "{m}");
    assert!(m.contains(IPMI_USER) && m.contains("ipmi_password"), "{m}");
    assert!(!m.contains(wrong) && !m.contains(IPMI_PASSWORD), "{m}");
    // The right one still works afterwards.
    assert!(d.power.get_power_state(&sim.node()).await.is_ok());
}
